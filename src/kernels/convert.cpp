// Row conversions between f32 and the storage types (load/convert time and embedding rows).
// Scalar on purpose: correctness over speed. f16/bf16 narrowing rounds to nearest-even
// (half.h); q8_0 and mxfp4 follow llama.cpp's reference quantizers exactly.
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/half.h"
#include "kernels/ops.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels {

void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kQ8Block == 0);
  auto* out = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQ8Block; ++b) {
    const float* x = src + b * kQ8Block;
    float amax = 0.0f;
    for (int j = 0; j < kQ8Block; ++j) {
      const float a = std::fabs(x[j]);
      amax = amax > a ? amax : a;
    }
    // d from the unrounded max; the stored (and later used) scale is d rounded to f16, while
    // the values are divided by the unrounded d, as llama.cpp's reference does.
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = f32_to_f16(d);
    for (int j = 0; j < kQ8Block; ++j) {
      // roundf: halves away from zero. |x*id| <= 127 (+ rounding), so the cast is in range
      // (NaN inputs give unspecified values, as in llama.cpp).
      blk.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    }
    std::memcpy(&out[b], &blk, sizeof blk);
  }
}

namespace {
// e4m3 byte b -> float, at compile time (no static-initialization order to worry about).
constexpr float fp8_e4m3_decode(int b) {
  const int e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
  float v = float(m);  // subnormal: m * 2^-9; normal: (8 + m) * 2^(e - 10)
  int k = -9;
  if (e != 0) {
    v = float(8 + m);
    k = e - 10;
  }
  for (; k > 0; --k) v *= 2.0f;
  for (; k < 0; ++k) v *= 0.5f;  // exact: powers of two, never below 2^-9
  return b & 0x80 ? -v : v;
}
struct Fp8Table {
  float v[256];
  constexpr Fp8Table() : v() {
    for (int b = 0; b < 256; ++b) v[b] = fp8_e4m3_decode(b);
  }
};
constexpr Fp8Table kFp8Table;
}  // namespace

float fp8_e4m3_to_f32(uint8_t b) { return kFp8Table.v[b]; }

const int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

float e8m0_to_f32_half(uint8_t e) {
  // 2^(e-128): e >= 2 is a normal float with biased exponent e-1; e = 1, 0 are the subnormals
  // 2^-127 and 2^-128 (mantissa bits 22 and 21).
  const uint32_t bits = e < 2 ? uint32_t(0x00200000) << e : uint32_t(e - 1) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

namespace {
// Nearest table entry to x at scale d; the first (lowest code) wins ties, and a NaN x gives 0.
// kMxfp4Values[i] * d is exact (small integer times a power of two), so the error is one
// rounded float subtraction, as in llama.cpp.
uint8_t best_mxfp4_code(float x, float d) {
  int best = 0;
  float best_err = std::fabs(float(kMxfp4Values[0]) * d - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(float(kMxfp4Values[i]) * d - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return static_cast<uint8_t>(best);
}
}  // namespace

void quantize_row_mxfp4(const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kMxfp4Block == 0);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kMxfp4Block; ++b) {
    const float* x = src + b * kMxfp4Block;
    float amax = 0.0f;
    for (int j = 0; j < kMxfp4Block; ++j) {
      if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);  // NaN never wins, as in llama.cpp
    }
    // llama.cpp: (uint8_t)(floorf(log2f(amax)) - 2 + 127), in float. The exponent must come
    // from log2f (not an exact frexp): log2f rounds up to the next integer just below powers
    // of two, and files must match bit for bit. Out-of-range values (amax < 2^-125 or inf)
    // wrap mod 256 the way x86 converts (float -> int32, keep the low byte); doing that
    // explicitly avoids the undefined float->uint8 cast.
    uint8_t e = 0;
    if (amax > 0.0f) {
      const float f = std::floor(log2f(amax)) - 2.0f + 127.0f;
      const int32_t i = f >= -2147483648.0f && f < 2147483648.0f ? static_cast<int32_t>(f)
                                                                  : INT32_MIN;  // cvttss2si
      e = static_cast<uint8_t>(static_cast<uint32_t>(i) & 0xffu);
    }
    const float d = e8m0_to_f32_half(e);
    BlockMxfp4 blk;
    blk.e = e;
    for (int j = 0; j < kMxfp4Block / 2; ++j) {
      blk.qs[j] = static_cast<uint8_t>(best_mxfp4_code(x[j], d) |
                                       (best_mxfp4_code(x[j + kMxfp4Block / 2], d) << 4));
    }
    std::memcpy(out + b * sizeof(BlockMxfp4), &blk, sizeof blk);
  }
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::Q8_0: {
      MOECAT_CHECK(n % kQ8Block == 0);
      const auto* s = static_cast<const uint8_t*>(src);
      for (int64_t b = 0; b < n / kQ8Block; ++b) {
        BlockQ8_0 blk;
        std::memcpy(&blk, s + b * sizeof(BlockQ8_0), sizeof blk);  // blocks are unaligned
        const float d = f16_to_f32(blk.d);
        for (int j = 0; j < kQ8Block; ++j) dst[b * kQ8Block + j] = d * float(blk.qs[j]);
      }
      return;
    }
    case DType::MXFP4: {
      MOECAT_CHECK(n % kMxfp4Block == 0);
      const auto* s = static_cast<const uint8_t*>(src);
      for (int64_t b = 0; b < n / kMxfp4Block; ++b) {
        BlockMxfp4 blk;
        std::memcpy(&blk, s + b * sizeof(BlockMxfp4), sizeof blk);
        const float d = e8m0_to_f32_half(blk.e);
        float* y = dst + b * kMxfp4Block;
        for (int j = 0; j < kMxfp4Block / 2; ++j) {
          y[j] = float(kMxfp4Values[blk.qs[j] & 0x0f]) * d;
          y[j + kMxfp4Block / 2] = float(kMxfp4Values[blk.qs[j] >> 4]) * d;
        }
      }
      return;
    }
    default: {
      const quant::QuantType* qt = quant::find(t);
      MOECAT_CHECK_MSG(qt != nullptr, "dequantize_row: unsupported dtype");
      MOECAT_CHECK(n % qt->block == 0);
      qt->dequant_ref(src, dst, n);
      return;
    }
  }
}

void dequantize_view_row(const TensorView& w, int64_t r, float* dst) {
  const int64_t n = w.cols();
  if (w.dtype != DType::F8_E4M3) {
    dequantize_row(w.dtype, w.row(r), dst, n);
    return;
  }
  MOECAT_CHECK(w.fp8_scales != nullptr && w.fp8_br > 0 && w.fp8_bc > 0);
  const uint8_t* q = w.row(r);
  const float* s = w.fp8_scales + (r / w.fp8_br) * w.fp8_ld;
  for (int64_t c = 0; c < n; ++c) dst[c] = fp8_e4m3_to_f32(q[c]) * s[c / w.fp8_bc];
}

void convert_row(const float* src, DType t, void* dst, int64_t n) {
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0:
      quantize_row_q8_0(src, dst, n);
      return;
    case DType::MXFP4:
      quantize_row_mxfp4(src, dst, n);
      return;
    default: {
      const quant::QuantType* qt = quant::find(t);
      MOECAT_CHECK_MSG(qt != nullptr && qt->quantize != nullptr, "convert_row: no encoder for this dtype");
      MOECAT_CHECK(n % qt->block == 0);
      qt->quantize(src, dst, n);
      return;
    }
  }
}

}  // namespace moecat::kernels
