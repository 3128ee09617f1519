// AVX-512 VNNI Span kernels (span.h): block-quantized weights x int8 activations.
//
// Lane order. A span's 256 bytes are kept as four 64-byte chunks; chunk k holds, in 32-bit lane
// g, bytes 4k..4k+3 of group g (natural index 16g + 4k + b). vpdpbusd adds the four u8 x s8
// products of a lane into that lane, so four chained vpdpbusd over the chunks leave the exact
// int32 sum S_g of every group g in lane g, with no shuffles in the inner loop. Per span and
// (weight row, activation row): 4 vpdpbusd, 1 convert, 1 multiply, 2 FMAs.
//   acc_g += fsc_g * dg_g * S_g - fmin_g * bs_g
// Activations are written in that order by span_act; weights are unpacked into it once per row
// tile (by a fast unpack of this file, or the type's natural-order unpack plus a transpose) and
// reused for every activation row. Per output the f32 order is fixed (spans in order into 16
// lanes, then one fixed reduction), so results do not depend on tiling or the thread split.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/avx512_util.h"
#include "kernels/kernel_table.h"
#include "kernels/quant/lane_tables.h"
#include "kernels/quant/span_scales_avx512.h"
#include "kernels/quant/tile_avx512.h"

namespace moecat::kernels::avx512 {

using quant::ActSpan;
using quant::kGroups;
using quant::kSpan;
using quant::Span;

namespace {


// Natural order -> lane order: dword (16k + g) = natural dword (4g + k).
inline void to_lane_order(uint8_t* q) {
  const __m512i n0 = _mm512_load_si512(q), n1 = _mm512_load_si512(q + 64),
                n2 = _mm512_load_si512(q + 128), n3 = _mm512_load_si512(q + 192);
  for (int k = 0; k < 4; ++k) {
    // lane g of chunk k: natural dword 4g + k, i.e. dword (4(g%4) + k) of natural zmm g/4.
    const __m512i idx = _mm512_set_epi32(28 + k, 24 + k, 20 + k, 16 + k, 12 + k, 8 + k, 4 + k, k,
                                         28 + k, 24 + k, 20 + k, 16 + k, 12 + k, 8 + k, 4 + k, k);
    const __m512i lo = _mm512_permutex2var_epi32(n0, idx, n1);  // lanes 0-7 valid
    const __m512i hi = _mm512_permutex2var_epi32(n2, idx, n3);  // lanes 8-15 valid
    _mm512_store_si512(q + 64 * k, _mm512_mask_blend_epi32(0xFF00, lo, hi));
  }
}

// ---- fast unpacks straight into lane order ------------------------------------------------
// Index tables (lane_tables.h) are compile-time constants: quant::kLaneK45Table.v[k][g] etc.


// Q4_K / Q5_K (see lane_tables.h for which dword each lane reads).
template <int kBits>
void unpack_k45(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * (kBits == 5 ? 176 : 144);
  {
    __m512 fsc, fmin;
    scales_k45(b, fsc, fmin);
    _mm512_store_ps(out->fsc, fsc);
    _mm512_store_ps(out->fmin, fmin);
  }
  const uint8_t* qs = b + (kBits == 5 ? 48 : 16);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i z0 = _mm512_loadu_si512(qs), z1 = _mm512_loadu_si512(qs + 64);
  const __m512i l0 = _mm512_and_si512(z0, m4), h0 = _mm512_and_si512(_mm512_srli_epi16(z0, 4), m4);
  const __m512i l1 = _mm512_and_si512(z1, m4), h1 = _mm512_and_si512(_mm512_srli_epi16(z1, 4), m4);
  __m512i qh = _mm512_setzero_si512();
  if (kBits == 5) qh = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16)));
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512i iv = load_idx(quant::kLaneK45Table.v[k]);
    __m512i q = _mm512_mask_blend_epi32(0xFF00, _mm512_permutex2var_epi32(l0, iv, h0),
                                        _mm512_permutex2var_epi32(l1, iv, h1));
    if (kBits == 5) {
      const __m512i u = _mm512_permutexvar_epi32(load_idx(quant::kLaneQ5hTable.v[k]), qh);
      const __m512i bit = _mm512_and_si512(_mm512_srlv_epi32(u, load_idx(quant::kShiftQ5hRow.v)), _mm512_set1_epi8(1));
      q = _mm512_or_si512(q, _mm512_slli_epi32(bit, 4));
    }
    _mm512_store_si512(out->q + 64 * k, q);
  }
}

