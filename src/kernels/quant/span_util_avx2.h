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

}  // namespace moecat::kernels::avx2
