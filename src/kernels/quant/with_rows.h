// with_rows(n, f): calls f(std::integral_constant<int, C>{}) with C = n (1..8; anything else
// runs as 1). The fused kernels are templates on how many activation rows they multiply each
// weight row with (one register accumulator per row); this picks the instance for a run-time
// count, in one place for every ISA file.
//
// `static`: each ISA file is compiled with its own target flags, so a helper they include must
// have internal linkage (an inline function of external linkage may be merged across them; see
// kernel_table.h).
#pragma once
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

}  // namespace moecat::kernels::quant
