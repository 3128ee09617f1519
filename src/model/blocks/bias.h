// Adding a per-output bias to every row of a [n][d] result (gpt-oss attention and experts).
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace moecat {

// y[t][i] += bias[i] for t < n; nothing when bias is null or empty. bias: [d] f32.
inline void add_row_bias(float* y, int64_t n, const TensorView* bias) {
  if (!bias || !bias->valid()) return;
  const int64_t d = bias->shape.numel();
  const float* b = static_cast<const float*>(bias->data);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < d; ++i) y[t * d + i] += b[i];
}

}  // namespace moecat