// Q6_K: low 4 bits from ql (two 64-byte halves), high 2 bits from qh, per lane tables.
void unpack_q6k(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 210;
  {
    __m512 fsc, fmin;
    scales_q6k(b, fsc, fmin);
    _mm512_store_ps(out->fsc, fsc);
    _mm512_store_ps(out->fmin, fmin);
  }
  const __m512i ql0 = _mm512_loadu_si512(b), ql1 = _mm512_loadu_si512(b + 64);
  const __m512i qh = _mm512_loadu_si512(b + 128);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512i t = _mm512_permutex2var_epi32(ql0, load_idx(quant::kLaneQ6lTable.v[k]), ql1);
    const __m512i lo = _mm512_and_si512(t, m4), hi = _mm512_and_si512(_mm512_srli_epi16(t, 4), m4);
    const __m512i nib = _mm512_mask_blend_epi32(quant::kQ6HighNibbleLanes, lo, hi);
    const __m512i u = _mm512_permutexvar_epi32(load_idx(quant::kLaneQ6hTable.v[k]), qh);
    const __m512i hb = _mm512_and_si512(_mm512_srlv_epi32(u, load_idx(quant::kShiftQ6hRow.v)), m2);
    _mm512_store_si512(out->q + 64 * k, _mm512_or_si512(nib, _mm512_slli_epi32(hb, 4)));
  }
}

// IQ4_XS: 32-value block ib has a 6-bit scale; lane g reads dword 4(g/2) + k of qs, the low
// nibbles for even g, high for odd; codes map through the 16-entry non-linear table (+128).
// kRaw: the 4-bit indices themselves (for repacking), not their table values.
template <bool kRaw = false>
void unpack_iq4xs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 136;
  {
    __m512 fsc, fmin;
    scales_iq4xs(b, fsc, fmin);
    _mm512_store_ps(out->fsc, fsc);
    _mm512_store_ps(out->fmin, fmin);
  }
  const __m512i q0 = _mm512_loadu_si512(b + 8), q1 = _mm512_loadu_si512(b + 72);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128)));
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512i t = _mm512_permutex2var_epi32(q0, load_idx(quant::kLaneIq4xsTable.v[k]), q1);
    const __m512i lo = _mm512_and_si512(t, m4), hi = _mm512_and_si512(_mm512_srli_epi16(t, 4), m4);
    const __m512i code = _mm512_mask_blend_epi32(0xAAAA, lo, hi);
    _mm512_store_si512(out->q + 64 * k, kRaw ? code : _mm512_shuffle_epi8(lut, code));
  }
}

// Q2_K: the 2-bit code of value e is at bit 2((e%128)/32) of qs[32(e/128) + e%32]: the same
// dword / shift per lane as Q6_K's high bits.
void unpack_q2k(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 84;
  {
    __m512 fsc, fmin;
    scales_q2k(b, fsc, fmin);
    _mm512_store_ps(out->fsc, fsc);
    _mm512_store_ps(out->fmin, fmin);
  }
  const __m512i qs = _mm512_loadu_si512(b + 16);
  const __m512i m2 = _mm512_set1_epi8(0x03), sh = load_idx(quant::kShiftQ6hRow.v);
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512i u = _mm512_permutexvar_epi32(load_idx(quant::kLaneQ6hTable.v[k]), qs);
    _mm512_store_si512(out->q + 64 * k, _mm512_and_si512(_mm512_srlv_epi32(u, sh), m2));
  }
}

// Q3_K: low 2 bits as Q2_K (qs at 32), the third bit at bit e/32 of hmask[e%32] (Q5_K's qh
// placement); stored q = low2 + 4*hbit = q3 + 4, fmin = 4*fsc.
void unpack_q3k(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 110;
  {
    __m512 fsc, fmin;
    scales_q3k(b, fsc, fmin);
    _mm512_store_ps(out->fsc, fsc);
    _mm512_store_ps(out->fmin, fmin);
  }
  const __m512i qs = _mm512_loadu_si512(b + 32);
  const __m512i hm = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
  const __m512i m2 = _mm512_set1_epi8(0x03), one = _mm512_set1_epi8(1);
  const __m512i sh = load_idx(quant::kShiftQ6hRow.v), shh = load_idx(quant::kShiftQ5hRow.v);
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512i u = _mm512_permutexvar_epi32(load_idx(quant::kLaneQ6hTable.v[k]), qs);
    const __m512i lo = _mm512_and_si512(_mm512_srlv_epi32(u, sh), m2);
    const __m512i h = _mm512_permutexvar_epi32(load_idx(quant::kLaneQ5hTable.v[k]), hm);
    const __m512i hb = _mm512_and_si512(_mm512_srlv_epi32(h, shh), one);
    _mm512_store_si512(out->q + 64 * k, _mm512_or_si512(lo, _mm512_slli_epi32(hb, 2)));
  }
}

