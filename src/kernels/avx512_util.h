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

// Sums of eight vectors at once (3 shuffles + 1.5 adds per vector instead of a full reduction
// each): returns a vector whose lanes 0-7 are sum(a[0]) .. sum(a[7]). The pairing is that of
// _mm512_reduce_add_ps (256-bit halves, 128-bit halves, then (l0 + l2) + (l1 + l3)), so each
// sum has the same bits as reducing that vector alone (tests compare the tile and row paths).
__attribute__((always_inline)) static inline __m256 reduce8(const __m512* a) {
  __m512 t[4];
  for (int i = 0; i < 4; ++i)  // fold 256-bit halves: [a2i | a2i+1]
    t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
  // fold 128-bit halves: u0 = [a0 a1 a2 a3], u1 = [a4 a5 a6 a7] (4 lanes each)
  const __m512 u0 = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], 0x88), _mm512_shuffle_f32x4(t[0], t[1], 0xDD));
  const __m512 u1 = _mm512_add_ps(_mm512_shuffle_f32x4(t[2], t[3], 0x88), _mm512_shuffle_f32x4(t[2], t[3], 0xDD));
  // within 128 bits: lane 0 of block b = sum a_b, lane 1 = sum a_(4+b)
  const __m512 v = _mm512_add_ps(_mm512_unpacklo_ps(u0, u1), _mm512_unpackhi_ps(u0, u1));
  const __m512 w = _mm512_add_ps(v, _mm512_shuffle_ps(v, v, 0x4E));
  const __m512 r = _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 13, 9, 5, 1, 12, 8, 4, 0), w);
  return _mm512_castps512_ps256(r);
}

}  // namespace moecat::kernels::avx512
