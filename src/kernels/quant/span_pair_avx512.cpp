// AVX-512 VNNI kernels of the pair form (span.h ActPair) for Q8_0_R, Q4_K_R, Q5_K_R, IQ4_XS_R,
// MXFP4_R and the file layouts of Q4_K, Q5_K and IQ4_XS. The repacked layouts store their codes
// in the form's 32-value lanes (repack.h: Q8_0's B8 plane, the N32 plane of the 4-bit codes,
// Q5_K's fifth bits in H32), so a pair of units is two 32-byte loads per chunk (N32: per two
// chunks, low and high nibbles; IQ4_XS and MXFP4 then through their code tables); the file
// layouts of Q4_K, Q5_K and IQ4_XS are decoded into pairs by permutes, so `--no-repack` gives
// the repacked bits. Per pair of spans and (weight row, activation row): 8 vpdpbusd into an
// accumulator that starts at -offset * qs (0 for Q4_K / Q5_K), then one convert, one multiply
// (fsc * dg), one FMA and for Q4_K's / Q5_K's mins one FNMADD (fmin * bs), where the Span form
// (span_avx512.cpp) spends 8 vpdpbusd and twice the float operations.
// Two uses, the same arithmetic, so the same bits:
//   pair_matmul  row tiles (prompts, batches): each weight row's pairs decoded once into
//                PairSpans, then read by every activation row, as span_matmul does;
//   pair_fused   up to eight activation rows against one weight row straight from registers
//                (generation; the few tokens of an expert in a batch step); repacked types.
// Per output the f32 order is fixed: pairs in order into 16 lanes, then one fixed reduction.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512_util.h"
#include "kernels/kernel_table.h"
#include "kernels/quant/span_scales_avx512.h"
#include "kernels/quant/tile_avx512.h"
#include "kernels/quant/with_rows.h"

namespace moecat::kernels::avx512 {

using quant::ActPair;
using quant::kSpan;

namespace {

// Template arguments: the weight type id (quant::kRepackedId + ggml id for repacked layouts).
constexpr uint32_t kQ8R = quant::kRepackedId + 8;
constexpr uint32_t kQ4KR = quant::kRepackedId + 12;
constexpr uint32_t kQ4K = 12;
constexpr uint32_t kMx4R = quant::kRepackedId + 39;
constexpr uint32_t kIq4XsR = quant::kRepackedId + 23;
constexpr uint32_t kIq4Xs = 23;
constexpr uint32_t kQ5KR = quant::kRepackedId + 13;
constexpr uint32_t kQ5K = 13;
constexpr bool is_k45(uint32_t t) { return t == kQ4KR || t == kQ4K || t == kQ5KR || t == kQ5K; }
// The 32-value types Q4_0 (ggml id 2), Q4_1 (3), Q5_0 (6), Q5_1 (7), IQ4_NL (20), in either
// layout: repacked (repack.h: block headers at the unit's head, Q5's H32 plane, the N32 plane;
// rows of whole units) or the file's (staged into the repacked layout per unit by span_repack,
// so both give the same bits; rows may end inside a unit).
constexpr bool is_repacked(uint32_t t) { return t >= quant::kRepackedId; }
constexpr uint32_t file_id(uint32_t t) { return is_repacked(t) ? t - quant::kRepackedId : t; }
constexpr bool is_nib32(uint32_t t) {
  return file_id(t) == 2 || file_id(t) == 3 || file_id(t) == 6 || file_id(t) == 7 || file_id(t) == 20;
}
constexpr int64_t nib32_block_bytes(uint32_t t) {
  return file_id(t) == 3 ? 20 : file_id(t) == 6 ? 22 : file_id(t) == 7 ? 24 : 18;
}
constexpr int nib32_head(uint32_t t) { return file_id(t) == 3 || file_id(t) == 7 ? 4 : 2; }
constexpr bool has_mins(uint32_t t) { return is_k45(t) || (is_nib32(t) && nib32_head(t) == 4); }
constexpr int64_t unit_bytes(uint32_t t) {
  return is_nib32(t) ? 8 * nib32_block_bytes(t)
         : t == kQ8R ? 272 : t == kQ4KR || t == kQ4K ? 144 : t == kQ5KR || t == kQ5K ? 176 : 136;
}
// Bytes of a 32-value block of the types whose rows may end in a partial unit, else 0.
constexpr int64_t tail_block_bytes(uint32_t t) {
  return t == kQ8R ? 34 : t == kMx4R ? 17 : is_nib32(t) && !is_repacked(t) ? nib32_block_bytes(t) : 0;
}

// One span of a weight row: its unit and how many values it holds (256; a Q8_0_R row's partial
// last unit fewer; 0 past the row's end, read as zeros).
struct Half {
  const uint8_t* u;
  int nv;
};

// The spans of a row: `full` whole units, then (Q8_0_R) a partial one of `tail` values or none.
struct RowShape {
  int64_t full;
  int tail;
  int64_t spans() const { return full + (tail ? 1 : 0); }
  int64_t pairs() const { return (spans() + 1) / 2; }
};
template <uint32_t kT>
inline RowShape row_shape(int64_t row_bytes) {
  const int64_t ub = unit_bytes(kT), full = row_bytes / ub, rem = row_bytes - full * ub;
  return {full, tail_block_bytes(kT) ? static_cast<int>(rem / tail_block_bytes(kT) * 32) : 0};
}
template <uint32_t kT>
inline Half half_of(const uint8_t* row, const RowShape& rs, int64_t s) {
  if (s < rs.full) return {row + s * unit_bytes(kT), kSpan};
  if (s == rs.full && rs.tail) return {row + rs.full * unit_bytes(kT), rs.tail};
  return {row, 0};
}

// Q8_0_R half-chunk K (32 bytes) of a span: whole units at 16 + 32K; a partial unit of nb
// blocks has nb f16 scales, then half-chunks of 4 nb bytes (repack.h).
inline __m256i q8_half(const Half& h, int K) {
  if (h.nv == kSpan) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h.u + 16 + 32 * K));
  if (h.nv == 0) return _mm256_setzero_si256();
  const int nb = h.nv / 32;
  return _mm256_maskz_loadu_epi8((uint32_t(1) << (4 * nb)) - 1, h.u + 2 * nb + 4 * nb * K);
}
inline __m128i q8_scales(const Half& h) {
  if (h.nv == kSpan) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(h.u));
  if (h.nv == 0) return _mm_setzero_si128();
  return _mm_maskz_loadu_epi16(static_cast<__mmask8>((1u << (h.nv / 32)) - 1), h.u);
}
// MXFP4_R byte-chunk K' (< 4) of a span's N32 plane (after 8 exponents; a partial unit of nb
// blocks: nb exponents, then byte-chunks of 4 nb bytes), and its eight scales.
inline __m256i mx4_chunk(const Half& h, int K) {
  if (h.nv == kSpan) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h.u + 8 + 32 * K));
  if (h.nv == 0) return _mm256_setzero_si256();
  const int nb = h.nv / 32;
  return _mm256_maskz_loadu_epi8((uint32_t(1) << (4 * nb)) - 1, h.u + nb + 4 * nb * K);
}
inline __m256 mx4_scales(const Half& h) { return h.nv ? mxfp4_scales8(h.u, h.nv / 32) : _mm256_setzero_ps(); }

inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1); }
inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

struct PairDecoded {
  __m512i q[8];  // chunk K: lanes 0-7 span 2p, 8-15 span 2p + 1 (span.h)
  __m512 fsc;    // the 16 blocks' scales
  __m512 fmin;   // and mins (Q4_K; unset for Q8_0_R)
};

// Q4_K's sixteen scales and mins of a pair (a missing unit: zeros): scales_k45_per32's
// unpacking of the 12 packed bytes, done for both units at once in the two 128-bit lanes of
// one ymm (one unpack per pair instead of two, and no shuffles to merge them; generation of a
// Q4_K matrix spends ~1/4 of its time on these scales), then the same products d * scale,
// dmin * min, so the same bits.
inline void k4_scales(const uint8_t* a, const uint8_t* b, PairDecoded& d) {
  const __m128i ra = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 4));
  const __m128i rb = b ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 4)) : _mm_setzero_si128();
  const __m256i raw = _mm256_inserti128_si256(_mm256_castsi128_si256(ra), rb, 1);  // per lane: w0 w1 w2 + 4 code bytes
  // Per lane as scales_k45_per32: dwords [sc 0-3, m 0-3, sc 4-7, m 4-7] -> [sc 0-3, sc 4-7, m 0-3, m 4-7].
  const __m256i lo = _mm256_and_si256(raw, _mm256_set1_epi8(0x3F));
  const __m256i w2 = _mm256_shuffle_epi32(raw, _MM_SHUFFLE(2, 2, 2, 2));
  const __m256i nib = _mm256_and_si256(_mm256_srlv_epi32(w2, _mm256_set_epi32(4, 0, 0, 0, 4, 0, 0, 0)), _mm256_set1_epi8(0x0F));
  const __m256i top =
      _mm256_and_si256(_mm256_srli_epi32(_mm256_shuffle_epi32(raw, _MM_SHUFFLE(1, 0, 1, 0)), 2), _mm256_set1_epi8(0x30));
  const __m256i scm = _mm256_shuffle_epi32(_mm256_blend_epi32(lo, _mm256_or_si256(nib, top), 0xCC), _MM_SHUFFLE(3, 1, 2, 0));
  // qwords [a sc, a m, b sc, b m] -> [a sc, b sc, a m, b m]: the pair's 16 scales, then its 16 mins.
  const __m256i sm = _mm256_permute4x64_epi64(scm, _MM_SHUFFLE(3, 1, 2, 0));
  // d, dmin of a, then of b (halves), widened: [da, dmina, db, dminb].
  const __m128i hb = b ? _mm_loadu_si32(b) : _mm_setzero_si128();
  const __m128 dm = _mm_cvtph_ps(_mm_unpacklo_epi32(_mm_loadu_si32(a), hb));
  alignas(64) int32_t di[16], mi[16];
  for (int i = 0; i < 16; ++i) di[i] = 2 * (i / 8), mi[i] = di[i] + 1;
  const __m512 dv = _mm512_permutexvar_ps(_mm512_load_si512(di), _mm512_castps128_ps512(dm));
  const __m512 mv = _mm512_permutexvar_ps(_mm512_load_si512(mi), _mm512_castps128_ps512(dm));
  d.fsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(sm))), dv);
  d.fmin = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(sm, 1))), mv);
}

