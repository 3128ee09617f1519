// Internal helpers shared by the *_avx2.cpp files only (compiled with -mavx2 -mfma -mf16c).
// Everything is `static` so no AVX2 code can leak into baseline callers via the linker.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace moecat::kernels::avx2 {

// Lane mask for the first min(rem, 8) lanes (rem >= 1), for maskload/maskstore.
static inline __m256i tail_mask8(int64_t rem) {
  alignas(64) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - (rem < 8 ? rem : 8)));
}

// Fixed-order horizontal sum of 8 floats.
static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace moecat::kernels::avx2
