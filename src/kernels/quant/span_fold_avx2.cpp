// AVX2 kernels for the K-quants with a scale per 16 values, Q2_K, Q3_K and Q6_K, in their file
// layouts against the Span activations (span.h ActSpan: natural order, int8 per 32 values with
// an f32 scale, code sums per 16), for every activation-row count. Q6_K is the output matrix and
// the attention / down projections of the K-quant mixes (in the Qwen3-30B-A3B-shaped Q4_K_M
// file ~65 % of the bytes a generated token reads); Q2_K and Q3_K are the experts of the Q2_K
// mixes. One-thread generation on AVX2 is bound by these kernels' instructions per 256 values.
//
// Why the scales are folded: the weights have an integer scale sc_g per 16 values, the
// activations a float scale dg_b per 32 (block b = groups 2b, 2b + 1). Applying dg_b in float
// costs a convert and an FMA per block and row; llama.cpp's AVX2 path avoids it with Q8_K
// activations (one scale per 256, coarser). Here, per half unit h (blocks 4h .. 4h + 3) and
// activation row, with M_h = max dg_b over the half and a per-type K (|K sc_g| <= 2^15):
//   t_g = round(K sc_g dg_b / M_h)   (int16)
// so the unit's product is d sum_h (M_h / K) sum_g t_g (S_g - off qs_g), S_g = sum codes x aq
// (codes unsigned), qs_g = sum aq, off the codes' offset (Q6_K 32, Q3_K 4): the integer scales of
// vpmaddwd carry both scales and the sums stay integer over half a unit (Q6_K, K = 128: per
// lane 4 blocks x 2 x 16002 x 16384 < 2^31; Q3_K, K = 1024: 4 x 2 x 1778 x 32768; Q2_K,
// K = 2048: 4 x 2 x 762 x 30720), converted once per half. The offset goes through the same
// t_g (float(t_g) qs_g), so it cancels exactly against the codes' sum; Q2_K's mins (dmin m_g
// per group) stay in float against the activations' bs = dg qs, as in the Span form. The only
// new error is t_g's rounding, at most 1/(2 K max|sc|) of the half's largest combined scale
// (Q6_K: 1/32768): ~50x under the activations' own int8 rounding (the tests' bound), and far
// finer than Q8_K's single scale per 256. (M per half rather than per unit: ~2 % more
// instructions, a finer t where the halves' activations differ in size.) Measured on the random
// Q6_K model of e2e agree_quants (64 positions): KL to its f32 model 8.8e-3, where the exact
// per-block float scaling (the AVX-512 path) gives 7.9e-3 and llama.cpp 7.5e-3; the K-quant
// mixes move either way by < 1.5 % (Q2_K 0.7676 vs 0.7665, Q3_K_M 0.2775 vs 0.2782, Q4_K_M
// 0.0709 vs 0.0710): perturbations this small flip a few activation roundings in later layers,
// which is the noise floor of such comparisons (moecat vs llama.cpp: 2.2e-3 KL on that file).
// Per unit and activation row: 2 multiplies, 2 converts and a pack for t, then per block a
// shuffle, vpmaddubsw, vpmaddwd and an add (Q6_K: ~100 instructions per 256 values at one row,
// where scaling each block in float took ~140; Q2_K / Q3_K went through the Span form).
// One kernel for every row count (generation, batches and prompts; KernelTable::
// span_fused_all_rows), so a row's output has the same bits however many rows run with it:
// per output, units in order, each unit's integer sums and offset term in a fixed order, one
// fixed horizontal sum at the end. The decode is repeated per group of four activation rows
// (~10 % of a prompt's work); the per-row factors (K dg_b / M_h, qs_g, bs_g, M_h / K) are computed
// once per call and group of rows.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/quant/span_util_avx2.h"
#include "kernels/quant/with_rows.h"

