// TensorView: a typed, shaped, read-only window on bytes owned elsewhere (usually an mmapped
// file). Shapes are outermost-first, as in PyTorch: a linear layer weight is {out, in} and its
// rows are contiguous. (GGUF stores ne[] innermost-first; the GGUF reader reverses it.)
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "base/check.h"
#include "tensor/dtype.h"

namespace moecat {

constexpr int kMaxDims = 4;

struct Shape {
  int ndim = 0;
  std::array<int64_t, kMaxDims> d{};
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) {
    MOECAT_CHECK(dims.size() <= kMaxDims);
    for (int64_t v : dims) d[ndim++] = v;
  }
  int64_t operator[](int i) const { MOECAT_CHECK(i >= 0 && i < ndim); return d[i]; }
  int64_t numel() const { int64_t n = 1; for (int i = 0; i < ndim; ++i) n *= d[i]; return n; }
  bool operator==(const Shape& o) const {
    if (ndim != o.ndim) return false;
    for (int i = 0; i < ndim; ++i) if (d[i] != o.d[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "[4096, 2048]"
};

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  // DType::F8_E4M3 matrices used in place from an FP8 checkpoint (model/weights.cpp load_fp8):
  // element [r][c] = e4m3(byte) * fp8_scales[(r / fp8_br) * fp8_ld + c / fp8_bc], the f32 block
  // scales kept in a side table (one float per block, 1/4096 of the weight bytes at 128x128).
  const float* fp8_scales = nullptr;
  int64_t fp8_br = 0, fp8_bc = 0, fp8_ld = 0;

  int64_t cols() const { return shape[shape.ndim - 1]; }       // innermost dim
  int64_t rows() const { return shape.numel() / cols(); }     // everything else
  int64_t row_bytes() const { return dtype_row_bytes(dtype, cols()); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes(); }
  // Slice i of the outermost dimension (e.g. one expert of a stacked [n_expert, out, in] tensor).
  TensorView slice0(int64_t i) const;
  bool valid() const { return data != nullptr; }
};

}  // namespace moecat
