// llama.cpp's low-bit k-quants Q2_K and Q3_K (super-blocks of 256 values, 16 groups of 16):
//
//   Q2_K (84 B):  scales[16] (low nibble: scale, high nibble: min, for group g = byte g),
//                 qs[64] (2-bit codes), f16 d, f16 dmin.
//                 value = d * scale_g * q - dmin * min_g
//   Q3_K (110 B): hmask[32], qs[64] (low 2 bits), scales[12] (sixteen 6-bit scales stored +32),
//                 f16 d.
//                 value = d * (scale_g - 32) * q3,  q3 = low2 - (hmask bit set ? 0 : 4) in [-4, 3]
//
// Code placement (both): value e lies in 128-value half h = e / 128; within it r = e % 128 is in
// quarter k = r / 32 at position l = r % 32; its two bits are bits 2k..2k+1 of qs[32h + l]. So a
// qs byte holds four values 32 apart. Q3_K's third bit of value e is bit e / 32 of hmask[e % 32].
// Q3_K scale g: low 4 bits in scales[g % 8] (low nibble for g < 8, high nibble for g >= 8), high
// 2 bits in bits 2*(g / 4)..+1 of scales[8 + g % 4].
//
// Decoding follows the format exactly (ggml's dequantize_row_q2_K / q3_K do the same float
// operations). The encoders are simple: per group a range (Q2_K) or signed abs-max (Q3_K)
// scale, block scales fitted to the 4/6-bit scale codes, then nearest codes against the scales
// the file will hold; no search, no importance matrix.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels::quant {

namespace {

constexpr int kQK = 256;
constexpr int kQ2Bytes = 84;
constexpr int kQ3Bytes = 110;

float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

float store_f16(uint8_t* p, float v) {  // returns the value actually stored
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
  return f16_to_f32(h);
}

// The byte of qs holding value e's two low bits, and their shift.
int code_byte(int e) { return 32 * (e / 128) + e % 32; }
int code_shift(int e) { return 2 * ((e % 128) / 32); }

int low2(const uint8_t* qs, int e) { return (qs[code_byte(e)] >> code_shift(e)) & 3; }
void put_low2(uint8_t* qs, int e, int v) {
  qs[code_byte(e)] |= static_cast<uint8_t>((v & 3) << code_shift(e));
}

int nearest(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::lround(v)), lo, hi);
}

// ---- Q2_K: offsets scales 0..15, qs 16..79, d 80, dmin 82 ----------------------------------

void unpack_block_q2(const uint8_t* b, Span* out) {
  const float d = load_f16(b + 80), dmin = load_f16(b + 82);
  for (int e = 0; e < kQK; ++e) out->q[e] = static_cast<uint8_t>(low2(b + 16, e));
  for (int g = 0; g < kGroups; ++g) {
    out->fsc[g] = d * float(b[g] & 0xF);
    out->fmin[g] = dmin * float(b[g] >> 4);
  }
}

void dequant_block_q2(const uint8_t* b, float* y) {
  const float d = load_f16(b + 80), dmin = load_f16(b + 82);
  for (int e = 0; e < kQK; ++e) {
    const uint8_t sc = b[e / 16];
    const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
    y[e] = dl * float(low2(b + 16, e)) - ml;
  }
}

// Per group: the grid must span [lo, hi] with lo = min(0, group min) (the format's offset only
// subtracts, so the grid's bottom -dmin*min_g is <= 0). The 4-bit min codes come first (their
// rounding moves the bottom by <= dmin/2); the scale code is then fitted to reach hi from the
// quantized bottom (off by <= 1.5 d at the top). Codes round to nearest, so an in-range value
// is off by <= d*scale_g/2.
void quant_block_q2(const float* x, uint8_t* b) {
  float range[kGroups], minv[kGroups], hiv[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    const float* v = x + 16 * g;
    const float lo = std::min(0.0f, *std::min_element(v, v + 16));
    hiv[g] = *std::max_element(v, v + 16);
    range[g] = (hiv[g] - lo) / 3.0f;
    minv[g] = -lo;
  }
  std::memset(b, 0, kQ2Bytes);
  const float d = store_f16(b + 80, *std::max_element(range, range + kGroups) / 15.0f);
  const float dmin = store_f16(b + 82, *std::max_element(minv, minv + kGroups) / 15.0f);
  for (int g = 0; g < kGroups; ++g) {
    const int m = dmin > 0 ? nearest(minv[g] / dmin, 0, 15) : 0;
    const float ml = dmin * float(m);
    const int sc = d > 0 ? nearest((hiv[g] + ml) / (3.0f * d), 0, 15) : 0;
    b[g] = static_cast<uint8_t>(sc | (m << 4));
    const float dl = d * float(sc);
    for (int l = 0; l < 16; ++l) {
      const int e = 16 * g + l;
      const int q = dl > 0 ? nearest((x[e] + ml) / dl, 0, 3) : 0;
      put_low2(b + 16, e, q);
    }
  }
}