namespace moecat::kernels::avx2 {

using quant::ActSpan;
using quant::kSpan;

namespace {

#define MOECAT_INLINE inline __attribute__((always_inline))

// The three formats (file type ids 10, 11, 14): unit bytes, K, the codes' offset.
template <int kT>
struct Fmt;
template <>
struct Fmt<10> {  // Q2_K: scales (low nibble) / mins (high) 0-15, qs 16-79, f16 d 80, dmin 82
  static constexpr int64_t kUnit = 84;
  static constexpr float kK = 2048.0f;
  static constexpr int kOff = 0;
};
template <>
struct Fmt<11> {  // Q3_K: hmask 0-31, qs 32-95, 6-bit scales 96-107, f16 d 108
  static constexpr int64_t kUnit = 110;
  static constexpr float kK = 1024.0f;
  static constexpr int kOff = 4;
};
template <>
struct Fmt<14> {  // Q6_K: ql 0-127, qh 128-191, int8 scales 192-207, f16 d 208
  static constexpr int64_t kUnit = 210;
  static constexpr float kK = 128.0f;
  static constexpr int kOff = 32;
};

// Group order of the scale vectors: A = groups 0, 2, 4, 6, 1, 3, 5, 7 and B = 8, 10, .., 15, so
// that vpackssdw(A, B) puts the even groups (2b: block b's low half) in the low 128 bits and the
// odd ones (2b + 1) in the high 128 bits, each at position b.
constexpr int kPerm[16] = {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15};

// Per activation row and unit, in kPerm order (entries 0-7: half 0, 8-15: half 1): K dg_g /
// M_h, qs_g and bs_g (as float); M_h / K per half.
struct alignas(32) RowFactors {
  float r[16];
  float qs[16];
  float bs[16];
  float dm[2];
};

void row_factors(const ActSpan& a, float k, RowFactors& f) {
  for (int h = 0; h < 2; ++h) {
    float m = 0.0f;
    for (int g = 8 * h; g < 8 * h + 8; ++g) m = a.dg[g] > m ? a.dg[g] : m;
    const float inv = m > 0.0f ? k / m : 0.0f;  // an all-zero half: t = 0, nothing to add
    for (int i = 8 * h; i < 8 * h + 8; ++i) f.r[i] = a.dg[kPerm[i]] * inv;
    f.dm[h] = m / k;
  }
  for (int i = 0; i < 16; ++i) {
    f.qs[i] = static_cast<float>(a.qs[kPerm[i]]);
    f.bs[i] = a.bs[kPerm[i]];
  }
}

// A unit's integer scales (and Q2_K's mins) as floats in kPerm order, its d and dmin.
struct UnitScales {
  __m256 sa, sb, ma, mb;
  float d, dmin;
};

MOECAT_INLINE void to_float(__m128i s8, __m256& a, __m256& b) {
  const __m128i p = _mm_shuffle_epi8(s8, _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15));
  a = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(p));
  b = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(p, 8)));
}

template <int kT>
MOECAT_INLINE void unit_scales(const uint8_t* u, UnitScales& s) {
  if constexpr (kT == 10) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u)), m4 = _mm_set1_epi8(0x0F);
    to_float(_mm_and_si128(b, m4), s.sa, s.sb);
    to_float(_mm_and_si128(_mm_srli_epi16(b, 4), m4), s.ma, s.mb);
    s.d = f16_at(u + 80);
    s.dmin = f16_at(u + 82);
  } else if constexpr (kT == 11) {
    // Group g's 6-bit scale: the low nibble of byte g % 8 (high nibble for g >= 8), the top two
    // bits from byte 8 + g % 4 at 2 (g / 4); minus 32.
    uint64_t lo8;
    uint32_t hi4;
    std::memcpy(&lo8, u + 96, 8);
    std::memcpy(&hi4, u + 104, 4);
    const __m128i m4 = _mm_set1_epi8(0x0F), m3 = _mm_set1_epi8(3);
    const __m128i a = _mm_cvtsi64_si128(static_cast<long long>(lo8));
    const __m128i nib = _mm_unpacklo_epi64(_mm_and_si128(a, m4), _mm_and_si128(_mm_srli_epi16(a, 4), m4));
    const __m128i top = _mm_and_si128(_mm_setr_epi32(static_cast<int>(hi4), static_cast<int>(hi4 >> 2),
                                                     static_cast<int>(hi4 >> 4), static_cast<int>(hi4 >> 6)),
                                      m3);
    const __m128i sc = _mm_sub_epi8(_mm_or_si128(nib, _mm_slli_epi16(top, 4)), _mm_set1_epi8(32));
    to_float(sc, s.sa, s.sb);
    s.d = f16_at(u + 108);
  } else {
    to_float(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 192)), s.sa, s.sb);
    s.d = f16_at(u + 208);
  }
}

