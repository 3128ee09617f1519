// AVX2 kernels of the pair form (span.h ActPair) for the types whose scales are per 32 values:
// Q8_0 (repacked rows of whole units, f16-rounded activation scales as llama.cpp's q8_0
// activations; its file layout keeps the dedicated q8_0 kernel), Q4_K, Q5_K, IQ4_XS and the
// 32-value types Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, in their repacked
// layouts (repack.h: the codes already in the form's 32-value lanes, so a unit is four 32-byte
// loads of nibbles) and their file layouts (the AVX2 Span unpack, then an 8 x 8 dword
// transpose into the lanes; row tiles only, where the cost is shared by every activation row).
// Q2_K, Q3_K and Q6_K (scales per 16) have kernels of their own on AVX2: span_kquant16_avx2.cpp.
// One unit (256 values of a weight row) is eight 256-bit half-chunks: lane l holds four values
// of block l, so the integer products leave block l's sum in 32-bit lane l and the float work
// is per 32 values (convert, scale, FMA, and an FNMADD for the types with mins), where the
// Span form (span_avx2.cpp) works per 16 and first writes every row into a Span.
// Integer sums by vpmaddubsw (u8 x s8 -> int16 pairs) then vpmaddwd against ones:
//   4-bit codes (0..15): the eight half-chunks summed in int16 (|sum| <= 8 x 2 x 15 x 127 = 30480);
//   5-bit codes (0..31): two int16 sums of four (<= 31496), then widened;
//   codes stored + 128 (IQ4_XS, IQ4_NL through their table, Q8_0's int8): v = c - 128 as
//   |v| x (a with v's sign), widened
//   per half-chunk (<= 2 x 128 x 127); that is the sum less 128 x the activation sum, so the
//   type's offset (128) is already in it; Q4_0 / Q5_0 subtract offset x (the block's activation
//   sum) instead.
// Two uses, the same arithmetic per output (integer sums are exact in any order; the float
// operations are the same sequence per unit, units in order into one accumulator, then one
// fixed horizontal sum), so the same bits:
//   pair_fused   up to eight activation rows against a repacked weight row from registers
//                (generation; the few tokens of an expert in a batch step);
//   pair_matmul  row tiles (prompts, batches): weight rows decoded once into UnitCodes, read by
//                every activation row in 2 x 4 tiles.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/quant/lane_tables.h"
#include "kernels/quant/span_util_avx2.h"
#include "kernels/quant/with_rows.h"

namespace moecat::kernels::avx2 {

using quant::ActPair;
using quant::kSpan;
using quant::Span;

namespace {

// The decoders and sums below run per unit in the innermost loops: inlined, so a unit's codes
// stay in registers (GCC had left the decoders as calls, Dec through the stack: ~0.7x the speed).
#define MOECAT_INLINE inline __attribute__((always_inline))

constexpr uint32_t kR = quant::kRepackedId;
constexpr bool is_repacked(uint32_t t) { return t >= kR; }
constexpr uint32_t file_id(uint32_t t) { return is_repacked(t) ? t - kR : t; }
constexpr uint32_t kQ8R = kR + 8;  // Q8_0_R: rows of whole units only on AVX2 (repack_type)
constexpr bool known(uint32_t id) {
  return id == 2 || id == 3 || id == 6 || id == 7 || id == 20 || id == 12 || id == 13 || id == 23;
}
constexpr bool is_q8r(uint32_t t) { return t == kQ8R; }
constexpr bool has_mins(uint32_t t) { return file_id(t) == 3 || file_id(t) == 7 || file_id(t) == 12 || file_id(t) == 13; }

// How the codes are summed (see the head of the file).
enum Kind { kU4, kU5, kS8 };
constexpr Kind kind_of(uint32_t t) {
  if (file_id(t) == 20 || file_id(t) == 23 || file_id(t) == 8) return kS8;
  return file_id(t) == 6 || file_id(t) == 7 || file_id(t) == 13 ? kU5 : kU4;
}
// Bytes of one repacked unit (repack.h).
constexpr int64_t unit_bytes(uint32_t t) {
  switch (file_id(t)) {
    case 3: return 160;
    case 6: return 176;
    case 7: return 192;
    case 13: return 176;
    case 23: return 136;
    case 8: return 272;     // Q8_0_R: eight f16 scales, then the B8 plane
    default: return 144;  // Q4_0, IQ4_NL, Q4_K
  }
}

// Pins v to a register at this point. GCC otherwise sinks the int16 adds of the tiles below all
// of a unit's vpmaddubsw (integer adds reassociate) and spills every product to the stack.
MOECAT_INLINE void in_register(__m256i& v) { __asm__("" : "+x"(v)); }

// A unit decoded: half-chunk K of the pair lanes (lane l = values 32l + 4K .. + 3), the eight
// blocks' scales and (types with mins) mins.
struct Dec {
  __m256i q[8];
  __m256 fsc, fmin;
};
// The same in memory (row tiles).
struct alignas(64) UnitCodes {
  uint8_t q[kSpan];
  float fsc[8];
  float fmin[8];
};
static_assert(sizeof(UnitCodes) == 320, "UnitCodes layout");

inline __m256i iq4_lut() {
  const __m128i l = _mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128));
  return _mm256_set_m128i(l, l);
}

