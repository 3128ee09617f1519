// AVX2 Q8_0 matmul and activation quantization (also used on AVX-512 CPUs without VNNI).
//
// Activation layout ("act", private to this file), n rows, nb = in/32 blocks:
//   qs [n][nb*32] int8   the q8_0 values
//   dx [n][nb]    float  the f16-rounded block scales
// Block dot: vpmaddubsw needs an unsigned operand, so use |w| and x*sign(w) (both exact for
// q8_0 values; the pair sums are <= 2*128*127 and cannot saturate), then vpmaddwd with ones
// gives 8 exact int32 partial sums. One FMA per block applies dw*dx. Fixed per-output order
// (blocks in order, then a fixed horizontal sum): independent of tiling and thread split.
#include <immintrin.h>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"

namespace moecat::kernels::avx2 {
namespace {

typedef uint16_t u16_unaligned __attribute__((aligned(1), may_alias));
constexpr int64_t kBlockBytes = 34;  // f16 d + 32 int8

static inline uint16_t load_u16(const uint8_t* p) { return *reinterpret_cast<const u16_unaligned*>(p); }

// roundf semantics (halves away from zero), see matmul_q8_avx512.cpp.
static inline __m256 round_away(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
  const __m256 m = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign));
  return _mm256_add_ps(t, _mm256_and_ps(m, step));
}

// One q8_0 block exactly as the scalar reference (see matmul_q8_avx512.cpp).
static inline uint16_t quant_block(const float* x, int8_t* q) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
  const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
  __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
  m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  const float amax = _mm_cvtss_f32(s);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m256 iv = _mm256_set1_ps(id);
  const __m256i i0 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v0, iv)));
  const __m256i i1 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v1, iv)));
  const __m256i i2 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v2, iv)));
  const __m256i i3 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v3, iv)));
  // packs interleave per 128-bit lane; the permute restores element order.
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  const __m256i o = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), o);
  return static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
}

// kPf: prefetch the matching slice of the next R rows, linearly (see matmul_q8_avx512.cpp:
// interleaved row streams defeat the hardware prefetcher).
template <int R, int C, bool kPf>
void tile(const uint8_t* w, int64_t wrow, int64_t nb, const int8_t* xq, const float* dx,
          int64_t xstride, int64_t dstride, float* y, int64_t ldy) {
  __m256 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    if (kPf) {
      const char* pf = reinterpret_cast<const char*>(w) + R * wrow + b * (R * kBlockBytes);
#pragma GCC unroll 8
      for (int k = 0; k < (R * kBlockBytes + 63) / 64 + 1; ++k) _mm_prefetch(pf + 64 * k, _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * wrow + b * kBlockBytes;
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      const __m256i aw = _mm256_abs_epi8(wv);
      const __m256 dw = _mm256_set1_ps(_cvtsh_ss(load_u16(blk)));
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const __m256i xv = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + c * xstride + b * 32));
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wv)), ones);
        const __m256 sc = _mm256_mul_ps(dw, _mm256_broadcast_ss(dx + c * dstride + b));
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

int64_t q8_act_bytes(int64_t n, int64_t in) { return n * in + n * (in / 32) * int64_t(sizeof(float)); }

void q8_prepare(const float* x, int64_t in, int64_t n, int64_t row0, int64_t row1, void* act) {
  const int64_t nb = in / 32;
  auto* qs = static_cast<int8_t*>(act);
  auto* dx = reinterpret_cast<float*>(qs + n * in);
  for (int64_t i = row0; i < row1; ++i)
    for (int64_t b = 0; b < nb; ++b)
      dx[i * nb + b] = _cvtsh_ss(quant_block(x + i * in + b * 32, qs + i * in + b * 32));
}

void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / 32; ++b) {
    uint8_t* blk = out + b * kBlockBytes;
    *reinterpret_cast<u16_unaligned*>(blk) = quant_block(x + b * 32, reinterpret_cast<int8_t*>(blk + 2));
  }
}

void matmul_q8_0(const void* wv, int64_t in, const void* act, int64_t n, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
  const int64_t nb = in / 32, wrow = nb * kBlockBytes;
  const auto* w = static_cast<const uint8_t*>(wv);
  const auto* xq = static_cast<const int8_t*>(act);
  const auto* dx = reinterpret_cast<const float*>(xq + n * in);
  constexpr int64_t kRowBlock = 16;
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
