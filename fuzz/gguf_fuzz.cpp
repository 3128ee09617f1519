// libFuzzer target: GgufFile::FromMemory on arbitrary bytes must fail cleanly or yield views
// that lie inside the input. Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//   -Isrc fuzz/gguf_fuzz.cpp src/io/gguf.cpp src/base/*.cpp src/tensor/*.cpp
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) {
  auto r = moecat::GgufFile::FromMemory(d, n, "fuzz.gguf");
  if (!r.ok()) return 0;
  // Touch every view's first and last byte: ASan reports any view outside the input.
  unsigned sum = 0;
  for (const auto& t : (*r)->tensors()) {
    const uint8_t* p = static_cast<const uint8_t*>(t.data);
    if (p < d || p + t.nbytes > d + n) abort();
    if (t.nbytes) sum += p[0] + p[t.nbytes - 1];
    (void)t.shape.numel();
  }
  for (const auto& [k, v] : (*r)->kv()) sum += unsigned(v.array_size());
  volatile unsigned sink = sum;
  (void)sink;
  return 0;
}
