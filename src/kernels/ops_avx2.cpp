// AVX2 + FMA + F16C elementwise kernels and the vectorized expf.
// Compiled with -mavx2 -mfma -mf16c; only reached through the table dispatch.cpp selects.
// No STL / inline-header code here (see kernel_table.h).
#include <immintrin.h>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"

namespace moecat::kernels::avx2 {
namespace {

// exp(x) for 8 floats; same algorithm and accuracy as the AVX-512 version (ops_avx512.cpp):
// k = round(x*log2e), Cody-Waite r, degree-7 Taylor, times 2^k. Without scalef, 2^k is
// applied as 2^k1 * 2^k2 (k1 = floor(k/2)) so each factor is a normal float and the final
// product rounds once, giving the same overflow to +inf and gradual underflow.
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606820309417232e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ki = _mm256_cvtps_epi32(k);
  const __m256i k1 = _mm256_srai_epi32(ki, 1), k2 = _mm256_sub_epi32(ki, k1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

inline __m256d widen_sq(__m256 v, __m256d acc) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  return _mm256_fmadd_pd(hi, hi, _mm256_fmadd_pd(lo, lo, acc));
}
inline __m256d widen_add(__m256 v, __m256d acc) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  return _mm256_add_pd(hi, _mm256_add_pd(lo, acc));
}
inline double hsum_pd(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

float dot(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    acc0 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), acc0);
  }
  return hsum8(_mm256_add_ps(acc0, acc1));
}

void axpy(float a, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  if (i < n) {
    const __m256i m = tail_mask8(n - i);
    const __m256 r = _mm256_fmadd_ps(av, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
    _mm256_maskstore_ps(y + i, m, r);
  }
}

void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y) {
  __m256d acc = _mm256_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) acc = widen_sq(_mm256_maskload_ps(x + i, tail_mask8(n - i)), acc);
  const float mean = static_cast<float>(hsum_pd(acc) / double(n));
  const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean + eps)));
  const __m256 sv = _mm256_set1_ps(scale);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), sv);
    if (w) v = _mm256_mul_ps(v, _mm256_maskload_ps(w + i, m));
    _mm256_maskstore_ps(y + i, m, v);
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  __m256 mx = ninf;
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m)));
  }
  const __m256 mv = _mm256_set1_ps(hmax8(mx));
  __m256d sum = _mm256_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mv)),
                                   _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(x + i, m, e);
    sum = widen_add(e, sum);
  }
  const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / hsum_pd(sum)));
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    _mm256_maskstore_ps(x + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), inv));
  }
}

void swiglu(const float* g, const float* u, int64_t n, float* y) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    const __m256 gv = _mm256_maskload_ps(g + i, m);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));  // exp(-g)
    const __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));      // silu(g)
    _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(s, _mm256_maskload_ps(u + i, m)));
  }
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, const float* cos,
          const float* sin, bool neox) {
  const int64_t half = rot_dim / 2;
  const __m256i dup = _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0);
  const __m256 sgn = _mm256_set_ps(1, -1, 1, -1, 1, -1, 1, -1);
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    if (neox) {
      for (int64_t i = 0; i < half; i += 8) {
        const __m256i m = tail_mask8(half - i);
        const __m256 x0 = _mm256_maskload_ps(v + i, m), x1 = _mm256_maskload_ps(v + half + i, m);
        const __m256 c = _mm256_maskload_ps(cos + i, m), s = _mm256_maskload_ps(sin + i, m);
        _mm256_maskstore_ps(v + i, m, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
        _mm256_maskstore_ps(v + half + i, m, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
      }
    } else {
      for (int64_t i = 0; i < half; i += 4) {  // 4 pairs = 8 floats per step
        const int64_t np = half - i >= 4 ? 4 : half - i;
        const __m256i m = tail_mask8(2 * np);
        const __m128i m4 = _mm256_castsi256_si128(tail_mask8(np));
        const __m256 xv = _mm256_maskload_ps(v + 2 * i, m);
        const __m256 c = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_maskload_ps(cos + i, m4)), dup);
        const __m256 s = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_maskload_ps(sin + i, m4)), dup);
        const __m256 xs = _mm256_permute_ps(xv, 0xB1);  // swap each pair: (x1, x0)
        _mm256_maskstore_ps(v + 2 * i, m, _mm256_fmadd_ps(xv, c, _mm256_mul_ps(xs, _mm256_mul_ps(s, sgn))));
      }
    }
  }
}

