// AVX2 unpacks into the Span form (span.h) in natural value order, the order the AVX2 Span
// kernels (span_avx2.cpp) and the scalar reference read: the same bytes and scales as each
// type's reference unpack (tests/quant_kernels_test.cpp compares them byte for byte), with the
// codes moved 32 at a time instead of one by one. Without them the AVX2 path decoded every
// weight with the scalar reference at every token: 1.6 generated tokens/s on the
// Qwen3-30B-A3B-shaped Q4_K_M file where AVX-512 runs ~68 (docs/PERF.md, session 17). Also
// used on AVX-512 CPUs without VNNI (dispatch.cpp). Types without one here (Q2_K, Q3_K, the
// grid i-quants) keep the reference unpack.
#include <immintrin.h>

#include <cstring>

#include "base/half.h"
#include "kernels/kernel_table.h"
#include "kernels/quant/lane_tables.h"

namespace moecat::kernels::avx2 {

using quant::Span;

namespace {

inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store32(uint8_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// 16 bytes of nibbles -> 32 codes: low nibbles (values 0..15), then high ones (16..31).
inline __m256i nibbles16(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)), m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
}

// 0x10 in byte j where bit j of the little-endian u32 qh is set (the fifth bits of Q5_0 / Q5_1).
inline __m256i fifth_bits(const uint8_t* p) {
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i t = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), shuf), bit);
  return _mm256_and_si256(_mm256_cmpeq_epi8(t, bit), _mm256_set1_epi8(0x10));
}

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
  // The eight 6-bit scales and mins from the 12 packed bytes s (the format: j < 4 in the low six
  // bits of s[j] / s[j + 4]; j >= 4 a nibble of s[j + 4] with the top two bits of s[j - 4] /
  // s[j]), four at a time in 32-bit words; then d * scale, dmin * min as the reference
  // computes them (one exact int -> float, one multiply: the same bits), each for both groups.
  uint32_t w[3];
  std::memcpy(w, b + 4, 12);
  const uint32_t sc[2] = {w[0] & 0x3F3F3F3Fu, (w[2] & 0x0F0F0F0Fu) | ((w[0] >> 6) & 0x03030303u) << 4};
  const uint32_t mn[2] = {w[1] & 0x3F3F3F3Fu, ((w[2] >> 4) & 0x0F0F0F0Fu) | ((w[1] >> 6) & 0x03030303u) << 4};
  const __m256 d = _mm256_set1_ps(f16_at(b)), dmin = _mm256_set1_ps(f16_at(b + 2));
  const __m256 dj = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32(int(sc[0]), int(sc[1]), 0, 0))));
  const __m256 mj = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32(int(mn[0]), int(mn[1]), 0, 0))));
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
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16_at(b + 208);
  for (int g = 0; g < quant::kGroups; ++g) {
    out->fsc[g] = d * float(sc[g]);
    out->fmin[g] = 32.0f * out->fsc[g];
  }
}

// IQ4_XS: block ib's 16 bytes of 4-bit indices through the table (+ 128), scale d * (l - 32).
void unpack_iq4xs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 136;
  const __m128i l = _mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128));
  const __m256i lut = _mm256_set_m128i(l, l);
  for (int ib = 0; ib < 8; ++ib) store32(out->q + 32 * ib, _mm256_shuffle_epi8(lut, nibbles16(x + 8 + 16 * ib)));
  // Block ib's 6-bit scale: nibble ib % 2 of byte 4 + ib / 2, its top two bits at bit 2 ib of
  // the u16 at 2; all eight at once, then d * (l - 32) as the reference (exact int -> float).
  uint32_t sl;
  uint16_t sh;
  std::memcpy(&sl, x + 4, 4);
  std::memcpy(&sh, x + 2, 2);
  const __m128i lo = _mm_cvtsi32_si128(static_cast<int>(sl & 0x0F0F0F0Fu));
  const __m128i hi = _mm_cvtsi32_si128(static_cast<int>((sl >> 4) & 0x0F0F0F0Fu));
  const __m256i top = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(sh), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                       _mm256_set1_epi32(3));
  const __m256i ls = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), _mm256_slli_epi32(top, 4));
  const __m256 sc = _mm256_mul_ps(_mm256_set1_ps(f16_at(x)), _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32))));
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
    case 23: return unpack_iq4xs;   // IQ4_XS
    default: return nullptr;        // the reference unpack
  }
}

}  // namespace moecat::kernels::avx2
