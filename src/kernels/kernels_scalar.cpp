// The scalar "ISA": baseline x86-64 code for CPUs without AVX2 (or MOECAT_ISA=scalar).
// Matmuls are plain loops over the row range; elementwise ops reuse the references.
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"

namespace moecat::kernels {
namespace {

template <typename LoadW>
void matmul_float(LoadW load, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
                  int64_t r0, int64_t r1) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * in;
    for (int64_t r = r0; r < r1; ++r) {
      float acc = 0.0f;
      for (int64_t k = 0; k < in; ++k) acc += load(r * in + k) * xi[k];
      y[i * ldy + r] = acc;
    }
  }
}

void matmul_f32(const void* w, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
                int64_t r0, int64_t r1) {
  const auto* p = static_cast<const float*>(w);
  matmul_float([p](int64_t k) { return p[k]; }, in, x, n, y, ldy, r0, r1);
}
void matmul_f16(const void* w, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
                int64_t r0, int64_t r1) {
  const auto* p = static_cast<const uint16_t*>(w);
  matmul_float([p](int64_t k) { return f16_to_f32(p[k]); }, in, x, n, y, ldy, r0, r1);
}
void matmul_bf16(const void* w, int64_t in, const float* x, int64_t n, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
  const auto* p = static_cast<const uint16_t*>(w);
  matmul_float([p](int64_t k) { return bf16_to_f32(p[k]); }, in, x, n, y, ldy, r0, r1);
}

// FP8 weights in place: per 32 values, the sum of e4m3 value * x in f32 (in order), times the
// scale of the block they lie in, added to the row sum in f32 (in order): the contract the SIMD
// variants follow.
void matmul_fp8(const uint8_t* w, const Fp8Scales* sc, int64_t in, const float* x, int64_t n, float* y,
                int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = in / kF8Block;
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * in;
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* q = w + r * in;
      const float* srow = sc->s + (r / sc->br) * sc->ld;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        float s = 0.0f;
        for (int j = 0; j < kF8Block; ++j) s += fp8_e4m3_to_f32(q[b * kF8Block + j]) * xi[b * kF8Block + j];
        acc += s * srow[b * kF8Block / sc->bc];
      }
      y[i * ldy + r] = acc;
    }
  }
}

// act: BlockQ8_0 [n][in/32], exactly quantize_row_q8_0's output.
int64_t q8_act_bytes(int64_t n, int64_t in) { return n * (in / kQ8Block) * int64_t(sizeof(BlockQ8_0)); }
void q8_prepare(const float* x, int64_t in, int64_t n, int64_t row0, int64_t row1, void* act) {
  auto* a = static_cast<uint8_t*>(act);
  const int64_t rb = (in / kQ8Block) * int64_t(sizeof(BlockQ8_0));
  for (int64_t i = row0; i < row1; ++i) quantize_row_q8_0(x + i * in, a + i * rb, in);
}
void matmul_q8_0(const void* w, int64_t in, const void* act, int64_t n, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
  const int64_t nb = in / kQ8Block;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(act);
  const int64_t bs = sizeof(BlockQ8_0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t r = r0; r < r1; ++r) {
      float sumf = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        BlockQ8_0 wq, xq;
        std::memcpy(&wq, wb + (r * nb + b) * bs, bs);
        std::memcpy(&xq, xb + (i * nb + b) * bs, bs);
        int32_t sumi = 0;
        for (int j = 0; j < kQ8Block; ++j) sumi += int32_t(wq.qs[j]) * int32_t(xq.qs[j]);
        sumf += float(sumi) * (f16_to_f32(wq.d) * f16_to_f32(xq.d));
      }
      y[i * ldy + r] = sumf;
    }
  }
}

// MXFP4 weights against the same act: llama.cpp's generic ggml_vec_dot_mxfp4_q8_0.
void matmul_mxfp4(const void* w, int64_t in, const void* act, int64_t n, float* y, int64_t ldy,
                  int64_t r0, int64_t r1) {
  const int64_t nb = in / kMxfp4Block;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(act);
  const int64_t ws = sizeof(BlockMxfp4), xs = sizeof(BlockQ8_0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t r = r0; r < r1; ++r) {
      float sumf = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        BlockMxfp4 wq;
        BlockQ8_0 xq;
        std::memcpy(&wq, wb + (r * nb + b) * ws, ws);
        std::memcpy(&xq, xb + (i * nb + b) * xs, xs);
        int32_t sumi = 0;
        for (int j = 0; j < kMxfp4Block / 2; ++j) {
          sumi += int32_t(xq.qs[j]) * kMxfp4Values[wq.qs[j] & 0x0f];
          sumi += int32_t(xq.qs[j + 16]) * kMxfp4Values[wq.qs[j] >> 4];
        }
        sumf += (f16_to_f32(xq.d) * e8m0_to_f32_half(wq.e)) * float(sumi);
      }
      y[i * ldy + r] = sumf;
    }
  }
}

void axpy_s(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void vexp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void dot_rows(const float* q, const float* k, int64_t stride, int64_t rows, int64_t dim,
              float scale, float* out) {
  for (int64_t j = 0; j < rows; ++j) {
    float acc = 0.0f;
    for (int64_t d = 0; d < dim; ++d) acc += q[d] * k[j * stride + d];
    out[j] = acc * scale;
  }
}
float exp_shift_sum(float* x, int64_t n, float shift) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - shift));
  return sum;
}
void wsum_rows(const float* p, const float* v, int64_t stride, int64_t rows, int64_t dim,
               float* out) {
  for (int64_t j = 0; j < rows; ++j) axpy_s(p[j], v + j * stride, out, dim);
}

// The f16-cache variants: each half widened exactly, then the f32 loops above.
void dot_rows_f16(const float* q, const uint16_t* k, int64_t stride, int64_t rows, int64_t dim,
                  float scale, float* out) {
  for (int64_t j = 0; j < rows; ++j) {
    float acc = 0.0f;
    for (int64_t d = 0; d < dim; ++d) acc += q[d] * f16_to_f32(k[j * stride + d]);
    out[j] = acc * scale;
  }
}
void wsum_rows_f16(const float* p, const uint16_t* v, int64_t stride, int64_t rows, int64_t dim,
                   float* out) {
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t d = 0; d < dim; ++d) out[d] += p[j] * f16_to_f32(v[j * stride + d]);
}

}  // namespace

const KernelTable kScalarTable = {
    "scalar",   matmul_f32,    matmul_f16,   matmul_bf16,  q8_act_bytes,  q8_prepare,
    matmul_q8_0, quantize_row_q8_0, ref::dot, axpy_s,        ref::rmsnorm,  ref::softmax,
    ref::swiglu, ref::rope,    vexp,         dot_rows,     exp_shift_sum, wsum_rows,
    matmul_mxfp4, dot_rows_f16, wsum_rows_f16,
    scalar::span_act, scalar::span_matmul, scalar::span_fast_unpack,
    nullptr,    nullptr,       nullptr,      nullptr,      matmul_fp8,
};

}  // namespace moecat::kernels