void vexp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    _mm256_maskstore_ps(y + i, m, exp8(_mm256_maskload_ps(x + i, m)));
  }
}

void dot_rows(const float* q, const float* k, int64_t stride, int64_t rows, int64_t dim,
              float scale, float* out) {
  for (int64_t j = 0; j < rows; ++j) out[j] = dot(q, k + j * stride, dim) * scale;
}

float exp_shift_sum(float* x, int64_t n, float shift) {
  const __m256 sv = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask8(n - i);
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), sv)),
                                   _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(x + i, m, e);
    sum = _mm256_add_ps(sum, e);
  }
  return hsum8(sum);
}

// out[d] += sum_j p[j] * row_j[d] with rows of T; load(ptr, remaining) gives the next 8 values
// of a row as floats (zero past the end). 4 rows per pass over out: fewer load/stores of out.
template <class T, class Load>
static void wsum_rows_with(const float* p, const T* v, int64_t stride, int64_t rows, int64_t dim, float* out,
                           Load load) {
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const __m256 p0 = _mm256_set1_ps(p[j]), p1 = _mm256_set1_ps(p[j + 1]);
    const __m256 p2 = _mm256_set1_ps(p[j + 2]), p3 = _mm256_set1_ps(p[j + 3]);
    const T* v0 = v + j * stride;
    for (int64_t d = 0; d < dim; d += 8) {
      const __m256i m = tail_mask8(dim - d);
      const int64_t r = dim - d;
      __m256 o = _mm256_maskload_ps(out + d, m);
      o = _mm256_fmadd_ps(p0, load(v0 + d, r), o);
      o = _mm256_fmadd_ps(p1, load(v0 + stride + d, r), o);
      o = _mm256_fmadd_ps(p2, load(v0 + 2 * stride + d, r), o);
      o = _mm256_fmadd_ps(p3, load(v0 + 3 * stride + d, r), o);
      _mm256_maskstore_ps(out + d, m, o);
    }
  }
  for (; j < rows; ++j) {
    const __m256 pj = _mm256_set1_ps(p[j]);
    for (int64_t d = 0; d < dim; d += 8) {
      const __m256i m = tail_mask8(dim - d);
      _mm256_maskstore_ps(out + d, m, _mm256_fmadd_ps(pj, load(v + j * stride + d, dim - d),
                                                      _mm256_maskload_ps(out + d, m)));
    }
  }
}

void wsum_rows(const float* p, const float* v, int64_t stride, int64_t rows, int64_t dim,
               float* out) {
  wsum_rows_with(p, v, stride, rows, dim, out,
                 [](const float* x, int64_t r) { return _mm256_maskload_ps(x, tail_mask8(r)); });
}

void dot_rows_f16(const float* q, const uint16_t* k, int64_t stride, int64_t rows, int64_t dim,
                  float scale, float* out) {
  for (int64_t j = 0; j < rows; ++j) {
    const uint16_t* kr = k + j * stride;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; d += 8) {
      const __m256i m = tail_mask8(dim - d);
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(q + d, m), load_f16x8(kr + d, dim - d), acc);
    }
    out[j] = hsum8(acc) * scale;
  }
}

void wsum_rows_f16(const float* p, const uint16_t* v, int64_t stride, int64_t rows, int64_t dim,
                   float* out) {
  wsum_rows_with(p, v, stride, rows, dim, out, load_f16x8);
}

}  // namespace moecat::kernels::avx2
