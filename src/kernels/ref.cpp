// Scalar references (namespace ref): the plainest correct code, used by the tests to judge
// every ISA variant. Float paths accumulate in double so the reference is at least as accurate
// as any variant; Q8_0 and MXFP4 follow llama.cpp's reference dots (int32 per block, f32 across
// blocks); k-quants decode a row and accumulate in double.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "kernels/ops.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels::ref {

namespace {
float weight_at(const TensorView& w, int64_t r, int64_t k) {
  const uint8_t* row = w.row(r);
  switch (w.dtype) {
    case DType::F32: return reinterpret_cast<const float*>(row)[k];
    case DType::F16: return f16_to_f32(reinterpret_cast<const uint16_t*>(row)[k]);
    case DType::BF16: return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[k]);
    default: MOECAT_CHECK_MSG(false, "weight_at: unsupported dtype");
  }
}
}  // namespace

void matmul_fp8_bf16(const TensorView& w, const float* x, int64_t n, float* y) {
  MOECAT_CHECK(w.dtype == DType::F8_E4M3);
  const int64_t out = w.rows(), in = w.cols();
  std::vector<float> row(static_cast<size_t>(in)), xr(static_cast<size_t>(n * in));
  for (int64_t k = 0; k < n * in; ++k) {  // nearest-even bf16 (finite inputs)
    uint32_t u;
    std::memcpy(&u, &x[k], 4);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(&xr[k], &u, 4);
  }
  for (int64_t r = 0; r < out; ++r) {
    dequantize_view_row(w, r, row.data());
    for (int64_t i = 0; i < n; ++i) {
      double acc = 0.0;
      for (int64_t k = 0; k < in; ++k) acc += double(row[k]) * double(xr[i * in + k]);
      y[i * out + r] = static_cast<float>(acc);
    }
  }
}

void matmul(const TensorView& w, const float* x, int64_t n, float* y) {
  const int64_t in = w.cols(), out = w.rows();
  MOECAT_CHECK(static_cast<int64_t>(w.nbytes) >= out * w.row_bytes());
  if (w.dtype == DType::Q8_0) {
    MOECAT_CHECK(in % kQ8Block == 0);
    const int64_t nb = in / kQ8Block;
    std::vector<BlockQ8_0> xq(nb);  // [nb] one quantized row of x
    for (int64_t i = 0; i < n; ++i) {
      quantize_row_q8_0(x + i * in, xq.data(), in);
      for (int64_t r = 0; r < out; ++r) {
        const auto* wb = reinterpret_cast<const BlockQ8_0*>(w.row(r));
        float sumf = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
          int32_t sumi = 0;
          for (int j = 0; j < kQ8Block; ++j) sumi += int32_t(wb[b].qs[j]) * int32_t(xq[b].qs[j]);
          sumf += static_cast<float>(sumi) * (f16_to_f32(wb[b].d) * f16_to_f32(xq[b].d));
        }
        y[i * out + r] = sumf;
      }
    }
    return;
  }
  if (w.dtype == DType::MXFP4) {
    // ggml_vec_dot_mxfp4_q8_0 (generic): per block sumi = sum q8 * kvalue (int), scale
    // d = f16(d_x) * e8m0_half(e), sumf += d * sumi in f32, blocks in order.
    MOECAT_CHECK(in % kMxfp4Block == 0);
    const int64_t nb = in / kMxfp4Block;
    std::vector<BlockQ8_0> xq(nb);  // [nb] one quantized row of x
    for (int64_t i = 0; i < n; ++i) {
      quantize_row_q8_0(x + i * in, xq.data(), in);
      for (int64_t r = 0; r < out; ++r) {
        const uint8_t* row = w.row(r);
        float sumf = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
          BlockMxfp4 wb;
          std::memcpy(&wb, row + b * sizeof(BlockMxfp4), sizeof wb);
          int32_t sumi = 0;
          for (int j = 0; j < kMxfp4Block / 2; ++j) {
            sumi += int32_t(xq[b].qs[j]) * kMxfp4Values[wb.qs[j] & 0x0f];
            sumi += int32_t(xq[b].qs[j + 16]) * kMxfp4Values[wb.qs[j] >> 4];
          }
          const float d = f16_to_f32(xq[b].d) * e8m0_to_f32_half(wb.e);
          sumf += d * static_cast<float>(sumi);
        }
        y[i * out + r] = sumf;
      }
    }
    return;
  }
  if (w.dtype == DType::F8_E4M3) {  // FP8 in place: exact decode with the block scales, double dot
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t r = 0; r < out; ++r) {
      dequantize_view_row(w, r, row.data());
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0.0;
        for (int64_t k = 0; k < in; ++k) acc += double(row[k]) * double(x[i * in + k]);
        y[i * out + r] = static_cast<float>(acc);
      }
    }
    return;
  }
  if (const quant::QuantType* qt = quant::find(w.dtype)) {
    // Block types: the row through the type's scalar reference decoder (each checked on
    // hand-built blocks, and against llama.cpp end to end), then a double-precision dot.
    std::vector<float> row(static_cast<size_t>(in));  // [in]
    for (int64_t r = 0; r < out; ++r) {
      qt->dequant_ref(w.row(r), row.data(), in);
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0.0;
        for (int64_t k = 0; k < in; ++k) acc += double(row[k]) * double(x[i * in + k]);
        y[i * out + r] = static_cast<float>(acc);
      }
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t r = 0; r < out; ++r) {
      double acc = 0.0;
      for (int64_t k = 0; k < in; ++k) acc += double(weight_at(w, r, k)) * double(x[i * in + k]);
      y[i * out + r] = static_cast<float>(acc);
    }
  }
}

