// AVX-512 lane-order unpacks of the grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S); see span_avx512.cpp for the lane order. Types without one here use their
// natural-order reference unpack plus a transpose.
//
// Each unpack writes the same Span as the type's unpack_T in iquants.cpp (same codes, and
// fsc / fmin from the same float expressions, so bit for bit), in lane order:
//   * The 32 "rows" of 8 values (natural values 8r .. 8r+7) are read as one uint64 each from
//     this file's copies of the grids, stored already as Span codes (128 + magnitude; IQ1:
//     128 + 8*grid + 1). IQ3's 4-value entries are paired into rows.
//   * Rows are assembled into four zmm: E0 = rows 0, 2, .., 14, O0 = rows 1, 3, .., 15, E1 / O1
//     the same for rows 16..31. Lane-order chunk k, lane g is dword k%2 of row 2g + k/2, so one
//     two-source dword permute per chunk (E0/E1 for k = 0, 1; O0/O1 for k = 2, 3) finishes it.
//   * Signs: the 32 sign bytes (one per row, bit j = value j; 7-bit forms expanded with their
//     parity bit like ksigns) in a ymm, shuffled into E/O order and used as byte masks:
//     a negative value's code 128 - m is 0 - (128 + m) mod 256. IQ1's -1/8 delta subtracts 2
//     from the +1 stored in the table, per row.
//   * Scales vectorized, in the reference's float order.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/kernel_table.h"
#include "kernels/quant/iq_tables.h"

namespace moecat::kernels::avx512 {

using quant::Span;

namespace {

// The grids as Span codes (quant::iq::span_grids(); set before any unpack here can be returned).
const quant::iq::SpanGrids* g_grids = nullptr;

inline __m128i ld64(const void* p) { return _mm_loadl_epi64(static_cast<const __m128i*>(p)); }
inline __m128i ld32(const void* p) {  // any alignment (blocks are 2-byte aligned at best)
  int v;
  __builtin_memcpy(&v, p, 4);
  return _mm_cvtsi32_si128(v);
}
inline uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  __builtin_memcpy(&v, p, 2);
  return v;
}
inline float f16_at(const uint8_t* p) { return _cvtsh_ss(u16_at(p)); }

inline __m512i join4(__m128i a, __m128i b, __m128i c, __m128i d) {
  const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
  const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(c), d, 1);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Rows base, base+2, .., base+14 of an 8-value grid: row r = T[idx(r)].
template <typename Idx>
inline __m512i rows8(const uint64_t* T, const Idx& idx, int base) {
  __m128i p[4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j)
    p[j] = _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(ld64(T + idx(base + 4 * j))),
                                         reinterpret_cast<const double*>(T + idx(base + 4 * j + 2))));
  return join4(p[0], p[1], p[2], p[3]);
}
// The same for a 4-value grid: row r = (T[idx(2r)], T[idx(2r+1)]).
template <typename Idx>
inline __m512i rows4(const uint32_t* T, const Idx& idx, int base) {
  __m128i p[4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const int a = 2 * (base + 4 * j), b = 2 * (base + 4 * j + 2);
    __m128i v = ld32(T + idx(a));
    v = _mm_insert_epi32(v, static_cast<int>(T[idx(a + 1)]), 1);
    v = _mm_insert_epi32(v, static_cast<int>(T[idx(b)]), 2);
    p[j] = _mm_insert_epi32(v, static_cast<int>(T[idx(b + 1)]), 3);
  }
  return join4(p[0], p[1], p[2], p[3]);
}

