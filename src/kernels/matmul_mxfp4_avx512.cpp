// AVX-512 VNNI MXFP4 matmul. Reads the activation layout of matmul_q8_avx512.cpp (q8_prepare
// there): xu [n][in] uint8 = q + 128, then dx [n][in/32] float (f16-rounded q8_0 scales).
//
// Weight block (17 bytes): e8m0 exponent e, then 16 bytes of nibbles (low = elements 0-15,
// high = 16-31). As in the q8_0 kernel, one zmm holds block b of two weight rows (lanes 0-7:
// row r, 8-15: row r+1): each row's 16 bytes go to two 128-bit lanes, the second shifted right
// by 4 (vpsrlvq), masked to nibbles, and vpshufb maps the codes through the e2m1 table
// (doubled values, |v| <= 12) offset by 12, so the weights are unsigned u = w + 12 (0..24) and
// vpdpbusd takes them as its unsigned operand against the signed q = xu ^ 0x80:
//   sum(u * q) = sum(w * q) + 12 * sum(q),
// and -12*sum(q) (one vpdpbusd per activation block, shared by all weight rows of the tile) is
// the accumulator input. Each 32-bit lane holds an exact 4-element partial dot; one FMA per step
// applies e8m0_half(e) * dx per half. Per output the f32 order is fixed (blocks in order into 8
// lanes, then a fixed 8-lane sum): independent of tiling, row pairing and thread split.
#include <immintrin.h>

// GCC 12 false positives inside its AVX-512 intrinsic headers (see matmul_q8_avx512.cpp).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/kernel_table.h"

namespace moecat::kernels::avx512 {
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

inline float hsum8(__m256 v) {  // fixed-order sum of 8 floats
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Block b of P row pairs x C activation rows. kSingle: one row only (upper half zero).
// kPf: prefetch the same-sized slice of the next tile's rows, linearly.
template <int P, int C, bool kSingle, bool kPf>
__attribute__((always_inline)) inline void block_step(__m512 (&acc)[P][C], const uint8_t* w,
                                                      int64_t wrow, const uint8_t* xu,
                                                      const float* dx, int64_t in, int64_t nb,
                                                      int64_t b) {
  constexpr int kRows = kSingle ? 1 : 2 * P;
  const __m512i c128 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i c12 = _mm512_set1_epi8(12);
  const __m512i shifts = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i table = _mm512_broadcast_i32x4(
      _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));  // w + 12
  const __m512i zero = _mm512_setzero_si512();
  if (kPf) {  // prefetch instructions never fault, so running past the matrix is fine
    const char* pf = reinterpret_cast<const char*>(w) + kRows * wrow + b * (kRows * kBlockBytes);
#pragma GCC unroll 8
    for (int k = 0; k < (kRows * kBlockBytes + 63) / 64 + 1; ++k) _mm_prefetch(pf + 64 * k, _MM_HINT_T0);
  }
  __m512i xq[C], nq[C];  // signed q (both halves), -12 * sum(q) per 4-byte group
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
    xq[c] = _mm512_xor_si512(c128, _mm512_broadcast_i64x4(
        _mm256_load_si256(reinterpret_cast<const __m256i*>(xu + c * in + b * 32))));
    nq[c] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, c12, xq[c]));
  }
#pragma GCC unroll 8
  for (int k = 0; k < P; ++k) {
    const uint8_t* b0 = w + (2 * k) * wrow + b * kBlockBytes;
    const uint8_t* b1 = b0 + wrow;
    const __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 1)));
    const __m256i hi = kSingle ? _mm256_setzero_si256()
                               : _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b1 + 1)));
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    const __m512i wv = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srlv_epi64(q, shifts), m4));
    const __m512 d0 = _mm512_set1_ps(kE8m0Half.v[b0[0]]);  // lanes 8-15: row r+1's scale
    const __m512 dw = kSingle ? d0 : _mm512_mask_broadcastss_ps(d0, 0xff00, _mm_load_ss(&kE8m0Half.v[b1[0]]));
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m512 sc = _mm512_mul_ps(_mm512_set1_ps(dx[c * nb + b]), dw);
      const __m512i s = _mm512_dpbusd_epi32(nq[c], wv, xq[c]);
      acc[k][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc[k][c]);
    }
  }
}

