// llama.cpp's grid i-quants: IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S (super-blocks
// of 256 values; IQ4_NL / IQ4_XS are in iquants_nl.cpp). Each group of 8 (IQ3: 4) values is one
// entry of a fixed codebook (iq_tables.h) chosen by an index, times a sign per value and a scale
// per 16 or 32 values. moecat only reads these types (no encoder: llama-quantize needs an
// importance matrix to make them useful).
//
// Layouts (byte offsets in a block; multi-byte fields little-endian; d is an f16):
//   IQ2_XXS (66 B): d | 8 x [4 grid-index bytes, u32: 4 x 7 sign bits, scale in bits 28..31]
//                   value = d*(0.5+scale)*0.25 * grid * sign          (one scale per 32)
//   IQ2_XS  (74 B): d | 32 x u16 (9-bit index, 7 sign bits) | 8 bytes of two 4-bit scales
//                   value = d*(0.5+scale)*0.25 * grid * sign          (one scale per 16)
//   IQ2_S   (82 B): d | 32 index bytes | 32 sign bytes | 8 qh (2 high index bits per group
//                   of 8) | 8 bytes of two 4-bit scales; value as IQ2_XS
//   IQ3_XXS (98 B): d | 64 index bytes (4 values each) | 8 x u32 (4 x 7 sign bits, scale in
//                   bits 28..31); value = d*(0.5+scale)*0.5 * grid * sign
//   IQ3_S  (110 B): d | 64 index bytes | 8 qh (9th index bit) | 32 sign bytes | 4 bytes of two
//                   4-bit scales; value = d*(1+2*scale) * grid * sign  (one scale per 32)
//   IQ1_S   (50 B): d | 32 index bytes | 8 x u16 (4 x 3 high index bits, 3-bit scale in bits
//                   12..14, delta sign in bit 15); value = d*(2*scale+1) * (grid + delta)
//   IQ1_M   (56 B): 32 index bytes | 16 qh (per group of 8: 3 high index bits + delta sign) |
//                   4 x u16 scales: 3-bit sub-scales for each 16 values in bits 0..11, and the
//                   f16 d spread over their top nibbles; value = d*(2*scale+1) * (grid + delta)
// Signs stored as 7 bits per 8 values expand through ksigns (the eighth is a parity bit).
//
// dequant_T follows the format (and llama.cpp's float expressions, so results are identical);
// unpack_T writes the same values in the Span form (quant.h): q = 128 + signed grid value,
// fsc = the group's scale, fmin = 128*fsc. IQ1's +-1/8 delta is made integer by scaling the
// grid by 8: q = 8*grid + (+-1) + 128, fsc = scale/8.
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "kernels/quant/iq_tables.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels::quant {

namespace {

constexpr int kQK = 256;

inline uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float f16_at(const uint8_t* p) { return f16_to_f32(u16_at(p)); }
inline float sign_of(uint8_t signs, int j) { return signs & iq::kmask(j) ? -1.f : 1.f; }

// Span group g (16 values) holds signed codes stored +128 at scale sc.
inline void set_group(Span* out, int g, float sc) {
  out->fsc[g] = sc;
  out->fmin[g] = 128.0f * sc;
}
// The Span byte of a signed grid magnitude m.
inline uint8_t signed_code(int m, uint8_t signs, int j) {
  return static_cast<uint8_t>(128 + (signs & iq::kmask(j) ? -m : m));
}

// Runs fn(block, dst) for each whole block of n values.
template <typename Fn>
void for_blocks(const void* src, float* dst, int64_t n, int bytes, Fn fn) {
  MOECAT_CHECK(n % kQK == 0);
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) fn(b + i * bytes, dst + i * kQK);
}

// ---- IQ2_XXS -------------------------------------------------------------------------------
constexpr int kIq2xxsBytes = 66;

// Sub-block ib's 8 bytes: grid indices, then the u32 of signs + scale.
inline float iq2xxs_scale(float d, uint32_t meta) { return d * (0.5f + float(meta >> 28)) * 0.25f; }

void dequant_iq2xxs_block(const uint8_t* x, float* y) {
  const iq::Grids& G = iq::grids();
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t* q = x + 2 + 8 * ib;
    const uint32_t meta = u32_at(q + 4);
    const float db = iq2xxs_scale(d, meta);
    for (int l = 0; l < 4; ++l) {
      const uint8_t* grid = G.iq2xxs[q[l]];
      const uint8_t signs = G.ksigns[(meta >> (7 * l)) & 127];
      for (int j = 0; j < 8; ++j) y[32 * ib + 8 * l + j] = db * grid[j] * sign_of(signs, j);
    }
  }
}