// The 32-value block types, eight blocks per span: Q4_0 / IQ4_NL (f16 d + 16 code bytes),
// MXFP4 (e8m0 exponent + 16 code bytes), Q4_1 (d, m), Q5_0 (d, 32 fifth bits), Q5_1 (d, m,
// fifth bits). The eight blocks' code bytes are gathered into two zmm, then read like IQ4_XS
// (lane g: block g/2, nibble g%2); IQ4_NL and MXFP4 codes map through their 16-entry tables
// (+128). A span may end early (nv < 256: rows of 32..224 values, e.g. DeepSeek's 128-wide
// attn_k_b): blocks past nv are not read and their groups get q = fsc = fmin = 0, like the
// reference unpack with the caller's zeroing. kRaw: the 4-bit indices themselves, not mapped
// through the table (the repacking of MXFP4).
enum class Nib { kQ4_0, kIq4nl, kMxfp4, kQ4_1, kQ5_0, kQ5_1 };
template <Nib kType, bool kRaw = false>
void unpack_4bit32(const uint8_t* row, int64_t s, int nv, Span* out) {
  constexpr bool kMin = kType == Nib::kQ4_1 || kType == Nib::kQ5_1;
  constexpr bool kQh = kType == Nib::kQ5_0 || kType == Nib::kQ5_1;
  constexpr int kBytes = kType == Nib::kMxfp4 ? 17 : 18 + (kMin ? 2 : 0) + (kQh ? 4 : 0);
  constexpr int kQhAt = kMin ? 4 : 2;  // fifth bits after d (and m)
  constexpr int kQs = kType == Nib::kMxfp4 ? 1 : 2 + (kMin ? 2 : 0) + (kQh ? 4 : 0);
  const int nb = nv / 32;
  const uint8_t* b = row + s * 8 * kBytes;
  auto codes16 = [&](int i) {
    return i < nb ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i * kBytes + kQs)) : _mm_setzero_si128();
  };
  __m512i z[2];
  for (int h = 0; h < 2; ++h) {
    __m512i v = _mm512_castsi128_si512(codes16(4 * h));
    v = _mm512_inserti32x4(v, codes16(4 * h + 1), 1);
    v = _mm512_inserti32x4(v, codes16(4 * h + 2), 2);
    z[h] = _mm512_inserti32x4(v, codes16(4 * h + 3), 3);
  }
  alignas(64) float d[8] = {}, mn[8] = {};
  uint32_t qh[8] = {};
  for (int ib = 0; ib < nb; ++ib) {
    const uint8_t* blk = b + kBytes * ib;
    if (kType == Nib::kMxfp4) {
      d[ib] = e8m0_to_f32_half(blk[0]);
    } else {
      uint16_t dh;
      __builtin_memcpy(&dh, blk, 2);
      d[ib] = _cvtsh_ss(dh);
    }
    if (kMin) {
      uint16_t mh;
      __builtin_memcpy(&mh, blk + 2, 2);
      mn[ib] = -_cvtsh_ss(mh);
    }
    if (kQh) __builtin_memcpy(&qh[ib], blk + kQhAt, 4);
  }
  // Fifth bits: bit j of block ib's qh is value 32 ib + j. Chunk k lane g byte c holds value
  // 16 g + 4 k + c, so chunk k's 64-bit mask takes, from each 64-value word w, the bits
  // 16 j + 4 k + c (j, c < 4) in order: one pext per word.
  uint64_t hm[4] = {};
  if (kQh)
    for (int w = 0; w < 4; ++w) {
      const uint64_t m = qh[2 * w] | uint64_t(qh[2 * w + 1]) << 32;
      for (int k = 0; k < 4; ++k) hm[k] |= _pext_u64(m, 0x000F000F000F000Full << (4 * k)) << (16 * w);
    }
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(
      kType == Nib::kMxfp4 ? quant::kMxfp4Plus128 : quant::kIq4nlPlus128)));
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512i t = _mm512_permutex2var_epi32(z[0], load_idx(quant::kLaneIq4xsTable.v[k]), z[1]);
    const __m512i lo = _mm512_and_si512(t, m4), hi = _mm512_and_si512(_mm512_srli_epi16(t, 4), m4);
    __m512i code = _mm512_mask_blend_epi32(0xAAAA, lo, hi);
    if (!kRaw && (kType == Nib::kIq4nl || kType == Nib::kMxfp4)) code = _mm512_shuffle_epi8(lut, code);
    if (kQh) code = _mm512_mask_add_epi8(code, hm[k], code, _mm512_set1_epi8(16));
    if ((kType == Nib::kIq4nl || kType == Nib::kMxfp4) && nb < 8)  // table(0) of missing blocks -> 0
      code = _mm512_maskz_mov_epi32(static_cast<__mmask16>((1u << (2 * nb)) - 1), code);
    _mm512_store_si512(out->q + 64 * k, code);
  }
  const __m512i dup = load_idx(quant::kDup2Row.v);
  const __m512 fsc = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_load_ps(d)));
  _mm512_store_ps(out->fsc, fsc);
  constexpr float kOffset = kType == Nib::kQ4_0 ? 8.0f : kType == Nib::kQ5_0 ? 16.0f : 128.0f;
  _mm512_store_ps(out->fmin, kMin ? _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_load_ps(mn)))
                                  : _mm512_mul_ps(fsc, _mm512_set1_ps(kOffset)));
}