// A repacked unit u of type kT (repack.h's layouts).
template <uint32_t kT>
MOECAT_INLINE void decode_repacked(const uint8_t* u, Dec& d) {
  constexpr uint32_t id = file_id(kT);
  constexpr bool kQ5 = kind_of(kT) == kU5;
  int n32 = 0, h32 = 0;
  if constexpr (id == 8) {  // Q8_0_R: the B8 plane is the half-chunks themselves (int8 + 128)
    d.fsc = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
    for (int K = 0; K < 8; ++K) d.q[K] = load32(u + 16 + 32 * K);
    return;
  } else if constexpr (id == 12 || id == 13) {
    scales_k45(u, d.fsc, d.fmin);
    h32 = 16;
    n32 = id == 12 ? 16 : 48;
  } else if constexpr (id == 23) {
    d.fsc = scales_iq4xs(u);
    n32 = 8;
  } else if constexpr (id == 3 || id == 7) {  // eight (f16 d, f16 m); the min is -m
    const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
    const __m256 y = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 16)));
    // shuffle_ps picks [x0 x2 y0 y2 | x4 x6 y4 y6]; the 64-bit permute puts blocks in order.
    d.fsc = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(x, y, 0x88)), 0xD8));
    const __m256 m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(x, y, 0xDD)), 0xD8));
    d.fmin = _mm256_xor_ps(m, _mm256_set1_ps(-0.0f));  // -m, as the file layout's unpack
    h32 = 32;
    n32 = kQ5 ? 64 : 32;
  } else {  // eight f16 d
    d.fsc = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
    h32 = 16;
    n32 = kQ5 ? 48 : 16;
  }
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int K = 0; K < 4; ++K) {
    const __m256i z = load32(u + n32 + 32 * K);
    d.q[K] = _mm256_and_si256(z, m4);
    d.q[K + 4] = _mm256_and_si256(_mm256_srli_epi16(z, 4), m4);
  }
  if constexpr (kind_of(kT) == kS8) {  // IQ4_XS, IQ4_NL: the indices through the table
    const __m256i lut = iq4_lut();
    for (int K = 0; K < 8; ++K) d.q[K] = _mm256_shuffle_epi8(lut, d.q[K]);
  }
  if constexpr (kQ5)  // H32: bit 4 of half-chunk K's byte p at bit p of u32 K
    for (int K = 0; K < 8; ++K) d.q[K] = _mm256_or_si256(d.q[K], fifth_bits(u + h32 + 4 * K));
}

// Natural blocks r[l] (32 codes of block l) -> half-chunks q[K] of the pair lanes: natural
// dword 8l + K to lane l of q[K], an 8 x 8 transpose of dwords.
MOECAT_INLINE void to_lanes(const __m256i* r, __m256i* q) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int K = 0; K < 4; ++K) {
    q[K] = _mm256_permute2x128_si256(u[K], u[K + 4], 0x20);
    q[K + 4] = _mm256_permute2x128_si256(u[K], u[K + 4], 0x31);
  }
}

