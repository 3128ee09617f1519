// AVX-512 (F/BW/VL/DQ) elementwise kernels and the vectorized expf.
// Compiled with -mavx512*; only reached through the table dispatch.cpp selects after CPUID.
// No STL / inline-header code here (see kernel_table.h).
#include <immintrin.h>

// GCC 12 reports false "uninitialized" warnings inside its own AVX-512 intrinsic headers
// (_mm512_undefined_* placeholders) once they are inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/kernel_table.h"

namespace moecat::kernels::avx512 {
namespace {

inline __mmask16 tail_mask(int64_t rem) { return static_cast<__mmask16>((1u << rem) - 1u); }

// exp(x) for 16 floats. Range reduction x = k*ln2 + r with k = round(x*log2e) and r computed
// with a two-constant (Cody-Waite) ln2 and FMA, |r| <= ~0.347; exp(r) by its degree-7 Taylor
// polynomial (truncation error < 6e-9 relative, below half an ulp), Horner with FMA; then
// scalef multiplies by 2^k, giving correct overflow to +inf and gradual underflow to 0.
// Measured max error vs. double exp: <= 2 ulp for normal results (tests check it).
// Inputs are clamped to [-104, 89] first (exp is 0 / +inf beyond), NaN propagates.
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606820309417232e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}

// Sum of squares of 16 floats, widened to double (ggml's rms_norm sums in double too).
inline __m512d sq_pd(__m512 v, __m512d acc) {
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  return _mm512_fmadd_pd(hi, hi, _mm512_fmadd_pd(lo, lo, acc));
}
inline __m512d sum_pd(__m512 v, __m512d acc) {
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  return _mm512_add_pd(hi, _mm512_add_pd(lo, acc));
}

}  // namespace

float dot(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void axpy(float a, const float* x, float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    const __m512 r = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
    _mm512_mask_storeu_ps(y + i, m, r);
  }
}

void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y) {
  __m512d acc = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    acc = sq_pd(_mm512_maskz_loadu_ps(m, x + i), acc);
  }
  const float mean = static_cast<float>(_mm512_reduce_add_pd(acc) / double(n));
  const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean + eps)));
  const __m512 sv = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv);
    if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-__builtin_inff()), m, x + i));
  }
  const __m512 mv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512d sum = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = sum_pd(e, sum);
  }
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / _mm512_reduce_add_pd(sum)));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

void swiglu(const float* g, const float* u, int64_t n, float* y) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));  // exp(-g)
    const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, e));      // silu(g)
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, const float* cos,
          const float* sin, bool neox) {
  const int64_t half = rot_dim / 2;
  // Non-neox: lanes 2i, 2i+1 take cos[i]; the odd lane gets +sin, the even lane -sin.
  const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512 sgn = _mm512_set_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1);
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    if (neox) {
      for (int64_t i = 0; i < half; i += 16) {
        const __mmask16 m = half - i >= 16 ? __mmask16(0xffff) : tail_mask(half - i);
        const __m512 x0 = _mm512_maskz_loadu_ps(m, v + i), x1 = _mm512_maskz_loadu_ps(m, v + half + i);
        const __m512 c = _mm512_maskz_loadu_ps(m, cos + i), s = _mm512_maskz_loadu_ps(m, sin + i);
        _mm512_mask_storeu_ps(v + i, m, _mm512_fmsub_ps(x0, c, _mm512_mul_ps(x1, s)));
        _mm512_mask_storeu_ps(v + half + i, m, _mm512_fmadd_ps(x0, s, _mm512_mul_ps(x1, c)));
      }
    } else {
      for (int64_t i = 0; i < half; i += 8) {  // 8 pairs = 16 floats per step
        const int64_t np = half - i >= 8 ? 8 : half - i;
        const __mmask8 m8 = static_cast<__mmask8>((1u << np) - 1u);
        const __mmask16 m = tail_mask(2 * np);
        const __m512 xv = _mm512_maskz_loadu_ps(m, v + 2 * i);
        const __m512 c = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(m8, cos + i)));
        const __m512 s = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(m8, sin + i)));
        const __m512 xs = _mm512_permute_ps(xv, 0xB1);  // swap each pair: (x1, x0)
        _mm512_mask_storeu_ps(v + 2 * i, m, _mm512_fmadd_ps(xv, c, _mm512_mul_ps(xs, _mm512_mul_ps(s, sgn))));
      }
    }
  }
}

