// llama.cpp's "k-quant" block formats Q4_K, Q5_K and Q6_K (super-blocks of 256 values): the
// layouts a GGUF made by llama-quantize holds (Q4_K_M = mostly Q4_K + Q6_K, Q5_K_M = Q5_K +
// Q6_K). Decoding follows the format exactly, so moecat reads those files as llama.cpp does;
// the encoders are simple (min/max or abs-max per sub-block, no search) and exist so tests and
// `convert --type q4_k|q5_k|q6_k` can make such files.
//
//   Q4_K (144 B): f16 d, f16 dmin, 12 bytes of eight 6-bit (scale, min) pairs, 128 bytes of
//                 4-bit values. Value = d*scale_j*q - dmin*min_j for sub-block j of 32.
//   Q5_K (176 B): as Q4_K plus 32 bytes holding each value's fifth bit.
//   Q6_K (210 B): 128 bytes of low 4 bits, 64 bytes of high 2 bits, sixteen int8 scales (one
//                 per 16 values), f16 d. Value = d*scale_j*(q - 32).
// In all three, the 4-bit nibbles pair sub-blocks: byte l of a 32-byte (Q6_K: 64-byte) group
// holds value l of one sub-block in its low nibble and value l of the next one in its high.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "kernels/ops.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels {

