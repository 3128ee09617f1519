// llama.cpp's non-linear 4-bit types IQ4_NL and IQ4_XS: each 4-bit code selects one of 16
// fixed levels (iq::kvalues_iq4nl, -127..113, denser near zero), times a block scale.
//
//   IQ4_NL (18 B per 32 values):  f16 d | 16 bytes: byte j = code of value j (low nibble) and
//                                  of value j+16 (high nibble).     value = d * kv[code]
//   IQ4_XS (136 B per 256 values): f16 d | u16 scales_h | 4 bytes scales_l | 8 x 16 bytes of
//                                  codes, one 32-value sub-block each, nibbles as IQ4_NL.
//                                  Sub-block ib's 6-bit scale ls = low nibble ib%2 of
//                                  scales_l[ib/2] | 2 bits of scales_h at 2*ib, << 4;
//                                  value = d * (ls - 32) * kv[code]
// Span form: q = kv + 128 (1..241), fsc = the block's scale, fmin = 128*fsc.
//
// The encoders (for `moecat convert --type iq4_nl|iq4_xs`, no importance matrix) try a small
// set of scales per 32 values and keep the one with the least squared error; see quant_scale.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "kernels/quant/iq_tables.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels::quant {

namespace {

constexpr int kNlBlock = 32, kNlBytes = 18;
constexpr int kXsBlock = 256, kXsBytes = 136;

inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
inline void put_f16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

// 16 codes (low nibble: values 0..15, high: 16..31) -> 32 values at scale d.
inline void dequant_codes(const uint8_t* qs, float d, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = d * iq::kvalues_iq4nl[qs[j] & 0xF];
    y[j + 16] = d * iq::kvalues_iq4nl[qs[j] >> 4];
  }
}
inline void unpack_codes(const uint8_t* qs, float d, Span* out, int at) {
  for (int j = 0; j < 16; ++j) {
    out->q[at + j] = static_cast<uint8_t>(iq::kvalues_iq4nl[qs[j] & 0xF] + 128);
    out->q[at + j + 16] = static_cast<uint8_t>(iq::kvalues_iq4nl[qs[j] >> 4] + 128);
  }
  for (int g = at / 16; g < at / 16 + 2; ++g) {
    out->fsc[g] = d;
    out->fmin[g] = 128.0f * d;
  }
}

