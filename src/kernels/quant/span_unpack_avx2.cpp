// AVX2 unpacks into the Span form (span.h) in natural value order, the order the AVX2 Span
// kernels (span_avx2.cpp) and the scalar reference read: the same bytes and scales as each
// type's reference unpack (tests/quant_kernels_test.cpp compares them byte for byte), with the
// codes moved 32 at a time instead of one by one. Without them the AVX2 path decoded every
// weight with the scalar reference at every token: 1.6 generated tokens/s on the
// Qwen3-30B-A3B-shaped Q4_K_M file where AVX-512 runs ~68 (docs/PERF.md, session 17). Also
// used on AVX-512 CPUs without VNNI (dispatch.cpp). The grid i-quants: span_iq_avx2.cpp.
#include <immintrin.h>

#include "kernels/kernel_table.h"
#include "kernels/quant/lane_tables.h"
#include "kernels/quant/span_util_avx2.h"

namespace moecat::kernels::avx2 {

using quant::Span;

namespace {

// Q4_0 (2), Q4_1 (3), Q5_0 (6), Q5_1 (7), IQ4_NL (20): span s's nv / 32 blocks; the reference
// scales (fsc = d; fmin = offset * d, or -m for the types with a min).
template <int kType>
void unpack_32(const uint8_t* row, int64_t s, int nv, Span* out) {
  constexpr bool kMin = kType == 3 || kType == 7, kQh = kType == 6 || kType == 7;
  constexpr int kBytes = 18 + (kMin ? 2 : 0) + (kQh ? 4 : 0), kQs = kBytes - 16;
  constexpr float kOffset = kType == 2 ? 8.0f : kType == 6 ? 16.0f : 128.0f;
  const __m128i lut = _mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128));
  for (int b = 0; b < nv / 32; ++b) {
    const uint8_t* blk = row + (s * 8 + b) * kBytes;
    __m256i q = nibbles16(blk + kQs);
    if constexpr (kType == 20) q = _mm256_shuffle_epi8(_mm256_set_m128i(lut, lut), q);
    if constexpr (kQh) q = _mm256_or_si256(q, fifth_bits(blk + (kMin ? 4 : 2)));
    store32(out->q + 32 * b, q);
    const float d = f16_at(blk);
    const float fmin = kMin ? -f16_at(blk + 2) : kOffset * d;
    out->fsc[2 * b] = out->fsc[2 * b + 1] = d;
    out->fmin[2 * b] = out->fmin[2 * b + 1] = fmin;
  }
}

// Q4_K / Q5_K: value 32j + l is nibble j % 2 of qs[32 (j / 2) + l] (+ 16 where bit j of qh[l]).
template <int kBits>
void unpack_k45(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * (kBits == 5 ? 176 : 144);
  const uint8_t* qs = b + (kBits == 5 ? 48 : 16);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256i qh = _mm256_setzero_si256();
  if constexpr (kBits == 5) qh = load32(b + 16);
  for (int c = 0; c < 4; ++c) {
    const __m256i v = load32(qs + 32 * c);
    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    if constexpr (kBits == 5) {
      const __m256i b0 = _mm256_set1_epi8(static_cast<char>(1 << (2 * c)));
      const __m256i b1 = _mm256_set1_epi8(static_cast<char>(2 << (2 * c)));
      const __m256i s16 = _mm256_set1_epi8(16);
      lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), s16));
      hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), s16));
    }
    store32(out->q + 64 * c, lo);
    store32(out->q + 64 * c + 32, hi);
  }
  // The eight scales and mins (span_util_avx2.h), each for both groups of its sub-block.
  __m256 dj, mj;
  scales_k45(b, dj, mj);
  const __m256i lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  _mm256_store_ps(out->fsc, _mm256_permutevar8x32_ps(dj, lo));
  _mm256_store_ps(out->fsc + 8, _mm256_permutevar8x32_ps(dj, hi));
  _mm256_store_ps(out->fmin, _mm256_permutevar8x32_ps(mj, lo));
  _mm256_store_ps(out->fmin + 8, _mm256_permutevar8x32_ps(mj, hi));
}

// Q6_K: per half n (128 values), value 128n + 32k + l is the low (k < 2) or high nibble of
// ql[64n + 32 (k % 2) + l] with bits 2k, 2k+1 of qh[32n + l] on top; offset 32.
void unpack_q6k(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 210;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
  for (int n = 0; n < 2; ++n) {
    const __m256i l0 = load32(b + 64 * n), l1 = load32(b + 64 * n + 32), h = load32(b + 128 + 32 * n);
    const __m256i nib[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                            _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
    for (int k = 0; k < 4; ++k) {
      const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(h, 2 * k), m3);
      store32(out->q + 128 * n + 32 * k, _mm256_or_si256(nib[k], _mm256_slli_epi16(hb, 4)));
    }
  }
  // fsc = d * scale (exact int8 -> float, one multiply, as the reference), fmin = 32 fsc; 16 at
  // once (a scalar loop here was a fifth of the unpack).
  const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
  const __m256 d = _mm256_set1_ps(f16_at(b + 208)), k32 = _mm256_set1_ps(32.0f);
  const __m256 f0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
  const __m256 f1 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8))));
  _mm256_store_ps(out->fsc, f0);
  _mm256_store_ps(out->fsc + 8, f1);
  _mm256_store_ps(out->fmin, _mm256_mul_ps(k32, f0));
  _mm256_store_ps(out->fmin + 8, _mm256_mul_ps(k32, f1));
}

