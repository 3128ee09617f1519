// AVX2 matmul for FP8 e4m3 weights read in place (one byte each, kernel_table.h Fp8Scales: the
// f32 scale d of each 32 values from the side table): f32 activations. An e4m3 byte becomes an IEEE half exactly by
// moving its 7 magnitude bits under the half's exponent/mantissa (s eeee mmm -> s 0eeee mmm0000000,
// subnormals included) which is the value times 2^-8; F16C widens it to f32 and the 2^8 goes into
// the block scale (exact). Per block and output: 4 lanes-of-8 FMAs into a block sum, then
// acc = fma(block sum, 256 d, acc); one fixed horizontal sum at the end, so every output is the
// same instruction sequence whatever the tiling or the thread split.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/row_tiles.h"

namespace moecat::kernels::avx2 {
namespace {

// 16 e4m3 bytes -> 16 halves.
static inline __m256i fp8_to_f16(__m128i b) {
  const __m256i v = _mm256_cvtepu8_epi16(b);
  const __m256i sign = _mm256_and_si256(_mm256_slli_epi16(v, 8), _mm256_set1_epi16(int16_t(0x8000)));
  const __m256i mag = _mm256_and_si256(_mm256_slli_epi16(v, 7), _mm256_set1_epi16(0x3F80));
  return _mm256_or_si256(sign, mag);
}

// Weight rows [r, r + R) from w (row r), their scale rows srow[]; bpc 32-value blocks per scale
// column.
template <int R, int C>
void tile(const uint8_t* w, const float* const* srow, int64_t bpc, int64_t nb, const float* x, int64_t in,
          float* y, int64_t ldy) {
  __m256 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
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
      const __m256 dv = _mm256_set1_ps(srow[r][cb] * 256.0f);
      const __m256i h0 = fp8_to_f16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
      const __m256i h1 = fp8_to_f16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16)));
      const __m256 w0 = _mm256_cvtph_ps(_mm256_castsi256_si128(h0));
      const __m256 w1 = _mm256_cvtph_ps(_mm256_extracti128_si256(h0, 1));
      const __m256 w2 = _mm256_cvtph_ps(_mm256_castsi256_si128(h1));
      const __m256 w3 = _mm256_cvtph_ps(_mm256_extracti128_si256(h1, 1));
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const float* xc = x + c * in + b * 32;
        __m256 s = _mm256_mul_ps(w0, _mm256_loadu_ps(xc));
        s = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + 8), s);
        s = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xc + 16), s);
        s = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xc + 24), s);
        acc[r][c] = _mm256_fmadd_ps(s, dv, acc[r][c]);
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
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum8(acc[r][c]);
}

constexpr int kR = 4, kC = 2;

template <int R>
void tile_c(int c, const uint8_t* w, const float* const* srow, int64_t bpc, int64_t nb, const float* x, int64_t in,
            float* y, int64_t ldy) {
  if (c == 1) {
    tile<R, 1>(w, srow, bpc, nb, x, in, y, ldy);
  } else {
    tile<R, 2>(w, srow, bpc, nb, x, in, y, ldy);
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

}  // namespace moecat::kernels::avx2