void rmsnorm(const float* x, const float* weight, float eps, int64_t n, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
  const float mean = static_cast<float>(sum / double(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::fmax(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    y[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, const float* cos,
          const float* sin, bool neox) {
  const int64_t half = rot_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cos[i] - x1 * sin[i];
      v[b] = x0 * sin[i] + x1 * cos[i];
    }
  }
}

float dot(const float* a, const float* b, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += double(a[i]) * double(b[i]);
  return static_cast<float>(acc);
}

void attention(const float* q, const int32_t* q_pos, int64_t n_tok, const float* k_cache,
               const float* v_cache, const AttentionParams& p, float* out) {
  const int64_t group = p.n_head / p.n_head_kv;
  std::vector<double> s;
  for (int64_t t = 0; t < n_tok; ++t) {
    const int64_t pos = q_pos[t];
    const int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
    for (int64_t h = 0; h < p.n_head; ++h) {
      const float* qh = q + (t * p.n_head + h) * p.head_dim_k;
      const int64_t j = h / group;
      float* o = out + (t * p.n_head + h) * p.head_dim_v;
      s.clear();
      double mx = p.sinks ? double(p.sinks[h]) : -INFINITY;
      for (int64_t ps = first; ps <= pos; ++ps) {
        const int64_t slot = attention_slot(p, ps);
        const float* k = k_cache + slot * p.k_pos_stride + j * p.head_dim_k;
        double d = 0.0;
        for (int64_t c = 0; c < p.head_dim_k; ++c) d += double(qh[c]) * double(k[c]);
        s.push_back(d * p.scale);
        mx = std::max(mx, s.back());
      }
      double denom = p.sinks ? std::exp(double(p.sinks[h]) - mx) : 0.0;
      for (double& e : s) {
        e = std::exp(e - mx);
        denom += e;
      }
      for (int64_t c = 0; c < p.head_dim_v; ++c) {
        double acc = 0.0;
        for (size_t i = 0; i < s.size(); ++i) {
          const int64_t ps = first + int64_t(i), slot = attention_slot(p, ps);
          const float* v = v_cache + slot * p.v_pos_stride + j * p.head_dim_v;
          acc += s[i] * double(v[c]);
        }
        o[c] = denom > 0.0 ? static_cast<float>(acc / denom) : 0.0f;
      }
    }
  }
}

}  // namespace moecat::kernels::ref