// Unit s of a file-layout row (nv values: 256, or fewer at the end of a row of a 32-value
// type): the Span unpack, codes moved into the pair lanes, every other per-16 scale (both
// groups of a block share it).
MOECAT_INLINE void decode_file(quant::UnpackFn unpack, bool mins, const uint8_t* row, int64_t s, int nv, Dec& d) {
  alignas(64) Span sp;
  if (nv < kSpan)
    for (int c = 0; c < 8; ++c) store32(sp.q + 32 * c, _mm256_setzero_si256());
  unpack(row, s, nv, &sp);
  for (int g = nv / 16; g < quant::kGroups; ++g) sp.fsc[g] = sp.fmin[g] = 0.0f;
  __m256i r[8];
  for (int l = 0; l < 8; ++l) r[l] = _mm256_load_si256(reinterpret_cast<const __m256i*>(sp.q + 32 * l));
  to_lanes(r, d.q);
  auto evens = [](const float* v) {
    const __m256 lo = _mm256_load_ps(v), hi = _mm256_load_ps(v + 8);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
  };
  d.fsc = evens(sp.fsc);
  d.fmin = mins ? evens(sp.fmin) : _mm256_setzero_ps();
}

// Block sums of one unit against activation half-chunks a + 64K (K < 8), 32-bit lane l = block l.
template <Kind kK>
MOECAT_INLINE __m256i unit_sums(const Dec& d, const int8_t* a) {
  const __m256i* q = d.q;
  const __m256i ones = _mm256_set1_epi16(1);
  auto av = [&](int K) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(a + 64 * K)); };
  if constexpr (kK == kU4) {
    __m256i s = _mm256_maddubs_epi16(q[0], av(0));
    for (int K = 1; K < 8; ++K) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(q[K], av(K)));
    return _mm256_madd_epi16(s, ones);
  } else if constexpr (kK == kU5) {
    __m256i s0 = _mm256_maddubs_epi16(q[0], av(0)), s1 = _mm256_maddubs_epi16(q[4], av(4));
    for (int K = 1; K < 4; ++K) {
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[K], av(K)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[K + 4], av(K + 4)));
    }
    return _mm256_add_epi32(_mm256_madd_epi16(s0, ones), _mm256_madd_epi16(s1, ones));
  } else {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256i S = _mm256_setzero_si256();
    for (int K = 0; K < 8; ++K) {
      const __m256i v = _mm256_xor_si256(q[K], flip);
      S = _mm256_add_epi32(S, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(av(K), v)), ones));
    }
    return S;
  }
}

// acc += (S - offset * qs) * (fsc * dg) (- fmin * bs) for unit s of a row against activation
// pair row a; the one float sequence both paths use.
template <uint32_t kT>
MOECAT_INLINE __m256 unit_acc(__m256i S, const ActPair* a, int64_t s, __m256 fsc, __m256 fmin, int offset, __m256 acc) {
  const ActPair& p = a[s >> 1];
  const int h = 8 * static_cast<int>(s & 1);
  if (kind_of(kT) != kS8 && offset)  // (kS8: in the signed sums)
    S = _mm256_sub_epi32(S, _mm256_mullo_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.qs + h)),
                                               _mm256_set1_epi32(offset)));
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S), _mm256_mul_ps(fsc, _mm256_load_ps(p.dg + h)), acc);
  if constexpr (has_mins(kT)) acc = _mm256_fnmadd_ps(fmin, _mm256_load_ps(p.bs + h), acc);
  return acc;
}
MOECAT_INLINE const int8_t* act_q(const ActPair* a, int64_t s) { return a[s >> 1].q + 32 * (s & 1); }

// ---- fused ----------------------------------------------------------------------------------