namespace {

constexpr int kQK = 256;

// Per sub-block j: dj[j] = d * scale_j, mj[j] = dmin * min_j, from the two f16 and 12 packed bytes.
void kquant_block_scales(const uint8_t* block, float dj[8], float mj[8]);

// Sub-block j's (scale, min) from the 12 packed bytes: j < 4 in the low 6 bits of bytes j and
// j+4; j >= 4 split into a low nibble (byte j+4) and 2 high bits (top of bytes j-4 and j).
void scale_min(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void put_scale_min(int j, int sc, int m, uint8_t* s) {
  if (j < 4) {
    s[j] = static_cast<uint8_t>((s[j] & 0xC0) | sc);
    s[j + 4] = static_cast<uint8_t>((s[j + 4] & 0xC0) | m);
  } else {
    s[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
    s[j - 4] = static_cast<uint8_t>((s[j - 4] & 0x3F) | ((sc >> 4) << 6));
    s[j] = static_cast<uint8_t>((s[j] & 0x3F) | ((m >> 4) << 6));
  }
}

// Q4_K / Q5_K: `bits` 4 or 5. Layout offsets: d 0, dmin 2, scales 4..15, then (Q5_K) qh 16..47,
// then qs.
void dequant_k45(const uint8_t* b, float* y, int bits) {
  float dj[8], mj[8];
  kquant_block_scales(b, dj, mj);
  const uint8_t* qh = bits == 5 ? b + 16 : nullptr;
  const uint8_t* qs = b + (bits == 5 ? 48 : 16);
  for (int c = 0; c < 4; ++c) {  // 64 values: sub-blocks 2c (low nibbles) and 2c+1 (high)
    for (int half = 0; half < 2; ++half) {
      const int j = 2 * c + half;
      for (int l = 0; l < 32; ++l) {
        int q = half ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 0xF;
        if (qh && (qh[l] >> j & 1)) q += 16;
        y[32 * j + l] = dj[j] * float(q) - mj[j];
      }
    }
  }
}

void quant_k45(const float* x, uint8_t* b, int bits) {
  const int qmax = (1 << bits) - 1;
  float scale[8], minv[8];
  for (int j = 0; j < 8; ++j) {
    const float* v = x + 32 * j;
    float lo = std::min(0.0f, *std::min_element(v, v + 32)), hi = *std::max_element(v, v + 32);
    scale[j] = (hi - lo) / float(qmax);
    minv[j] = -lo;  // >= 0: value = scale*q - min
  }
  const float max_scale = *std::max_element(scale, scale + 8), max_min = *std::max_element(minv, minv + 8);
  const uint16_t dh = f32_to_f16(max_scale / 63.0f), mh = f32_to_f16(max_min / 63.0f);
  const float d = f16_to_f32(dh), dmin = f16_to_f32(mh);
  std::memset(b, 0, bits == 5 ? 176 : 144);
  std::memcpy(b, &dh, 2);
  std::memcpy(b + 2, &mh, 2);
  uint8_t* sc = b + 4;
  uint8_t* qh = bits == 5 ? b + 16 : nullptr;
  uint8_t* qs = b + (bits == 5 ? 48 : 16);
  for (int j = 0; j < 8; ++j) {
    const int s = d > 0 ? std::clamp(int(std::lround(scale[j] / d)), 0, 63) : 0;
    const int m = dmin > 0 ? std::clamp(int(std::lround(minv[j] / dmin)), 0, 63) : 0;
    put_scale_min(j, s, m, sc);
    const float dj = d * float(s), mj = dmin * float(m);
    for (int l = 0; l < 32; ++l) {
      const int q = dj > 0 ? std::clamp(int(std::lround((x[32 * j + l] + mj) / dj)), 0, qmax) : 0;
      const int c = j / 2;
      qs[32 * c + l] |= static_cast<uint8_t>((q & 0xF) << (j % 2 ? 4 : 0));
      if (qh && q >= 16) qh[l] |= static_cast<uint8_t>(1 << j);
    }
  }
}

// Q6_K offsets: ql 0..127, qh 128..191, scales 192..207 (int8), d 208. The 6-bit code of value e:
// 128-value half h, row l of 32, quarter k (which nibble / 2-bit field).
int q6k_code(const uint8_t* b, int e) {
  const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
  const uint8_t lo = b[64 * h + l + (k % 2) * 32];
  const int low = k < 2 ? lo & 0xF : lo >> 4;
  const int high = (b[128 + 32 * h + l] >> (2 * k)) & 3;
  return low | high << 4;
}

void dequant_q6k(const uint8_t* b, float* y) {
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  uint16_t dh;
  std::memcpy(&dh, b + 208, 2);
  const float d = f16_to_f32(dh);
  for (int e = 0; e < kQK; ++e) y[e] = d * float(sc[e / 16]) * float(q6k_code(b, e) - 32);
}

void quant_q6k(const float* x, uint8_t* b) {
  float scale[16];
  for (int j = 0; j < 16; ++j) {
    float amax = 0;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * j + l]));
    scale[j] = amax / 31.0f;
  }
  const float max_scale = *std::max_element(scale, scale + 16);
  const uint16_t dh = f32_to_f16(max_scale / 127.0f);
  const float d = f16_to_f32(dh);
  std::memset(b, 0, 210);
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  auto* sc = reinterpret_cast<int8_t*>(b + 192);
  std::memcpy(b + 208, &dh, 2);
  for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(d > 0 ? std::clamp(int(std::lround(scale[j] / d)), 0, 127) : 0);
  for (int e = 0; e < kQK; ++e) {
    const float dj = d * float(sc[e / 16]);
    const int q = (dj > 0 ? std::clamp(int(std::lround(x[e] / dj)), -32, 31) : 0) + 32;
    const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
    ql[64 * h + l + (k % 2) * 32] |= static_cast<uint8_t>(k < 2 ? q & 0xF : (q & 0xF) << 4);
    qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
  }
}

int64_t block_bytes(DType t) { return t == DType::Q4_K ? 144 : t == DType::Q5_K ? 176 : 210; }

void kquant_block_scales(const uint8_t* block, float dj[8], float mj[8]) {
  uint16_t dh, mh;
  std::memcpy(&dh, block, 2);
  std::memcpy(&mh, block + 2, 2);
  const float d = f16_to_f32(dh), dmin = f16_to_f32(mh);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    scale_min(j, block + 4, &sc, &m);
    dj[j] = d * float(sc);
    mj[j] = dmin * float(m);
  }
}

