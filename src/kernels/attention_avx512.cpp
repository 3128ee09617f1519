// AVX-512 attention over an f16 cache for a group of query heads that share one KV head (GQA):
// every K and V row is loaded and widened once for all G heads of the group instead of once per
// head, which divides the cache traffic of a long context by G (8 on Qwen3-30B-A3B-shaped
// models). The arithmetic per head is the same dot / weighted sum as dot_rows_f16 /
// wsum_rows_f16, in a fixed order that does not depend on the thread split.
#include <immintrin.h>

#include "kernels/avx512_util.h"

#include <algorithm>

// GCC 12 reports false "uninitialized" warnings inside its own AVX-512 intrinsic headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/kernel_table.h"

namespace moecat::kernels::avx512 {

namespace {

inline __mmask16 tail_mask16(int64_t rem) {
  return rem >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << rem) - 1u);
}

// Rows of one KV head are strided slices of the cache (all heads' keys of a position are one
// row): from memory, each is a latency-bound fetch the hardware prefetchers do not run ahead
// of, so the kernels fetch kAhead rows ahead (prefetches never fault; past the end is fine).
constexpr int64_t kAhead = 12;
inline void prefetch_row(const uint16_t* r, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(r) + o, _MM_HINT_T0);
}

// NC = dim / 16 chunks, known at compile time for the common head sizes.
template <int NC>
void dot_g_fixed(const float* q, int64_t qstride, int64_t G, const uint16_t* k, int64_t stride,
                 int64_t rows, float scale, float* out, int64_t ld) {
  for (int64_t j = 0; j < rows; ++j) {
    const uint16_t* kr = k + j * stride;
    prefetch_row(kr + kAhead * stride, 32 * NC);
    __m512 kv[NC];
#pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) kv[c] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kr + 16 * c)));
    int64_t h = 0;
    for (; h + 8 <= G; h += 8) {  // eight heads, one joint reduction
      __m512 acc[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const float* qh = q + (h + i) * qstride;
        acc[i] = _mm512_mul_ps(_mm512_loadu_ps(qh), kv[0]);
#pragma GCC unroll 16
        for (int c = 1; c < NC; ++c) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(qh + 16 * c), kv[c], acc[i]);
      }
      alignas(32) float sums[8];
      _mm256_store_ps(sums, _mm256_mul_ps(reduce8(acc), _mm256_set1_ps(scale)));
      for (int i = 0; i < 8; ++i) out[(h + i) * ld + j] = sums[i];
    }
    for (; h < G; ++h) {
      const float* qh = q + h * qstride;
      __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qh), kv[0]);
#pragma GCC unroll 16
      for (int c = 1; c < NC; ++c) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qh + 16 * c), kv[c], acc);
      out[h * ld + j] = _mm512_reduce_add_ps(acc) * scale;
    }
  }
}

// Any head size (MLA's 576-wide latent + rope keys, which do not fit in registers as one row):
// an HB heads x RB rows tile, register-blocked like a matmul. Each 16-value chunk of the RB
// K rows is widened once and each chunk of the HB queries loaded once per tile: HB * RB FMAs
// for HB + RB loads, where one head against one row is a load per FMA. The last chunk is
// masked. Every (head, row) dot sums its chunks in order into one vector and reduces it with
// reduce8, so its bits do not depend on the tile it falls in.
template <int HB, int RB>
void dot_tile_g(const float* q, int64_t qstride, const uint16_t* k, int64_t stride, int64_t dim, float scale,
                float* out, int64_t ld) {
  __m512 acc[HB * RB];
#pragma GCC unroll 16
  for (int i = 0; i < HB * RB; ++i) acc[i] = _mm512_setzero_ps();
  auto step = [&](int64_t d, __mmask16 m) {
    __m512 kv[RB];
#pragma GCC unroll 4
    for (int r = 0; r < RB; ++r) kv[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, k + r * stride + d));
#pragma GCC unroll 4
    for (int h = 0; h < HB; ++h) {
      const __m512 qv = _mm512_maskz_loadu_ps(m, q + h * qstride + d);
#pragma GCC unroll 4
      for (int r = 0; r < RB; ++r) acc[h * RB + r] = _mm512_fmadd_ps(qv, kv[r], acc[h * RB + r]);
    }
  };
  int64_t d = 0;
  for (; d + 16 <= dim; d += 16) step(d, 0xffff);
  if (d < dim) step(d, tail_mask16(dim - d));
  for (int i0 = 0; i0 < HB * RB; i0 += 8) {
    __m512 a[8];
    for (int i = 0; i < 8; ++i) a[i] = i0 + i < HB * RB ? acc[i0 + i] : _mm512_setzero_ps();
    alignas(32) float sums[8];
    _mm256_store_ps(sums, _mm256_mul_ps(reduce8(a), _mm256_set1_ps(scale)));
    for (int i = 0; i < 8 && i0 + i < HB * RB; ++i) out[(i0 + i) / RB * ld + (i0 + i) % RB] = sums[i];
  }
}