void vexp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void dot_rows(const float* q, const float* k, int64_t stride, int64_t rows, int64_t dim,
              float scale, float* out) {
  for (int64_t j = 0; j < rows; ++j) out[j] = dot(q, k + j * stride, dim) * scale;
}

float exp_shift_sum(float* x, int64_t n, float shift) {
  const __m512 sv = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), sv)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

// out[d] += sum_j p[j] * row_j[d] with rows of T; load(ptr, mask) gives 16 values of a row as
// floats (zero outside the mask). 4 rows per pass over out: fewer load/stores of out.
template <class T, class Load>
static void wsum_rows_with(const float* p, const T* v, int64_t stride, int64_t rows, int64_t dim, float* out,
                           Load load) {
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const __m512 p0 = _mm512_set1_ps(p[j]), p1 = _mm512_set1_ps(p[j + 1]);
    const __m512 p2 = _mm512_set1_ps(p[j + 2]), p3 = _mm512_set1_ps(p[j + 3]);
    const T* v0 = v + j * stride;
    for (int64_t d = 0; d < dim; d += 16) {
      const __mmask16 m = dim - d >= 16 ? __mmask16(0xffff) : tail_mask(dim - d);
      __m512 o = _mm512_maskz_loadu_ps(m, out + d);
      o = _mm512_fmadd_ps(p0, load(v0 + d, m), o);
      o = _mm512_fmadd_ps(p1, load(v0 + stride + d, m), o);
      o = _mm512_fmadd_ps(p2, load(v0 + 2 * stride + d, m), o);
      o = _mm512_fmadd_ps(p3, load(v0 + 3 * stride + d, m), o);
      _mm512_mask_storeu_ps(out + d, m, o);
    }
  }
  for (; j < rows; ++j) {
    const __m512 pj = _mm512_set1_ps(p[j]);
    for (int64_t d = 0; d < dim; d += 16) {
      const __mmask16 m = dim - d >= 16 ? __mmask16(0xffff) : tail_mask(dim - d);
      _mm512_mask_storeu_ps(out + d, m, _mm512_fmadd_ps(pj, load(v + j * stride + d, m),
                                                        _mm512_maskz_loadu_ps(m, out + d)));
    }
  }
}

void wsum_rows(const float* p, const float* v, int64_t stride, int64_t rows, int64_t dim,
               float* out) {
  wsum_rows_with(p, v, stride, rows, dim, out,
                 [](const float* x, __mmask16 m) { return _mm512_maskz_loadu_ps(m, x); });
}

// 16 halves at h under mask m (zero elsewhere) widened to floats.
static inline __m512 load_f16x16(const uint16_t* h, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h));
}

void dot_rows_f16(const float* q, const uint16_t* k, int64_t stride, int64_t rows, int64_t dim,
                  float scale, float* out) {
  for (int64_t j = 0; j < rows; ++j) {
    const uint16_t* kr = k + j * stride;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t d = 0; d < dim; d += 16) {
      const __mmask16 m = dim - d >= 16 ? __mmask16(0xffff) : tail_mask(dim - d);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), load_f16x16(kr + d, m), acc);
    }
    out[j] = _mm512_reduce_add_ps(acc) * scale;
  }
}

void wsum_rows_f16(const float* p, const uint16_t* v, int64_t stride, int64_t rows, int64_t dim,
                   float* out) {
  wsum_rows_with(p, v, stride, rows, dim, out, load_f16x16);
}

}  // namespace moecat::kernels::avx512
