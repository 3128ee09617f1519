// AVX2 matmul for F32 / F16 / BF16 weights: y[i][r] = x[i] · w[r], f32 FMA accumulation.
// Same structure as matmul_avx512.cpp with 8 lanes and 16 ymm registers: tiles of 4 weight
// rows x 2 activation rows. Every output uses one 8-lane accumulator over k in steps of 8
// (masked tail), then a fixed horizontal sum: independent of tiling and thread split.
#include <immintrin.h>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/row_tiles.h"

namespace moecat::kernels::avx2 {
namespace {

// Up to 8 16-bit values into a zero-padded vector (tails of f16/bf16 rows).
static inline __m128i load_u16_tail(const uint16_t* p, int64_t rem) {
  alignas(16) uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < rem; ++i) t[i] = p[i];
  return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
}

struct LoadF32 {
  using T = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 loadm(int64_t rem, const float* p) { return _mm256_maskload_ps(p, tail_mask8(rem)); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static __m256 loadm(int64_t rem, const uint16_t* p) { return _mm256_cvtph_ps(load_u16_tail(p, rem)); }
};
struct LoadBF16 {  // bf16 -> f32 is exact: the 16 bits become the top half of the float
  using T = uint16_t;
  static __m256 widen(__m128i h) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static __m256 load(const uint16_t* p) { return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static __m256 loadm(int64_t rem, const uint16_t* p) { return widen(load_u16_tail(p, rem)); }
};

template <class L, int R, int C>
void tile(const typename L::T* w, int64_t in, const float* x, float* y, int64_t ldy) {
  __m256 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= in; k += 8) {
    __m256 xv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) xv[c] = _mm256_loadu_ps(x + c * in + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 wv = L::load(w + r * in + k);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  if (k < in) {
    const int64_t rem = in - k;
    __m256 xv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) xv[c] = _mm256_maskload_ps(x + c * in + k, tail_mask8(rem));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 wv = L::loadm(rem, w + r * in + k);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum8(acc[r][c]);
}

constexpr int kR = 4, kC = 2;

template <class L, int R>
void tile_c(int c, const typename L::T* w, int64_t in, const float* x, float* y, int64_t ldy) {
  if (c == 1) {
    tile<L, R, 1>(w, in, x, y, ldy);
  } else {
    tile<L, R, 2>(w, in, x, y, ldy);
  }
}

template <class L>
void drive(const void* wv, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
           int64_t r0, int64_t r1) {
  const auto* w = static_cast<const typename L::T*>(wv);
  for_row_tiles<kR, kC>(n, r0, r1, [&](auto rows, int c, int64_t r, int64_t c0) {
    tile_c<L, decltype(rows)::value>(c, w + r * in, in, x + c0 * in, y + c0 * ldy + r, ldy);
  });
}

}  // namespace

void matmul_f32(const void* w, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
                int64_t r0, int64_t r1) {
  drive<LoadF32>(w, in, x, n, y, ldy, r0, r1);
}
void matmul_f16(const void* w, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
                int64_t r0, int64_t r1) {
  drive<LoadF16>(w, in, x, n, y, ldy, r0, r1);
}
void matmul_bf16(const void* w, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
  drive<LoadBF16>(w, in, x, n, y, ldy, r0, r1);
}

}  // namespace moecat::kernels::avx2
