// llama.cpp's original ("legacy") 32-value block formats, as llama-quantize writes them:
//
//   Q4_0 (18 B): f16 d, 16 bytes of 4-bit codes.                   value = d * (q - 8)
//   Q4_1 (20 B): f16 d, f16 m, 16 bytes of 4-bit codes.            value = d * q + m
//   Q5_0 (22 B): f16 d, u32 qh (fifth bits), 16 bytes of nibbles.  value = d * (q - 16)
//   Q5_1 (24 B): f16 d, f16 m, u32 qh, 16 bytes of nibbles.        value = d * q + m
//
// Nibble order (all four): byte j holds value j in its low nibble and value j + 16 in its high
// nibble (not values 2j, 2j+1). Q5's qh is one little-endian 32-bit word whose bit i is the
// fifth bit of value i.
//
// The decoders follow the format exactly (same float operations as ggml's dequantize_row_*), so
// moecat reads these files as llama.cpp does. The encoders choose d (and m) per block from the
// block's extremes like ggml's reference quantizers, but round codes against the f16-rounded
// d/m actually stored, so each value is the nearest grid point of the grid the file describes.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels::quant {

namespace {

constexpr int kQK = 32;  // values per block

float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void store_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}

// The 32 codes of one block (0..15, or 0..31 with the fifth bits of qh when qh is non-null).
void codes(const uint8_t* qs, const uint8_t* qh, int q[kQK]) {
  uint32_t h = 0;
  if (qh) std::memcpy(&h, qh, 4);
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = qs[j] & 0xF;
    q[j + 16] = qs[j] >> 4;
  }
  if (qh)
    for (int i = 0; i < kQK; ++i) q[i] |= static_cast<int>((h >> i) & 1) << 4;
}

// Inverse of codes(): packs 32 codes (already clamped to the format's range).
void put_codes(const int q[kQK], uint8_t* qs, uint8_t* qh) {
  for (int j = 0; j < kQK / 2; ++j)
    qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
  if (qh) {
    uint32_t h = 0;
    for (int i = 0; i < kQK; ++i) h |= static_cast<uint32_t>((q[i] >> 4) & 1) << i;
    std::memcpy(qh, &h, 4);
  }
}

// Per-format layout: bytes per block, whether it has m (type _1) and qh (Q5), code offset.
struct Layout {
  int bytes;
  bool has_min;  // Q4_1 / Q5_1: f16 m after d
  bool has_qh;   // Q5_0 / Q5_1: 4 bytes of fifth bits after d (and m)
  int offset;    // Q4_0 / Q5_0: the code of zero (8 / 16); 0 for the _1 types
  int qs_at() const { return 2 + (has_min ? 2 : 0) + (has_qh ? 4 : 0); }
  int qmax() const { return has_qh ? 31 : 15; }
};
constexpr Layout kQ4_0{18, false, false, 8};
constexpr Layout kQ4_1{20, true, false, 0};
constexpr Layout kQ5_0{22, false, true, 16};
constexpr Layout kQ5_1{24, true, true, 0};

void dequant(const Layout& L, const void* src, float* dst, int64_t n) {
  MOECAT_CHECK(n % kQK == 0);
  const auto* s = static_cast<const uint8_t*>(src);
  int q[kQK];
  for (int64_t b = 0; b < n / kQK; ++b) {
    const uint8_t* blk = s + b * L.bytes;
    const float d = load_f16(blk);
    codes(blk + L.qs_at(), L.has_qh ? blk + (L.has_min ? 4 : 2) : nullptr, q);
    float* y = dst + b * kQK;
    if (L.has_min) {
      const float m = load_f16(blk + 2);
      for (int i = 0; i < kQK; ++i) y[i] = float(q[i]) * d + m;
    } else {
      for (int i = 0; i < kQK; ++i) y[i] = float(q[i] - L.offset) * d;
    }
  }
}

