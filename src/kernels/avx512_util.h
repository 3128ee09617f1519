// Internal helpers shared by the *_avx512.cpp files only (compiled with -mavx512*). Everything is
// `static` so no AVX-512 code can leak into baseline callers via the linker.
#pragma once
#include <immintrin.h>

namespace moecat::kernels::avx512 {

// roundf semantics (halves away from zero) on 16 lanes: truncate, then step away from zero
// when the dropped fraction is >= 0.5. v - trunc(v) is exact for |v| < 2^23.
static inline __m512 round_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 m =
      _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
  return _mm512_mask_add_ps(t, m, t, step);
}

}  // namespace moecat::kernels::avx512