// Index readers: 4 packed indices per load (byte / u16 fields), split in registers.
inline uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}
inline uint64_t u64_at(const void* p) {
  uint64_t v;
  __builtin_memcpy(&v, p, 8);
  return v;
}
// Byte i of a run of index bytes.
struct ByteIdx {
  const uint8_t* p;
  uint32_t operator()(int i) const { return (u32_at(p + 4 * (i >> 2)) >> (8 * (i & 3))) & 0xFF; }
};
// u16 i (< 32) of eight u64 in registers (four indices each).
struct PackedIdx {
  uint64_t w[8];
  uint32_t operator()(int i) const { return static_cast<uint32_t>(w[i >> 2] >> (16 * (i & 3))) & 0xFFFF; }
};
struct PackedIdx16 {
  uint64_t w[16];
  uint32_t operator()(int i) const { return static_cast<uint32_t>(w[i >> 2] >> (16 * (i & 3))) & 0xFFFF; }
};
// u16 i of an array in memory, masked.
struct WordIdx {
  const uint16_t* p;
  uint32_t mask;
  uint32_t operator()(int i) const {
    return static_cast<uint32_t>(u64_at(p + 4 * (i >> 2)) >> (16 * (i & 3))) & mask;
  }
};

struct Rows {
  __m512i e0, o0, e1, o1;
};

// Applies the 32 natural-order sign bytes (byte r: row r, bit j: value j negative).
inline void apply_signs(Rows& R, __m256i signs) {
  const __m256i eo = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,  //
                                      0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256i s = _mm256_shuffle_epi8(signs, eo);
  const __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
  const __m512i z = _mm512_setzero_si512();
  R.e0 = _mm512_mask_sub_epi8(R.e0, _cvtu64_mask64(static_cast<uint64_t>(_mm_cvtsi128_si64(lo))), z, R.e0);
  R.o0 = _mm512_mask_sub_epi8(R.o0, _cvtu64_mask64(static_cast<uint64_t>(_mm_extract_epi64(lo, 1))), z, R.o0);
  R.e1 = _mm512_mask_sub_epi8(R.e1, _cvtu64_mask64(static_cast<uint64_t>(_mm_cvtsi128_si64(hi))), z, R.e1);
  R.o1 = _mm512_mask_sub_epi8(R.o1, _cvtu64_mask64(static_cast<uint64_t>(_mm_extract_epi64(hi, 1))), z, R.o1);
}

// Chunk k, lane g = dword k%2 of row 2g + k/2.
inline void store_lanes(const Rows& R, Span* out) {
  const __m512i i0 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i i1 = _mm512_add_epi32(i0, _mm512_set1_epi32(1));
  _mm512_store_si512(out->q, _mm512_permutex2var_epi32(R.e0, i0, R.e1));
  _mm512_store_si512(out->q + 64, _mm512_permutex2var_epi32(R.e0, i1, R.e1));
  _mm512_store_si512(out->q + 128, _mm512_permutex2var_epi32(R.o0, i0, R.o1));
  _mm512_store_si512(out->q + 192, _mm512_permutex2var_epi32(R.o0, i1, R.o1));
}

template <typename Idx>
inline Rows grid8(const uint64_t* T, const Idx& idx) {
  return Rows{rows8(T, idx, 0), rows8(T, idx, 1), rows8(T, idx, 16), rows8(T, idx, 17)};
}
template <typename Idx>
inline Rows grid4(const uint32_t* T, const Idx& idx) {
  return Rows{rows4(T, idx, 0), rows4(T, idx, 1), rows4(T, idx, 16), rows4(T, idx, 17)};
}

// 7-bit sign fields (bytes) -> 8 sign bits: bit 7 = parity of the seven (ksigns_iq2xs).
inline __m256i with_parity(__m256i s) {
  const __m256i lut = _mm256_setr_epi8(0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0,  //
                                       0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0);
  const __m256i p = _mm256_and_si256(_mm256_xor_si256(s, _mm256_srli_epi16(s, 4)), _mm256_set1_epi8(0x0F));
  return _mm256_or_si256(s, _mm256_shuffle_epi8(lut, p));
}
// Eight u32 of four 7-bit sign fields (bits 0..27) -> their 32 fields as bytes.
inline __m256i spread7(__m256i m) {
  const __m256i a = _mm256_and_si256(m, _mm256_set1_epi32(0x7F));
  const __m256i b = _mm256_and_si256(_mm256_slli_epi32(m, 1), _mm256_set1_epi32(0x7F00));
  const __m256i c = _mm256_and_si256(_mm256_slli_epi32(m, 2), _mm256_set1_epi32(0x7F0000));
  const __m256i d = _mm256_and_si256(_mm256_slli_epi32(m, 3), _mm256_set1_epi32(0x7F000000));
  return _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
}

