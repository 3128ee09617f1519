// FP8 e4m3 weights in place against activations rounded to bf16 once per matrix, with AVX-512
// BF16 dot products (vdpbf16ps) and VBMI byte permutes (dispatch.cpp selects it only where the
// CPU has both). Why: the exact kernel (matmul_fp8_avx512.cpp) widens every byte to f32 and
// spends ~11 instructions per 32 weights, so it runs at bf16 speed; here 64 bytes become 64
// bf16 weights in 5 instructions and one vdpbf16ps does 32 products.
//
// Weights stay exact: every e4m3 value is a bf16 (4 significant bits, exponents 2^-9..2^8); two
// 128-entry tables (the bf16's low and high byte for the 7 magnitude bits, vpermt2b ignores bit
// 7) give them, the sign bit is ORed into the high byte. Only the activations are rounded (to
// nearest even bf16, relative error <= 2^-9 each); products are exact in f32 and summed in f32
// per scale block, then acc = fma(block sum, scale, acc).
//
// vpunpck{l,h}bw interleave within 128-bit lanes, so the bf16 weights of a 64-column chunk come
// out in the order lane k: columns 16k..16k+7 (first vector), 16k+8..16k+15 (second); the
// activation layout (fp8_bf16_prepare) is written in that order.
#include <immintrin.h>

// GCC 12 reports false "uninitialized" warnings inside its own AVX-512 intrinsic headers
// (_mm512_undefined_* placeholders) once they are inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/row_tiles.h"

namespace moecat::kernels::avx512 {
namespace {

// bf16 bits of the e4m3 magnitude m (eeee mmm), by integer arithmetic at compile time (no code
// runs at start-up in an ISA file). 127 is NaN in e4m3; the loader refuses it.
constexpr uint16_t e4m3_mag_to_bf16(int m) {
  const int e = m >> 3, f = m & 7;
  if (e != 0) return uint16_t(((e - 7 + 127) << 7) | (f << 4));
  if (f == 0) return 0;
  int k = 0;  // f * 2^-9 = (f / 2^k) * 2^(k - 9), 2^k <= f < 2^(k+1)
  while ((2 << k) <= f) ++k;
  return uint16_t(((k - 9 + 127) << 7) | ((f - (1 << k)) << (7 - k)));
}
struct Tables {
  alignas(64) uint8_t lo[128];
  alignas(64) uint8_t hi[128];
  constexpr Tables() : lo(), hi() {
    for (int m = 0; m < 128; ++m) {
      lo[m] = uint8_t(e4m3_mag_to_bf16(m) & 0xFF);
      hi[m] = uint8_t(e4m3_mag_to_bf16(m) >> 8);
    }
  }
};
constexpr Tables kTables;

// f32 -> bf16 bits, round to nearest even (NaN stays NaN).
inline uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x40);
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// Weight rows [r, r + R) from w (row r) and their scale rows srow[]; x: C activation rows of
// `in` bf16 in chunk order; bpc 64-column chunks per scale column.
template <int R, int C>
__attribute__((target("avx512vbmi,avx512bf16"))) void tile(const uint8_t* w, const float* const* srow,
                                                            int64_t bpc, int64_t nch, const uint16_t* x,
                                                            int64_t in, float* y, int64_t ldy) {
  const __m512i tlo0 = _mm512_load_si512(kTables.lo), tlo1 = _mm512_load_si512(kTables.lo + 64);
  const __m512i thi0 = _mm512_load_si512(kTables.hi), thi1 = _mm512_load_si512(kTables.hi + 64);
  const __m512i sign = _mm512_set1_epi8(char(0x80));
  __m512 acc[R][C], s[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = s[r][c] = _mm512_setzero_ps();
  int64_t cb = 0, left = bpc;  // scale column of chunk k; chunks left in it
  for (int64_t k = 0; k < nch; ++k) {
    // The same chunk of the next tile's rows, one tile ahead: the file's 4 KiB pages stop the
    // hardware prefetchers at every page (half a row of 2048 values), and the model ran at a
    // third of this kernel's in-cache speed without it. Prefetches never fault (past the end).
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * in + k * 64), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i v = _mm512_loadu_si512(w + r * in + k * 64);
      const __m512i lo = _mm512_permutex2var_epi8(tlo0, v, tlo1);
      const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(thi0, v, thi1), v, sign, 0xF8);
      const __m512bh w0 = (__m512bh)_mm512_unpacklo_epi8(lo, hi), w1 = (__m512bh)_mm512_unpackhi_epi8(lo, hi);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const uint16_t* xc = x + c * in + k * 64;
        s[r][c] = _mm512_dpbf16_ps(s[r][c], w0, (__m512bh)_mm512_loadu_si512(xc));
        s[r][c] = _mm512_dpbf16_ps(s[r][c], w1, (__m512bh)_mm512_loadu_si512(xc + 32));
      }
    }
    // The block sums times their scales at the end of each scale column, and of the row (a
    // partial last column).
    if (--left == 0 || k + 1 == nch) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 d = _mm512_set1_ps(srow[r][cb]);
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          acc[r][c] = _mm512_fmadd_ps(s[r][c], d, acc[r][c]);
          s[r][c] = _mm512_setzero_ps();
        }
      }
      ++cb;
      left = bpc;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

