// AVX2 kernels for the K-quants with a scale per 16 values, Q2_K, Q3_K and Q6_K, in their file
// layouts, for every activation-row count. Q6_K is the output matrix and the attention / down
// projections of the K-quant mixes (in the Qwen3-30B-A3B-shaped Q4_K_M file ~65 % of the bytes a
// generated token reads); Q2_K and Q3_K are the experts of the Q2_K / Q3_K mixes.
//
// The activations of these types have ONE scale per 256 values (span_act_unit: ActSpan with
// every group's dg equal), as llama.cpp's Q8_K activations for the K-quants on every CPU. Then
// the weights' integer scales sc_g (one per 16 values) apply exactly in the integer domain:
//   unit product = d_w d_a (sum_l vpmaddwd(vpmaddubsw(codes_l, x_l), [sc_2l x 8 | sc_2l+1 x 8])
//                  - off sum_g sc_g qs_g)  [- dmin d_a sum_g m_g qs_g for Q2_K's mins]
// with the codes unsigned (off = the codes' offset: Q6_K 32, Q3_K 4), all of it int32 over the
// whole unit (Q6_K: per lane 8 blocks x 2 x 16002 x 128 plus 32 x 16 x 128 x 2032 < 2^31), one
// convert and one FMA per unit and activation row. The scale vectors depend on the weight unit
// only, so a unit's decode (codes and scale vectors) is shared by the rows it runs with.
// Why not per-32 activation scales as the other types have: then each (unit, activation row)
// needs the activation scale inside the per-16 integer scale, a convert and an FMA per block, or
// (session 19) a folded int16 scale t = round(K sc dg / max dg) computed per unit and row: ~57
// instructions per unit and row against ~43 here, and t's rounding cost accuracy that this
// form does not have (its only rounding is the activations' own). The per-256 scale is coarser
// than per-32 where a unit's values differ much in size; llama.cpp takes the same trade for the
// K-quants: measured in a model in docs/PERF.md (session 20).
// One kernel for every row count (KernelTable::span_fused_all_rows), so a row's output has the
// same bits however many rows run with it: per output, units in order, each unit's integer sum
// converted once, one fixed horizontal sum at the end. The repacked layouts of these types read
// through the reference path take the same activations (span_unit_type covers them), so both
// layouts give the same products up to float summation order (tests/quant_repack_test.cpp).
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

// The three formats (file type ids 10, 11, 14): unit bytes, the codes' offset as a shift.
template <int kT>
struct Fmt;
template <>
struct Fmt<10> {  // Q2_K: scales (low nibble) / mins (high) 0-15, qs 16-79, f16 d 80, dmin 82
  static constexpr int64_t kUnit = 84;
  static constexpr int kOffShift = -1;  // no offset: mins
};
template <>
struct Fmt<11> {  // Q3_K: hmask 0-31, qs 32-95, 6-bit scales 96-107, f16 d 108
  static constexpr int64_t kUnit = 110;
  static constexpr int kOffShift = 2;  // offset 4
};
template <>
struct Fmt<14> {  // Q6_K: ql 0-127, qh 128-191, int8 scales 192-207, f16 d 208
  static constexpr int64_t kUnit = 210;
  static constexpr int kOffShift = 5;  // offset 32
};

// A unit's scales: the 16 integer scales as int16 in natural order [g0..g7 | g8..g15], block l's
// pair broadcast over the halves of a vpmaddubsw result (bsc[l] = [sc_2l x 8 | sc_2l+1 x 8]),
// Q2_K's mins as floats (groups 0-7, 8-15), d and dmin.
struct UnitScales {
  __m256i t16;
  __m256i bsc[8];
  __m256 mlo, mhi;
  float d, dmin;
};

// 16 int8 scales (natural order) -> t16 and the eight block vectors.
MOECAT_INLINE void block_scales(__m128i s8, UnitScales& s) {
  s.t16 = _mm256_cvtepi8_epi16(s8);
  const __m256i lo = _mm256_permute2x128_si256(s.t16, s.t16, 0x00), hi = _mm256_permute2x128_si256(s.t16, s.t16, 0x11);
  for (int l = 0; l < 8; ++l) {
    const int p = l % 4;  // groups 2l, 2l + 1 are int16 2p, 2p + 1 of their half
    const char a0 = static_cast<char>(4 * p), a1 = static_cast<char>(4 * p + 1);
    const char b0 = static_cast<char>(4 * p + 2), b1 = static_cast<char>(4 * p + 3);
    const __m256i m = _mm256_setr_epi8(a0, a1, a0, a1, a0, a1, a0, a1, a0, a1, a0, a1, a0, a1, a0, a1,  //
                                       b0, b1, b0, b1, b0, b1, b0, b1, b0, b1, b0, b1, b0, b1, b0, b1);
    s.bsc[l] = _mm256_shuffle_epi8(l < 4 ? lo : hi, m);
  }
}