template <int HB>
void dot_tile_rows(int rb, const float* q, int64_t qstride, const uint16_t* k, int64_t stride, int64_t dim,
                   float scale, float* out, int64_t ld) {
  switch (rb) {
    case 4: dot_tile_g<HB, 4>(q, qstride, k, stride, dim, scale, out, ld); return;
    case 3: dot_tile_g<HB, 3>(q, qstride, k, stride, dim, scale, out, ld); return;
    case 2: dot_tile_g<HB, 2>(q, qstride, k, stride, dim, scale, out, ld); return;
    default: dot_tile_g<HB, 1>(q, qstride, k, stride, dim, scale, out, ld); return;
  }
}

// Blocks of 32 K rows (36 KB at MLA's 576, in L2), each read by every group of 4 heads in turn,
// so a group's queries (9 KB at 576) stay in L1 across the block's tiles instead of all G
// heads' (37 KB for MLA's 16) cycling through it every 4 rows: BM_AttentionDecodeMla 86-88 ->
// 89-92 GFLOP/s. Each (head, row) dot is computed as before (same bits).
void dot_g_tiled(const float* q, int64_t qstride, int64_t G, const uint16_t* k, int64_t stride, int64_t rows,
                 int64_t dim, float scale, float* out, int64_t ld) {
  constexpr int64_t kBlock = 32;
  for (int64_t jb = 0; jb < rows; jb += kBlock) {
    const int64_t je = std::min(rows, jb + kBlock);
    for (int64_t h = 0; h < G; h += 4) {
      const float* qh = q + h * qstride;
      for (int64_t j = jb; j < je; j += 4) {
        const int rb = static_cast<int>(je - j < 4 ? je - j : 4);
        if (h == 0) for (int r = 0; r < 4; ++r) prefetch_row(k + (j + kAhead + r) * stride, 2 * dim);
        const uint16_t* kj = k + j * stride;
        float* oh = out + h * ld + j;
        switch (G - h < 4 ? G - h : 4) {
          case 4: dot_tile_rows<4>(rb, qh, qstride, kj, stride, dim, scale, oh, ld); break;
          case 3: dot_tile_rows<3>(rb, qh, qstride, kj, stride, dim, scale, oh, ld); break;
          case 2: dot_tile_rows<2>(rb, qh, qstride, kj, stride, dim, scale, oh, ld); break;
          default: dot_tile_rows<1>(rb, qh, qstride, kj, stride, dim, scale, oh, ld); break;
        }
      }
    }
  }
}

// Weighted sum for up to 8 heads over a slice of NS 16-value chunks of the head dimension: the
// slice of each V row is widened once and added into all heads' accumulators; each head's
// weight is broadcast once per row for its NS chunks (HN x NS accumulators in registers).
template <int HN, int NS>
void wsum_g_slice(const float* p, int64_t ld, const uint16_t* v, int64_t stride, int64_t rows,
                  int64_t d0, int64_t dim, float* out, int64_t ostride) {
  __mmask16 m[NS];
  for (int c = 0; c < NS; ++c) m[c] = dim - d0 > 16 * c ? tail_mask16(dim - d0 - 16 * c) : 0;
  __m512 acc[HN][NS];
#pragma GCC unroll 8
  for (int h = 0; h < HN; ++h)
#pragma GCC unroll 4
    for (int c = 0; c < NS; ++c) acc[h][c] = _mm512_maskz_loadu_ps(m[c], out + h * ostride + d0 + 16 * c);
  for (int64_t j = 0; j < rows; ++j) {
    const uint16_t* vr = v + j * stride + d0;
    // The first slice's pass brings each row's whole segment in (the later slices read it from
    // cache): one request per line of the row kAhead rows ahead, not one line per pass.
    if (d0 == 0) {
      prefetch_row(v + (j + kAhead) * stride, 2 * dim);
    }
    __m512 vc[NS];
#pragma GCC unroll 4
    for (int c = 0; c < NS; ++c) vc[c] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[c], vr + 16 * c));
