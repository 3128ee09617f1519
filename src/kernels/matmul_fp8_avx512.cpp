// AVX-512 matmul for FP8 e4m3 weights read in place (see matmul_fp8_avx2.cpp for the e4m3 ->
// half -> f32 widening and the summation order): 32 e4m3 bytes widen to 32 halves in one zmm,
// two 16-lane FMAs per block and output, acc = fma(block sum, 256 d, acc), one reduction at the
// end: the same instruction sequence for every output whatever the tiling or thread split.
#include <immintrin.h>

// GCC 12 reports false "uninitialized" warnings inside its own AVX-512 intrinsic headers
// (_mm512_undefined_* placeholders) once they are inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512_util.h"
#include "kernels/kernel_table.h"
#include "kernels/row_tiles.h"

namespace moecat::kernels::avx512 {
namespace {

// Weight rows [r, r + R) from w (row r), their scale rows srow[]; bpc 32-value blocks per scale
// column.
template <int R, int C>
void tile(const uint8_t* w, const float* const* srow, int64_t bpc, int64_t nb, const float* x, int64_t in,
          float* y, int64_t ldy) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  const __m512i kSign = _mm512_set1_epi16(int16_t(0x8000)), kMag = _mm512_set1_epi16(0x3F80);
  int64_t cb = 0, left = bpc;  // scale column of block b; blocks left in it
  for (int64_t b = 0; b < nb; ++b) {
    // The next tile's rows one tile ahead (see matmul_fp8_bf16_avx512.cpp: 4 KiB file pages stop
    // the hardware prefetchers). Prefetches never fault.
    if (b % 2 == 0)
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * in + b * 32), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * in + b * 32;
      const __m512 dv = _mm512_set1_ps(srow[r][cb] * 256.0f);
      const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
      const __m512i h = _mm512_or_si512(_mm512_and_si512(_mm512_slli_epi16(v, 8), kSign),
                                        _mm512_and_si512(_mm512_slli_epi16(v, 7), kMag));
      const __m512 w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
      const __m512 w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const float* xc = x + c * in + b * 32;
        __m512 s = _mm512_mul_ps(w0, _mm512_loadu_ps(xc));
        s = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xc + 16), s);
        acc[r][c] = _mm512_fmadd_ps(s, dv, acc[r][c]);
      }
    }
    if (--left == 0) {
      ++cb;
      left = bpc;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

constexpr int kR = 4, kC = 4;

template <int R>
void tile_c(int c, const uint8_t* w, const float* const* srow, int64_t bpc, int64_t nb, const float* x, int64_t in,
            float* y, int64_t ldy) {
  switch (c) {
    case 1: tile<R, 1>(w, srow, bpc, nb, x, in, y, ldy); break;
    case 2: tile<R, 2>(w, srow, bpc, nb, x, in, y, ldy); break;
    case 3: tile<R, 3>(w, srow, bpc, nb, x, in, y, ldy); break;
    default: tile<R, 4>(w, srow, bpc, nb, x, in, y, ldy); break;
  }
}

}  // namespace

void matmul_fp8(const uint8_t* w, const Fp8Scales* sc, int64_t in, const float* x, int64_t n, float* y,
                int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = in / 32, bpc = sc->bc / 32;
  for_row_tiles<kR, kC>(n, r0, r1, [&](auto rows, int c, int64_t r, int64_t c0) {
    constexpr int R = decltype(rows)::value;
    const float* srow[R];
    for (int k = 0; k < R; ++k) srow[k] = sc->s + ((r + k) / sc->br) * sc->ld;
    tile_c<R>(c, w + r * in, srow, bpc, nb, x + c0 * in, in, y + c0 * ldy + r, ldy);
  });
}

}  // namespace moecat::kernels::avx512
