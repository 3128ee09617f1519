// AVX2 Q6_K in its file layout against the Span activations (span.h ActSpan: natural order,
// int8 per 32 values with an f32 scale, code sums per 16), for every activation-row count.
// Q6_K is the output matrix and the attention / down projections of the K-quant mixes (in the
// Qwen3-30B-A3B-shaped Q4_K_M file ~65 % of the bytes a generated token reads), and its scales
// are int8 per 16 values, so the cheapest AVX2 form keeps them in the integer domain: per
// 32-value block l, vpmaddubsw (codes 0..63 x int8: <= 2 x 63 x 127, no saturation) then
// vpmaddwd against the two groups' scales as int16 (group 2l in the low 128 bits, 2l + 1 in the
// high ones) gives 8 int32 partial sums of sc_g * S_g; those are scaled by the block's activation
// scale in float (the scales differ per 32 values), the unit's d once, and the codes' offset of
// 32 comes off through the activations' group sums: - 32 d sc_g * bs_g, the Span form's
// fmin * bs. No transposition (the natural order is the file's), no sign trick, no Span written.
// Per unit and activation row: 8 vpmaddubsw + 8 vpmaddwd + 8 converts + 8 FMAs + 7 more, where
// the Span form (span_avx2.cpp) first wrote the unit out and then summed per 16 values with a
// tree of horizontal adds (~2x the instructions).
// One kernel for every row count (generation, batches and prompts; KernelTable::
// span_fused_all_rows), so a row's output has the same bits however many rows run with it:
// per output, units in order, each unit's blocks into four partial sums in a fixed order, the
// offset's part into a sum of its own; one fixed horizontal sum of the difference at the end.
// The decode is repeated per group of eight activation rows (~5 % of a prompt's work).
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

constexpr int64_t kUnit = 210;  // ql 0-127, qh 128-191, int8 scales 192-207, f16 d 208

// A unit's scales: the int8 scales widened to int16, [s0 .. s7] (lo) and [s8 .. s15] (hi) in
// both 128-bit lanes; d; fmin = 32 d sc_g for groups 0-7 and 8-15 (the Span form's fmin).
struct Q6Scales {
  __m256i lo, hi;
  __m256 d, fmin[2];
};

MOECAT_INLINE void scales(const uint8_t* u, Q6Scales& q) {
  const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 192));
  const __m256i s16 = _mm256_cvtepi8_epi16(s8);  // [s0 .. s7 | s8 .. s15]
  q.lo = _mm256_permute4x64_epi64(s16, 0x44);
  q.hi = _mm256_permute4x64_epi64(s16, 0xEE);
  const float d = f16_at(u + 208);
  q.d = _mm256_set1_ps(d);
  const __m256 d32 = _mm256_set1_ps(32.0f * d);  // 32 d sc = 32 (d sc): a power of two, exact
  q.fmin[0] = _mm256_mul_ps(d32, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s8)));
  q.fmin[1] = _mm256_mul_ps(d32, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(s8, 8))));
}

// Block l's scales as int16: group 2l in the low 128 bits, 2l + 1 in the high ones.
MOECAT_INLINE __m256i block_scales(const Q6Scales& q, int l) {
  const char a = static_cast<char>(4 * (l % 4)), b = static_cast<char>(4 * (l % 4) + 2);
  const __m256i ctl = _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1,
                                       b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1);
  return _mm256_shuffle_epi8(l < 4 ? q.lo : q.hi, ctl);
}

// The codes of half n (values 128n .. 128n + 127, natural blocks 4n .. 4n + 3): value
// 128n + 32k + l is the low (k < 2) or high nibble of ql[64n + 32 (k % 2) + l] with bits 2k,
// 2k+1 of qh[32n + l] on top (masked before the 16-bit shifts: nothing crosses bytes).
MOECAT_INLINE void codes(const uint8_t* u, int n, __m256i* c) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i l0 = load32(u + 64 * n), l1 = load32(u + 64 * n + 32), h = load32(u + 128 + 32 * n);
  c[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x03)), 4));
  c[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x0C)), 2));
  c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, _mm256_set1_epi8(0x30)));
  c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                         _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(static_cast<char>(0xC0))), 2));
}

// C activation rows against one weight row: per unit, half by half (four blocks' codes and
// scales live at a time, so little spills), block l of row c into partial sum l % 4; then acc
// += d x the partial sums, mins += the offset's part. The loop carries one operation per
// accumulator and unit.
template <int C>
void row_dot(const uint8_t* row, int64_t nsp, const ActSpan* const* a, float* y, int64_t ldy) {
  constexpr int64_t kAhead = 4096;
  __m256 acc[C], mins[C];
  for (int c = 0; c < C; ++c) acc[c] = mins[c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < nsp; ++s) {
    const uint8_t* u = row + s * kUnit;
    const char* pf = reinterpret_cast<const char*>(u + kAhead);
    for (int64_t o = 0; o < kUnit; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
    Q6Scales q;
    scales(u, q);
    __m256 part[C][4];
    for (int n = 0; n < 2; ++n) {
      __m256i cd[4];
      codes(u, n, cd);
      for (int k = 0; k < 4; ++k) {
        const int l = 4 * n + k;
        const __m256i sc = block_scales(q, l);
        for (int c = 0; c < C; ++c) {
          const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(a[c][s].q + 32 * l));
          const __m256 w = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(cd[k], x), sc));
          const __m256 dg = _mm256_broadcast_ss(a[c][s].dg + 2 * l);
          part[c][k] = n == 0 ? _mm256_mul_ps(w, dg) : _mm256_fmadd_ps(w, dg, part[c][k]);
        }
      }
    }
    for (int c = 0; c < C; ++c) {
      const __m256 t = _mm256_add_ps(_mm256_add_ps(part[c][0], part[c][1]), _mm256_add_ps(part[c][2], part[c][3]));
      acc[c] = _mm256_fmadd_ps(t, q.d, acc[c]);
      const ActSpan& as = a[c][s];
      mins[c] = _mm256_add_ps(mins[c], _mm256_fmadd_ps(q.fmin[1], _mm256_load_ps(as.bs + 8),
                                                       _mm256_mul_ps(q.fmin[0], _mm256_load_ps(as.bs))));
    }
  }
  for (int c = 0; c < C; ++c) y[c * ldy] = hsum8(_mm256_sub_ps(acc[c], mins[c]));
}

// FusedDotFn for Q6_K (any m).
void q6k_dot(const uint8_t* w, int64_t row_bytes, int64_t nsp, const ActSpan* acts, const int32_t* rows, int64_t m,
             float* y, int64_t ldy, int64_t r0, int64_t r1, int offset) {
  (void)offset;  // 32: in fmin
  constexpr int kGroup = 8;
  const ActSpan* a[kGroup];
  for (int64_t i0 = 0; i0 < m; i0 += kGroup) {
    const int mb = static_cast<int>(m - i0 < kGroup ? m - i0 : kGroup);
    for (int k = 0; k < mb; ++k) a[k] = acts + (rows ? rows[i0 + k] : i0 + k) * nsp;
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = w + r * row_bytes;
      float* yi = y + i0 * ldy + r;
      quant::with_rows(mb, [&](auto c) {
        constexpr int kC = decltype(c)::value;
        row_dot<kC>(row, nsp, a, yi, ldy);
      });
    }
  }
}

}  // namespace

quant::FusedDotFn span_fused(uint32_t t) { return t == 14 ? q6k_dot : nullptr; }

}  // namespace moecat::kernels::avx2
