// Block-field decoders shared by the AVX2 quant files (span_unpack_avx2.cpp: the Span form;
// span_pair_avx2.cpp: the pair form), so both read the same codes and compute the same scales
// (one exact int -> float, one multiply: the reference's bits). Everything `static inline` in
// an ISA-only header: no AVX2 code can reach a baseline caller through the linker
// (kernel_table.h).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace moecat::kernels::avx2 {

static inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
static inline void store32(uint8_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
static inline void store32u(uint8_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
static inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);  // exact, as base/half.h's f16_to_f32
}

// 16 bytes of nibbles -> 32 codes: low nibbles (values 0..15), then high ones (16..31).
static inline __m256i nibbles16(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)), m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
}

// 0x10 in byte j where bit j of the little-endian u32 at p is set (fifth bits: Q5_0 / Q5_1's qh,
// the H32 plane of the repacked Q5 layouts).
static inline __m256i fifth_bits(const uint8_t* p) {
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i t = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), shuf), bit);
  return _mm256_and_si256(_mm256_cmpeq_epi8(t, bit), _mm256_set1_epi8(0x10));
}

// Q4_K / Q5_K header (d, dmin, 12 bytes of packed 6-bit scales and mins; the same in the file
// and repacked layouts): per 32-value sub-block j, fsc = d * scale_j, fmin = dmin * min_j. The
// format: j < 4 in the low six bits of s[j] / s[j + 4]; j >= 4 a nibble of s[j + 4] with the
// top two bits of s[j - 4] / s[j]; four at a time in 32-bit words.
static inline void scales_k45(const uint8_t* b, __m256& fsc, __m256& fmin) {
  uint32_t w[3];
  std::memcpy(w, b + 4, 12);
  const uint32_t sc[2] = {w[0] & 0x3F3F3F3Fu, (w[2] & 0x0F0F0F0Fu) | ((w[0] >> 6) & 0x03030303u) << 4};
  const uint32_t mn[2] = {w[1] & 0x3F3F3F3Fu, ((w[2] >> 4) & 0x0F0F0F0Fu) | ((w[1] >> 6) & 0x03030303u) << 4};
  fsc = _mm256_mul_ps(_mm256_set1_ps(f16_at(b)),
                      _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32(int(sc[0]), int(sc[1]), 0, 0))));
  fmin = _mm256_mul_ps(_mm256_set1_ps(f16_at(b + 2)),
                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32(int(mn[0]), int(mn[1]), 0, 0))));
}

// IQ4_XS header (f16 d, u16 high bits, 4 bytes of low nibbles): block ib's scale d * (l - 32),
// l = nibble ib % 2 of byte 4 + ib / 2 with its top two bits at bit 2 ib of the u16 at 2.
static inline __m256 scales_iq4xs(const uint8_t* x) {
  uint32_t sl;
  uint16_t sh;
  std::memcpy(&sl, x + 4, 4);
  std::memcpy(&sh, x + 2, 2);
  const __m128i lo = _mm_cvtsi32_si128(static_cast<int>(sl & 0x0F0F0F0Fu));
  const __m128i hi = _mm_cvtsi32_si128(static_cast<int>((sl >> 4) & 0x0F0F0F0Fu));
  const __m256i top = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(sh), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                       _mm256_set1_epi32(3));
  const __m256i ls = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), _mm256_slli_epi32(top, 4));
  return _mm256_mul_ps(_mm256_set1_ps(f16_at(x)), _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32))));
}

// Rounds half away from zero (as std::round and the AVX-512 act_row).
static inline __m256 round_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
  const __m256 ge = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(t, _mm256_and_ps(ge, _mm256_or_ps(_mm256_set1_ps(1.0f), sign)));
}

static inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// 32 activations (v) times the inverse scale id, rounded half away from zero: the codes in
// natural order to q, the sums of the first and second 16 to sum_lo / sum_hi.
static inline void quantize32_with(const float* v, float id, int8_t* q, int32_t* sum_lo, int32_t* sum_hi) {
  __m256i q4[4];
  for (int k = 0; k < 4; ++k)
    q4[k] = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(_mm256_loadu_ps(v + 8 * k), _mm256_set1_ps(id))));
  *sum_lo = hsum_i32(_mm256_add_epi32(q4[0], q4[1]));
  *sum_hi = hsum_i32(_mm256_add_epi32(q4[2], q4[3]));
  // int32 -> int8 in natural order (packs interleave 128-bit halves; the permute undoes it).
  const __m256i p16a = _mm256_packs_epi32(q4[0], q4[1]), p16b = _mm256_packs_epi32(q4[2], q4[3]);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                      _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// max |v_i| over n values (n a multiple of 8).
static inline float amax_n(const float* v, int64_t n) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 mx = _mm256_setzero_ps();
  for (int64_t k = 0; k < n; k += 8) mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(v + k), abs_mask));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// 32 activations (v) quantized as the reference does (amax / 127, round half away from zero
// with the exact inverse scale): the codes in natural order to q, the scale returned.
static inline float quantize32(const float* v, int8_t* q, int32_t* sum_lo, int32_t* sum_hi) {
  const float dd = amax_n(v, 32) / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
  quantize32_with(v, id, q, sum_lo, sum_hi);
  return dd;
}

}  // namespace moecat::kernels::avx2