// acc[c] = activation row c's 8 lanes against weight row `row`.
template <uint32_t kT, int C>
inline void row_sums(const uint8_t* row, int64_t nu, const ActPair* const* a, __m256 (&acc)[C], int offset) {
  // Prefetch 8 KB ahead into L2 (the AVX-512 kernels' distance): 4 KB left one-thread
  // generation ~10 % slower (moecat bench tg128, MOECAT_ISA=avx2: Q8_0 file 40 -> 45 t/s,
  // IQ4_XS 50.5 -> 54.3, Q4_K_M 52 -> 58 with span_kquant16_avx2.cpp's the same). Not for
  // Q8_0_R, whose loads-only decode the hardware prefetcher feeds better alone (session 22, Zen
  // 4, MOECAT_ISA=avx2, tg64 of the Qwen3-shaped q8_0 file: 46 -> 54 t/s at 1 thread, 57 -> 60
  // at 2; span_pair_avx512.cpp sw_prefetch) -- at one activation row: with more it is no
  // longer a loads-only stream (kernels_bench 12288 x 2048 Q8_0_R at 8 rows 5.4-6.4 -> 4.0-4.3 ms).
  constexpr int64_t kUnit = unit_bytes(kT), kAhead = 8192;
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < nu; ++s) {
    const char* pf = reinterpret_cast<const char*>(row + s * kUnit + kAhead);
    if constexpr (kT != kQ8R || C > 1)
      for (int64_t o = 0; o < kUnit; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
    Dec d;
    decode_repacked<kT>(row + s * kUnit, d);
    for (int c = 0; c < C; ++c)
      acc[c] = unit_acc<kT>(unit_sums<kind_of(kT)>(d, act_q(a[c], s)), a[c], s, d.fsc, d.fmin, offset, acc[c]);
  }
}

template <uint32_t kT>
void fused(const uint8_t* w, int64_t row_bytes, int64_t in, const ActPair* acts, const int32_t* rows, int64_t m,
           float* y, int64_t ldy, int64_t r0, int64_t r1, int offset) {
  const int64_t nu = in / kSpan, np = (nu + 1) / 2;  // repacked rows are whole units
  fused_rows<8>(acts, rows, np, m, r0, r1, y, ldy, [&](int64_t r, const ActPair* const* a, auto& acc) {
    row_sums<kT, std::extent_v<std::remove_reference_t<decltype(acc)>>>(w + r * row_bytes, nu, a, acc, offset);
  });
}

// ---- row tiles ------------------------------------------------------------------------------

// y[c * ldy + j] for R weight rows (units w[j * nu + s]) x C activation rows a[c]: per output the
// integer sums of unit_sums (exact: the same integers) and unit_acc's float sequence.
template <uint32_t kT, int R, int C>
inline void dot_tile(const UnitCodes* w, int64_t nu, const ActPair* const* a, float* y, int64_t ldy, int offset) {
  constexpr Kind kK = kind_of(kT);
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[R][C];
  for (int j = 0; j < R; ++j)
    for (int c = 0; c < C; ++c) acc[j][c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < nu; ++s) {
    __m256i S[R][C];
    for (int j = 0; j < R; ++j)
      for (int c = 0; c < C; ++c) S[j][c] = _mm256_setzero_si256();
    if constexpr (kK == kS8) {
#pragma GCC unroll 8
      for (int K = 0; K < 8; ++K) {
        __m256i av[C];
        for (int c = 0; c < C; ++c) av[c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(act_q(a[c], s) + 64 * K));
        for (int j = 0; j < R; ++j) {
          const __m256i v = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(w[j * nu + s].q + 32 * K)), flip);
          const __m256i av8 = _mm256_abs_epi8(v);
          for (int c = 0; c < C; ++c) {
            S[j][c] = _mm256_add_epi32(S[j][c], _mm256_madd_epi16(_mm256_maddubs_epi16(av8, _mm256_sign_epi8(av[c], v)), ones));
            in_register(S[j][c]);
          }
        }
      }
    } else {
      // int16 sums over half-chunks [0, 8) (4-bit codes) or [0, 4) and [4, 8) (5-bit).
      constexpr int kSplit = kK == kU4 ? 8 : 4;
      for (int half = 0; half < 8 / kSplit; ++half) {
        __m256i s16[R][C];
        for (int j = 0; j < R; ++j)
          for (int c = 0; c < C; ++c) s16[j][c] = _mm256_setzero_si256();
        // Unrolled: a rolled K loop left GCC keeping the int16 sums in memory (Q4_0's instance:
        // 57 against 98 GMAC/s).
#pragma GCC unroll 8
        for (int K = half * kSplit; K < (half + 1) * kSplit; ++K) {
          __m256i av[C];
          for (int c = 0; c < C; ++c) av[c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(act_q(a[c], s) + 64 * K));
          for (int j = 0; j < R; ++j) {
            const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[j * nu + s].q + 32 * K));
            for (int c = 0; c < C; ++c) {
              s16[j][c] = _mm256_add_epi16(s16[j][c], _mm256_maddubs_epi16(wv, av[c]));
              in_register(s16[j][c]);
            }
          }
        }
        for (int j = 0; j < R; ++j)
          for (int c = 0; c < C; ++c) {
            S[j][c] = _mm256_add_epi32(S[j][c], _mm256_madd_epi16(s16[j][c], ones));
          }
      }
    }
    for (int j = 0; j < R; ++j) {
      const UnitCodes& u = w[j * nu + s];
      const __m256 fsc = _mm256_load_ps(u.fsc), fmin = _mm256_load_ps(u.fmin);
      for (int c = 0; c < C; ++c) acc[j][c] = unit_acc<kT>(S[j][c], a[c], s, fsc, fmin, offset, acc[j][c]);
    }
  }
  for (int j = 0; j < R; ++j)
    for (int c = 0; c < C; ++c) y[c * ldy + j] = hsum8(acc[j][c]);
}

