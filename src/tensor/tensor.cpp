#include "tensor/tensor.h"

namespace moecat {

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) {
    if (i) s += ", ";
    s += std::to_string(d[i]);
  }
  return s + "]";
}

TensorView TensorView::slice0(int64_t i) const {
  MOECAT_CHECK(shape.ndim >= 2 && i >= 0 && i < shape[0]);
  TensorView v;
  v.name = name + "[" + std::to_string(i) + "]";
  v.dtype = dtype;
  v.shape.ndim = shape.ndim - 1;
  for (int k = 1; k < shape.ndim; ++k) v.shape.d[k - 1] = shape.d[k];
  v.nbytes = nbytes / shape[0];
  v.data = static_cast<const uint8_t*>(data) + i * v.nbytes;
  return v;
}

}  // namespace moecat