// ---- Q3_K: offsets hmask 0..31, qs 32..95, scales 96..107, d 108 ---------------------------

int scale_q3(const uint8_t* s, int g) {
  const int low = g < 8 ? s[g] & 0xF : s[g - 8] >> 4;
  const int high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
  return (low | high << 4) - 32;
}

void put_scale_q3(uint8_t* s, int g, int v) {  // v in [-32, 31]
  const int u = v + 32;
  s[g % 8] |= static_cast<uint8_t>((u & 0xF) << (g < 8 ? 0 : 4));
  s[8 + g % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (g / 4)));
}

int q3_code(const uint8_t* b, int e) {  // in [-4, 3]
  const bool high = (b[e % 32] >> (e / 32)) & 1;
  return low2(b + 32, e) - (high ? 0 : 4);
}

void dequant_block_q3(const uint8_t* b, float* y) {
  const float d = load_f16(b + 108);
  for (int e = 0; e < kQK; ++e) {
    const float dl = d * float(scale_q3(b + 96, e / 16));
    y[e] = dl * float(q3_code(b, e));
  }
}

// Span: q = q3 + 4 in [0, 7], fsc = d*(scale_g - 32), fmin = 4*fsc (fsc may be negative).
void unpack_block_q3(const uint8_t* b, Span* out) {
  const float d = load_f16(b + 108);
  for (int e = 0; e < kQK; ++e) out->q[e] = static_cast<uint8_t>(q3_code(b, e) + 4);
  for (int g = 0; g < kGroups; ++g) {
    out->fsc[g] = d * float(scale_q3(b + 96, g));
    out->fmin[g] = 4.0f * out->fsc[g];
  }
}

// Per group, as ggml: scale_g = (value of largest magnitude) / -4, so that value is code -4
// exactly and the other side reaches 3*|scale_g| (the grid is asymmetric). The scale of largest
// magnitude becomes code -32 (the 6-bit codes are signed, so a group's scale may be negative).
// Error per value: <= |dl|/2 inside the grid, <= |dl| + 4d at its ends (rounding the scale
// code moves the end 4*scale by up to 2d; clamping +32 to 31, for a group whose scale has the
// largest magnitude but the other sign, by 4d).
void quant_block_q3(const float* x, uint8_t* b) {
  float scale[kGroups];
  float smax = 0;  // signed scale of largest magnitude
  for (int g = 0; g < kGroups; ++g) {
    float amax = 0, max = 0;
    for (int l = 0; l < 16; ++l)
      if (std::fabs(x[16 * g + l]) > amax) {
        amax = std::fabs(x[16 * g + l]);
        max = x[16 * g + l];
      }
    scale[g] = max / -4.0f;
    if (std::fabs(scale[g]) > std::fabs(smax)) smax = scale[g];
  }
  std::memset(b, 0, kQ3Bytes);
  const float d = store_f16(b + 108, smax / -32.0f);
  for (int g = 0; g < kGroups; ++g) {
    const int sc = d != 0 ? nearest(scale[g] / d, -32, 31) : 0;
    put_scale_q3(b + 96, g, sc);
    const float dl = d * float(sc);
    for (int l = 0; l < 16; ++l) {
      const int e = 16 * g + l;
      const int q = (dl != 0 ? nearest(x[e] / dl, -4, 3) : 0) + 4;  // 0..7
      if (q & 4) b[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
      put_low2(b + 32, e, q & 3);
    }
  }
}

// Row drivers: whole super-blocks only.
template <typename F>
void each_block(const void* src, int bytes, int64_t n, F f) {
  MOECAT_CHECK(n % kQK == 0);
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) f(s + i * bytes, i);
}

}  // namespace

void dequant_q2_k(const void* src, float* dst, int64_t n) {
  each_block(src, kQ2Bytes, n, [&](const uint8_t* b, int64_t i) { dequant_block_q2(b, dst + i * kQK); });
}
void dequant_q3_k(const void* src, float* dst, int64_t n) {
  each_block(src, kQ3Bytes, n, [&](const uint8_t* b, int64_t i) { dequant_block_q3(b, dst + i * kQK); });
}

// 256-value blocks: span s is block s and nv is always kSpan.
void unpack_q2_k(const uint8_t* row, int64_t s, int, Span* out) { unpack_block_q2(row + s * kQ2Bytes, out); }
void unpack_q3_k(const uint8_t* row, int64_t s, int, Span* out) { unpack_block_q3(row + s * kQ3Bytes, out); }

void quantize_q2_k(const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kQK == 0);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) quant_block_q2(src + i * kQK, d + i * kQ2Bytes);
}
void quantize_q3_k(const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kQK == 0);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) quant_block_q3(src + i * kQK, d + i * kQ3Bytes);
}

}  // namespace moecat::kernels::quant