// ---- IQ2_XS / IQ2_S: two 4-bit scales per 32 (values 0..15 and 16..31) ----------------------
constexpr int kIq2xsBytes = 74, kIq2sBytes = 82;

inline float iq2_half_scale(float d, uint8_t sc, int half) {
  return d * (0.5f + float(half ? sc >> 4 : sc & 0xF)) * 0.25f;
}

// IQ2_XS group l of sub-block ib: (grid row, sign byte).
inline void iq2xs_group(const uint8_t* x, int ib, int l, const uint8_t** grid, uint8_t* signs) {
  const iq::Grids& G = iq::grids();
  const uint16_t w = u16_at(x + 2 + 2 * (4 * ib + l));
  *grid = G.iq2xs[w & 511];
  *signs = G.ksigns[w >> 9];
}

// IQ2_S group l of sub-block ib: index = low byte | 2 bits of qh[ib] at 2l; own sign byte.
inline void iq2s_group(const uint8_t* x, int ib, int l, const uint8_t** grid, uint8_t* signs) {
  const int idx = x[2 + 4 * ib + l] | (((x[66 + ib] >> (2 * l)) & 3) << 8);
  *grid = iq::grids().iq2s[idx];
  *signs = x[2 + 32 + 4 * ib + l];
}

template <void (*Group)(const uint8_t*, int, int, const uint8_t**, uint8_t*)>
void dequant_iq2_block(const uint8_t* x, float* y, int scales_at) {
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    for (int l = 0; l < 4; ++l) {
      const float db = iq2_half_scale(d, x[scales_at + ib], l / 2);
      const uint8_t* grid;
      uint8_t signs;
      Group(x, ib, l, &grid, &signs);
      for (int j = 0; j < 8; ++j) y[32 * ib + 8 * l + j] = db * grid[j] * sign_of(signs, j);
    }
  }
}

template <void (*Group)(const uint8_t*, int, int, const uint8_t**, uint8_t*)>
void unpack_iq2_block(const uint8_t* x, Span* out, int scales_at) {
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    for (int half = 0; half < 2; ++half) set_group(out, 2 * ib + half, iq2_half_scale(d, x[scales_at + ib], half));
    for (int l = 0; l < 4; ++l) {
      const uint8_t* grid;
      uint8_t signs;
      Group(x, ib, l, &grid, &signs);
      for (int j = 0; j < 8; ++j) out->q[32 * ib + 8 * l + j] = signed_code(grid[j], signs, j);
    }
  }
}

// ---- IQ3_XXS -------------------------------------------------------------------------------
constexpr int kIq3xxsBytes = 98;

inline float iq3xxs_scale(float d, uint32_t meta) { return d * (0.5f + float(meta >> 28)) * 0.5f; }

// Value e (0..31) of sub-block ib: magnitude from the 4-value grid entry of byte e/4 and the
// sign bit e%8 of group e/8.
void dequant_iq3xxs_block(const uint8_t* x, float* y) {
  const iq::Grids& G = iq::grids();
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t* q = x + 2 + 8 * ib;
    const uint32_t meta = u32_at(x + 66 + 4 * ib);
    const float db = iq3xxs_scale(d, meta);
    for (int l = 0; l < 4; ++l) {
      const uint8_t signs = G.ksigns[(meta >> (7 * l)) & 127];
      const uint8_t* g1 = G.iq3xxs[q[2 * l]];
      const uint8_t* g2 = G.iq3xxs[q[2 * l + 1]];
      for (int j = 0; j < 4; ++j) {
        y[32 * ib + 8 * l + j] = db * g1[j] * sign_of(signs, j);
        y[32 * ib + 8 * l + j + 4] = db * g2[j] * sign_of(signs, j + 4);
      }
    }
  }
}

// ---- IQ3_S ---------------------------------------------------------------------------------
constexpr int kIq3sBytes = 110;

inline float iq3s_scale(float d, const uint8_t* x, int ib) {
  return d * float(1 + 2 * ((x[106 + ib / 2] >> (4 * (ib % 2))) & 0xF));
}
// Grid entry for index byte k (0..7) of sub-block ib: its 9th bit is bit k of qh[ib].
inline const uint8_t* iq3s_entry(const uint8_t* x, int ib, int k) {
  return iq::grids().iq3s[x[2 + 8 * ib + k] | (((x[66 + ib] >> k) & 1) << 8)];
}