// Span form: q = the code, fsc = d, fmin = offset*d (symmetric types) or -m (types with a min).
void unpack(const Layout& L, const uint8_t* row, int64_t s, int nv, Span* out) {
  MOECAT_CHECK(nv > 0 && nv <= kSpan && nv % kQK == 0);
  int q[kQK];
  for (int b = 0; b < nv / kQK; ++b) {
    const uint8_t* blk = row + (s * (kSpan / kQK) + b) * L.bytes;
    const float d = load_f16(blk);
    codes(blk + L.qs_at(), L.has_qh ? blk + (L.has_min ? 4 : 2) : nullptr, q);
    for (int i = 0; i < kQK; ++i) out->q[kQK * b + i] = static_cast<uint8_t>(q[i]);
    const float fmin = L.has_min ? -load_f16(blk + 2) : float(L.offset) * d;
    for (int g = 2 * b; g < 2 * b + 2; ++g) {
      out->fsc[g] = d;
      out->fmin[g] = fmin;
    }
  }
}

int round_clamp(float v, int hi) { return std::clamp(static_cast<int>(std::lround(v)), 0, hi); }

// Symmetric types (Q4_0 / Q5_0): as ggml, d = max / -offset where max is the value of largest
// magnitude (with its sign), so that value is exactly code 0 and the grid reaches
// (qmax - offset) * |d| on the other side: at most one step of error for values beyond it,
// half a step elsewhere.
void quantize_sym(const Layout& L, const float* x, uint8_t* blk) {
  float amax = 0, max = 0;
  for (int i = 0; i < kQK; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  store_f16(blk, max / -float(L.offset));
  const float d = load_f16(blk);  // round against the d the file will hold
  const float id = d != 0 ? 1.0f / d : 0.0f;
  int q[kQK];
  for (int i = 0; i < kQK; ++i) q[i] = round_clamp(x[i] * id + float(L.offset), L.qmax());
  put_codes(q, blk + L.qs_at(), L.has_qh ? blk + 2 : nullptr);
}

// Types with a min (Q4_1 / Q5_1): m = the block minimum, d = range / qmax: half a step of error
// (plus the f16 rounding of m and d at the ends).
void quantize_min(const Layout& L, const float* x, uint8_t* blk) {
  const float lo = *std::min_element(x, x + kQK), hi = *std::max_element(x, x + kQK);
  store_f16(blk, (hi - lo) / float(L.qmax()));
  store_f16(blk + 2, lo);
  const float d = load_f16(blk), m = load_f16(blk + 2);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  int q[kQK];
  for (int i = 0; i < kQK; ++i) q[i] = round_clamp((x[i] - m) * id, L.qmax());
  put_codes(q, blk + L.qs_at(), L.has_qh ? blk + 4 : nullptr);
}

void quantize(const Layout& L, const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kQK == 0);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    uint8_t* blk = d + b * L.bytes;
    std::memset(blk, 0, L.bytes);
    if (L.has_min) quantize_min(L, src + b * kQK, blk);
    else quantize_sym(L, src + b * kQK, blk);
  }
}

}  // namespace

void dequant_q4_0(const void* s, float* d, int64_t n) { dequant(kQ4_0, s, d, n); }
void dequant_q4_1(const void* s, float* d, int64_t n) { dequant(kQ4_1, s, d, n); }
void dequant_q5_0(const void* s, float* d, int64_t n) { dequant(kQ5_0, s, d, n); }
void dequant_q5_1(const void* s, float* d, int64_t n) { dequant(kQ5_1, s, d, n); }

void unpack_q4_0(const uint8_t* r, int64_t s, int nv, Span* o) { unpack(kQ4_0, r, s, nv, o); }
void unpack_q4_1(const uint8_t* r, int64_t s, int nv, Span* o) { unpack(kQ4_1, r, s, nv, o); }
void unpack_q5_0(const uint8_t* r, int64_t s, int nv, Span* o) { unpack(kQ5_0, r, s, nv, o); }
void unpack_q5_1(const uint8_t* r, int64_t s, int nv, Span* o) { unpack(kQ5_1, r, s, nv, o); }

void quantize_q4_0(const float* s, void* d, int64_t n) { quantize(kQ4_0, s, d, n); }
void quantize_q4_1(const float* s, void* d, int64_t n) { quantize(kQ4_1, s, d, n); }
void quantize_q5_0(const float* s, void* d, int64_t n) { quantize(kQ5_0, s, d, n); }
void quantize_q5_1(const float* s, void* d, int64_t n) { quantize(kQ5_1, s, d, n); }

}  // namespace moecat::kernels::quant
