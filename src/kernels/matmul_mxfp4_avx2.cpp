// AVX2 MXFP4 matmul (also used on AVX-512 CPUs without VNNI). Reads the activation layout of
// matmul_q8_avx2.cpp (q8_prepare there): qs [n][in] int8, then dx [n][in/32] float.
//
// Weight block (17 bytes): e8m0 exponent e, then 16 bytes of nibbles (low = elements 0-15,
// high = 16-31). The 16 bytes are broadcast to both 128-bit lanes, the upper lane shifted right
// by 4 (vpsrlvq), masked to nibbles, and vpshufb maps the codes through the e2m1 table (doubled
// values, |w| <= 12) offset by 12, giving unsigned u = w + 12 (0..24) in element order.
// vpmaddubsw(u, q) (pair sums <= 2*24*127, no saturation), vpmaddwd with ones -> 8 exact int32
// partial sums of u*q = w*q + 12*q; the -12*sum(q) correction is computed once per activation
// block and shared by the tile's rows. One FMA per block applies e8m0_half(e) * dx. Fixed per-output
// order (blocks in order into 8 lanes, then a fixed horizontal sum): results do not depend on
// tiling or on the thread split.
#include <immintrin.h>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"

namespace moecat::kernels::avx2 {
namespace {

constexpr int64_t kBlockBytes = 17;  // e8m0 + 16 bytes of nibbles

// 2^(e-128) for every e (ggml's E8M0_TO_FP32_HALF; e < 2 are f32 subnormals), as a table so a
// block's scale is one broadcast load. Built at compile time: no code runs for it.
struct E8m0Table {
  float v[256];
};
constexpr E8m0Table make_e8m0_table() {
  E8m0Table t{};
  for (int e = 0; e < 256; ++e) {
    float f = 1.0f;  // 2^(e-128) by exact halvings / doublings
    for (int i = e; i < 128; ++i) f *= 0.5f;
    for (int i = 128; i < e; ++i) f *= 2.0f;
    t.v[e] = f;
  }
  return t;
}
alignas(64) constexpr E8m0Table kE8m0Half = make_e8m0_table();

// The 32 int8 weights of one block, in element order.
static inline __m256i expand_block(const uint8_t* blk, __m256i table, __m256i shifts, __m256i m4) {
  const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 1)));
  return _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srlv_epi64(q, shifts), m4));
}

template <int R, int C, bool kPf>
void tile(const uint8_t* w, int64_t wrow, int64_t nb, const int8_t* xq, const float* dx,
          int64_t xstride, int64_t dstride, float* y, int64_t ldy) {
  __m256 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i table = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0,
                                         12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
  const __m256i c12 = _mm256_set1_epi8(12);
  const __m256i shifts = _mm256_setr_epi64x(0, 0, 4, 4);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b) {
    if (kPf) {  // prefetch the next R rows' slice linearly (see matmul_q8_avx2.cpp)
      const char* pf = reinterpret_cast<const char*>(w) + R * wrow + b * (R * kBlockBytes);
#pragma GCC unroll 8
      for (int k = 0; k < (R * kBlockBytes + 63) / 64 + 1; ++k) _mm_prefetch(pf + 64 * k, _MM_HINT_T0);
    }
    __m256i xv[C], nq[C];  // q, and -12 * sum(q) per 4-byte group
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      xv[c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + c * xstride + b * 32));
      nq[c] = _mm256_sub_epi32(_mm256_setzero_si256(),
                               _mm256_madd_epi16(_mm256_maddubs_epi16(c12, xv[c]), ones));
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * wrow + b * kBlockBytes;
      const __m256i wu = expand_block(blk, table, shifts, m4);
      const __m256 dw = _mm256_broadcast_ss(&kE8m0Half.v[blk[0]]);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(wu, xv[c]), ones), nq[c]);
        const __m256 sc = _mm256_mul_ps(_mm256_broadcast_ss(dx + c * dstride + b), dw);
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, acc[r][c]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum8(acc[r][c]);
}

constexpr int kR = 4, kC = 2;

template <int R>
void tile_c(bool first, int c, const uint8_t* w, int64_t wrow, int64_t nb, const int8_t* xq,
            const float* dx, int64_t xstride, int64_t dstride, float* y, int64_t ldy) {
  if (first) {  // weight rows come from memory on the first activation tile of a row block
    if (c == 1) {
      tile<R, 1, true>(w, wrow, nb, xq, dx, xstride, dstride, y, ldy);
    } else {
      tile<R, 2, true>(w, wrow, nb, xq, dx, xstride, dstride, y, ldy);
    }
  } else if (c == 1) {
    tile<R, 1, false>(w, wrow, nb, xq, dx, xstride, dstride, y, ldy);
  } else {
    tile<R, 2, false>(w, wrow, nb, xq, dx, xstride, dstride, y, ldy);
  }
}

}  // namespace

void matmul_mxfp4(const void* wv, int64_t in, const void* act, int64_t n, float* y, int64_t ldy,
                  int64_t r0, int64_t r1) {
  const int64_t nb = in / 32, wrow = nb * kBlockBytes;
  const auto* w = static_cast<const uint8_t*>(wv);
  const auto* xq = static_cast<const int8_t*>(act);
  const auto* dx = reinterpret_cast<const float*>(xq + n * in);
  constexpr int64_t kRowBlock = 16;  // 16 rows stay in L2 while activation tiles stream past
  for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const int64_t re = rb + kRowBlock < r1 ? rb + kRowBlock : r1;
    for (int64_t c0 = 0; c0 < n; c0 += kC) {
      const int c = n - c0 < kC ? static_cast<int>(n - c0) : kC;
      const int8_t* xt = xq + c0 * in;
      const float* dt = dx + c0 * nb;
      int64_t r = rb;
      for (; r + kR <= re; r += kR) tile_c<kR>(c0 == 0, c, w + r * wrow, wrow, nb, xt, dt, in, nb, y + c0 * ldy + r, ldy);
      for (; r < re; ++r) tile_c<1>(c0 == 0, c, w + r * wrow, wrow, nb, xt, dt, in, nb, y + c0 * ldy + r, ldy);
    }
  }
}

}  // namespace moecat::kernels::avx2