// The codes of half n (values 128n .. 128n + 127, natural blocks 4n .. 4n + 3), unsigned.
template <int kT>
MOECAT_INLINE void codes(const uint8_t* u, int n, __m256i* c) {
  const __m256i m3 = _mm256_set1_epi8(3);
  if constexpr (kT == 10) {  // value 128n + 32j + l: bits 2j of qs[32n + l]
    const __m256i v = load32(u + 16 + 32 * n);
    for (int j = 0; j < 4; ++j) c[j] = _mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m3);
  } else if constexpr (kT == 11) {  // Q2_K's two bits | bit 4n + j of hmask[l] at 2
    const __m256i v = load32(u + 32 + 32 * n), hm = load32(u), one = _mm256_set1_epi8(1);
    for (int j = 0; j < 4; ++j) {
      const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * n + j), one), 2);
      c[j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m3), hb);
    }
  } else {
    // Value 128n + 32k + l is the low (k < 2) or high nibble of ql[64n + 32 (k % 2) + l] with
    // bits 2k, 2k+1 of qh[32n + l] on top (masked before the 16-bit shifts: nothing crosses bytes).
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i l0 = load32(u + 64 * n), l1 = load32(u + 64 * n + 32), h = load32(u + 128 + 32 * n);
    c[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
    c[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x0C)), 2));
    c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, _mm256_set1_epi8(0x30)));
    c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(static_cast<char>(0xC0))), 2));
  }
}

// Block l's two int16 scales from the packed t (group 2l at position l of the low 128 bits,
// 2l + 1 at position l of the high ones), each broadcast over its half.
MOECAT_INLINE __m256i block_scales(__m256i t16, int l) {
  const char a = static_cast<char>(2 * l), b = static_cast<char>(2 * l + 1);
  return _mm256_shuffle_epi8(t16, _mm256_setr_epi8(a, b, a, b, a, b, a, b, a, b, a, b, a, b, a, b,  //
                                                   a, b, a, b, a, b, a, b, a, b, a, b, a, b, a, b));
}