#pragma GCC unroll 8
    for (int h = 0; h < HN; ++h) {
      const __m512 pj = _mm512_set1_ps(p[h * ld + j]);
#pragma GCC unroll 4
      for (int c = 0; c < NS; ++c) acc[h][c] = _mm512_fmadd_ps(pj, vc[c], acc[h][c]);
    }
  }
#pragma GCC unroll 8
  for (int h = 0; h < HN; ++h)
#pragma GCC unroll 4
    for (int c = 0; c < NS; ++c) _mm512_mask_storeu_ps(out + h * ostride + d0 + 16 * c, m[c], acc[h][c]);
}

}  // namespace

void dot_rows_f16_g(const float* q, int64_t qstride, int64_t G, const uint16_t* k, int64_t stride,
                    int64_t rows, int64_t dim, float scale, float* out, int64_t ld) {
  switch (dim) {
    case 64: dot_g_fixed<4>(q, qstride, G, k, stride, rows, scale, out, ld); return;
    case 128: dot_g_fixed<8>(q, qstride, G, k, stride, rows, scale, out, ld); return;
    case 192: dot_g_fixed<12>(q, qstride, G, k, stride, rows, scale, out, ld); return;
    case 256: dot_g_fixed<16>(q, qstride, G, k, stride, rows, scale, out, ld); return;
    default: dot_g_tiled(q, qstride, G, k, stride, rows, dim, scale, out, ld);
  }
}

void wsum_rows_f16_g(const float* p, int64_t ld, int64_t G, const uint16_t* v, int64_t stride,
                     int64_t rows, int64_t dim, float* out, int64_t ostride) {
  // Blocks of rows (~64 KB of V) stay in cache while every head group and slice reads them, so
  // the V rows come from L3 / memory once, not once per group of 8 heads (MLA: 16 heads per
  // unit, 1 KB rows). Each output element still adds the rows in order.
  const int64_t block = std::max<int64_t>(16, (int64_t(64) << 10) / (2 * dim));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t rb = std::min(block, rows - r0);
    const uint16_t* vb = v + r0 * stride;
    for (int64_t h0 = 0; h0 < G; h0 += 8) {
      const int64_t hn = G - h0 < 8 ? G - h0 : 8;
      const float* ph = p + h0 * ld + r0;
      float* oh = out + h0 * ostride;
      // Slices of 3 chunks for 8 heads (24 accumulators: each weight's broadcast serves 3
      // FMAs, not 2; kernels_bench BM_AttentionDecodeMla, 1 thread, 8192 positions: 82-87 ->
      // 84-90 GFLOP/s over three alternating runs) while 48 values remain, the rest (<= 32 of
      // MLA's 512 or a head of 128) in 2-chunk slices (1 for a last 16), so no slice carries an
      // empty masked chunk;
      // 4 chunks for 4 heads.
      switch (hn) {
        case 8: {
          int64_t d0 = 0;
          for (; d0 + 48 <= dim; d0 += 48) wsum_g_slice<8, 3>(ph, ld, vb, stride, rb, d0, dim, oh, ostride);
          for (; d0 < dim; d0 += 32) {
            if (dim - d0 > 16) wsum_g_slice<8, 2>(ph, ld, vb, stride, rb, d0, dim, oh, ostride);
            else wsum_g_slice<8, 1>(ph, ld, vb, stride, rb, d0, dim, oh, ostride);
          }
          break;
        }
        case 4:
          for (int64_t d0 = 0; d0 < dim; d0 += 64) wsum_g_slice<4, 4>(ph, ld, vb, stride, rb, d0, dim, oh, ostride);
          break;
        case 2:
          for (int64_t d0 = 0; d0 < dim; d0 += 32) wsum_g_slice<2, 2>(ph, ld, vb, stride, rb, d0, dim, oh, ostride);
          break;
        default:
          for (int64_t h = 0; h < hn; ++h)
            for (int64_t d0 = 0; d0 < dim; d0 += 32)
              wsum_g_slice<1, 2>(ph + h * ld, ld, vb, stride, rb, d0, dim, oh + h * ostride, ostride);
      }
    }
  }
}

}  // namespace moecat::kernels::avx512