// Q8_0 (34-byte blocks: f16 d + 32 int8): lane g reads dword 4(g%2) + k of block g/2's codes;
// blocks are loaded in pairs (2c, 2c+1) and combined by one two-source permute per half.
// A span may end early (nv < 256), as in unpack_4bit32.
void unpack_q8_0(const uint8_t* row, int64_t s, int nv, Span* out) {
  const uint8_t* b = row + s * 8 * 34;
  const int nb = nv / 32;
  auto codes32 = [&](int i) {
    return i < nb ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 34 * i + 2)) : _mm256_setzero_si256();
  };
  __m512i z[4];
  alignas(64) float d[8] = {};
  for (int c = 0; c < 4; ++c) z[c] = _mm512_inserti64x4(_mm512_castsi256_si512(codes32(2 * c)), codes32(2 * c + 1), 1);
  for (int ib = 0; ib < nb; ++ib) {
    uint16_t dh;
    __builtin_memcpy(&dh, b + 34 * ib, 2);
    d[ib] = _cvtsh_ss(dh);
  }
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));  // int8 + 128 as unsigned
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512i iv = load_idx(quant::kLaneQ8Table.v[k]);
    const __m512i q = _mm512_mask_blend_epi32(0xFF00, _mm512_permutex2var_epi32(z[0], iv, z[1]),
                                              _mm512_permutex2var_epi32(z[2], iv, z[3]));
    const __m512i u = _mm512_xor_si512(q, flip);
    _mm512_store_si512(out->q + 64 * k, nb < 8 ? _mm512_maskz_mov_epi32(static_cast<__mmask16>((1u << (2 * nb)) - 1), u) : u);
  }
  const __m512 fsc = _mm512_permutexvar_ps(load_idx(quant::kDup2Row.v), _mm512_castps256_ps512(_mm256_load_ps(d)));
  _mm512_store_ps(out->fsc, fsc);
  _mm512_store_ps(out->fmin, _mm512_mul_ps(fsc, _mm512_set1_ps(128.0f)));
}

// ---- activations ----------------------------------------------------------------------------

void act_span(const float* x, int nv, bool f16, ActSpan* a) {
  __m512 dg = _mm512_setzero_ps(), bs = _mm512_setzero_ps();
  alignas(64) float dgs[16] = {}, bss[16] = {};
  alignas(64) int32_t qss[16] = {};
  _mm512_store_si512(a->q, _mm512_setzero_si512());
  _mm512_store_si512(a->q + 64, _mm512_setzero_si512());
  _mm512_store_si512(a->q + 128, _mm512_setzero_si512());
  _mm512_store_si512(a->q + 192, _mm512_setzero_si512());
  for (int b = 0; b < nv / 32; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512i i0 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v0, _mm512_set1_ps(id))));
    const __m512i i1 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v1, _mm512_set1_ps(id))));
    _mm_store_si128(reinterpret_cast<__m128i*>(a->q + 32 * b), _mm512_cvtepi32_epi8(i0));
    _mm_store_si128(reinterpret_cast<__m128i*>(a->q + 32 * b + 16), _mm512_cvtepi32_epi8(i1));
    const float ds = f16 ? _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT)) : d;  // the scale the dot uses
    dgs[2 * b] = dgs[2 * b + 1] = ds;
    qss[2 * b] = _mm512_reduce_add_epi32(i0);
    qss[2 * b + 1] = _mm512_reduce_add_epi32(i1);
    bss[2 * b] = ds * float(qss[2 * b]);
    bss[2 * b + 1] = ds * float(qss[2 * b + 1]);
  }
  _mm512_store_si512(a->qs, _mm512_load_si512(qss));
  dg = _mm512_load_ps(dgs);
  bs = _mm512_load_ps(bss);
  _mm512_store_ps(a->dg, dg);
  _mm512_store_ps(a->bs, bs);
  to_lane_order(reinterpret_cast<uint8_t*>(a->q));
}

// ---- the matmul -----------------------------------------------------------------------------

