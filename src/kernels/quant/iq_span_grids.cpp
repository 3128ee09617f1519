// span_grids(): the i-quant grids packed as Span codes for the SIMD unpacks (iq_tables.h).
// Kept apart from iq_tables.cpp, which tools/gen_iq_tables.py generates.
#include <cstring>

#include "kernels/quant/iq_tables.h"

namespace moecat::kernels::quant::iq {

namespace {

// dst[e]: entry e's W magnitudes as bytes 128 + m, value j in byte j.
template <int N, int W, typename T>
void pack(T* dst, const uint8_t (*src)[W]) {
  for (int e = 0; e < N; ++e) {
    T v = 0;
    for (int j = 0; j < W; ++j) v |= static_cast<T>(static_cast<uint8_t>(128 + src[e][j])) << (8 * j);
    dst[e] = v;
  }
}

}  // namespace

const SpanGrids& span_grids() {
  static const SpanGrids* t = [] {
    auto* x = new SpanGrids;  // lives for the process, like grids() itself (~40 KB)
    const Grids& G = grids();
    pack<256, 8>(x->iq2xxs, G.iq2xxs);
    pack<512, 8>(x->iq2xs, G.iq2xs);
    pack<1024, 8>(x->iq2s, G.iq2s);
    pack<256, 4>(x->iq3xxs, G.iq3xxs);
    pack<512, 4>(x->iq3s, G.iq3s);
    for (int e = 0; e < 2048; ++e) {  // values -1, 0, 1 -> codes 121, 129, 137
      uint64_t v = 0;
      for (int j = 0; j < 8; ++j) v |= static_cast<uint64_t>(static_cast<uint8_t>(129 + 8 * G.iq1s[e][j])) << (8 * j);
      x->iq1s[e] = v;
    }
    for (int s = 0; s < 256; ++s) {
      uint64_t m = 0;
      for (int j = 0; j < 8; ++j)
        if (s & (1 << j)) m |= uint64_t(0xFF) << (8 * j);
      x->sign_mask[s] = m;
    }
    std::memcpy(x->ksigns, G.ksigns, sizeof x->ksigns);
    return x;
  }();
  return *t;
}

}  // namespace moecat::kernels::quant::iq