// Tile shape: weight rows x activation rows (ragged edges take the smaller instances). 2 x 4
// and 4 x 2 measured alike and ahead of 2 x 2 (each loaded vector feeds more products), 3 x 4
// and 4 x 3 behind (kernels_bench, AVX2, 1 thread: Q4_K 84 / 104 / 105 / 100 / 95 GMAC/s for
// 2x2 / 2x4 / 4x2 / 3x4 / 4x3 on 4096 x 2048 x 512; IQ4_XS and Q8_0 ~45 -> ~58).
constexpr int kTileR = 2, kTileC = 4;
template <class F>
MOECAT_INLINE void with_tile(int r, int c, F&& f) {
  static_assert(kTileR == 2 && kTileC == 4, "with_tile covers 1-2 x 1-4");
  using std::integral_constant;
  auto cols = [&](auto R) {
    switch (c) {
      case 4: f(R, integral_constant<int, 4>{}); break;
      case 3: f(R, integral_constant<int, 3>{}); break;
      case 2: f(R, integral_constant<int, 2>{}); break;
      default: f(R, integral_constant<int, 1>{}); break;
    }
  };
  if (r == 2) cols(integral_constant<int, 2>{});
  else cols(integral_constant<int, 1>{});
}

template <uint32_t kT>
void matmul_rows(int offset, const uint8_t* w, int64_t row_bytes, int64_t in, const ActPair* acts,
                 const int32_t* rows, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  constexpr int64_t kBlockRows = 16;
  const int64_t nu = (in + kSpan - 1) / kSpan, np = (nu + 1) / 2;
  const int64_t need = kBlockRows * nu * int64_t(sizeof(UnitCodes));
  auto* buf = reinterpret_cast<UnitCodes*>(span_scratch((need + sizeof(Span) - 1) / int64_t(sizeof(Span))));
  const quant::UnpackFn unpack = is_repacked(kT) ? nullptr : span_fast_unpack(kT);
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const int64_t rb = r1 - r < kBlockRows ? r1 - r : kBlockRows;
    for (int64_t j = 0; j < rb; ++j) {
      const uint8_t* row = w + (r + j) * row_bytes;
      for (int64_t s = 0; s < nu; ++s) {
        Dec d;
        if constexpr (is_repacked(kT)) {
          decode_repacked<kT>(row + s * unit_bytes(kT), d);
        } else {
          const int nv = static_cast<int>(in - s * kSpan < kSpan ? in - s * kSpan : kSpan);
          decode_file(unpack, has_mins(kT), row, s, nv, d);
        }
        UnitCodes& u = buf[j * nu + s];
        for (int K = 0; K < 8; ++K) store32(u.q + 32 * K, d.q[K]);
        _mm256_store_ps(u.fsc, d.fsc);
        _mm256_store_ps(u.fmin, has_mins(kT) ? d.fmin : _mm256_setzero_ps());
      }
    }
    for (int64_t i = 0; i < n; i += kTileC) {
      const int ci = static_cast<int>(n - i >= kTileC ? kTileC : n - i);
      const ActPair* a[kTileC];
      for (int c = 0; c < ci; ++c) a[c] = acts + (rows ? rows[i + c] : i + c) * np;
      float* yi = y + i * ldy + r;
      for (int64_t j = 0; j < rb; j += kTileR) {
        const int rj = static_cast<int>(rb - j >= kTileR ? kTileR : rb - j);
        const UnitCodes* wj = buf + j * nu;
        with_tile(rj, ci, [&](auto R, auto C) {
          dot_tile<kT, decltype(R)::value, decltype(C)::value>(wj, nu, a, yi + j, ldy, offset);
        });
      }
    }
  }
}