// y[c][j] for R weight rows (spans w[j*wstride + s], s < nk) x C activation rows a[c] (already
// at the first span of this K chunk). Every output's arithmetic is the same whatever R, C and
// the K chunking are: spans in order into 16 lanes, then one fixed reduction. Rows longer than
// one K chunk carry their 16-lane sums in `acc` (R x C vectors) from chunk to chunk: `first`
// starts them at zero, `last` reduces them into y, otherwise they are stored back. kOff: the
// type's offset m (fmin = m * fsc) goes into the integer sums, S - m qs, as the dpbusd
// accumulator's start (span.h), and fmin is not read: one float operation less per row and
// activation row.
template <int R, int C, bool kOff>
inline void dot_tile(const Span* w, int64_t wstride, int64_t nk, const ActSpan* const* a, __m512* accs, bool first,
                     bool last, float* y, int64_t ldy, int offset) {
  __m512 acc[R][C];
#pragma GCC unroll 4
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
    for (int c = 0; c < C; ++c) acc[j][c] = first ? _mm512_setzero_ps() : _mm512_load_ps(&accs[j * C + c]);
  for (int64_t s = 0; s < nk; ++s) {
    __m512i av[C][4], init[C];
    __m512 dg[C], bs[C];
#pragma GCC unroll 2
    for (int c = 0; c < C; ++c) {
      const ActSpan& as = a[c][s];
      for (int k = 0; k < 4; ++k) av[c][k] = _mm512_load_si512(as.q + 64 * k);
      dg[c] = _mm512_load_ps(as.dg);
      if (kOff) {
        init[c] = _mm512_mullo_epi32(_mm512_load_si512(as.qs), _mm512_set1_epi32(-offset));
      } else {
        bs[c] = _mm512_load_ps(as.bs);
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < R; ++j) {
      const Span& sp = w[j * wstride + s];
      const __m512i w0 = _mm512_load_si512(sp.q), w1 = _mm512_load_si512(sp.q + 64),
                    w2 = _mm512_load_si512(sp.q + 128), w3 = _mm512_load_si512(sp.q + 192);
      const __m512 fsc = _mm512_load_ps(sp.fsc);
#pragma GCC unroll 2
      for (int c = 0; c < C; ++c) {
        __m512i S = _mm512_dpbusd_epi32(kOff ? init[c] : _mm512_setzero_si512(), w0, av[c][0]);
        S = _mm512_dpbusd_epi32(S, w1, av[c][1]);
        S = _mm512_dpbusd_epi32(S, w2, av[c][2]);
        S = _mm512_dpbusd_epi32(S, w3, av[c][3]);
        acc[j][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), _mm512_mul_ps(fsc, dg[c]), acc[j][c]);
        if (!kOff) acc[j][c] = _mm512_fnmadd_ps(_mm512_load_ps(sp.fmin), bs[c], acc[j][c]);
      }
    }
  }
  finish_tile<R, C>(acc, accs, last, y, ldy);
}

// Activation rows i, i+1 (or i alone at the end) against an R-row tile, spans [k0, k0 + nk).
template <int R, bool kOff>
void dot_pair_r(const Span* bt, int64_t nsp, int64_t k0, int64_t nk, const ActSpan* acts, const int32_t* rows,
                int64_t i, int64_t n, __m512* accs, bool first, bool last, float* y, int64_t ldy, int offset) {
  if (i + 2 <= n) {
    const ActSpan* a[2] = {acts + (rows ? rows[i] : i) * nsp + k0, acts + (rows ? rows[i + 1] : i + 1) * nsp + k0};
    dot_tile<R, 2, kOff>(bt + k0, nsp, nk, a, accs, first, last, y + i * ldy, ldy, offset);
  } else {
    const ActSpan* a[1] = {acts + (rows ? rows[i] : i) * nsp + k0};
    dot_tile<R, 1, kOff>(bt + k0, nsp, nk, a, accs, first, last, y + i * ldy, ldy, offset);
  }
}

template <bool kOff>
void dot_pair(int rows_in_tile, const Span* bt, int64_t nsp, int64_t k0, int64_t nk, const ActSpan* acts,
              const int32_t* rows, int64_t i, int64_t n, __m512* accs, bool first, bool last, float* y, int64_t ldy,
              int offset) {
  switch (rows_in_tile) {
    case 4: dot_pair_r<4, kOff>(bt, nsp, k0, nk, acts, rows, i, n, accs, first, last, y, ldy, offset); break;
    case 3: dot_pair_r<3, kOff>(bt, nsp, k0, nk, acts, rows, i, n, accs, first, last, y, ldy, offset); break;
    case 2: dot_pair_r<2, kOff>(bt, nsp, k0, nk, acts, rows, i, n, accs, first, last, y, ldy, offset); break;
    default: dot_pair_r<1, kOff>(bt, nsp, k0, nk, acts, rows, i, n, accs, first, last, y, ldy, offset); break;
  }
}

constexpr int kTileRows = 4;

}  // namespace

void span_act(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  for (int64_t r = row0; r < row1; ++r)
    for (int64_t s = 0; s < nsp; ++s) {
      const int nv = static_cast<int>(in - s * kSpan < kSpan ? in - s * kSpan : kSpan);
      act_span(x + r * in + s * kSpan, nv, f16, static_cast<ActSpan*>(act) + r * nsp + s);
    }
}

