// Shared by the kernel tests (kernels_test.cpp, float_formats_kernels_test.cpp): random inputs,
// weight matrices of any type, and the double-precision products they are checked against.
#pragma once
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "isa_testing.h"
#include "kernels/ops.h"

namespace moecat::kernels::ktest {

inline std::vector<float> randv(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

// A weight matrix [out][in] of type t made from random floats (plus its storage).
struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};
inline Weights make_weights(DType t, int64_t out, int64_t in, uint32_t seed) {
  Weights w;
  const std::vector<float> f = randv(out * in, seed);
  const int64_t rb = dtype_row_bytes(t, in);
  w.bytes.resize(static_cast<size_t>(out * rb));
  for (int64_t r = 0; r < out; ++r) convert_row(f.data() + r * in, t, w.bytes.data() + r * rb, in);
  if (t == DType::Q8_0 && out * in >= 64) {
    // llama.cpp never writes -128, but a file may: make sure every path multiplies it right.
    auto* b = reinterpret_cast<BlockQ8_0*>(w.bytes.data());
    b[0].qs[3] = -128;
    b[0].qs[31] = -128;
  }
  w.view.dtype = t;
  w.view.shape = Shape{out, in};
  w.view.data = w.bytes.data();
  w.view.nbytes = w.bytes.size();
  return w;
}

// Double-precision x·w for every output, and S = sum |x_k w_k| (the rounding-error scale).
// Q8_0/MXFP4: both sides dequantized (x through quantize_row_q8_0, checked separately below).
inline void exact_matmul(const TensorView& w, const float* x, int64_t n, std::vector<double>& y,
                  std::vector<double>& s) {
  const int64_t in = w.cols(), out = w.rows();
  std::vector<float> wr(in), xr(in);
  std::vector<uint8_t> xq(static_cast<size_t>(dtype_row_bytes(DType::Q8_0, in > 0 ? in : 1)) + 64);
  y.assign(n * out, 0.0);
  s.assign(n * out, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    if (w.dtype == DType::Q8_0 || w.dtype == DType::MXFP4) {
      quantize_row_q8_0(x + i * in, xq.data(), in);
      dequantize_row(DType::Q8_0, xq.data(), xr.data(), in);
    } else {
      std::memcpy(xr.data(), x + i * in, in * sizeof(float));
    }
    for (int64_t r = 0; r < out; ++r) {
      dequantize_row(w.dtype, w.row(r), wr.data(), in);
      double acc = 0, sa = 0;
      for (int64_t k = 0; k < in; ++k) {
        acc += double(wr[k]) * double(xr[k]);
        sa += std::fabs(double(wr[k]) * double(xr[k]));
      }
      y[i * out + r] = acc;
      s[i * out + r] = sa;
    }
  }
}


inline double f16_bits_to_double(uint16_t h) {  // independent decoder: sign * man * 2^exp
  const int e = (h >> 10) & 31, m = h & 1023;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 31) return m ? NAN : s * INFINITY;
  if (e == 0) return s * std::ldexp(double(m), -24);
  return s * std::ldexp(double(m + 1024), e - 25);
}

// One product on the active ISA against the scalar reference: |y - y_ref| <= rel * S.
inline void check_matmul_vs_ref(DType t, int64_t n, int64_t in, int64_t out, double rel) {
  Weights w = make_weights(t, out, in, uint32_t(n * 131 + in * 7 + out));
  const std::vector<float> x = randv(n * in, uint32_t(n + in + out));
  std::vector<float> yr(n * out), y(n * out, -12345.0f);
  ref::matmul(w.view, x.data(), n, yr.data());
  std::vector<double> ye, s;
  exact_matmul(w.view, x.data(), n, ye, s);
  matmul(w.view, x.data(), n, y.data(), nullptr);
  for (int64_t i = 0; i < n * out; ++i)
    ASSERT_NEAR(y[i], yr[i], rel * s[i] + 1e-30)
        << isa_name(active_isa()) << " " << dtype_name(t) << " n=" << n << " in=" << in
        << " out=" << out << " i=" << i;
}

}  // namespace moecat::kernels::ktest