// ---- activations ----------------------------------------------------------------------------

// Row x into ceil(spans / 2) ActPairs, as the AVX-512 act_row: per 32 values amax / 127, codes
// with the exact scale, the kept scale f16-rounded with f16; block b of span 2p + h to lane
// 8h + b (dword K at 64K + 32h + 4b).
void act_row(const float* x, int64_t in, bool f16, ActPair* out) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  for (int64_t p = 0; 2 * p < nsp; ++p) {
    ActPair& a = out[p];
    std::memset(&a, 0, sizeof a);
    for (int h = 0; h < 2 && 2 * p + h < nsp; ++h) {
      const int64_t s = 2 * p + h;
      const int nb = static_cast<int>((in - s * kSpan < kSpan ? in - s * kSpan : kSpan) / 32);
      for (int b = 0; b < nb; ++b) {
        alignas(32) int8_t q[32];
        int32_t lo, hi;
        const float dd = quantize32(x + s * kSpan + 32 * b, q, &lo, &hi);
        const int32_t qs = lo + hi;
        for (int K = 0; K < 8; ++K) std::memcpy(a.q + 64 * K + 32 * h + 4 * b, q + 4 * K, 4);
        const float ds = f16 ? _cvtsh_ss(_cvtss_sh(dd, _MM_FROUND_TO_NEAREST_INT)) : dd;
        a.dg[8 * h + b] = ds;
        a.qs[8 * h + b] = qs;
        a.bs[8 * h + b] = ds * float(qs);
      }
    }
  }
}

// ---- repacking at load ----------------------------------------------------------------------

// n units of file type kT (a file id) rewritten into its repacked layout (repack.h), as
// quant::repack_units does value by value (tests/quant_repack_test.cpp compares them): the raw
// codes of each natural 32-value block (not mapped through a table), moved into the pair lanes
// (to_lanes), then the N32 plane (half-chunks K and K + 4 as the low and high nibbles of
// byte-chunk K) and for the Q5 types the H32 plane (bit 4 of each byte: vpmovmskb after a shift).
template <uint32_t kT>
void repack_n(const uint8_t* src, uint8_t* dst, int64_t n) {
  constexpr int64_t kUnit = unit_bytes(kT);
  constexpr bool kQ5 = kind_of(kT) == kU5;
  constexpr bool kNib32 = kT == 2 || kT == 3 || kT == 6 || kT == 7 || kT == 20;
  constexpr int kHead = kT == 3 || kT == 7 ? 4 : 2;                  // a 32-value block's header
  constexpr int64_t kBlock = kUnit / 8;                               // its bytes (nib32 types)
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* b = src + i * kUnit;
    uint8_t* o = dst + i * kUnit;
    __m256i r[8];
    int n32 = 0, h32 = 0;
    if constexpr (kT == 8) {  // Q8_0: the eight f16 scales to the head, then the B8 plane (+ 128)
      const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
      for (int k = 0; k < 8; ++k) {
        std::memcpy(o + 2 * k, b + 34 * k, 2);
        r[k] = _mm256_xor_si256(load32(b + 34 * k + 2), flip);
      }
      __m256i q[8];
      to_lanes(r, q);
      for (int K = 0; K < 8; ++K) store32u(o + 16 + 32 * K, q[K]);
      continue;
    } else if constexpr (kNib32) {  // the eight headers to the head, then (Q5) H32, then N32
      for (int k = 0; k < 8; ++k) {
        const uint8_t* blk = b + k * kBlock;
        std::memcpy(o + kHead * k, blk, kHead);
        r[k] = nibbles16(blk + kBlock - 16);
        if constexpr (kQ5) r[k] = _mm256_or_si256(r[k], fifth_bits(blk + kHead));
      }
      h32 = 8 * kHead;
      n32 = h32 + (kQ5 ? 32 : 0);
    } else if constexpr (kT == 23) {  // IQ4_XS: header 0-7 in place
      std::memcpy(o, b, 8);
      for (int k = 0; k < 8; ++k) r[k] = nibbles16(b + 8 + 16 * k);
      n32 = 8;
    } else {  // Q4_K / Q5_K: header 0-15 in place; (Q5_K) qh 16-47 -> H32; qs -> N32
      std::memcpy(o, b, 16);
      n32 = kQ5 ? 48 : 16;
      h32 = 16;
      const __m256i qh = kQ5 ? load32(b + 16) : _mm256_setzero_si256(), one = _mm256_set1_epi8(1);
      for (int j = 0; j < 4; ++j) {
        const __m256i v = load32(b + n32 + 32 * j);
        r[2 * j] = _mm256_and_si256(v, m4);
        r[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      }
      if constexpr (kQ5)  // bit 4 of value 32j + l is bit j of qh[l]
        for (int j = 0; j < 8; ++j)
          r[j] = _mm256_or_si256(r[j], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, j), one), 4));
    }
    __m256i q[8];
    to_lanes(r, q);
    for (int K = 0; K < 4; ++K)
      store32u(o + n32 + 32 * K, _mm256_or_si256(_mm256_and_si256(q[K], m4), _mm256_slli_epi16(_mm256_and_si256(q[K + 4], m4), 4)));
    if constexpr (kQ5)
      for (int K = 0; K < 8; ++K) {
        const uint32_t bits = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_slli_epi16(q[K], 3)));
        std::memcpy(o + h32 + 4 * K, &bits, 4);
      }
  }
}

}  // namespace