// A pair of the 32-value types' repacked units a, b (b null: missing); repack.h's layouts.
template <uint32_t kT>
inline void nib32_pair(const uint8_t* a, const uint8_t* b, PairDecoded& d) {
  constexpr int kHead = nib32_head(kT);
  constexpr bool kQ5 = file_id(kT) == 6 || file_id(kT) == 7;
  if constexpr (kHead == 2) {  // eight f16 d per unit
    const __m128i ha = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
    const __m128i hb = b ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)) : _mm_setzero_si128();
    d.fsc = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(ha), hb, 1));
  } else {  // eight (f16 d, f16 m) per unit: d at the even halves; the offset is -m
    const __m512 va = _mm512_cvtph_ps(load32(a));
    const __m512 vb = b ? _mm512_cvtph_ps(load32(b)) : _mm512_setzero_ps();
    alignas(64) int32_t ev[16], od[16];
    for (int i = 0; i < 16; ++i) ev[i] = 2 * (i % 8) + 16 * (i / 8), od[i] = ev[i] + 1;
    d.fsc = _mm512_permutex2var_ps(va, _mm512_load_si512(ev), vb);
    d.fmin = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_permutex2var_ps(va, _mm512_load_si512(od), vb));
  }
  constexpr int kH32 = 8 * kHead, kN32 = kH32 + (kQ5 ? 32 : 0);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int K = 0; K < 4; ++K) {
    const __m512i z = join(load32(a + kN32 + 32 * K), b ? load32(b + kN32 + 32 * K) : _mm256_setzero_si256());
    d.q[K] = _mm512_and_si512(z, m4);
    d.q[K + 4] = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
  }
  if constexpr (file_id(kT) == 20) {  // IQ4_NL: the codes through the table (+ 128)
    const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128)));
    for (int K = 0; K < 8; ++K) d.q[K] = _mm512_shuffle_epi8(lut, d.q[K]);
  }
  if constexpr (kQ5) {  // H32: bit 4 of half-chunk K's byte p at bit p of u32 K
    for (int K = 0; K < 8; ++K) {
      uint32_t ha, hb = 0;
      std::memcpy(&ha, a + kH32 + 4 * K, 4);
      if (b) std::memcpy(&hb, b + kH32 + 4 * K, 4);
      d.q[K] = _mm512_mask_add_epi8(d.q[K], uint64_t(ha) | uint64_t(hb) << 32, d.q[K], _mm512_set1_epi8(16));
    }
  }
}