void span_matmul(quant::UnpackFn unpack, quant::UnpackFn fast, int offset, const uint8_t* w, int64_t row_bytes,
                 int64_t in, const void* act, const int32_t* rows, int64_t n, float* y,
                 int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  // Cache blocking. kBlockRows weight rows are unpacked at once (16 x nsp Spans: 96 KB at
  // in = 4096) and stay in L2. A 4-row tile is then read in K chunks of kChunkSpans (12 KB,
  // kept in L1) while a group of up to kGroupRows activation rows streams past it from L2; the
  // tile's 16-lane partial sums are carried in `accs` to the next chunk. Rows of up to 2048
  // values are one chunk (no carry); long rows (DeepSeek's 7168: 28 spans) no longer stream a
  // 43 KB tile from L2 for every activation row: 2048 x 7168 Q4_K, 64 rows, one thread,
  // kernels_bench: 92 -> 115 GMAC/s.
  constexpr int64_t kBlockRows = 4 * kTileRows;
  constexpr int64_t kChunkSpans = 8;
  constexpr int64_t kGroupRows = 64;
  const int64_t group = n < kGroupRows ? n : kGroupRows;
  const int64_t acc_bytes = kBlockRows * ((group + 1) & ~int64_t(1)) * 64;
  Span* buf = span_scratch(kBlockRows * nsp + (acc_bytes + sizeof(Span) - 1) / sizeof(Span));
  __m512* accs = reinterpret_cast<__m512*>(buf + kBlockRows * nsp);
  const auto* acts = static_cast<const ActSpan*>(act);
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const int64_t rb = r1 - r < kBlockRows ? r1 - r : kBlockRows;
    for (int64_t j = 0; j < rb; ++j)
      for (int64_t s = 0; s < nsp; ++s) {
        const int nv = static_cast<int>(in - s * kSpan < kSpan ? in - s * kSpan : kSpan);
        Span* sp = &buf[j * nsp + s];
        if (fast) {  // fast unpacks handle spans that end early (32-value block types)
          fast(w + (r + j) * row_bytes, s, nv, sp);
          continue;
        }
        if (nv < kSpan)
          for (int c = 0; c < 4; ++c) _mm512_store_si512(sp->q + 64 * c, _mm512_setzero_si512());
        unpack(w + (r + j) * row_bytes, s, nv, sp);
        for (int g = nv / 16; g < kGroups; ++g) sp->fsc[g] = sp->fmin[g] = 0.0f;
        to_lane_order(sp->q);
      }
    // The next block into L2 while this one is computed (tile_avx512.h).
    const int64_t calls = ((n + 1) / 2) * ((rb + kTileRows - 1) / kTileRows) * ((nsp + kChunkSpans - 1) / kChunkSpans);
    SpreadPrefetch pf(w + (r + rb) * row_bytes, r1 - (r + rb) < kBlockRows ? r1 - (r + rb) : kBlockRows, row_bytes, calls);
    for (int64_t g0 = 0; g0 < n; g0 += group) {
      const int64_t gn = n - g0 < group ? n - g0 : group;
      const ActSpan* ag = rows ? acts : acts + g0 * nsp;
      const int32_t* rg = rows ? rows + g0 : nullptr;
      float* yg = y + g0 * ldy + r;
      for (int64_t k0 = 0; k0 < nsp; k0 += kChunkSpans) {
        const int64_t nk = nsp - k0 < kChunkSpans ? nsp - k0 : kChunkSpans;
        const bool first = k0 == 0, last = k0 + nk >= nsp;
        for (int64_t t = 0; t < rb; t += kTileRows)
          for (int64_t i = 0; i < gn; i += 2) {
            pf.step();
            const int rt = static_cast<int>(rb - t < kTileRows ? rb - t : kTileRows);
            __m512* at = accs + (t * ((group + 1) & ~int64_t(1)) + i * kTileRows);  // R x C vectors
            if (offset) {
              dot_pair<true>(rt, buf + t * nsp, nsp, k0, nk, ag, rg, i, gn, at, first, last, yg + t, ldy, offset);
            } else {
              dot_pair<false>(rt, buf + t * nsp, nsp, k0, nk, ag, rg, i, gn, at, first, last, yg + t, ldy, 0);
            }
          }
      }
    }
  }
}

