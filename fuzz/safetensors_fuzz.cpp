// libFuzzer target: SafetensorsFile::FromMemory on arbitrary bytes must fail cleanly or yield
// views inside the input. Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//   -Isrc fuzz/safetensors_fuzz.cpp src/io/safetensors.cpp src/base/*.cpp src/tensor/*.cpp
#include <cstdint>
#include <cstdlib>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) {
  auto r = moecat::SafetensorsFile::FromMemory(d, n, "fuzz.safetensors");
  if (!r.ok()) return 0;
  unsigned sum = 0;
  for (const auto& t : (*r)->tensors()) {
    const uint8_t* p = static_cast<const uint8_t*>(t.data);
    if (p < d || p + t.nbytes > d + n) abort();
    if (t.nbytes) sum += p[0] + p[t.nbytes - 1];
  }
  volatile unsigned sink = sum;
  (void)sink;
  return 0;
}