template <int R>
void tile_c(int c, const uint8_t* w, const float* const* srow, int64_t bpc, int64_t nch, const uint16_t* x,
            int64_t in, float* y, int64_t ldy) {
  switch (c) {
    case 1: tile<R, 1>(w, srow, bpc, nch, x, in, y, ldy); break;
    case 2: tile<R, 2>(w, srow, bpc, nch, x, in, y, ldy); break;
    case 3: tile<R, 3>(w, srow, bpc, nch, x, in, y, ldy); break;
    case 4: tile<R, 4>(w, srow, bpc, nch, x, in, y, ldy); break;
    case 5: tile<R, 5>(w, srow, bpc, nch, x, in, y, ldy); break;
    case 6: tile<R, 6>(w, srow, bpc, nch, x, in, y, ldy); break;
    case 7: tile<R, 7>(w, srow, bpc, nch, x, in, y, ldy); break;
    default: tile<R, 8>(w, srow, bpc, nch, x, in, y, ldy); break;
  }
}

// Tiles of kR weight rows x kC activation rows (2 x kR x kC accumulators).
template <int kR, int kC>
void run(const uint8_t* w, const Fp8Scales* sc, int64_t in, const uint16_t* x, int64_t n, float* y, int64_t ldy,
         int64_t r0, int64_t r1) {
  const int64_t nch = in / 64, bpc = sc->bc / 64;
  for_row_tiles<kR, kC>(n, r0, r1, [&](auto rows, int c, int64_t r, int64_t c0) {
    constexpr int R = decltype(rows)::value;
    const float* srow[R];
    for (int k = 0; k < R; ++k) srow[k] = sc->s + ((r + k) / sc->br) * sc->ld;
    tile_c<R>(c, w + r * in, srow, bpc, nch, x + c0 * in, in, y + c0 * ldy + r, ldy);
  });
}

}  // namespace

int64_t fp8_bf16_act_bytes(int64_t n, int64_t in) { return n * in * 2; }

void fp8_bf16_prepare(const float* x, int64_t in, int64_t row0, int64_t row1, void* act) {
  auto* a = static_cast<uint16_t*>(act);
  for (int64_t i = row0; i < row1; ++i)
    for (int64_t k = 0; k < in; k += 64)
      for (int j = 0; j < 32; ++j) {
        const int64_t col = k + 16 * (j / 8) + j % 8;  // see the header: lane k's low / high half
        a[i * in + k + j] = to_bf16(x[i * in + col]);
        a[i * in + k + 32 + j] = to_bf16(x[i * in + col + 8]);
      }
}

void matmul_fp8_bf16(const uint8_t* w, const Fp8Scales* sc, int64_t in, const void* act, int64_t n, float* y,
                     int64_t ldy, int64_t r0, int64_t r1) {
  // Generation: 4 weight rows at a time (more independent dot chains); prompts: 8 activation
  // rows per decoded weight chunk (a quarter of the decoding per product; 2x8 tiles spill a few
  // of their 32 accumulators but measured 12 % faster on pp64 than 2x4, 8 % than 1x8). Every
  // output is the same instruction sequence either way (its own accumulators), so results do
  // not depend on n.
  const auto* x = static_cast<const uint16_t*>(act);
  if (n <= 2) {
    run<4, 2>(w, sc, in, x, n, y, ldy, r0, r1);
  } else {
    run<2, 8>(w, sc, in, x, n, y, ldy, r0, r1);
  }
}

}  // namespace moecat::kernels::avx512