// Pair p of a row; b (the second unit) may be missing (an odd last span).
template <uint32_t kT>
inline void decode_pair(const uint8_t* row, const RowShape& rs, int64_t p, PairDecoded& d) {
  if constexpr (is_nib32(kT)) {
    const Half a = half_of<kT>(row, rs, 2 * p), b = half_of<kT>(row, rs, 2 * p + 1);
    if constexpr (is_repacked(kT)) {
      nib32_pair<kT>(a.u, b.nv ? b.u : nullptr, d);
    } else {
      // The file layout: each unit (a partial one padded with zero blocks) through the
      // vectorized repack first. Row tiles only: the cost is shared by every activation row.
      alignas(64) uint8_t stage[2][192];
      for (int h = 0; h < 2; ++h) {
        const Half& x = h ? b : a;
        if (x.nv == kSpan) {
          span_repack(file_id(kT), x.u, stage[h], 1);
        } else if (x.nv) {
          alignas(64) uint8_t blocks[192] = {};
          std::memcpy(blocks, x.u, static_cast<size_t>(x.nv / 32 * nib32_block_bytes(kT)));
          span_repack(file_id(kT), blocks, stage[h], 1);
        }
      }
      nib32_pair<kT>(stage[0], b.nv ? stage[1] : nullptr, d);
    }
  } else if constexpr (kT == kQ8R) {
    if (2 * p + 2 <= rs.full) {  // two whole units: plain loads
      const uint8_t* u = row + 2 * p * unit_bytes(kT);
      for (int K = 0; K < 8; ++K) d.q[K] = join(load32(u + 16 + 32 * K), load32(u + 272 + 16 + 32 * K));
      d.fsc = _mm512_cvtph_ps(_mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 272)), 1));
      return;
    }
    const Half a = half_of<kT>(row, rs, 2 * p), b = half_of<kT>(row, rs, 2 * p + 1);
    for (int K = 0; K < 8; ++K) d.q[K] = join(q8_half(a, K), q8_half(b, K));
    d.fsc = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(q8_scales(a)), q8_scales(b), 1));
  } else if constexpr (kT == kMx4R) {
    // Codes past a row's end decode to the table's 128 (not 0): their activations are 0 and so
    // are their scales, so they add nothing; both paths decode alike.
    const __m512i m4 = _mm512_set1_epi8(0x0F), lut = mxfp4_lut();
    __m512i z[4];
    if (2 * p + 2 <= rs.full) {  // two whole units: plain loads
      const uint8_t* u = row + 2 * p * unit_bytes(kT);
      for (int K = 0; K < 4; ++K) z[K] = join(load32(u + 8 + 32 * K), load32(u + 136 + 8 + 32 * K));
      d.fsc = _mm512_insertf32x8(_mm512_castps256_ps512(mxfp4_scales8(u, 8)), mxfp4_scales8(u + 136, 8), 1);
    } else {
      const Half a = half_of<kT>(row, rs, 2 * p), b = half_of<kT>(row, rs, 2 * p + 1);
      for (int K = 0; K < 4; ++K) z[K] = join(mx4_chunk(a, K), mx4_chunk(b, K));
      d.fsc = _mm512_insertf32x8(_mm512_castps256_ps512(mx4_scales(a)), mx4_scales(b), 1);
    }
    for (int K = 0; K < 4; ++K) {
      d.q[K] = _mm512_shuffle_epi8(lut, _mm512_and_si512(z[K], m4));
      d.q[K + 4] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(z[K], 4), m4));
    }
  } else if constexpr (kT == kIq4XsR || kT == kIq4Xs) {
    // Byte-chunk K' lane j: repacked, the N32 plane; the file layout, dword 4j + K' of qs (value
    // 32j + 4K' + .. in the low nibble, 32j + 16 + 4K' + .. in the high one).
    const uint8_t* a = row + 2 * p * 136;
    const uint8_t* b = 2 * p + 1 < rs.full ? a + 136 : nullptr;
    d.fsc = _mm512_insertf32x8(_mm512_castps256_ps512(scales_iq4xs8(a)), b ? scales_iq4xs8(b) : _mm256_setzero_ps(), 1);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128)));
    __m512i z[4];
    if constexpr (kT == kIq4XsR) {
      for (int K = 0; K < 4; ++K) z[K] = join(load32(a + 8 + 32 * K), b ? load32(b + 8 + 32 * K) : _mm256_setzero_si256());
    } else {
      const __m512i a0 = _mm512_loadu_si512(a + 8), a1 = _mm512_loadu_si512(a + 72);
      const __m512i b0 = b ? _mm512_loadu_si512(b + 8) : _mm512_setzero_si512();
      const __m512i b1 = b ? _mm512_loadu_si512(b + 72) : _mm512_setzero_si512();
      for (int K = 0; K < 4; ++K) {
        alignas(64) int32_t idx[16];
        for (int i = 0; i < 16; ++i) idx[i] = 4 * (i % 8) + K;
        const __m512i iv = _mm512_load_si512(idx);
        z[K] = _mm512_mask_blend_epi32(0xFF00, _mm512_permutex2var_epi32(a0, iv, a1), _mm512_permutex2var_epi32(b0, iv, b1));
      }
    }
    // A missing unit's codes decode to the table's first entry, not 0: its activations and
    // scales are 0, so it adds nothing.
    for (int K = 0; K < 4; ++K) {
      d.q[K] = _mm512_shuffle_epi8(lut, _mm512_and_si512(z[K], m4));
      d.q[K + 4] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(z[K], 4), m4));
    }
  } else {
    // Q4_K / Q5_K: the low four bits (N32 or the file's qs), then Q5_K's fifth bit.
    static_assert(is_k45(kT));
    constexpr bool kQ5 = kT == kQ5KR || kT == kQ5K;
    constexpr int64_t kUnit = unit_bytes(kT), kQs = kQ5 ? 48 : 16;
    const uint8_t* a = row + 2 * p * kUnit;
    const uint8_t* b = 2 * p + 1 < rs.full ? a + kUnit : nullptr;
    k4_scales(a, b, d);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    if constexpr (kT == kQ4KR || kT == kQ5KR) {  // N32: byte-chunk K' holds half-chunks K' (low), K' + 4 (high)
      for (int K = 0; K < 4; ++K) {
        const __m512i z = join(load32(a + kQs + 32 * K), b ? load32(b + kQs + 32 * K) : _mm256_setzero_si256());
        d.q[K] = _mm512_and_si512(z, m4);
        d.q[K + 4] = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
      }
      if constexpr (kQ5) {  // H32: bit 4 of half-chunk K's byte p at bit p of u32 K
        for (int K = 0; K < 8; ++K) {
          uint32_t ha, hb = 0;
          std::memcpy(&ha, a + 16 + 4 * K, 4);
          if (b) std::memcpy(&hb, b + 16 + 4 * K, 4);
          d.q[K] = _mm512_mask_add_epi8(d.q[K], uint64_t(ha) | uint64_t(hb) << 32, d.q[K], _mm512_set1_epi8(16));
        }
      }
    } else {  // the file layout: half-chunk K lane j = nibble j%2 of dword 8(j/2) + K of qs
      const __m512i a0 = _mm512_loadu_si512(a + kQs), a1 = _mm512_loadu_si512(a + kQs + 64);
      const __m512i b0 = b ? _mm512_loadu_si512(b + kQs) : _mm512_setzero_si512();
      const __m512i b1 = b ? _mm512_loadu_si512(b + kQs + 64) : _mm512_setzero_si512();
      alignas(64) int32_t sh[16];
      for (int i = 0; i < 16; ++i) sh[i] = 4 * (i % 2);
      const __m512i shv = _mm512_load_si512(sh);
      for (int K = 0; K < 8; ++K) {
        alignas(64) int32_t idx[16];
        for (int i = 0; i < 16; ++i) idx[i] = 8 * ((i % 8) / 2) + K;
        const __m512i iv = _mm512_load_si512(idx);
        const __m512i z = _mm512_mask_blend_epi32(0xFF00, _mm512_permutex2var_epi32(a0, iv, a1),
                                                  _mm512_permutex2var_epi32(b0, iv, b1));
        d.q[K] = _mm512_and_si512(_mm512_srlv_epi32(z, shv), m4);
      }
      if constexpr (kQ5) {  // qh (at 16): bit 4 of value 32j + 4K + t is bit j of qh[4K + t]
        alignas(64) int32_t sel[16];
        for (int i = 0; i < 16; ++i) sel[i] = 0x01010101 << (i % 8);
        const __m512i selv = _mm512_load_si512(sel);
        for (int K = 0; K < 8; ++K) {
          int32_t ha, hb = 0;
          std::memcpy(&ha, a + 16 + 4 * K, 4);
          if (b) std::memcpy(&hb, b + 16 + 4 * K, 4);
          const __mmask64 m = _mm512_test_epi8_mask(join(_mm256_set1_epi32(ha), _mm256_set1_epi32(hb)), selv);
          d.q[K] = _mm512_mask_add_epi8(d.q[K], m, d.q[K], _mm512_set1_epi8(16));
        }
      }
    }
  }
}

