// Test helpers for the block-quantized kernels: random blocks whose float scale fields are sane
// (a random f16 can be inf or NaN), random activations.
#pragma once
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "tensor/dtype.h"

namespace moecat::kernels {

inline void put_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}

// Sets the block's float scale fields to values in [lo, hi): where each format keeps them.
inline void sanitize_block(DType t, uint8_t* b, std::mt19937& g) {
  std::uniform_real_distribution<float> d(0.002f, 0.02f);
  switch (t) {
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K:
      put_f16(b, d(g));
      put_f16(b + 2, d(g));
      break;
    case DType::Q2_K:
      put_f16(b + 80, d(g));
      put_f16(b + 82, d(g));
      break;
    case DType::Q3_K: put_f16(b + 108, d(g)); break;
    case DType::Q6_K: put_f16(b + 208, d(g)); break;
    case DType::MXFP4: b[0] = static_cast<uint8_t>(118 + g() % 8); break;
    case DType::IQ1_M: {
      // d is split over the top nibbles of the four uint16 scale words at offset 48.
      const uint16_t h = f32_to_f16(d(g));
      for (int k = 0; k < 4; ++k) {
        uint16_t w;
        std::memcpy(&w, b + 48 + 2 * k, 2);
        w = static_cast<uint16_t>((w & 0x0FFF) | (((h >> (4 * k)) & 0xF) << 12));
        std::memcpy(b + 48 + 2 * k, &w, 2);
      }
      break;
    }
    default: put_f16(b, d(g)); break;  // Q4_0, Q5_0, Q8_0, all other i-quants: d first
  }
}

inline std::vector<float> randv(int64_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

}  // namespace moecat::kernels
