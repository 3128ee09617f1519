// The loop order shared by the row-tiled matmul kernels (f32/f16/bf16 and FP8, every ISA): blocks
// of 16 weight rows stay in L1/L2 while the activation rows stream past in groups of up to kC;
// each group is computed kR weight rows at a time, then row by row for the block's remainder.
#pragma once
#include <cstdint>
#include <type_traits>

namespace moecat::kernels {

// tile(rows, c, r, c0) computes outputs for activation rows [c0, c0 + c) and weight rows
// [r, r + rows); rows is std::integral_constant<int, kR> or <int, 1>.
template <int kR, int kC, class Tile>
inline void for_row_tiles(int64_t n, int64_t r0, int64_t r1, Tile&& tile) {
  constexpr int64_t kRowBlock = 16;
  for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const int64_t re = rb + kRowBlock < r1 ? rb + kRowBlock : r1;
    for (int64_t c0 = 0; c0 < n; c0 += kC) {
      const int c = n - c0 < kC ? static_cast<int>(n - c0) : kC;
      int64_t r = rb;
      for (; r + kR <= re; r += kR) tile(std::integral_constant<int, kR>{}, c, r, c0);
      for (; r < re; ++r) tile(std::integral_constant<int, 1>{}, c, r, c0);
    }
  }
}

}  // namespace moecat::kernels