// C activation rows (their factors f[c] per unit) against one weight row of type kT.
template <int kT, int C>
void row_dot(const uint8_t* row, int64_t nsp, const ActSpan* const* a, const RowFactors* const* f, float* y,
             int64_t ldy) {
  using F = Fmt<kT>;
  constexpr int64_t kAhead = 4096;
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < nsp; ++s) {
    const uint8_t* u = row + s * F::kUnit;
    const char* pf = reinterpret_cast<const char*>(u + kAhead);
    for (int64_t o = 0; o < F::kUnit; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
    UnitScales us;
    unit_scales<kT>(u, us);
    __m256i t16[C];
    // off: per half, sum_g t_g qs_g (Q2_K: both halves' sum_g m_g bs_g, in off[c][0]); sum: the
    // halves' (integer sum - off x offset) x M_h / K
    __m256 off[C][2], sum[C];
    for (int c = 0; c < C; ++c) {
      const RowFactors& fc = f[c][s];
      const __m256i ta = _mm256_cvtps_epi32(_mm256_mul_ps(us.sa, _mm256_load_ps(fc.r)));
      const __m256i tb = _mm256_cvtps_epi32(_mm256_mul_ps(us.sb, _mm256_load_ps(fc.r + 8)));
      t16[c] = _mm256_packs_epi32(ta, tb);
      if constexpr (F::kOff != 0) {
        off[c][0] = _mm256_mul_ps(_mm256_cvtepi32_ps(ta), _mm256_load_ps(fc.qs));
        off[c][1] = _mm256_mul_ps(_mm256_cvtepi32_ps(tb), _mm256_load_ps(fc.qs + 8));
      } else {
        off[c][0] = _mm256_fmadd_ps(us.mb, _mm256_load_ps(fc.bs + 8), _mm256_mul_ps(us.ma, _mm256_load_ps(fc.bs)));
      }
      sum[c] = _mm256_setzero_ps();
    }
    for (int n = 0; n < 2; ++n) {
      __m256i cd[4], isum[C];
      codes<kT>(u, n, cd);
      for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {
        const int l = 4 * n + k;
        for (int c = 0; c < C; ++c) {
          const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(a[c][s].q + 32 * l));
          isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(cd[k], x), block_scales(t16[c], l)));
        }
      }
      for (int c = 0; c < C; ++c) {
        __m256 v = _mm256_cvtepi32_ps(isum[c]);
        if constexpr (F::kOff != 0) v = _mm256_fnmadd_ps(_mm256_set1_ps(static_cast<float>(F::kOff)), off[c][n], v);
        sum[c] = _mm256_fmadd_ps(v, _mm256_set1_ps(f[c][s].dm[n]), sum[c]);
      }
    }
    for (int c = 0; c < C; ++c) {
      const __m256 d = _mm256_set1_ps(us.d);
      if constexpr (F::kOff != 0)
        acc[c] = _mm256_fmadd_ps(sum[c], d, acc[c]);
      else
        acc[c] = _mm256_fnmadd_ps(off[c][0], _mm256_set1_ps(us.dmin), _mm256_fmadd_ps(sum[c], d, acc[c]));
    }
  }
  for (int c = 0; c < C; ++c) y[c * ldy] = hsum8(acc[c]);
}

// FusedDotFn for type kT (any m).
template <int kT>
void fold_dot(const uint8_t* w, int64_t row_bytes, int64_t nsp, const ActSpan* acts, const int32_t* rows, int64_t m,
              float* y, int64_t ldy, int64_t r0, int64_t r1, int offset) {
  (void)offset;  // Fmt<kT>::kOff, through qs
  // Four rows per decode: eight kept twice the live vectors (t, offsets, sums, accumulators) and
  // spilled them (kernels_bench, AVX2 prompt shapes: Q2_K 39 -> 45 GMAC/s, Q6_K unchanged).
  constexpr int kGroup = 4;
  // [kGroup][nsp], in the span kernels' per-thread scratch (kernel_table.h span_scratch)
  const int64_t bytes = kGroup * nsp * int64_t(sizeof(RowFactors));
  auto* factors = reinterpret_cast<RowFactors*>(span_scratch((bytes + sizeof(quant::Span) - 1) / int64_t(sizeof(quant::Span))));
  const ActSpan* a[kGroup];
  const RowFactors* f[kGroup];
  for (int64_t i0 = 0; i0 < m; i0 += kGroup) {
    const int mb = static_cast<int>(m - i0 < kGroup ? m - i0 : kGroup);
    for (int k = 0; k < mb; ++k) {
      a[k] = acts + (rows ? rows[i0 + k] : i0 + k) * nsp;
      RowFactors* fk = factors + k * nsp;
      for (int64_t s = 0; s < nsp; ++s) row_factors(a[k][s], Fmt<kT>::kK, fk[s]);
      f[k] = fk;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = w + r * row_bytes;
      float* yi = y + i0 * ldy + r;
      quant::with_rows(mb, [&](auto c) {
        constexpr int kC = decltype(c)::value;
        row_dot<kT, kC>(row, nsp, a, f, yi, ldy);
      });
    }
  }
}

}  // namespace

quant::FusedDotFn span_fused(uint32_t t) {
  switch (t) {
    case 10: return fold_dot<10>;  // Q2_K
    case 11: return fold_dot<11>;  // Q3_K
    case 14: return fold_dot<14>;  // Q6_K
    default: return nullptr;
  }
}

}  // namespace moecat::kernels::avx2