template <int P, int C, bool kSingle, bool kPf>
void tile(const uint8_t* w, int64_t wrow, int64_t nb, const uint8_t* xu, const float* dx,
          int64_t in, float* y, int64_t ldy) {
  __m512 acc[P][C];
#pragma GCC unroll 8
  for (int k = 0; k < P; ++k)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[k][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) block_step<P, C, kSingle, kPf>(acc, w, wrow, xu, dx, in, nb, b);
#pragma GCC unroll 8
  for (int k = 0; k < P; ++k) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      y[c * ldy + 2 * k] = hsum8(_mm512_castps512_ps256(acc[k][c]));
      if (!kSingle) y[c * ldy + 2 * k + 1] = hsum8(_mm512_extractf32x8_ps(acc[k][c], 1));
    }
  }
}

constexpr int kP = 4, kC = 4;  // 8 weight rows x 4 activation rows: 16 accumulators

template <int P, bool kSingle, bool kPf>
void tile_c(int c, const uint8_t* w, int64_t wrow, int64_t nb, const uint8_t* xu, const float* dx,
            int64_t in, float* y, int64_t ldy) {
  switch (c) {
    case 1: tile<P, 1, kSingle, kPf>(w, wrow, nb, xu, dx, in, y, ldy); break;
    case 2: tile<P, 2, kSingle, kPf>(w, wrow, nb, xu, dx, in, y, ldy); break;
    case 3: tile<P, 3, kSingle, kPf>(w, wrow, nb, xu, dx, in, y, ldy); break;
    default: tile<P, 4, kSingle, kPf>(w, wrow, nb, xu, dx, in, y, ldy); break;
  }
}

// Weight rows come from memory on the first activation tile of a row block (prefetch them).
template <int P, bool kSingle>
void tile_cp(bool first, int c, const uint8_t* w, int64_t wrow, int64_t nb, const uint8_t* xu,
             const float* dx, int64_t in, float* y, int64_t ldy) {
  if (first) {
    tile_c<P, kSingle, true>(c, w, wrow, nb, xu, dx, in, y, ldy);
  } else {
    tile_c<P, kSingle, false>(c, w, wrow, nb, xu, dx, in, y, ldy);
  }
}

}  // namespace

void matmul_mxfp4(const void* wv, int64_t in, const void* act, int64_t n, float* y, int64_t ldy,
                  int64_t r0, int64_t r1) {
  const int64_t nb = in / 32, wrow = nb * kBlockBytes;
  const auto* w = static_cast<const uint8_t*>(wv);
  const auto* xu = static_cast<const uint8_t*>(act);
  const auto* dx = reinterpret_cast<const float*>(xu + n * in);
  constexpr int64_t kRowBlock = 16;  // 16 weight rows stay in L2 while activation tiles stream
  for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const int64_t re = rb + kRowBlock < r1 ? rb + kRowBlock : r1;
    for (int64_t c0 = 0; c0 < n; c0 += kC) {
      const int c = n - c0 < kC ? static_cast<int>(n - c0) : kC;
      const uint8_t* xt = xu + c0 * in;
      const float* dt = dx + c0 * nb;
      float* yt = y + c0 * ldy;
      const bool first = c0 == 0;
      int64_t r = rb;
      for (; r + 2 * kP <= re; r += 2 * kP)
        tile_cp<kP, false>(first, c, w + r * wrow, wrow, nb, xt, dt, in, yt + r, ldy);
      for (; r + 2 <= re; r += 2)
        tile_cp<1, false>(first, c, w + r * wrow, wrow, nb, xt, dt, in, yt + r, ldy);
      if (r < re) tile_cp<1, true>(first, c, w + r * wrow, wrow, nb, xt, dt, in, yt + r, ldy);
    }
  }
}

}  // namespace moecat::kernels::avx512