// The lone last unit of a row with an odd number of spans (a 768-wide expert down: one pair and
// a half), in ymm: lanes 0-7 of its pair, where decode_pair + pair_dot would spend zmm decodes
// and eight zmm vpdpbusd on a second unit of zeros. Fused kernels only (repacked layouts).
struct HalfDecoded {
  __m256i q[8];
  __m256 fsc, fmin;
};
template <uint32_t kT>
__attribute__((always_inline)) inline void decode_half(const uint8_t* row, const RowShape& rs, int64_t p, HalfDecoded& d) {
  static_assert(is_repacked(kT), "fused kernels read the repacked layouts");
  const Half a = half_of<kT>(row, rs, 2 * p);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  if constexpr (is_k45(kT)) {
    constexpr bool kQ5 = kT == kQ5KR;
    constexpr int64_t kQs = kQ5 ? 48 : 16;
    PairDecoded s;
    k4_scales(a.u, nullptr, s);
    d.fsc = _mm512_castps512_ps256(s.fsc);
    d.fmin = _mm512_castps512_ps256(s.fmin);
    for (int K = 0; K < 4; ++K) {
      const __m256i z = load32(a.u + kQs + 32 * K);
      d.q[K] = _mm256_and_si256(z, m4);
      d.q[K + 4] = _mm256_and_si256(_mm256_srli_epi16(z, 4), m4);
    }
    if constexpr (kQ5) {
      for (int K = 0; K < 8; ++K) {
        uint32_t h;
        std::memcpy(&h, a.u + 16 + 4 * K, 4);
        d.q[K] = _mm256_mask_add_epi8(d.q[K], h, d.q[K], _mm256_set1_epi8(16));
      }
    }
  } else if constexpr (kT == kIq4XsR || kT == kMx4R) {
    const __m256i lut = kT == kMx4R ? _mm512_castsi512_si256(mxfp4_lut())
                                    : _mm256_broadcastsi128_si256(_mm_load_si128(
                                          reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128)));
    d.fsc = kT == kMx4R ? mx4_scales(a) : scales_iq4xs8(a.u);
    for (int K = 0; K < 4; ++K) {
      const __m256i z = kT == kMx4R ? mx4_chunk(a, K) : load32(a.u + 8 + 32 * K);
      d.q[K] = _mm256_shuffle_epi8(lut, _mm256_and_si256(z, m4));
      d.q[K + 4] = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(z, 4), m4));
    }
  } else if constexpr (kT == kQ8R) {
    for (int K = 0; K < 8; ++K) d.q[K] = q8_half(a, K);
    d.fsc = _mm256_cvtph_ps(q8_scales(a));
  } else {  // the 32-value types: the pair decode's lanes 0-7 (rare in 768-wide rows)
    PairDecoded s;
    decode_pair<kT>(row, rs, p, s);
    for (int K = 0; K < 8; ++K) d.q[K] = _mm512_castsi512_si256(s.q[K]);
    d.fsc = _mm512_castps512_ps256(s.fsc);
    if constexpr (has_mins(kT)) d.fmin = _mm512_castps512_ps256(s.fmin);
  }
}

// pair_dot's operations on lanes 0-7, in the same order (lanes 8-15 of acc unchanged, as
// pair_dot leaves them for a missing unit), so the same bits.
template <bool kMins>
inline __m512 half_dot(const HalfDecoded& d, const ActPair& a, int offset, __m512 acc) {
  __m256i S = offset ? _mm256_mullo_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs)),
                                          _mm256_set1_epi32(-offset))
                     : _mm256_setzero_si256();
  for (int K = 0; K < 8; ++K)
    S = _mm256_dpbusd_epi32(S, d.q[K], _mm256_load_si256(reinterpret_cast<const __m256i*>(a.q + 64 * K)));
  __m256 lo = _mm512_castps512_ps256(acc);
  lo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S), _mm256_mul_ps(d.fsc, _mm256_load_ps(a.dg)), lo);
  if (kMins) lo = _mm256_fnmadd_ps(d.fmin, _mm256_load_ps(a.bs), lo);
  return _mm512_insertf32x8(acc, lo, 0);
}

// S = -offset * qs + the 16 blocks' integer sums; acc += S * (fsc * dg) (- fmin * bs).
template <bool kMins>
inline __m512 pair_dot(const PairDecoded& d, const ActPair& a, __m512i init, __m512 acc) {
  __m512i S = init;
  for (int K = 0; K < 8; ++K) S = _mm512_dpbusd_epi32(S, d.q[K], _mm512_load_si512(a.q + 64 * K));
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), _mm512_mul_ps(d.fsc, _mm512_load_ps(a.dg)), acc);
  if (kMins) acc = _mm512_fnmadd_ps(d.fmin, _mm512_load_ps(a.bs), acc);
  return acc;
}
inline __m512i pair_init(const ActPair& a, int offset) {
  return offset ? _mm512_mullo_epi32(_mm512_load_si512(a.qs), _mm512_set1_epi32(-offset)) : _mm512_setzero_si512();
}

