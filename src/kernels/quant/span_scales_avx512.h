// The scale and offset fields of the 256-value block types as a Span's fsc / fmin (span.h), for
// the AVX-512 unpacks of both the file layouts (span_avx512.cpp) and the repacked ones
// (span_repacked_avx512.cpp), which keep these fields where the format has them.
// Included by AVX-512 translation units only.
#pragma once
#include <immintrin.h>

#include "kernels/quant/lane_tables.h"
#include "kernels/quant/span.h"

namespace moecat::kernels::avx512 {

inline __m512i load_idx(const int32_t* t) { return _mm512_load_si512(t); }

// Bytes per repack unit of 256 values by ggml id (Q8_0 8: eight blocks; Q2_K 10 .. Q6_K 14,
// IQ4_XS 23: one block): the types with a repacked layout (repack.h).
constexpr int64_t kquant_block_bytes(int type) {
  return type == 8    ? 272
         : type == 2  ? 144   // Q4_0: eight 18-byte blocks
         : type == 3  ? 160   // Q4_1
         : type == 6  ? 176   // Q5_0
         : type == 7  ? 192   // Q5_1
         : type == 20 ? 144   // IQ4_NL
         : type == 10 ? 84
         : type == 11 ? 110
         : type == 12 ? 144
         : type == 13 ? 176
         : type == 14 ? 210
         : type == 23 ? 136   // IQ4_XS
                      : 136;  // MXFP4 (39): eight 17-byte blocks
}

// Each scales_T(b, fsc, fmin) returns the 16 groups' scale and offset of block b in registers.

// Q4_K / Q5_K (b = block): lanes 0-7 d * scale_j, lanes 8-15 dmin * min_j of the eight 32-value
// sub-blocks j (the pair form's per-32 scales; scales_k45 spreads them to 16-value groups).
inline __m512 scales_k45_per32(const uint8_t* b) {
  // The eight 6-bit (scale, min) pairs from the 12 packed bytes w0 w1 w2 (dwords), four at a
  // time: sub-blocks 0-3 in the low 6 bits of w0 (scales) / w1 (mins); 4-7 from a nibble of w2
  // plus the top 2 bits of w0 / w1. In vector registers (no trips through general registers):
  // dwords [sc 0-3, m 0-3, sc 4-7, m 4-7], then reordered to [sc 0-3, sc 4-7, m 0-3, m 4-7].
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 4));  // w0 w1 w2 + 4 code bytes
  const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x3F));
  const __m128i w2 = _mm_shuffle_epi32(raw, _MM_SHUFFLE(2, 2, 2, 2));
  const __m128i nib = _mm_and_si128(_mm_srlv_epi32(w2, _mm_set_epi32(4, 0, 0, 0)), _mm_set1_epi8(0x0F));
  const __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(raw, _MM_SHUFFLE(1, 0, 1, 0)), 2), _mm_set1_epi8(0x30));
  const __m128i scm = _mm_shuffle_epi32(_mm_blend_epi32(lo, _mm_or_si128(nib, top), 0xC), _MM_SHUFFLE(3, 1, 2, 0));
  const __m128 dm = _mm_cvtph_ps(_mm_loadu_si32(b));  // d, dmin
  // 16 floats: lanes 0-7 the scales, 8-15 the mins, each times d / dmin.
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(scm)),
                       _mm512_permutexvar_ps(load_idx(quant::kHalf01Row.v), _mm512_castps128_ps512(dm)));
}

// Q4_K / Q5_K: fsc = d * scale_j, fmin = dmin * min_j for groups 2j, 2j + 1.
inline void scales_k45(const uint8_t* b, __m512& fsc_out, __m512& fmin_out) {
  const __m512 v = scales_k45_per32(b);
  fsc_out = _mm512_permutexvar_ps(load_idx(quant::kDup2Row.v), v);
  fmin_out = _mm512_permutexvar_ps(load_idx(quant::kDup2HiRow.v), v);
}

// The scales of eight MXFP4 blocks from their e8m0 exponents (nb of them, the rest 0): 2^(e -
// 128), subnormal for e < 2 (e8m0_to_f32_half); one per 32 values (the pair form's).
inline __m256 mxfp4_scales8(const uint8_t* e, int nb) {
  const __m256i v = _mm256_cvtepu8_epi32(_mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << nb) - 1), e));
  const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(v, _mm256_set1_epi32(1)), 23);
  const __m256i sub = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), v);
  const __m256i bits = _mm256_mask_blend_epi32(_mm256_cmplt_epu32_mask(v, _mm256_set1_epi32(2)), normal, sub);
  // Blocks past nb: e = 0 gives the subnormal 2^-128, so mask them to 0.
  return _mm256_castsi256_ps(_mm256_maskz_mov_epi32(static_cast<__mmask8>((1u << nb) - 1), bits));
}
// The same, two groups of 16 each (Span form).
inline __m512 mxfp4_scales(const uint8_t* e, int nb) {
  return _mm512_permutexvar_ps(load_idx(quant::kDup2Row.v), _mm512_castps256_ps512(mxfp4_scales8(e, nb)));
}
// MXFP4's e2m1 codes (doubled) + 128, by 4-bit index, for vpshufb.
inline __m512i mxfp4_lut() {
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(quant::kMxfp4Plus128)));
}

