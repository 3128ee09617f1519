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

  int64_t cols() const { return shape[shape.ndim - 1]; }       // innermost dim
  int64_t rows() const { return shape.numel() / cols(); }     // everything else
  int64_t row_bytes() const { return dtype_row_bytes(dtype, cols()); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes(); }
  // Slice i of the outermost dimension (e.g. one expert of a stacked [n_expert, out, in] tensor).
  TensorView slice0(int64_t i) const;
  bool valid() const { return data != nullptr; }
};

}  // namespace moecat
