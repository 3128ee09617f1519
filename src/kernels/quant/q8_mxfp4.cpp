// Q8_0 and MXFP4 in the Span form (their decoders and encoders predate the registry and live in
// kernels/convert.cpp; the dedicated int8 matmuls for both are in matmul_q8_* / matmul_mxfp4_*).
//   Q8_0  (34 B / 32): f16 d, 32 int8.            value = d * q
//   MXFP4 (17 B / 32): e8m0 exponent, 16 bytes of 4-bit e2m1 codes (low nibble: value j, high:
//                      value j + 16).             value = kMxfp4Values[code] * 2^(e - 128)
#include <cstring>

#include "base/half.h"
#include "kernels/ops.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels::quant {

void dequant_q8_0(const void* src, float* dst, int64_t n) { dequantize_row(DType::Q8_0, src, dst, n); }
void dequant_mxfp4(const void* src, float* dst, int64_t n) { dequantize_row(DType::MXFP4, src, dst, n); }

void unpack_q8_0(const uint8_t* row, int64_t s, int nv, Span* out) {
  for (int b = 0; b < nv / 32; ++b) {
    const uint8_t* blk = row + (s * 8 + b) * 34;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const float d = f16_to_f32(dh);
    for (int l = 0; l < 32; ++l) out->q[32 * b + l] = static_cast<uint8_t>(int8_t(blk[2 + l]) + 128);
    for (int g = 2 * b; g < 2 * b + 2; ++g) {
      out->fsc[g] = d;
      out->fmin[g] = 128.0f * d;
    }
  }
}

void unpack_mxfp4(const uint8_t* row, int64_t s, int nv, Span* out) {
  for (int b = 0; b < nv / 32; ++b) {
    const uint8_t* blk = row + (s * 8 + b) * 17;
    const float d = e8m0_to_f32_half(blk[0]);
    for (int l = 0; l < 16; ++l) {
      out->q[32 * b + l] = static_cast<uint8_t>(kMxfp4Values[blk[1 + l] & 0xF] + 128);
      out->q[32 * b + l + 16] = static_cast<uint8_t>(kMxfp4Values[blk[1 + l] >> 4] + 128);
    }
    for (int g = 2 * b; g < 2 * b + 2; ++g) {
      out->fsc[g] = d;
      out->fmin[g] = 128.0f * d;
    }
  }
}

}  // namespace moecat::kernels::quant