template <int kT>
MOECAT_INLINE void unit_scales(const uint8_t* u, UnitScales& s) {
  if constexpr (kT == 10) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u)), m4 = _mm_set1_epi8(0x0F);
    block_scales(_mm_and_si128(b, m4), s);
    const __m128i mins = _mm_and_si128(_mm_srli_epi16(b, 4), m4);
    s.mlo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mins));
    s.mhi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(mins, 8)));
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
    block_scales(_mm_sub_epi8(_mm_or_si128(nib, _mm_slli_epi16(top, 4)), _mm_set1_epi8(32)), s);
    s.d = f16_at(u + 108);
  } else {
    block_scales(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 192)), s);
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

// C activation rows against one weight row of type kT.
template <int kT, int C>
void row_sums(const uint8_t* row, int64_t nsp, const ActSpan* const* a, __m256 (&acc)[C]) {
  using F = Fmt<kT>;
  constexpr int64_t kAhead = 8192;  // bytes prefetched ahead into L2 (span_pair_avx2.cpp row_sums)
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < nsp; ++s) {
    const uint8_t* u = row + s * F::kUnit;
    const char* pf = reinterpret_cast<const char*>(u + kAhead);
    for (int64_t o = 0; o < F::kUnit; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
    UnitScales us;
    unit_scales<kT>(u, us);
    __m256i isum[C];
    for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n) {
      __m256i cd[4];
      codes<kT>(u, n, cd);
      for (int k = 0; k < 4; ++k) {
        const int l = 4 * n + k;
        for (int c = 0; c < C; ++c) {
          const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(a[c][s].q + 32 * l));
          isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(cd[k], x), us.bsc[l]));
        }
      }
    }
    for (int c = 0; c < C; ++c) {
      const ActSpan& as = a[c][s];
      if constexpr (F::kOffShift >= 0) {  // - off sum_g sc_g qs_g (qs_g <= 16 x 127: int16)
        const __m256i q16 = _mm256_permute4x64_epi64(
            _mm256_packs_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(as.qs)),
                               _mm256_load_si256(reinterpret_cast<const __m256i*>(as.qs + 8))),
            0xD8);
        isum[c] = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(_mm256_madd_epi16(us.t16, q16), F::kOffShift));
      }
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(us.d * as.dg[0]), acc[c]);
      if constexpr (F::kOffShift < 0) {  // Q2_K's mins: - dmin sum_g m_g bs_g
        const __m256 mb = _mm256_fmadd_ps(us.mhi, _mm256_load_ps(as.bs + 8), _mm256_mul_ps(us.mlo, _mm256_load_ps(as.bs)));
        acc[c] = _mm256_fnmadd_ps(mb, _mm256_set1_ps(us.dmin), acc[c]);
      }
    }
  }
}

// FusedDotFn for type kT (any m), in groups of up to kGroup activation rows per decode.
template <int kT>
void unit_dot(const uint8_t* w, int64_t row_bytes, int64_t nsp, const ActSpan* acts, const int32_t* rows, int64_t m,
              float* y, int64_t ldy, int64_t r0, int64_t r1, int offset) {
  (void)offset;  // Fmt<kT>::kOffShift
  // Groups of 8 activation rows: measured ahead of 4 (kernels_bench: Q6_K prompt shapes +6 %).
  fused_rows<8>(acts, rows, nsp, m, r0, r1, y, ldy, [&](int64_t r, const ActSpan* const* a, auto& acc) {
    row_sums<kT, std::extent_v<std::remove_reference_t<decltype(acc)>>>(w + r * row_bytes, nsp, a, acc);
  });
}

}  // namespace

bool span_unit_type(uint32_t t) {
  const uint32_t id = t >= quant::kRepackedId ? t - quant::kRepackedId : t;
  return id == 10 || id == 11 || id == 14;
}

quant::FusedDotFn span_fused(uint32_t t) {
  switch (t) {
    case 10: return unit_dot<10>;  // Q2_K
    case 11: return unit_dot<11>;  // Q3_K
    case 14: return unit_dot<14>;  // Q6_K
    default: return nullptr;
  }
}

}  // namespace moecat::kernels::avx2