bool is_kquant(DType t) { return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }

void dequantize_row_kquant(DType t, const void* src, float* dst, int64_t n) {
  MOECAT_CHECK(is_kquant(t) && n % kQK == 0);
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const uint8_t* blk = s + b * block_bytes(t);
    if (t == DType::Q6_K) dequant_q6k(blk, dst + b * kQK);
    else dequant_k45(blk, dst + b * kQK, t == DType::Q5_K ? 5 : 4);
  }
}

void quantize_row_kquant(DType t, const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(is_kquant(t) && n % kQK == 0);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    uint8_t* blk = d + b * block_bytes(t);
    if (t == DType::Q6_K) quant_q6k(src + b * kQK, blk);
    else quant_k45(src + b * kQK, blk, t == DType::Q5_K ? 5 : 4);
  }
}

}  // namespace

// ---- registry entries (quant.h) ------------------------------------------------------------

namespace quant {

void dequant_q4_k(const void* src, float* dst, int64_t n) { dequantize_row_kquant(DType::Q4_K, src, dst, n); }
void dequant_q5_k(const void* src, float* dst, int64_t n) { dequantize_row_kquant(DType::Q5_K, src, dst, n); }
void dequant_q6_k(const void* src, float* dst, int64_t n) { dequantize_row_kquant(DType::Q6_K, src, dst, n); }
void quantize_q4_k(const float* src, void* dst, int64_t n) { quantize_row_kquant(DType::Q4_K, src, dst, n); }
void quantize_q5_k(const float* src, void* dst, int64_t n) { quantize_row_kquant(DType::Q5_K, src, dst, n); }
void quantize_q6_k(const float* src, void* dst, int64_t n) { quantize_row_kquant(DType::Q6_K, src, dst, n); }

namespace {
// Q4_K / Q5_K: q = the 4/5-bit code, fsc = d*scale_j, fmin = dmin*min_j (groups 2j, 2j+1).
void unpack_k45(const uint8_t* b, Span* out, int bits) {
  float dj[8], mj[8];
  kquant_block_scales(b, dj, mj);
  const uint8_t* qh = bits == 5 ? b + 16 : nullptr;
  const uint8_t* qs = b + (bits == 5 ? 48 : 16);
  for (int j = 0; j < 8; ++j) {
    const int c = j / 2;
    for (int l = 0; l < 32; ++l) {
      int q = j % 2 ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 0xF;
      if (qh && (qh[l] >> j & 1)) q += 16;
      out->q[32 * j + l] = static_cast<uint8_t>(q);
    }
    out->fsc[2 * j] = out->fsc[2 * j + 1] = dj[j];
    out->fmin[2 * j] = out->fmin[2 * j + 1] = mj[j];
  }
}
}  // namespace

void unpack_q4_k(const uint8_t* row, int64_t s, int, Span* out) { unpack_k45(row + s * 144, out, 4); }
void unpack_q5_k(const uint8_t* row, int64_t s, int, Span* out) { unpack_k45(row + s * 176, out, 5); }

// Q6_K: q = the 6-bit code (value = d*scale_g*(q - 32)), fsc = d*scale_g, fmin = 32*fsc.
void unpack_q6_k(const uint8_t* row, int64_t s, int, Span* out) {
  const uint8_t* b = row + s * 210;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  uint16_t dh;
  std::memcpy(&dh, b + 208, 2);
  const float d = f16_to_f32(dh);
  for (int e = 0; e < kQK; ++e) out->q[e] = static_cast<uint8_t>(q6k_code(b, e));
  for (int g = 0; g < kGroups; ++g) {
    out->fsc[g] = d * float(sc[g]);
    out->fmin[g] = 32.0f * out->fsc[g];
  }
}

}  // namespace quant

}  // namespace moecat::kernels