// fsc[g] = v[g / 2] (v: 8 floats), fmin = 128 * fsc.
inline void store_scales_dup2(Span* out, __m256 v) {
  const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512 fsc = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(v));
  _mm512_store_ps(out->fsc, fsc);
  _mm512_store_ps(out->fmin, _mm512_mul_ps(fsc, _mm512_set1_ps(128.0f)));
}
inline void store_scales(Span* out, __m512 fsc) {
  _mm512_store_ps(out->fsc, fsc);
  _mm512_store_ps(out->fmin, _mm512_mul_ps(fsc, _mm512_set1_ps(128.0f)));
}

// ---- IQ2_XXS (66 B): d | 8 x [4 index bytes, u32 signs (4 x 7) | scale << 28] -------------
void unpack_iq2xxs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 66;
  const uint8_t* q = x + 2;
  Rows R = grid8(g_grids->iq2xxs, [q](int r) { return (u32_at(q + 8 * (r >> 2)) >> (8 * (r & 3))) & 0xFF; });
  const __m512i v = _mm512_loadu_si512(q);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256i meta = _mm512_castsi512_si256(_mm512_permutexvar_epi32(odd, v));
  apply_signs(R, with_parity(spread7(meta)));
  store_lanes(R, out);
  const __m256 sc = _mm256_cvtepi32_ps(_mm256_srli_epi32(meta, 28));
  const __m256 d = _mm256_set1_ps(f16_at(x));
  store_scales_dup2(out, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_add_ps(_mm256_set1_ps(0.5f), sc)), _mm256_set1_ps(0.25f)));
}

// IQ2_XS / IQ2_S: two 4-bit scales per 32 values (byte ib: low nibble group 2ib, high 2ib+1).
inline void iq2_scales16(const uint8_t* x, const uint8_t* sc8, Span* out) {
  const __m128i b = ld64(sc8);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
  const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(nib));
  const __m512 d = _mm512_set1_ps(f16_at(x));
  store_scales(out, _mm512_mul_ps(_mm512_mul_ps(d, _mm512_add_ps(_mm512_set1_ps(0.5f), sc)), _mm512_set1_ps(0.25f)));
}

// ---- IQ2_XS (74 B): d | 32 x u16 (9-bit index | 7 sign bits << 9) | 8 scale bytes ----------
void unpack_iq2xs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 74;
  const uint8_t* q = x + 2;
  Rows R = grid8(g_grids->iq2xs, WordIdx{reinterpret_cast<const uint16_t*>(q), 511});
  const __m512i w = _mm512_loadu_si512(q);
  apply_signs(R, with_parity(_mm512_cvtepi16_epi8(_mm512_srli_epi16(w, 9))));
  store_lanes(R, out);
  iq2_scales16(x, x + 66, out);
}

// ---- IQ2_S (82 B): d | 32 index bytes | 32 sign bytes | 8 qh (2 bits per row) | 8 scales ----
void unpack_iq2s(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 82;
  // Sub-block ib's four indices as u16 fields: bytes x[2 + 4ib + l] | (qh[ib] >> 2l & 3) << 8.
  PackedIdx P;
#pragma GCC unroll 8
  for (int ib = 0; ib < 8; ++ib)
    P.w[ib] = _pdep_u64(u32_at(x + 2 + 4 * ib), 0x00FF00FF00FF00FFull) | _pdep_u64(x[66 + ib], 0x0300030003000300ull);
  Rows R = grid8(g_grids->iq2s, P);
  apply_signs(R, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 34)));
  store_lanes(R, out);
  iq2_scales16(x, x + 74, out);
}