int pair_type(uint32_t t) {
  // Q8_0_R: f16-rounded activation scales (llama.cpp's q8_0 activations; span_act's f16), its
  // file layout keeps the dedicated q8_0 kernel. The others: span_act's f32 scales.
  if (t == kQ8R) return 2;
  return known(file_id(t)) ? 1 : 0;
}

void pair_act(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16) {
  const int64_t np = ((in + kSpan - 1) / kSpan + 1) / 2;
  for (int64_t r = row0; r < row1; ++r) act_row(x + r * in, in, f16, static_cast<ActPair*>(act) + r * np);
}

void pair_matmul(uint32_t t, int offset, const uint8_t* w, int64_t row_bytes, int64_t in, const void* act,
                 const int32_t* rows, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const auto* a = static_cast<const ActPair*>(act);
  switch (t) {
#define PAIR(ID)                                                                                        \
  case ID: matmul_rows<ID>(offset, w, row_bytes, in, a, rows, n, y, ldy, r0, r1); return;              \
  case kR + ID: matmul_rows<kR + ID>(offset, w, row_bytes, in, a, rows, n, y, ldy, r0, r1); return;
    PAIR(2) PAIR(3) PAIR(6) PAIR(7) PAIR(20) PAIR(12) PAIR(13) PAIR(23)
#undef PAIR
    case kQ8R: matmul_rows<kQ8R>(offset, w, row_bytes, in, a, rows, n, y, ldy, r0, r1); return;
    default: __builtin_trap();  // matmul_many asks pair_type first
  }
}

bool span_repack(uint32_t t, const uint8_t* src, uint8_t* dst, int64_t n_units) {
  switch (t) {
    case 8: repack_n<8>(src, dst, n_units); return true;
    case 2: repack_n<2>(src, dst, n_units); return true;
    case 3: repack_n<3>(src, dst, n_units); return true;
    case 6: repack_n<6>(src, dst, n_units); return true;
    case 7: repack_n<7>(src, dst, n_units); return true;
    case 20: repack_n<20>(src, dst, n_units); return true;
    case 12: repack_n<12>(src, dst, n_units); return true;
    case 13: repack_n<13>(src, dst, n_units); return true;
    case 23: repack_n<23>(src, dst, n_units); return true;
    default: return false;  // the scalar repack (types AVX2 does not repack)
  }
}

quant::FusedPairFn pair_fused(uint32_t t) {
  switch (t) {
    case kR + 2: return fused<kR + 2>;
    case kR + 3: return fused<kR + 3>;
    case kR + 6: return fused<kR + 6>;
    case kR + 7: return fused<kR + 7>;
    case kR + 20: return fused<kR + 20>;
    case kR + 12: return fused<kR + 12>;
    case kR + 13: return fused<kR + 13>;
    case kR + 23: return fused<kR + 23>;
    case kQ8R: return fused<kQ8R>;
    default: return nullptr;  // the other file layouts: row tiles only
  }
}

}  // namespace moecat::kernels::avx2
