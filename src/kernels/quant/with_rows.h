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

// fused_rows<kBlock>(acts, rows, stride, m, r0, r1, y, ldy, sums, store8, reduce): the loop of
// every fused kernel around its per-row dot product sums(r, a, acc), which fills acc[C] (C =
// acc's extent, registers of type V) with weight row r against the C activation rows a[0..C).
// One activation row (generation): weight rows in blocks of 8, one after another (one stream
// from memory), their sums reduced together by store8(y + r0, acc[8]) (per row the bits of
// reduce(v), so those of the other paths): ~2 instead of ~9 reduction operations per row, which
// counts where rows are short (a 768-wide expert down row is three 256-value units; Q4_K
// one-token experts +6 %, IQ4_XS +8-14 % in kernels_bench); the rest through for_row_groups,
// each row reduced alone by reduce. The ISA files pass their register type and reductions
// (tile_avx512.h, avx2_util.h).
template <int kBlock, class V, class A, class F, class S8, class R>
static inline void fused_rows(const A* acts, const int32_t* rows, int64_t stride, int64_t m, int64_t r0, int64_t r1,
                              float* y, int64_t ldy, F&& sums, S8&& store8, R&& reduce) {
  if (m == 1) {
    const A* a[1] = {acts + (rows ? rows[0] : 0) * stride};
    for (; r0 + 8 <= r1; r0 += 8) {
      V acc[8];
      for (int j = 0; j < 8; ++j) {
        V one[1];
        sums(r0 + j, a, one);
        acc[j] = one[0];
      }
      store8(y + r0, acc);
    }
  }
  for_row_groups<kBlock>(acts, rows, stride, m, r0, r1, [&](int64_t r, const A* const* a, int64_t i, auto c) {
    constexpr int C = decltype(c)::value;
    V acc[C];
    sums(r, a, acc);
    for (int k = 0; k < C; ++k) y[(i + k) * ldy + r] = reduce(acc[k]);
  });
}

}  // namespace moecat::kernels::quant
