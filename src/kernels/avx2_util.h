// Internal helpers shared by the *_avx2.cpp files only (compiled with -mavx2 -mfma -mf16c).
// Everything is `static` so no AVX2 code can leak into baseline callers via the linker.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "kernels/quant/with_rows.h"

namespace moecat::kernels::avx2 {

// Lane mask for the first min(rem, 8) lanes (rem >= 1), for maskload/maskstore.
static inline __m256i tail_mask8(int64_t rem) {
  alignas(64) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - (rem < 8 ? rem : 8)));
}

// 8 halves at h, the first n (< 8: the rest zero), widened with F16C (the f16 KV cache's rows:
// ops_avx2.cpp's row dots and sums, attention_avx2.cpp's grouped-query attention).
static inline __m256 load_f16x8(const uint16_t* h, int64_t n) {
  if (n >= 8) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
  alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) tmp[i] = h[i];
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
}

// Fixed-order horizontal sum of 8 floats.
static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// hsum8 of eight vectors at once: lane j = hsum8(v[j]), the same additions in the same order
// (per lane lo + hi, then (s0 + s2) + (s1 + s3)), so the same bits, in 13 operations, not 40.
static inline __m256 hsum8x8(const __m256* v) {
  __m256 w[4];
  for (int i = 0; i < 4; ++i)  // [lo + hi of v[2i] | of v[2i + 1]]
    w[i] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x20),
                         _mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x31));
  // per 128-bit lane [s0 + s2, s1 + s3] of two rows: rows 0, 2 (lane 0) / 1, 3 (lane 1), then 4-7
  const __m256 u0 = _mm256_add_ps(_mm256_shuffle_ps(w[0], w[1], 0x44), _mm256_shuffle_ps(w[0], w[1], 0xEE));
  const __m256 u1 = _mm256_add_ps(_mm256_shuffle_ps(w[2], w[3], 0x44), _mm256_shuffle_ps(w[2], w[3], 0xEE));
  // (s0 + s2) + (s1 + s3): lane 0 rows 0, 2, 4, 6; lane 1 rows 1, 3, 5, 7
  const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(u0, u1, 0x88), _mm256_shuffle_ps(u0, u1, 0xDD));
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The loop of the AVX2 fused kernels (quant::fused_rows): ymm sums, eight rows reduced together
// by hsum8x8 (the bits of hsum8 per row), one by hsum8.
template <int kBlock, class A, class F>
static inline void fused_rows(const A* acts, const int32_t* rows, int64_t stride, int64_t m, int64_t r0, int64_t r1,
                              float* y, int64_t ldy, F&& sums) {
  quant::fused_rows<kBlock, __m256>(
      acts, rows, stride, m, r0, r1, y, ldy, sums,
      [](float* out, const __m256(&acc)[8]) { _mm256_storeu_ps(out, hsum8x8(acc)); },
      [](__m256 v) { return hsum8(v); });
}

}  // namespace moecat::kernels::avx2
