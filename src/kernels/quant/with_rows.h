// with_rows(n, f): calls f(std::integral_constant<int, C>{}) with C = n (1..8; anything else
// runs as 1). The fused kernels are templates on how many activation rows they multiply each
// weight row with (one register accumulator per row); this picks the instance for a run-time
// count, in one place for every ISA file.
// for_row_groups<kBlock>(acts, rows, stride, m, r0, r1, f): the loop of every fused kernel, so
// that each ISA file writes only its per-row dot product.
//
// `static`: each ISA file is compiled with its own target flags, so a helper they include must
// have internal linkage (an inline function of external linkage may be merged across them; see
// kernel_table.h).
#pragma once
#include <cstdint>
#include <type_traits>

namespace moecat::kernels::quant {

template <class F>
static inline void with_rows(int n, F&& f) {
  switch (n) {
    case 8: f(std::integral_constant<int, 8>{}); break;
    case 7: f(std::integral_constant<int, 7>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 1>{}); break;
  }
}

// m activation rows (row i at acts + (rows ? rows[i] : i) * stride) times weight rows [r0, r1):
// the activation rows in blocks of kBlock, their addresses found once per block, not once per
// weight row; within a block the weight rows one after another (one stream from memory), each
// against the block's rows in groups of up to 8, the later groups reading the row again from
// L1. f(r, a, i, C): weight row r against the C rows a[0..C) (C an integral_constant), the first
// of which is activation row i.
template <int kBlock, class A, class F>
static inline void for_row_groups(const A* acts, const int32_t* rows, int64_t stride, int64_t m, int64_t r0,
                                  int64_t r1, F&& f) {
  static_assert(kBlock % 8 == 0, "whole groups of 8 per block");
  const A* a[kBlock];
  for (int64_t i0 = 0; i0 < m; i0 += kBlock) {
    const int mb = static_cast<int>(m - i0 < kBlock ? m - i0 : kBlock);
    for (int k = 0; k < mb; ++k) a[k] = acts + (rows ? rows[i0 + k] : i0 + k) * stride;
    for (int64_t r = r0; r < r1; ++r)
      for (int i = 0; i < mb; i += 8)
        with_rows(mb - i < 8 ? mb - i : 8, [&](auto c) { f(r, static_cast<const A* const*>(a + i), i0 + i, c); });
  }
}

}  // namespace moecat::kernels::quant