// ---- activations ----------------------------------------------------------------------------

// Row x (in values) into ceil(spans / 2) ActPairs: per 32 values amax / 127, round half away
// from zero, codes with the exact scale; with f16 the scale kept is rounded to f16 (span_act's
// f16: llama.cpp's q8_0 activations). Block b of span 2p + h goes to lane 8h + b: its dword K
// at 64K + 32h + 4b.
void act_row(const float* x, int64_t in, bool f16, ActPair* out) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  for (int64_t p = 0; 2 * p < nsp; ++p) {
    ActPair& a = out[p];
    std::memset(&a, 0, sizeof a);
    for (int h = 0; h < 2 && 2 * p + h < nsp; ++h) {
      const int64_t s = 2 * p + h;
      const int nb = static_cast<int>((in - s * kSpan < kSpan ? in - s * kSpan : kSpan) / 32);
      for (int b = 0; b < nb; ++b) {
        const float* v = x + s * kSpan + 32 * b;
        const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float dd = amax / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        const __m512i i0 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v0, _mm512_set1_ps(id))));
        const __m512i i1 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v1, _mm512_set1_ps(id))));
        alignas(32) int8_t q[32];
        _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(i0));
        _mm_store_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(i1));
        for (int K = 0; K < 8; ++K) std::memcpy(a.q + 64 * K + 32 * h + 4 * b, q + 4 * K, 4);
        const float ds = f16 ? _cvtsh_ss(_cvtss_sh(dd, _MM_FROUND_TO_NEAREST_INT)) : dd;
        const int32_t qs = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        a.dg[8 * h + b] = ds;
        a.qs[8 * h + b] = qs;
        a.bs[8 * h + b] = ds * float(qs);
      }
    }
  }
}

// ---- row tiles ------------------------------------------------------------------------------

struct alignas(64) PairSpan {
  uint8_t q[2 * kSpan];
  float fsc[quant::kPairGroups];
  float fmin[quant::kPairGroups];
};
static_assert(sizeof(PairSpan) == 640, "PairSpan layout");

// y[c][j] for R weight rows (pairs w[j * wstride + s], s < nk) x C activation rows a[c] (at the
// first pair of this K chunk); sums carried in accs between chunks (span_avx512.cpp dot_tile).
// The operations and their order per output are pair_dot's.
template <int R, int C, bool kMins>
inline void dot_tile(const PairSpan* w, int64_t wstride, int64_t nk, const ActPair* const* a, __m512* accs, bool first,
                     bool last, float* y, int64_t ldy, int offset) {
  __m512 acc[R][C];
#pragma GCC unroll 4
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
    for (int c = 0; c < C; ++c) acc[j][c] = first ? _mm512_setzero_ps() : _mm512_load_ps(&accs[j * C + c]);
  for (int64_t s = 0; s < nk; ++s) {
    __m512i S[R][C];
#pragma GCC unroll 2
    for (int c = 0; c < C; ++c) {
      const __m512i init = pair_init(a[c][s], offset);
#pragma GCC unroll 4
      for (int j = 0; j < R; ++j) S[j][c] = init;
    }
#pragma GCC unroll 8
    for (int K = 0; K < 8; ++K) {
      __m512i av[C];
#pragma GCC unroll 2
      for (int c = 0; c < C; ++c) av[c] = _mm512_load_si512(a[c][s].q + 64 * K);
#pragma GCC unroll 4
      for (int j = 0; j < R; ++j) {
        const __m512i wk = _mm512_load_si512(w[j * wstride + s].q + 64 * K);
#pragma GCC unroll 2
        for (int c = 0; c < C; ++c) S[j][c] = _mm512_dpbusd_epi32(S[j][c], wk, av[c]);
      }
    }
#pragma GCC unroll 2
    for (int c = 0; c < C; ++c) {
      const __m512 dg = _mm512_load_ps(a[c][s].dg);
#pragma GCC unroll 4
      for (int j = 0; j < R; ++j) {
        const PairSpan& ws = w[j * wstride + s];
        acc[j][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[j][c]), _mm512_mul_ps(_mm512_load_ps(ws.fsc), dg), acc[j][c]);
        if (kMins) acc[j][c] = _mm512_fnmadd_ps(_mm512_load_ps(ws.fmin), _mm512_load_ps(a[c][s].bs), acc[j][c]);
      }
    }
  }
  finish_tile<R, C>(acc, accs, last, y, ldy);
}

template <int R, bool kMins>
void dot_rows(const PairSpan* bt, int64_t np, int64_t k0, int64_t nk, const ActPair* acts, const int32_t* rows,
              int64_t i, int64_t n, __m512* accs, bool first, bool last, float* y, int64_t ldy, int offset) {
  if (i + 2 <= n) {
    const ActPair* a[2] = {acts + (rows ? rows[i] : i) * np + k0, acts + (rows ? rows[i + 1] : i + 1) * np + k0};
    dot_tile<R, 2, kMins>(bt + k0, np, nk, a, accs, first, last, y + i * ldy, ldy, offset);
  } else {
    const ActPair* a[1] = {acts + (rows ? rows[i] : i) * np + k0};
    dot_tile<R, 1, kMins>(bt + k0, np, nk, a, accs, first, last, y + i * ldy, ldy, offset);
  }
}