// Q6_K: fsc = d * scale_g, fmin = 32 fsc.
inline void scales_q6k(const uint8_t* b, __m512& fsc_out, __m512& fmin_out) {
  uint16_t dh;
  __builtin_memcpy(&dh, b + 208, 2);
  const __m512 d = _mm512_set1_ps(_cvtsh_ss(dh));
  const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192))));
  const __m512 fsc = _mm512_mul_ps(d, sc);
  fsc_out = fsc;
  fmin_out = _mm512_mul_ps(fsc, _mm512_set1_ps(32.0f));
}

// IQ4_XS: d * (6-bit scale - 32) of the eight 32-value blocks (the pair form's scales).
inline __m256 scales_iq4xs8(const uint8_t* b) {
  uint16_t dh, sh;
  __builtin_memcpy(&dh, b, 2);
  __builtin_memcpy(&sh, b + 2, 2);
  // Block ib's 6-bit scale: nibble ib%2 of byte 4 + ib/2, top 2 bits at bit 2ib of scales_h.
  uint32_t sl;
  __builtin_memcpy(&sl, b + 4, 4);
  const __m128i lo = _mm_cvtsi32_si128(static_cast<int>(sl & 0x0F0F0F0Fu));
  const __m128i hi = _mm_cvtsi32_si128(static_cast<int>((sl >> 4) & 0x0F0F0F0Fu));
  const __m128i top = _mm_cvtsi64_si128(static_cast<long long>(_pdep_u64(sh, 0x0303030303030303ull) << 4));
  const __m128i ls = _mm_or_si128(_mm_unpacklo_epi8(lo, hi), top);  // 8 bytes, block order
  const __m256 l8 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(ls), _mm256_set1_epi32(32)));
  return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dh)), l8);
}

// IQ4_XS: fsc = d * (6-bit scale - 32) per 32 values, fmin = 128 fsc (codes stored + 128).
inline void scales_iq4xs(const uint8_t* b, __m512& fsc_out, __m512& fmin_out) {
  const __m512 fsc = _mm512_permutexvar_ps(load_idx(quant::kDup2Row.v), _mm512_castps256_ps512(scales_iq4xs8(b)));
  fsc_out = fsc;
  fmin_out = _mm512_mul_ps(fsc, _mm512_set1_ps(128.0f));
}

// Q2_K: fsc = d * (scale nibble), fmin = dmin * (min nibble) per group.
inline void scales_q2k(const uint8_t* b, __m512& fsc_out, __m512& fmin_out) {
  uint16_t dh, mh;
  __builtin_memcpy(&dh, b + 80, 2);
  __builtin_memcpy(&mh, b + 82, 2);
  const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
  const __m512i lo = _mm512_and_si512(sc, _mm512_set1_epi32(0xF)), hi = _mm512_srli_epi32(sc, 4);
  fsc_out = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(dh)), _mm512_cvtepi32_ps(lo));
  fmin_out = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(mh)), _mm512_cvtepi32_ps(hi));
}

// Q3_K: fsc = d * (6-bit scale - 32), fmin = 4 fsc (codes stored + 4).
inline void scales_q3k(const uint8_t* b, __m512& fsc_out, __m512& fmin_out) {
  uint16_t dh;
  __builtin_memcpy(&dh, b + 108, 2);
  // Sixteen 6-bit scales, four per 32-bit word: low nibbles from bytes 0-7 (groups 0-7 low
  // nibbles, 8-15 high), top 2 bits from bits 2(g/4) of byte 8 + g%4.
  uint32_t w[3];
  __builtin_memcpy(w, b + 96, 12);
  const uint32_t s0 = (w[0] & 0x0F0F0F0Fu) | (w[2] & 0x03030303u) << 4;
  const uint32_t s1 = (w[1] & 0x0F0F0F0Fu) | ((w[2] >> 2) & 0x03030303u) << 4;
  const uint32_t s2 = ((w[0] >> 4) & 0x0F0F0F0Fu) | ((w[2] >> 4) & 0x03030303u) << 4;
  const uint32_t s3 = ((w[1] >> 4) & 0x0F0F0F0Fu) | ((w[2] >> 6) & 0x03030303u) << 4;
  const __m512i sc = _mm512_sub_epi32(
      _mm512_cvtepu8_epi32(_mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2), static_cast<int>(s1),
                                         static_cast<int>(s0))),
      _mm512_set1_epi32(32));
  const __m512 fsc = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(dh)), _mm512_cvtepi32_ps(sc));
  fsc_out = fsc;
  fmin_out = _mm512_mul_ps(fsc, _mm512_set1_ps(4.0f));
}

}  // namespace moecat::kernels::avx512