// ---- IQ3_XXS (98 B): d | 64 index bytes | 8 x u32 (4 x 7 sign bits | scale << 28) ---------
void unpack_iq3xxs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 98;
  const uint8_t* q = x + 2;
  Rows R = grid4(g_grids->iq3xxs, ByteIdx{q});
  const __m256i meta = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 66));
  apply_signs(R, with_parity(spread7(meta)));
  store_lanes(R, out);
  const __m256 sc = _mm256_cvtepi32_ps(_mm256_srli_epi32(meta, 28));
  const __m256 d = _mm256_set1_ps(f16_at(x));
  store_scales_dup2(out, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_add_ps(_mm256_set1_ps(0.5f), sc)), _mm256_set1_ps(0.5f)));
}

// ---- IQ3_S (110 B): d | 64 index bytes | 8 qh (9th bits) | 32 sign bytes | 4 scale bytes --
void unpack_iq3s(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 110;
  // index t = x[2 + t] | bit t of the 64-bit qh, << 8; four per u64 (u16 fields).
  const uint64_t qh = u64_at(x + 66);
  PackedIdx16 P;
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j)
    P.w[j] = _pdep_u64(u32_at(x + 2 + 4 * j), 0x00FF00FF00FF00FFull) | _pdep_u64(qh >> (4 * j), 0x0100010001000100ull);
  Rows R = grid4(g_grids->iq3s, P);
  apply_signs(R, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 74)));
  store_lanes(R, out);
  // db[ib] = d * (1 + 2 * nibble ib%2 of byte 106 + ib/2).
  const __m128i b = ld32(x + 106);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
  const __m256i odd = _mm256_add_epi32(_mm256_slli_epi32(_mm256_cvtepu8_epi32(nib), 1), _mm256_set1_epi32(1));
  store_scales_dup2(out, _mm256_mul_ps(_mm256_set1_ps(f16_at(x)), _mm256_cvtepi32_ps(odd)));
}

// IQ1: rows' delta signs as qword masks -> subtract 2 from the table's 128 + 8g + 1.
inline void apply_delta(Rows& R, __mmask8 e0, __mmask8 o0, __mmask8 e1, __mmask8 o1) {
  const __m512i two = _mm512_set1_epi8(2);
  R.e0 = _mm512_sub_epi8(R.e0, _mm512_maskz_mov_epi64(e0, two));
  R.o0 = _mm512_sub_epi8(R.o0, _mm512_maskz_mov_epi64(o0, two));
  R.e1 = _mm512_sub_epi8(R.e1, _mm512_maskz_mov_epi64(e1, two));
  R.o1 = _mm512_sub_epi8(R.o1, _mm512_maskz_mov_epi64(o1, two));
}

// ---- IQ1_S (50 B): d | 32 index bytes | 8 x u16 (4 x 3 high index bits, scale << 12, sign << 15)
void unpack_iq1s(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 50;
  const __m128i qh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 34));
  // Sub-block ib's four indices: x[2 + 4ib + l] | (qh[ib] >> 3l & 7) << 8.
  PackedIdx P;
#pragma GCC unroll 8
  for (int ib = 0; ib < 8; ++ib)
    P.w[ib] = _pdep_u64(u32_at(x + 2 + 4 * ib), 0x00FF00FF00FF00FFull) |
              _pdep_u64(u16_at(x + 34 + 2 * ib), 0x0700070007000700ull);
  Rows R = grid8(g_grids->iq1s, P);
  // Delta sign of sub-block ib (rows 4ib..4ib+3): bit 15 of qh[ib]. E0 / O0 hold sub-blocks
  // 0..3 two rows each, E1 / O1 sub-blocks 4..7.
  const uint32_t neg = _cvtmask8_u32(_mm_movepi16_mask(qh));
  const __mmask8 m0 = static_cast<__mmask8>(_pdep_u32(neg, 0x55) * 3), m1 = static_cast<__mmask8>(_pdep_u32(neg >> 4, 0x55) * 3);
  apply_delta(R, m0, m0, m1, m1);
  store_lanes(R, out);
  const __m128i s3 = _mm_and_si128(_mm_srli_epi16(qh, 12), _mm_set1_epi16(7));
  const __m256i odd = _mm256_cvtepu16_epi32(_mm_add_epi16(_mm_slli_epi16(s3, 1), _mm_set1_epi16(1)));
  const __m256 db = _mm256_mul_ps(_mm256_set1_ps(f16_at(x)), _mm256_cvtepi32_ps(odd));
  store_scales_dup2(out, _mm256_mul_ps(db, _mm256_set1_ps(0.125f)));
}

