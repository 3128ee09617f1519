// AVX-512 VNNI Q8_0 matmul and activation quantization.
//
// Activation layout ("act", private to this file), n rows, nb = in/32 blocks:
//   xu [n][nb*32] uint8  = q + 128   (q: the q8_0 int8 values)
//   dx [n][nb]    float  = the f16-rounded block scales
// vpdpbusd multiplies unsigned by signed bytes, so with xu = q + 128:
//   sum(xu * w) = sum(q * w) + 128 * sum(w)
// and the correction -128*sum(w) is computed once per weight vector (shared by all activation
// rows) and used as the dpbusd accumulator input.
//
// One zmm holds the same block b of two weight rows (lanes 0-7: row r, 8-15: row r+1), and the
// activation block is broadcast to both halves, so each step walks all rows of a tile one block
// (34 bytes) at a time. (Two consecutive blocks of one row per zmm computed the same but
// streamed from DRAM ~25% slower at n=1.) Each 32-bit lane holds an exact 4-byte partial dot;
// one FMA per step applies dw*dx per half. Per output the f32 order is fixed (blocks in order
// into 8 lanes, then a fixed 8-lane sum), so results do not depend on tiling, on which row
// shares the zmm, or on the thread split.
#include <immintrin.h>

// GCC 12 reports false "uninitialized" warnings inside its own AVX-512 intrinsic headers
// (_mm512_undefined_* placeholders) once they are inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/avx512_util.h"
#include "kernels/kernel_table.h"

namespace moecat::kernels::avx512 {
namespace {

typedef uint16_t u16_unaligned __attribute__((aligned(1), may_alias));
constexpr int64_t kBlockBytes = 34;  // f16 d + 32 int8

inline uint16_t load_u16(const uint8_t* p) { return *reinterpret_cast<const u16_unaligned*>(p); }

// One q8_0 block exactly as the scalar reference: d = amax/127, q = roundf(x * (1/d)),
// stored d = f16(d) (nearest-even). Writes 32 int8 to q, returns the f16 bits.
inline uint16_t quant_block(const float* x, int8_t* q) {
  const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m512 iv = _mm512_set1_ps(id);
  const __m128i qa = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(round_away(_mm512_mul_ps(a, iv))));
  const __m128i qb = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(round_away(_mm512_mul_ps(b, iv))));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), qa);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), qb);
  return static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
}

// Fixed-order sum of 8 floats.
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One block step: block b of P row pairs (rows 2k, 2k+1 of the tile) x C activation rows.
// kSingle: the tile is one row only (upper half: zero weights and scale).
// kPf: prefetch the same-sized slice of the next tile's rows, linearly: the rows are read as
// interleaved streams, which the hardware prefetcher alone handles poorly (15 vs 31+ GB/s).
// kAhead: one row read alone as a stream (generation): prefetch the line 4 KiB ahead of this
// block (blocks are 34 bytes, so every line of the stream is fetched once or twice).
template <int P, int C, bool kSingle, bool kPf, bool kAhead = false>
__attribute__((always_inline)) inline void block_step(__m512 (&acc)[P][C], const uint8_t* w,
                                                      int64_t wrow, const uint8_t* xu,
                                                      const float* dx, int64_t in, int64_t nb,
                                                      int64_t b) {
  constexpr int kRows = kSingle ? 1 : 2 * P;
  const __m512i c128 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i zero = _mm512_setzero_si512();
  if (kAhead) _mm_prefetch(reinterpret_cast<const char*>(w) + b * kBlockBytes + 4096, _MM_HINT_T0);
  if (kPf) {  // prefetch instructions never fault, so running past the matrix is fine
    const char* pf = reinterpret_cast<const char*>(w) + kRows * wrow + b * (kRows * kBlockBytes);
#pragma GCC unroll 8
    for (int k = 0; k < (kRows * kBlockBytes + 63) / 64 + 1; ++k) _mm_prefetch(pf + 64 * k, _MM_HINT_T0);
  }
#pragma GCC unroll 8
  for (int k = 0; k < P; ++k) {
    const uint8_t* b0 = w + (2 * k) * wrow + b * kBlockBytes;
    const uint8_t* b1 = b0 + wrow;
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2));
    const __m256i hi = kSingle ? _mm256_setzero_si256()
                               : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 2));
    const __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    const __m512i nc = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, c128, wv));
    const uint32_t dd = load_u16(b0) | (kSingle ? 0u : uint32_t(load_u16(b1)) << 16);
    const __m512 dw = _mm512_permutexvar_ps(
        halves, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dd)))));
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m512i xv = _mm512_broadcast_i64x4(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(xu + c * in + b * 32)));
      const __m512 sc = _mm512_mul_ps(dw, _mm512_set1_ps(dx[c * nb + b]));
      const __m512i s = _mm512_dpbusd_epi32(nc, xv, wv);
      acc[k][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc[k][c]);
    }
  }
}

// y[c*ldy + r] for the tile's 2P rows (or 1 if kSingle) and C activation rows.
template <int P, int C, bool kSingle, bool kPf, bool kAhead = false>
void tile(const uint8_t* w, int64_t wrow, int64_t nb, const uint8_t* xu, const float* dx,
          int64_t in, float* y, int64_t ldy) {
  __m512 acc[P][C];
#pragma GCC unroll 8
  for (int k = 0; k < P; ++k)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[k][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) block_step<P, C, kSingle, kPf, kAhead>(acc, w, wrow, xu, dx, in, nb, b);
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

// Weight rows come from memory on the first activation tile of a row block (prefetch them);
// later tiles find them in cache.
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

int64_t q8_act_bytes(int64_t n, int64_t in) { return n * in + n * (in / 32) * int64_t(sizeof(float)); }

void q8_prepare(const float* x, int64_t in, int64_t n, int64_t row0, int64_t row1, void* act) {
  const int64_t nb = in / 32;
  auto* xu = static_cast<uint8_t*>(act);
  auto* dx = reinterpret_cast<float*>(xu + n * in);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  alignas(32) int8_t q[32];
  for (int64_t i = row0; i < row1; ++i) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint16_t h = quant_block(x + i * in + b * 32, q);
      const __m256i qv = _mm256_load_si256(reinterpret_cast<const __m256i*>(q));
      _mm256_store_si256(reinterpret_cast<__m256i*>(xu + i * in + b * 32), _mm256_xor_si256(qv, flip));
      dx[i * nb + b] = _cvtsh_ss(h);
    }
  }
}

void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / 32; ++b) {
    uint8_t* blk = out + b * kBlockBytes;
    const uint16_t h = quant_block(x + b * 32, reinterpret_cast<int8_t*>(blk + 2));
    *reinterpret_cast<u16_unaligned*>(blk) = h;
  }
}

void matmul_q8_0(const void* wv, int64_t in, const void* act, int64_t n, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
  const int64_t nb = in / 32, wrow = nb * kBlockBytes;
  const auto* w = static_cast<const uint8_t*>(wv);
  const auto* xu = static_cast<const uint8_t*>(act);
  const auto* dx = reinterpret_cast<const float*>(xu + n * in);
  // One activation row (generation): rows one after another as a single stream, which reads
  // faster than interleaved row streams. Same arithmetic per output as a paired tile's row.
  if (n == 1) {
    for (int64_t r = r0; r < r1; ++r) tile<1, 1, true, false, true>(w + r * wrow, wrow, nb, xu, dx, in, y + r, ldy);
    return;
  }
  // Blocks of 16 weight rows (70 KB at in=4096) stay in L2 while activation tiles stream past.
  constexpr int64_t kRowBlock = 16;
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