namespace {

// ---- repacking at load (repack.h): the file layout's lane-order unpack, then the planes ----

// Block b of file type kType into the repacked layout (the scalar repack_units is the
// reference; tests compare).
template <int kType>
void repack_block(const uint8_t* b, uint8_t* d) {
  constexpr int64_t kBytes = kquant_block_bytes(kType);
  Span sp;
  if constexpr (kType == 10) unpack_q2k(b, 0, kSpan, &sp);
  if constexpr (kType == 11) unpack_q3k(b, 0, kSpan, &sp);
  if constexpr (kType == 12) unpack_k45<4>(b, 0, kSpan, &sp);
  if constexpr (kType == 13) unpack_k45<5>(b, 0, kSpan, &sp);
  if constexpr (kType == 14) unpack_q6k(b, 0, kSpan, &sp);
  if constexpr (kType == 23) unpack_iq4xs<true>(b, 0, kSpan, &sp);
  // The 32-value types: each block's header (d, and m: kHead bytes) to the unit's head, then
  // the N32 plane (and Q5's H32 plane before it) from the lane-order codes.
  constexpr int kHead = kType == 39 ? 1 : kType == 3 || kType == 7 ? 4 : kType == 2 || kType == 6 || kType == 20 ? 2 : 0;
  if constexpr (kType == 39) unpack_4bit32<Nib::kMxfp4, true>(b, 0, kSpan, &sp);
  if constexpr (kType == 2) unpack_4bit32<Nib::kQ4_0, true>(b, 0, kSpan, &sp);
  if constexpr (kType == 3) unpack_4bit32<Nib::kQ4_1, true>(b, 0, kSpan, &sp);
  if constexpr (kType == 6) unpack_4bit32<Nib::kQ5_0, true>(b, 0, kSpan, &sp);
  if constexpr (kType == 7) unpack_4bit32<Nib::kQ5_1, true>(b, 0, kSpan, &sp);
  if constexpr (kType == 20) unpack_4bit32<Nib::kIq4nl, true>(b, 0, kSpan, &sp);
  if constexpr (kHead > 0) {
    for (int i = 0; i < 8; ++i) __builtin_memcpy(d + kHead * i, b + (kBytes / 8) * i, kHead);
  } else if constexpr (kType != 8) {  // (Q8_0 writes its whole unit below)
    __builtin_memcpy(d, b, kBytes);  // headers and scales stay
  }
  if constexpr (kType == 8) {  // Q8_0: the eight scales to the head, then the B8 plane (+ 128)
    for (int i = 0; i < 8; ++i) __builtin_memcpy(d + 2 * i, b + 34 * i, 2);
    // z[c] = blocks 2c, 2c + 1 (dwords of codes). Output o holds half-chunks K = 2o, 2o + 1:
    // lane i = dword K = 2o + i/8 of block l = i%8, which is dword 8(l%2) + K of z[l/2].
    __m512i z[4];
    for (int c = 0; c < 4; ++c)
      z[c] = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 34 * (2 * c) + 2))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 34 * (2 * c + 1) + 2)), 1);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int o = 0; o < 4; ++o) {
      alignas(64) int32_t idx[16];
      for (int i = 0; i < 16; ++i) {
        const int l = i % 8, K = 2 * o + i / 8;
        idx[i] = 16 * ((l / 2) % 2) + 8 * (l % 2) + K;
      }
      const __m512i iv = _mm512_load_si512(idx);
      const __m512i q = _mm512_mask_blend_epi32(0xF0F0, _mm512_permutex2var_epi32(z[0], iv, z[1]),
                                                _mm512_permutex2var_epi32(z[2], iv, z[3]));
      _mm512_storeu_si512(d + 16 + 64 * o, _mm512_xor_si512(q, flip));
    }
    return;
  }
  __m512i q[4];
  for (int k = 0; k < 4; ++k) q[k] = _mm512_load_si512(sp.q + 64 * k);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
  // N plane: low nibbles of chunks 2h, 2h+1 in one byte.
  auto put_n = [&](uint8_t* p) {
    for (int h = 0; h < 2; ++h)
      _mm512_storeu_si512(p + 64 * h, _mm512_or_si512(_mm512_and_si512(q[2 * h], m4),
                                                      _mm512_slli_epi16(_mm512_and_si512(q[2 * h + 1], m4), 4)));
  };
  // Two bits (q >> shift) & 3 of each chunk at bits 2k of one byte (P2: shift 0, H2: shift 4).
  auto put_pairs = [&](uint8_t* p, int shift) {
    __m512i v = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k)
      v = _mm512_or_si512(v, _mm512_sll_epi16(_mm512_and_si512(_mm512_srl_epi16(q[k], _mm_cvtsi32_si128(shift)), m3),
                                              _mm_cvtsi32_si128(2 * k)));
    _mm512_storeu_si512(p, v);
  };
  // H1 plane: bit `bit` of chunk k's bytes as the 64 bits of u64 k.
  auto put_bits = [&](uint8_t* p, int bit) {
    for (int k = 0; k < 4; ++k) {
      const uint64_t m = _mm512_test_epi8_mask(q[k], _mm512_set1_epi8(static_cast<char>(1 << bit)));
      __builtin_memcpy(p + 8 * k, &m, 8);
    }
  };
  if constexpr (kType == 10) put_pairs(d + 16, 0);
  if constexpr (kType == 11) {
    put_pairs(d + 32, 0);
    put_bits(d, 2);
  }
  // N32 plane (repack.h): byte-chunk K' dword l = lane 2l of chunk K' (value 32l + 4K' + ...,
  // low nibble) and lane 2l + 1 (value 32l + 16 + 4K' + ..., high nibble).
  auto put_n32 = [&](uint8_t* p) {
    alignas(64) int32_t ev[16], od[16];
    for (int i = 0; i < 16; ++i) ev[i] = 2 * (i % 8), od[i] = 2 * (i % 8) + 1;
    for (int k = 0; k < 4; ++k) {
      const __m512i e = _mm512_permutexvar_epi32(_mm512_load_si512(ev), q[k]);
      const __m512i o = _mm512_permutexvar_epi32(_mm512_load_si512(od), q[k]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 32 * k),
                          _mm512_castsi512_si256(_mm512_or_si512(_mm512_and_si512(e, m4),
                                                                 _mm512_slli_epi16(_mm512_and_si512(o, m4), 4))));
    }
  };
  // H32 plane (Q5_K): bit 4l + t of u32 K is bit 4 of half-chunk K's lane l byte t, i.e. of
  // chunk K%4's lane 2l + K/4: the even (K < 4) or odd (K >= 4) lanes' bits of chunk K%4.
  auto put_h32 = [&](uint8_t* p) {
    for (int k = 0; k < 4; ++k) {
      const uint64_t m = _mm512_test_epi8_mask(q[k], _mm512_set1_epi8(0x10));
      const uint32_t lo = static_cast<uint32_t>(_pext_u64(m, 0x0F0F0F0F0F0F0F0Full));
      const uint32_t hi = static_cast<uint32_t>(_pext_u64(m, 0xF0F0F0F0F0F0F0F0ull));
      __builtin_memcpy(p + 4 * k, &lo, 4);
      __builtin_memcpy(p + 4 * (k + 4), &hi, 4);
    }
  };
  if constexpr (kType == 12) put_n32(d + 16);
  if constexpr (kType == 13) {
    put_n32(d + 48);
    put_h32(d + 16);
  }
  if constexpr (kType == 14) {
    put_n(d);
    put_pairs(d + 128, 4);
  }
  if constexpr (kType == 23 || kType == 39) put_n32(d + 8);
  if constexpr (kType == 2 || kType == 20 || kType == 3) put_n32(d + 8 * kHead);
  if constexpr (kType == 6 || kType == 7) {
    put_h32(d + 8 * kHead);
    put_n32(d + 8 * kHead + 32);
  }
}

