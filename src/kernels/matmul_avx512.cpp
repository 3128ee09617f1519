// AVX-512 matmul for F32 / F16 / BF16 weights: y[i][r] = x[i] · w[r], f32 FMA accumulation.
// Tiles of R weight rows x C activation rows share loads (each weight vector feeds C FMAs).
// Every output uses one 16-lane accumulator over k in steps of 16 (masked tail), then a fixed
// horizontal sum: the result is independent of tiling and of the thread row split.
#include <immintrin.h>

// GCC 12 reports false "uninitialized" warnings inside its own AVX-512 intrinsic headers
// (_mm512_undefined_* placeholders) once they are inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/kernel_table.h"
#include "kernels/row_tiles.h"

namespace moecat::kernels::avx512 {
namespace {

struct LoadF32 {
  using T = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 loadm(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 loadm(__mmask16 m, const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct LoadBF16 {  // bf16 -> f32 is exact: the 16 bits become the top half of the float
  using T = uint16_t;
  static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 load(const uint16_t* p) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 loadm(__mmask16 m, const uint16_t* p) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

// w: R rows of `in` elements (row stride in); x: C rows (stride in); y[c*ldy + r].
template <class L, int R, int C>
void tile(const typename L::T* w, int64_t in, const float* x, float* y, int64_t ldy) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= in; k += 16) {
    __m512 xv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) xv[c] = _mm512_loadu_ps(x + c * in + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 wv = L::load(w + r * in + k);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  if (k < in) {
    const __mmask16 m = static_cast<__mmask16>((1u << (in - k)) - 1u);
    __m512 xv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) xv[c] = _mm512_maskz_loadu_ps(m, x + c * in + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 wv = L::loadm(m, w + r * in + k);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

constexpr int kR = 4, kC = 4;  // 16 accumulators + 4 x vectors + 1 w vector of 32 zmm

template <class L, int R>
void tile_c(int c, const typename L::T* w, int64_t in, const float* x, float* y, int64_t ldy) {
  switch (c) {
    case 1: tile<L, R, 1>(w, in, x, y, ldy); break;
    case 2: tile<L, R, 2>(w, in, x, y, ldy); break;
    case 3: tile<L, R, 3>(w, in, x, y, ldy); break;
    default: tile<L, R, 4>(w, in, x, y, ldy); break;
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

}  // namespace moecat::kernels::avx512