// ---- IQ1_M (56 B): 32 index bytes | 16 qh (nibble per row: 3 high index bits, sign << 3) |
//      4 x u16 scales (3 bits per 16 values, the f16 d in the top nibbles) -------------------
void unpack_iq1m(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * 56;
  const __m128i qh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 32));
  // Sub-block ib's four indices: x[4ib + l] | (nibble l of the u16 at 32 + 2ib & 7) << 8.
  PackedIdx P;
#pragma GCC unroll 8
  for (int ib = 0; ib < 8; ++ib)
    P.w[ib] = _pdep_u64(u32_at(x + 4 * ib), 0x00FF00FF00FF00FFull) |
              (_pdep_u64(u16_at(x + 32 + 2 * ib), 0x0F000F000F000F00ull) & 0x0700070007000700ull);
  Rows R = grid8(g_grids->iq1s, P);
  // Even rows' signs: bit 3 of bytes 0..7 (E0) / 8..15 (E1); odd rows': bit 7.
  const uint32_t mo = _cvtmask16_u32(_mm_movepi8_mask(qh));
  const uint32_t me = _cvtmask16_u32(_mm_movepi8_mask(_mm_slli_epi16(qh, 4)));
  apply_delta(R, static_cast<__mmask8>(me), static_cast<__mmask8>(mo), static_cast<__mmask8>(me >> 8),
              static_cast<__mmask8>(mo >> 8));
  store_lanes(R, out);
  uint16_t sc[4];
  __builtin_memcpy(sc, x + 48, 8);
  const uint16_t dh = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) |
                                            (sc[3] & 0xF000));
  // group g: bits 3(g%4) of word g/4.
  const __m256i w = _mm256_permutexvar_epi16(
      _mm256_setr_epi16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), _mm256_castsi128_si256(ld64(x + 48)));
  const __m256i s3 = _mm256_and_si256(
      _mm256_srlv_epi16(w, _mm256_setr_epi16(0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9)), _mm256_set1_epi16(7));
  const __m512i odd = _mm512_cvtepu16_epi32(_mm256_add_epi16(_mm256_slli_epi16(s3, 1), _mm256_set1_epi16(1)));
  const __m512 db = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(dh)), _mm512_cvtepi32_ps(odd));
  store_scales(out, _mm512_mul_ps(db, _mm512_set1_ps(0.125f)));
}

}  // namespace

quant::UnpackFn span_fast_unpack_iq(uint32_t t) {
  switch (t) {
    case 16: case 17: case 18: case 19: case 21: case 22: case 29: break;
    default: return nullptr;
  }
  static const bool built = (g_grids = &quant::iq::span_grids(), true);  // thread-safe, once
  (void)built;
  switch (t) {
    case 16: return unpack_iq2xxs;  // IQ2_XXS
    case 17: return unpack_iq2xs;   // IQ2_XS
    case 22: return unpack_iq2s;    // IQ2_S
    case 18: return unpack_iq3xxs;  // IQ3_XXS
    case 21: return unpack_iq3s;    // IQ3_S
    case 19: return unpack_iq1s;    // IQ1_S
    case 29: return unpack_iq1m;    // IQ1_M
    default: return nullptr;
  }
}

}  // namespace moecat::kernels::avx512