inline int xs_scale(const uint8_t* x, int ib) {
  uint16_t h;
  std::memcpy(&h, x + 2, 2);
  return ((x[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((h >> (2 * ib)) & 3) << 4);
}

// ---- encoder -------------------------------------------------------------------------------

// Code whose level is nearest to t (ties go to the lower level), by table: code_at[c] counts
// the midpoints between levels below the integer c (-128..128), and since midpoints are at least
// 11 apart, at most one more (mid[code_at[c]]) can lie in [c, c+1). Several times faster than a
// search, which matters for `convert` of a whole model.
struct Nearest {
  uint8_t code_at[257];
  float mid[16];  // mid[i]: halfway between levels i and i+1; mid[15] = +inf
  Nearest() {
    const int8_t* kv = iq::kvalues_iq4nl;
    for (int i = 0; i < 15; ++i) mid[i] = 0.5f * float(kv[i] + kv[i + 1]);
    mid[15] = INFINITY;
    for (int c = -128; c <= 128; ++c) {
      int k = 0;
      while (k < 15 && mid[k] < float(c)) ++k;
      code_at[c + 128] = static_cast<uint8_t>(k);
    }
  }
  int operator()(float t) const {
    // floor(t) + 128 by truncation of a non-negative value (std::floor is a libm call without
    // SSE4.1); NaN -> 256.
    const float u = t < -128.0f ? 0.0f : t < 128.0f ? t + 128.0f : 256.0f;
    const int k = code_at[int(u)];
    return k + (t > mid[k]);
  }
};

const Nearest& nearest() {
  static const Nearest n;
  return n;
}

// Codes for 32 values at scale e (as the decoder forms it), and the squared error they leave.
float assign(const float* x, float e, uint8_t* code) {
  const Nearest& nearest_code = nearest();
  float err[4] = {};  // four sums: the additions need not wait on each other
  const float inv = e != 0 ? 1.0f / e : 0.0f;
  for (int j = 0; j < 32; ++j) {
    code[j] = static_cast<uint8_t>(nearest_code(x[j] * inv));
    const float r = x[j] - e * iq::kvalues_iq4nl[code[j]];
    err[j % 4] += r * r;
  }
  return (err[0] + err[1]) + (err[2] + err[3]);
}

// Candidate divisors: a scale m/c maps the block's largest-magnitude value m to level c. The
// grid's ends are -127 and 113 (asymmetric), so both signs are tried; -127 alone guarantees
// every value lies within 14 steps of a level (the widest half-gap is 12; the top end 113..127
// leaves 14), which is the bound tests/quant_iq_test.cpp checks.
constexpr float kDivisors[] = {-127, -123, -119, -115, -111, -107, 113, 109, 105, 101, 97};

// The largest-magnitude value of 32 (signed).
inline float signed_amax(const float* x) {
  float m = 0;
  for (int j = 0; j < 32; ++j)
    if (std::fabs(x[j]) > std::fabs(m)) m = x[j];
  return m;
}

// IQ4_NL: try each candidate scale (as its f16) plus a least-squares refit of the best one's
// codes; keep the least squared error.
void quant_nl_block(const float* x, uint8_t* b) {
  const float m = signed_amax(x);
  uint8_t code[32], best_code[32] = {};  // stays zero (d = 0) if no scale is finite in f16
  uint16_t best_h = 0;
  float best_err = INFINITY;
  auto consider = [&](float scale) {
    const uint16_t h = f32_to_f16(scale);
    const float e = f16_to_f32(h);
    if (!std::isfinite(e)) return;
    const float err = assign(x, e, code);
    if (err < best_err) {
      best_err = err;
      best_h = h;
      std::memcpy(best_code, code, 32);
    }
  };
  if (m == 0) {
    consider(0.0f);
  } else {
    for (float c : kDivisors) consider(m / c);
    // Least squares over the best codes: argmin_d sum (x - d*kv)^2 = sum x*kv / sum kv^2.
    double xv = 0, vv = 0;
    for (int j = 0; j < 32; ++j) {
      const double v = iq::kvalues_iq4nl[best_code[j]];
      xv += x[j] * v;
      vv += v * v;
    }
    if (vv > 0) consider(float(xv / vv));
  }
  put_f16(b, best_h);
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(best_code[j] | best_code[j + 16] << 4);
}

// IQ4_XS: per sub-block, the best float scale among the candidates; the block's d then makes
// the largest of them 31 steps of d; each sub-block then tries the integer multiples k*d
// nearest to each of its candidates (k in -32..31) and keeps the least squared error.
void quant_xs_block(const float* x, uint8_t* b) {
  float m[8], best_dl[8];
  uint8_t code[32];
  float dmax = 0;
  for (int ib = 0; ib < 8; ++ib) {
    const float* v = x + 32 * ib;
    m[ib] = signed_amax(v);
    best_dl[ib] = 0;
    float best = INFINITY;
    if (m[ib] == 0) continue;
    for (float c : kDivisors) {
      const float err = assign(v, m[ib] / c, code);
      if (err < best) {
        best = err;
        best_dl[ib] = m[ib] / c;
      }
    }
    dmax = std::max(dmax, std::fabs(best_dl[ib]));
  }
  const uint16_t dh = f32_to_f16(dmax / 31.0f);
  const float d = f16_to_f32(dh);
  std::memset(b, 0, kXsBytes);
  put_f16(b, dh);
  uint16_t scales_h = 0;
  for (int ib = 0; ib < 8; ++ib) {
    const float* v = x + 32 * ib;
    int best_k = 0;
    uint8_t best_code[32] = {};
    float best = INFINITY;
    int tried[16], ntried = 0;
    auto consider = [&](int k) {
      k = std::clamp(k, -32, 31);
      for (int i = 0; i < ntried; ++i)
        if (tried[i] == k) return;  // neighbouring divisors often give the same k
      tried[ntried++] = k;
      const float err = assign(v, d * float(k), code);  // the decoder's d * (ls - 32)
      if (err < best) {
        best = err;
        best_k = k;
        std::memcpy(best_code, code, 32);
      }
    };
    if (d == 0 || m[ib] == 0) {
      consider(0);
    } else {
      for (float c : kDivisors) consider(int(std::lround(m[ib] / c / d)));
      const int k0 = best_k;
      consider(k0 - 1);
      consider(k0 + 1);
    }
    const int ls = best_k + 32;
    b[4 + ib / 2] |= static_cast<uint8_t>((ls & 0xF) << (4 * (ib % 2)));
    scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * ib));
    for (int j = 0; j < 16; ++j) b[8 + 16 * ib + j] = static_cast<uint8_t>(best_code[j] | best_code[j + 16] << 4);
  }
  std::memcpy(b + 2, &scales_h, 2);
}

}  // namespace

// ---- entry points --------------------------------------------------------------------------

void dequant_iq4_nl(const void* src, float* dst, int64_t n) {
  MOECAT_CHECK(n % kNlBlock == 0);
  const auto* x = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / kNlBlock; ++i) dequant_codes(x + i * kNlBytes + 2, f16_at(x + i * kNlBytes), dst + i * kNlBlock);
}

// Span s covers blocks 8s .. 8s + nv/32 - 1 of the row (nv < 256 only at a row's tail).
void unpack_iq4_nl(const uint8_t* row, int64_t s, int nv, Span* out) {
  MOECAT_CHECK(nv > 0 && nv <= kSpan && nv % kNlBlock == 0);
  for (int b = 0; b < nv / kNlBlock; ++b) {
    const uint8_t* x = row + (s * 8 + b) * kNlBytes;
    unpack_codes(x + 2, f16_at(x), out, 32 * b);
  }
}

void dequant_iq4_xs(const void* src, float* dst, int64_t n) {
  MOECAT_CHECK(n % kXsBlock == 0);
  const auto* base = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / kXsBlock; ++i) {
    const uint8_t* x = base + i * kXsBytes;
    const float d = f16_at(x);
    for (int ib = 0; ib < 8; ++ib) dequant_codes(x + 8 + 16 * ib, d * float(xs_scale(x, ib) - 32), dst + i * kXsBlock + 32 * ib);
  }
}

void unpack_iq4_xs(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* x = row + s * kXsBytes;
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) unpack_codes(x + 8 + 16 * ib, d * float(xs_scale(x, ib) - 32), out, 32 * ib);
}

void quantize_iq4_nl(const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kNlBlock == 0);
  auto* b = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kNlBlock; ++i) quant_nl_block(src + i * kNlBlock, b + i * kNlBytes);
}

void quantize_iq4_xs(const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kXsBlock == 0);
  auto* b = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kXsBlock; ++i) quant_xs_block(src + i * kXsBlock, b + i * kXsBytes);
}

}  // namespace moecat::kernels::quant
