// AVX2 attention over an f16 cache for a group of query heads that share one KV head (GQA), as
// attention_avx512.cpp does for AVX-512: every K and V row is loaded and widened once for all G
// heads of the group instead of once per head (dot_rows_f16 / wsum_rows_f16 per head widened
// each row G times: 8 on Qwen3-30B-A3B-shaped models, where that was ~20 % of an AVX2 prompt).
// Per (head, row) the dot product adds 8-wide chunks in order into one accumulator and reduces
// it with hsum8; per output element the weighted sum adds the rows in order: the bits do not
// depend on how heads, rows or threads are grouped.
#include <immintrin.h>

#include <algorithm>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"

namespace moecat::kernels::avx2 {

namespace {

// Rows of one KV head are strided slices of the cache (all heads' keys of a position are one
// row): fetched kAhead rows ahead (attention_avx512.cpp measured the same).
constexpr int64_t kAhead = 12;
inline void prefetch_row(const uint16_t* r, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(r) + o, _MM_HINT_T0);
}

inline __m256 f32x8(const float* x, int64_t n) {
  return n >= 8 ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, tail_mask8(n));
}

// Up to 8 heads (HN) against K rows: per row, 32-value chunks of the row widened once (4
// registers) and multiplied into each head's accumulator.
template <int HN>
void dot_heads(const float* q, int64_t qstride, const uint16_t* k, int64_t stride, int64_t rows, int64_t dim,
               float scale, float* out, int64_t ld) {
  for (int64_t j = 0; j < rows; ++j) {
    const uint16_t* kr = k + j * stride;
    prefetch_row(kr + kAhead * stride, 2 * dim);
    __m256 acc[HN];
    for (int h = 0; h < HN; ++h) acc[h] = _mm256_setzero_ps();
    for (int64_t d0 = 0; d0 < dim; d0 += 32) {
      const int nc = static_cast<int>(std::min<int64_t>(4, (dim - d0 + 7) / 8));
      __m256 kv[4];
      for (int c = 0; c < nc; ++c) kv[c] = load_f16x8(kr + d0 + 8 * c, dim - d0 - 8 * c);
      for (int h = 0; h < HN; ++h) {
        const float* qh = q + h * qstride + d0;
        for (int c = 0; c < nc; ++c) acc[h] = _mm256_fmadd_ps(f32x8(qh + 8 * c, dim - d0 - 8 * c), kv[c], acc[h]);
      }
    }
    for (int h = 0; h < HN; ++h) out[h * ld + j] = hsum8(acc[h]) * scale;
  }
}

// Weighted sum for up to 4 heads over a 16-wide slice [d0, d0 + 16) of the head dimension.
template <int HN>
void wsum_slice(const float* p, int64_t ld, const uint16_t* v, int64_t stride, int64_t rows, int64_t d0,
                int64_t dim, float* out, int64_t ostride) {
  const int64_t n0 = dim - d0, n1 = dim - d0 - 8;  // values in the slice's two halves (may be <= 0)
  __m256 acc[HN][2];
  for (int h = 0; h < HN; ++h) {
    acc[h][0] = f32x8(out + h * ostride + d0, n0);
    acc[h][1] = n1 > 0 ? f32x8(out + h * ostride + d0 + 8, n1) : _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < rows; ++j) {
    const uint16_t* vr = v + j * stride + d0;
    if (d0 == 0) prefetch_row(v + (j + kAhead) * stride, 2 * dim);
    const __m256 v0 = load_f16x8(vr, n0);
    const __m256 v1 = n1 > 0 ? load_f16x8(vr + 8, n1) : _mm256_setzero_ps();
    for (int h = 0; h < HN; ++h) {
      const __m256 pj = _mm256_broadcast_ss(p + h * ld + j);
      acc[h][0] = _mm256_fmadd_ps(pj, v0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(pj, v1, acc[h][1]);
    }
  }
  for (int h = 0; h < HN; ++h) {
    float* o = out + h * ostride + d0;
    if (n0 >= 8) _mm256_storeu_ps(o, acc[h][0]);
    else _mm256_maskstore_ps(o, tail_mask8(n0), acc[h][0]);
    if (n1 >= 8) _mm256_storeu_ps(o + 8, acc[h][1]);
    else if (n1 > 0) _mm256_maskstore_ps(o + 8, tail_mask8(n1), acc[h][1]);
  }
}

}  // namespace

void dot_rows_f16_g(const float* q, int64_t qstride, int64_t G, const uint16_t* k, int64_t stride, int64_t rows,
                    int64_t dim, float scale, float* out, int64_t ld) {
  for (int64_t h = 0; h < G; h += 8) {
    const float* qh = q + h * qstride;
    float* oh = out + h * ld;
    switch (G - h < 8 ? G - h : 8) {
      case 8: dot_heads<8>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
      case 7: dot_heads<7>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
      case 6: dot_heads<6>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
      case 5: dot_heads<5>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
      case 4: dot_heads<4>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
      case 3: dot_heads<3>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
      case 2: dot_heads<2>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
      default: dot_heads<1>(qh, qstride, k, stride, rows, dim, scale, oh, ld); break;
    }
  }
}

void wsum_rows_f16_g(const float* p, int64_t ld, int64_t G, const uint16_t* v, int64_t stride, int64_t rows,
                     int64_t dim, float* out, int64_t ostride) {
  // Blocks of rows (~32 KB of V) stay in cache while every head group and slice reads them.
  const int64_t block = std::max<int64_t>(16, (int64_t(32) << 10) / (2 * dim));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t rb = std::min(block, rows - r0);
    const uint16_t* vb = v + r0 * stride;
    for (int64_t h0 = 0; h0 < G; h0 += 4) {
      const float* ph = p + h0 * ld + r0;
      float* oh = out + h0 * ostride;
      for (int64_t d0 = 0; d0 < dim; d0 += 16) {
        switch (G - h0 < 4 ? G - h0 : 4) {
          case 4: wsum_slice<4>(ph, ld, vb, stride, rb, d0, dim, oh, ostride); break;
          case 3: wsum_slice<3>(ph, ld, vb, stride, rb, d0, dim, oh, ostride); break;
          case 2: wsum_slice<2>(ph, ld, vb, stride, rb, d0, dim, oh, ostride); break;
          default: wsum_slice<1>(ph, ld, vb, stride, rb, d0, dim, oh, ostride); break;
        }
      }
    }
  }
}

}  // namespace moecat::kernels::avx2