void dequant_iq3s_block(const uint8_t* x, float* y) {
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const float db = iq3s_scale(d, x, ib);
    for (int l = 0; l < 4; ++l) {
      const uint8_t signs = x[74 + 4 * ib + l];
      const uint8_t* g1 = iq3s_entry(x, ib, 2 * l);
      const uint8_t* g2 = iq3s_entry(x, ib, 2 * l + 1);
      for (int j = 0; j < 4; ++j) {
        y[32 * ib + 8 * l + j] = db * g1[j] * sign_of(signs, j);
        y[32 * ib + 8 * l + j + 4] = db * g2[j] * sign_of(signs, j + 4);
      }
    }
  }
}

// ---- IQ1_S / IQ1_M -------------------------------------------------------------------------
constexpr int kIq1sBytes = 50, kIq1mBytes = 56;

// IQ1_S sub-block ib: u16 at 34+2ib = 4 x 3 high index bits | 3-bit scale << 12 | sign << 15.
inline float iq1s_scale(float d, uint16_t qh) { return d * float(2 * ((qh >> 12) & 7) + 1); }
inline int iq1s_index(const uint8_t* x, int ib, int l, uint16_t qh) {
  return x[2 + 4 * ib + l] | (((qh >> (3 * l)) & 7) << 8);
}

void dequant_iq1s_block(const uint8_t* x, float* y) {
  const iq::Grids& G = iq::grids();
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint16_t qh = u16_at(x + 34 + 2 * ib);
    const float dl = iq1s_scale(d, qh);
    const float delta = qh & 0x8000 ? -iq::kIq1Delta : iq::kIq1Delta;
    for (int l = 0; l < 4; ++l) {
      const int8_t* grid = G.iq1s[iq1s_index(x, ib, l, qh)];
      for (int j = 0; j < 8; ++j) y[32 * ib + 8 * l + j] = dl * (grid[j] + delta);
    }
  }
}

// IQ1_M: the block's f16 d is the top nibbles of the four scale words (word k -> bits 4k..4k+3).
inline float iq1m_d(const uint8_t* x) {
  uint16_t sc[4];
  for (int k = 0; k < 4; ++k) sc[k] = u16_at(x + 48 + 2 * k);
  return f16_to_f32(static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) |
                                          ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000)));
}
// Scale of 16-value half h (0, 1) of sub-block ib: 3 bits at 6*(ib%2) + 3*h of word ib/2.
inline float iq1m_scale(float d, const uint8_t* x, int ib, int h) {
  const uint16_t w = u16_at(x + 48 + 2 * (ib / 2));
  return d * float(2 * ((w >> (6 * (ib % 2) + 3 * h)) & 7) + 1);
}
// Group l (0..3) of sub-block ib: qh byte 32+2ib+l/2, nibble l%2 = 3 high index bits + sign.
inline int iq1m_index(const uint8_t* x, int ib, int l) {
  const int nib = (x[32 + 2 * ib + l / 2] >> (4 * (l % 2))) & 0xF;
  return x[4 * ib + l] | ((nib & 7) << 8);
}
inline bool iq1m_negative(const uint8_t* x, int ib, int l) {
  return (x[32 + 2 * ib + l / 2] >> (4 * (l % 2))) & 8;
}

void dequant_iq1m_block(const uint8_t* x, float* y) {
  const iq::Grids& G = iq::grids();
  const float d = iq1m_d(x);
  for (int ib = 0; ib < 8; ++ib) {
    for (int l = 0; l < 4; ++l) {
      const float dl = iq1m_scale(d, x, ib, l / 2);
      const float delta = iq1m_negative(x, ib, l) ? -iq::kIq1Delta : iq::kIq1Delta;
      const int8_t* grid = G.iq1s[iq1m_index(x, ib, l)];
      for (int j = 0; j < 8; ++j) y[32 * ib + 8 * l + j] = dl * (grid[j] + delta);
    }
  }
}

// Span byte of an IQ1 value: 8*(grid + delta) + 128 = 8*grid +- 1 + 128 (in 119..137).
inline uint8_t iq1_code(int8_t g, bool negative) { return static_cast<uint8_t>(128 + 8 * g + (negative ? -1 : 1)); }

}  // namespace

// ---- entry points --------------------------------------------------------------------------

void dequant_iq2_xxs(const void* src, float* dst, int64_t n) {
  for_blocks(src, dst, n, kIq2xxsBytes, dequant_iq2xxs_block);
}
void unpack_iq2_xxs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * kIq2xxsBytes;
  const iq::Grids& G = iq::grids();
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t* q = x + 2 + 8 * ib;
    const uint32_t meta = u32_at(q + 4);
    const float db = iq2xxs_scale(d, meta);
    set_group(out, 2 * ib, db);
    set_group(out, 2 * ib + 1, db);
    for (int l = 0; l < 4; ++l) {
      const uint8_t* grid = G.iq2xxs[q[l]];
      const uint8_t signs = G.ksigns[(meta >> (7 * l)) & 127];
      for (int j = 0; j < 8; ++j) out->q[32 * ib + 8 * l + j] = signed_code(grid[j], signs, j);
    }
  }
}