constexpr int kTileRows = 4;

// Row x column blocking as span_matmul's (span_avx512.cpp): kBlockRows weight rows decoded into
// PairSpans (16 x 4 pairs = 40 KB at in = 2048) stay in L2; a 4-row tile is read in K chunks of
// kChunkPairs (10 KB, in L1) while up to kGroupRows activation rows stream past; the next
// block's rows are prefetched into L2 a few lines per tile call.
template <uint32_t kT>
void matmul_rows(int offset, const uint8_t* w, int64_t row_bytes, const ActPair* acts, const int32_t* rows, int64_t n,
                 float* y, int64_t ldy, int64_t r0, int64_t r1) {
  constexpr bool kMins = has_mins(kT);
  constexpr int64_t kBlockRows = 4 * kTileRows;
  constexpr int64_t kChunkPairs = 4;
  constexpr int64_t kGroupRows = 64;
  const RowShape rs = row_shape<kT>(row_bytes);
  const int64_t np = rs.pairs();
  const int64_t group = n < kGroupRows ? n : kGroupRows;
  const int64_t acc_bytes = kBlockRows * ((group + 1) & ~int64_t(1)) * 64;
  const int64_t bytes = kBlockRows * np * int64_t(sizeof(PairSpan)) + acc_bytes;
  auto* buf = reinterpret_cast<PairSpan*>(span_scratch((bytes + sizeof(quant::Span) - 1) / sizeof(quant::Span)));
  __m512* accs = reinterpret_cast<__m512*>(buf + kBlockRows * np);
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const int64_t rb = r1 - r < kBlockRows ? r1 - r : kBlockRows;
    for (int64_t j = 0; j < rb; ++j)
      for (int64_t p = 0; p < np; ++p) {
        PairDecoded d;
        decode_pair<kT>(w + (r + j) * row_bytes, rs, p, d);
        PairSpan& ps = buf[j * np + p];
        for (int K = 0; K < 8; ++K) _mm512_store_si512(ps.q + 64 * K, d.q[K]);
        _mm512_store_ps(ps.fsc, d.fsc);
        if (kMins) _mm512_store_ps(ps.fmin, d.fmin);
      }
    const int64_t calls = ((n + 1) / 2) * ((rb + kTileRows - 1) / kTileRows) * ((np + kChunkPairs - 1) / kChunkPairs);
    SpreadPrefetch pf(w + (r + rb) * row_bytes, r1 - (r + rb) < kBlockRows ? r1 - (r + rb) : kBlockRows, row_bytes, calls);
    for (int64_t g0 = 0; g0 < n; g0 += group) {
      const int64_t gn = n - g0 < group ? n - g0 : group;
      const ActPair* ag = rows ? acts : acts + g0 * np;
      const int32_t* rg = rows ? rows + g0 : nullptr;
      float* yg = y + g0 * ldy + r;
      for (int64_t k0 = 0; k0 < np; k0 += kChunkPairs) {
        const int64_t nk = np - k0 < kChunkPairs ? np - k0 : kChunkPairs;
        const bool first = k0 == 0, last = k0 + nk >= np;
        for (int64_t t = 0; t < rb; t += kTileRows)
          for (int64_t i = 0; i < gn; i += 2) {
            pf.step();
            const int rt = static_cast<int>(rb - t < kTileRows ? rb - t : kTileRows);
            __m512* at = accs + (t * ((group + 1) & ~int64_t(1)) + i * kTileRows);  // R x C vectors
            const PairSpan* bt = buf + t * np;
            switch (rt) {
              case 4: dot_rows<4, kMins>(bt, np, k0, nk, ag, rg, i, gn, at, first, last, yg + t, ldy, offset); break;
              case 3: dot_rows<3, kMins>(bt, np, k0, nk, ag, rg, i, gn, at, first, last, yg + t, ldy, offset); break;
              case 2: dot_rows<2, kMins>(bt, np, k0, nk, ag, rg, i, gn, at, first, last, yg + t, ldy, offset); break;
              default: dot_rows<1, kMins>(bt, np, k0, nk, ag, rg, i, gn, at, first, last, yg + t, ldy, offset); break;
            }
          }
      }
    }
  }
}

// ---- fused ----------------------------------------------------------------------------------

// Software prefetch 8 KB ahead into L2 (as the Span form's fused kernels do) for the types whose
// decode is heavy enough that the hardware prefetcher alone leaves the stream latency-bound;
// not for Q8_0_R, whose loads-only decode it slowed instead (the prefetch instructions, one per
// line, compete with the demand loads: moecat bench tg64 of the Qwen3-shaped q8_0 file, AMD
// Zen 4, 1 / 2 threads: 43 / 60 t/s with it, 57 / 87 without; kernels_bench 151936 x 2048
// Q8_0 output at one token 14.0 -> 11.4 ms = BM_MemRead's bandwidth). Q4_K_M / IQ4_XS / Q2_K
// measured alike either way at one thread, DeepSeek-shaped Q4_K_M 10-20 % slower without.
// With two or more activation rows the loop is no longer a loads-only stream and Q8_0_R needs
// the prefetch too: kernels_bench 12288 x 2048 Q8_0_R at 2 / 3 / 4 / 6 / 8 rows, 1 thread, Zen 4,
// without 0.88 / 1.02 / 1.34-2.16 / 3.0 / 3.7-4.0 ms (at 6 rows and more slower than the row
// tiles, 2.3 / 2.8), with it 0.83-0.89 / 1.05-1.07 / 1.16-1.27 / 1.46-1.51 / 2.0.
constexpr bool sw_prefetch(uint32_t t, int rows) { return t != kQ8R || rows > 1; }

