// Row conversions between f32 and the storage types (load/convert time and embedding rows).
// Scalar on purpose: correctness over speed. f16/bf16 narrowing rounds to nearest-even
// (half.h); q8_0 follows llama.cpp's reference quantize_row_q8_0 exactly.
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "kernels/ops.h"

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
    default:
      MOECAT_CHECK_MSG(false, "dequantize_row: unsupported dtype");
  }
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
    default:
      MOECAT_CHECK_MSG(false, "convert_row: unsupported dtype");
  }
}

}  // namespace moecat::kernels