void dequant_iq2_xs(const void* src, float* dst, int64_t n) {
  for_blocks(src, dst, n, kIq2xsBytes, [](const uint8_t* x, float* y) { dequant_iq2_block<iq2xs_group>(x, y, 66); });
}
void unpack_iq2_xs(const uint8_t* row, int64_t s, int, Span* out) {
  unpack_iq2_block<iq2xs_group>(row + s * kIq2xsBytes, out, 66);
}

void dequant_iq2_s(const void* src, float* dst, int64_t n) {
  for_blocks(src, dst, n, kIq2sBytes, [](const uint8_t* x, float* y) { dequant_iq2_block<iq2s_group>(x, y, 74); });
}
void unpack_iq2_s(const uint8_t* row, int64_t s, int, Span* out) {
  unpack_iq2_block<iq2s_group>(row + s * kIq2sBytes, out, 74);
}

void dequant_iq3_xxs(const void* src, float* dst, int64_t n) {
  for_blocks(src, dst, n, kIq3xxsBytes, dequant_iq3xxs_block);
}
void unpack_iq3_xxs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * kIq3xxsBytes;
  const iq::Grids& G = iq::grids();
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t* q = x + 2 + 8 * ib;
    const uint32_t meta = u32_at(x + 66 + 4 * ib);
    const float db = iq3xxs_scale(d, meta);
    set_group(out, 2 * ib, db);
    set_group(out, 2 * ib + 1, db);
    for (int l = 0; l < 4; ++l) {
      const uint8_t signs = G.ksigns[(meta >> (7 * l)) & 127];
      for (int j = 0; j < 8; ++j)  // byte 2l holds values 0..3 of the group, byte 2l+1 values 4..7
        out->q[32 * ib + 8 * l + j] = signed_code(G.iq3xxs[q[2 * l + j / 4]][j % 4], signs, j);
    }
  }
}

void dequant_iq3_s(const void* src, float* dst, int64_t n) {
  for_blocks(src, dst, n, kIq3sBytes, dequant_iq3s_block);
}
void unpack_iq3_s(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * kIq3sBytes;
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const float db = iq3s_scale(d, x, ib);
    set_group(out, 2 * ib, db);
    set_group(out, 2 * ib + 1, db);
    for (int l = 0; l < 4; ++l) {
      const uint8_t signs = x[74 + 4 * ib + l];
      for (int j = 0; j < 8; ++j)
        out->q[32 * ib + 8 * l + j] = signed_code(iq3s_entry(x, ib, 2 * l + j / 4)[j % 4], signs, j);
    }
  }
}

void dequant_iq1_s(const void* src, float* dst, int64_t n) {
  for_blocks(src, dst, n, kIq1sBytes, dequant_iq1s_block);
}
void unpack_iq1_s(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * kIq1sBytes;
  const iq::Grids& G = iq::grids();
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint16_t qh = u16_at(x + 34 + 2 * ib);
    const float sc = iq1s_scale(d, qh) * 0.125f;  // grid scaled by 8 in q
    set_group(out, 2 * ib, sc);
    set_group(out, 2 * ib + 1, sc);
    const bool neg = qh & 0x8000;
    for (int l = 0; l < 4; ++l) {
      const int8_t* grid = G.iq1s[iq1s_index(x, ib, l, qh)];
      for (int j = 0; j < 8; ++j) out->q[32 * ib + 8 * l + j] = iq1_code(grid[j], neg);
    }
  }
}

void dequant_iq1_m(const void* src, float* dst, int64_t n) {
  for_blocks(src, dst, n, kIq1mBytes, dequant_iq1m_block);
}
void unpack_iq1_m(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * kIq1mBytes;
  const iq::Grids& G = iq::grids();
  const float d = iq1m_d(x);
  for (int ib = 0; ib < 8; ++ib) {
    for (int h = 0; h < 2; ++h) set_group(out, 2 * ib + h, iq1m_scale(d, x, ib, h) * 0.125f);
    for (int l = 0; l < 4; ++l) {
      const int8_t* grid = G.iq1s[iq1m_index(x, ib, l)];
      const bool neg = iq1m_negative(x, ib, l);
      for (int j = 0; j < 8; ++j) out->q[32 * ib + 8 * l + j] = iq1_code(grid[j], neg);
    }
  }
}

}  // namespace moecat::kernels::quant