// Q2_K (scales 0-15, qs 16-79, d 80, dmin 82): value 128n + 32j + l is bits 2j of qs[32n + l];
// group g's scale d * (s_g & 15), its min dmin * (s_g >> 4), as the reference computes them.
void unpack_q2k(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 84;
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int n = 0; n < 2; ++n) {
    const __m256i v = load32(b + 16 + 32 * n);
    for (int j = 0; j < 4; ++j) store32(out->q + 128 * n + 32 * j, _mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m3));
  }
  const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(sc, m4), hi = _mm_and_si128(_mm_srli_epi16(sc, 4), m4);
  const __m256 d = _mm256_set1_ps(f16_at(b + 80)), dmin = _mm256_set1_ps(f16_at(b + 82));
  for (int h = 0; h < 2; ++h) {
    _mm256_store_ps(out->fsc + 8 * h, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8 * h)))));
    _mm256_store_ps(out->fmin + 8 * h, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8 * h)))));
  }
}

// Q3_K (hmask 0-31, qs 32-95, scales 96-107, d 108): code = Q2_K's two low bits | (bit j of
// hmask[l]) << 2 for value 32j + l (the reference's q3 + 4, offset 4); group g's 6-bit scale:
// the low nibble from byte g % 8 (high nibble for g >= 8), the top two bits from byte 8 + g % 4
// at 2 (g / 4); fsc = d * (scale - 32), fmin = 4 fsc.
void unpack_q3k(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 110;
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  const __m256i hm = load32(b);
  for (int n = 0; n < 2; ++n) {
    const __m256i v = load32(b + 32 + 32 * n);
    for (int j = 0; j < 4; ++j) {
      const int jj = 4 * n + j;
      const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, jj), one), 2);
      store32(out->q + 32 * jj, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m3), hb));
    }
  }
  const uint8_t* sc = b + 96;
  alignas(32) int32_t v[16];
  for (int g = 0; g < 16; ++g) {
    const int low = g < 8 ? sc[g] & 0xF : sc[g - 8] >> 4;
    v[g] = (low | ((sc[8 + g % 4] >> (2 * (g / 4))) & 3) << 4) - 32;
  }
  const __m256 d = _mm256_set1_ps(f16_at(b + 108)), k4 = _mm256_set1_ps(4.0f);
  for (int h = 0; h < 2; ++h) {
    const __m256 f = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(v + 8 * h))));
    _mm256_store_ps(out->fsc + 8 * h, f);
    _mm256_store_ps(out->fmin + 8 * h, _mm256_mul_ps(k4, f));
  }
}

// IQ4_XS: block ib's 16 bytes of 4-bit indices through the table (+ 128), scale d * (l - 32).
void unpack_iq4xs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 136;
  const __m128i l = _mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128));
  const __m256i lut = _mm256_set_m128i(l, l);
  for (int ib = 0; ib < 8; ++ib) store32(out->q + 32 * ib, _mm256_shuffle_epi8(lut, nibbles16(x + 8 + 16 * ib)));
  // Block ib's scale d * (l - 32) (span_util_avx2.h), for both groups of the block.
  const __m256 sc = scales_iq4xs(x);
  const __m256 sc128 = _mm256_mul_ps(sc, _mm256_set1_ps(128.0f));
  const __m256i dlo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), dhi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  _mm256_store_ps(out->fsc, _mm256_permutevar8x32_ps(sc, dlo));
  _mm256_store_ps(out->fsc + 8, _mm256_permutevar8x32_ps(sc, dhi));
  _mm256_store_ps(out->fmin, _mm256_permutevar8x32_ps(sc128, dlo));
  _mm256_store_ps(out->fmin + 8, _mm256_permutevar8x32_ps(sc128, dhi));
}

}  // namespace

quant::UnpackFn span_fast_unpack(uint32_t t) {
  switch (t) {
    case 2: return unpack_32<2>;    // Q4_0
    case 3: return unpack_32<3>;    // Q4_1
    case 6: return unpack_32<6>;    // Q5_0
    case 7: return unpack_32<7>;    // Q5_1
    case 20: return unpack_32<20>;  // IQ4_NL
    case 12: return unpack_k45<4>;  // Q4_K
    case 13: return unpack_k45<5>;  // Q5_K
    case 14: return unpack_q6k;     // Q6_K
    case 10: return unpack_q2k;     // Q2_K
    case 11: return unpack_q3k;     // Q3_K
    case 23: return unpack_iq4xs;   // IQ4_XS
    default: return span_fast_unpack_iq(t);  // the grid i-quants (span_iq_avx2.cpp), or null
  }
}

}  // namespace moecat::kernels::avx2