template <int kType>
void repack_n(const uint8_t* src, uint8_t* dst, int64_t n_blocks) {
  constexpr int64_t kBytes = kquant_block_bytes(kType);
  for (int64_t i = 0; i < n_blocks; ++i) repack_block<kType>(src + i * kBytes, dst + i * kBytes);
}

}  // namespace

bool span_repack(uint32_t t, const uint8_t* src, uint8_t* dst, int64_t n_blocks) {
  switch (t) {
    case 8: repack_n<8>(src, dst, n_blocks); return true;
    case 10: repack_n<10>(src, dst, n_blocks); return true;
    case 11: repack_n<11>(src, dst, n_blocks); return true;
    case 12: repack_n<12>(src, dst, n_blocks); return true;
    case 13: repack_n<13>(src, dst, n_blocks); return true;
    case 14: repack_n<14>(src, dst, n_blocks); return true;
    case 23: repack_n<23>(src, dst, n_blocks); return true;
    case 39: repack_n<39>(src, dst, n_blocks); return true;
    case 2: repack_n<2>(src, dst, n_blocks); return true;
    case 3: repack_n<3>(src, dst, n_blocks); return true;
    case 6: repack_n<6>(src, dst, n_blocks); return true;
    case 7: repack_n<7>(src, dst, n_blocks); return true;
    case 20: repack_n<20>(src, dst, n_blocks); return true;
    default: return false;
  }
}

quant::UnpackFn span_fast_unpack(uint32_t t) {
  switch (t) {
    case 12: return unpack_k45<4>;   // Q4_K
    case 13: return unpack_k45<5>;   // Q5_K
    case 14: return unpack_q6k;      // Q6_K
    case 23: return unpack_iq4xs<>;  // IQ4_XS
    case 10: return unpack_q2k;      // Q2_K
    case 11: return unpack_q3k;      // Q3_K
    case 2: return unpack_4bit32<Nib::kQ4_0>;    // Q4_0
    case 3: return unpack_4bit32<Nib::kQ4_1>;    // Q4_1
    case 6: return unpack_4bit32<Nib::kQ5_0>;    // Q5_0
    case 7: return unpack_4bit32<Nib::kQ5_1>;    // Q5_1
    case 20: return unpack_4bit32<Nib::kIq4nl>;  // IQ4_NL
    case 39: return unpack_4bit32<Nib::kMxfp4>;  // MXFP4
    case 8: return unpack_q8_0;                  // Q8_0
    default:  // i-quant grids: span_iq_avx512.cpp; repacked layouts: span_repacked_avx512.cpp
      return t >= quant::kRepackedId ? span_fast_unpack_repacked(t) : span_fast_unpack_iq(t);
  }
}

}  // namespace moecat::kernels::avx512