// C activation rows against one weight row: each pair decoded once (prefetching as above),
// dotted with the C rows; acc[c] = row c's 16 lanes.
template <uint32_t kT, int C>
inline void row_sums(const uint8_t* row, const RowShape& rs, const ActPair* const* a, __m512 (&acc)[C], int offset) {
  constexpr int64_t kAhead = 8192;
  constexpr int64_t kPairBytes = 2 * unit_bytes(kT);
  const int64_t np = rs.pairs(), whole = rs.spans() / 2;  // pairs with both units
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t p = 0; p < whole; ++p) {
    const char* pf = reinterpret_cast<const char*>(row + p * kPairBytes + kAhead);
    if constexpr (sw_prefetch(kT, C))
      for (int64_t o = 0; o < kPairBytes; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
    PairDecoded d;
    decode_pair<kT>(row, rs, p, d);
    for (int c = 0; c < C; ++c) acc[c] = pair_dot<has_mins(kT)>(d, a[c][p], pair_init(a[c][p], offset), acc[c]);
  }
  if (whole < np) {  // the prefetch too: the stream ahead must cover every byte of the rows
    const char* pf = reinterpret_cast<const char*>(row + whole * kPairBytes + kAhead);
    if constexpr (sw_prefetch(kT, C))
      for (int64_t o = 0; o < kPairBytes / 2; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
    HalfDecoded d;
    decode_half<kT>(row, rs, whole, d);
    for (int c = 0; c < C; ++c) acc[c] = half_dot<has_mins(kT)>(d, a[c][whole], offset, acc[c]);
  }
}

// One block: matmul_many sends at most 12 rows.
template <uint32_t kT>
void fused(const uint8_t* w, int64_t row_bytes, int64_t in, const ActPair* acts, const int32_t* rows, int64_t m,
           float* y, int64_t ldy, int64_t r0, int64_t r1, int offset) {
  (void)in;
  const RowShape rs = row_shape<kT>(row_bytes);
  fused_rows<16>(acts, rows, rs.pairs(), m, r0, r1, y, ldy, [&](int64_t r, const ActPair* const* a, auto& acc) {
    row_sums<kT, std::extent_v<std::remove_reference_t<decltype(acc)>>>(w + r * row_bytes, rs, a, acc, offset);
  });
}

}  // namespace

int pair_type(uint32_t t) {
  switch (t) {
    case kQ8R:
    case kMx4R: return 2;  // llama.cpp's q8_0 activations: f16 scales
    case kQ4KR:
    case kQ4K:
    case kQ5KR:
    case kQ5K:
    case kIq4XsR:
    case kIq4Xs: return 1;
    default: return is_nib32(t) ? 1 : 0;  // the 32-value types, either layout: span_act's f32 scales
  }
}

void pair_act(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16) {
  const int64_t np = ((in + kSpan - 1) / kSpan + 1) / 2;
  for (int64_t r = row0; r < row1; ++r) act_row(x + r * in, in, f16, static_cast<ActPair*>(act) + r * np);
}

void pair_matmul(uint32_t t, int offset, const uint8_t* w, int64_t row_bytes, int64_t in, const void* act,
                 const int32_t* rows, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  (void)in;
  const auto* a = static_cast<const ActPair*>(act);
  switch (t) {
    case kQ8R: matmul_rows<kQ8R>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
    case kQ4KR: matmul_rows<kQ4KR>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
    case kQ4K: matmul_rows<kQ4K>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
    case kQ5KR: matmul_rows<kQ5KR>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
    case kQ5K: matmul_rows<kQ5K>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
    case kMx4R: matmul_rows<kMx4R>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
    case kIq4XsR: matmul_rows<kIq4XsR>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
    case kIq4Xs: matmul_rows<kIq4Xs>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
#define NIB32(ID)                                                                                        \
  case ID: matmul_rows<ID>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;                  \
  case quant::kRepackedId + ID: matmul_rows<quant::kRepackedId + ID>(offset, w, row_bytes, a, rows, n, y, ldy, r0, r1); return;
      NIB32(2) NIB32(3) NIB32(6) NIB32(7) NIB32(20)
#undef NIB32
    default: __builtin_trap();  // matmul_many asks pair_type first
  }
}

quant::FusedPairFn pair_fused(uint32_t t) {
  switch (t) {
    case kQ8R: return fused<kQ8R>;
    case kQ4KR: return fused<kQ4KR>;
    case kQ5KR: return fused<kQ5KR>;
    case kMx4R: return fused<kMx4R>;
    case kIq4XsR: return fused<kIq4XsR>;
    case quant::kRepackedId + 2: return fused<quant::kRepackedId + 2>;
    case quant::kRepackedId + 3: return fused<quant::kRepackedId + 3>;
    case quant::kRepackedId + 6: return fused<quant::kRepackedId + 6>;
    case quant::kRepackedId + 7: return fused<quant::kRepackedId + 7>;
    case quant::kRepackedId + 20: return fused<quant::kRepackedId + 20>;
    default: return nullptr;  // file layouts: row tiles only
  }
}

}  // namespace moecat::kernels::avx512
