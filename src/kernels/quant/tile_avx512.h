// Pieces shared by the AVX-512 row-tile products of the Span form (span_avx512.cpp) and the pair
// form (span_pair_avx512.cpp): the end of a tile's K chunk, the next block's prefetch spread
// over the tile calls, and the fused kernels' loop for one activation row. Included by AVX-512
// translation units only.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/avx512_util.h"
#include "kernels/quant/with_rows.h"

namespace moecat::kernels::avx512 {

// An R x C tile's 16-lane sums at the end of a K chunk: stored in accs for the next chunk, or
// (last) reduced into y[c * ldy + j], the 4 x 2 tile through one reduction network. The same
// reduction whatever the form, so the fused kernels' _mm512_reduce_add_ps gives the same bits.
template <int R, int C>
inline void finish_tile(const __m512 (&acc)[R][C], __m512* accs, bool last, float* y, int64_t ldy) {
  if (!last) {
#pragma GCC unroll 4
    for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
      for (int c = 0; c < C; ++c) _mm512_store_ps(&accs[j * C + c], acc[j][c]);
  } else if constexpr (R == 4 && C == 2) {
    const __m512 v[8] = {acc[0][0], acc[1][0], acc[2][0], acc[3][0], acc[0][1], acc[1][1], acc[2][1], acc[3][1]};
    const __m256 r = reduce8(v);
    _mm_storeu_ps(y, _mm256_castps256_ps128(r));
    _mm_storeu_ps(y + ldy, _mm256_extractf128_ps(r, 1));
  } else {
#pragma GCC unroll 4
    for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
      for (int c = 0; c < C; ++c) y[c * ldy + j] = _mm512_reduce_add_ps(acc[j][c]);
  }
}

// The loop of the AVX-512 fused kernels. sums(r, a, acc) fills acc[C] (C = acc's extent) with
// weight row r against the C activation rows a[0..C). One activation row (generation): weight
// rows in blocks of 8, one after another (one stream from memory), their sums reduced together
// by reduce8 (per row the bits of _mm512_reduce_add_ps, so those of the other paths): ~2
// instead of ~9 reduction operations per row, which counts where rows are short (a 768-wide
// expert down row is three 256-value units; Q4_K one-token experts +6 %, IQ4_XS +8-14 % in
// kernels_bench); the rest through quant::for_row_groups, each row reduced alone.
template <int kBlock, class A, class F>
inline void fused_rows(const A* acts, const int32_t* rows, int64_t stride, int64_t m, int64_t r0, int64_t r1, float* y,
                       int64_t ldy, F&& sums) {
  if (m == 1) {
    const A* a[1] = {acts + (rows ? rows[0] : 0) * stride};
    for (; r0 + 8 <= r1; r0 += 8) {
      __m512 acc[8];
      for (int j = 0; j < 8; ++j) {
        __m512 one[1];
        sums(r0 + j, a, one);
        acc[j] = one[0];
      }
      _mm256_storeu_ps(y + r0, reduce8(acc));
    }
  }
  quant::for_row_groups<kBlock>(acts, rows, stride, m, r0, r1, [&](int64_t r, const A* const* a, int64_t i, auto c) {
    constexpr int C = decltype(c)::value;
    __m512 acc[C];
    sums(r, a, acc);
    for (int k = 0; k < C; ++k) y[(i + k) * ldy + r] = _mm512_reduce_add_ps(acc[k]);
  });
}

// The next block of weight rows (one contiguous range: rows [next, next + n_rows) of row_bytes
// each) fetched into L2 while the current block is computed, a few lines before each of `calls`
// tile calls, so its unpack finds them there. Fetched in one burst at unpack time (into L1, as
// before session 16), the prefetches filled the few L1 miss buffers and the unpack waited on
// memory: q8_0 pp512, 1 thread, 347 -> 376 t/s. The rows of a block are interleaved streams to
// the unpack, which the hardware prefetcher alone follows poorly.
struct SpreadPrefetch {
  const char* cur;
  const char* end;
  int64_t per_call;
  SpreadPrefetch(const uint8_t* first_row, int64_t n_rows, int64_t row_bytes, int64_t calls)
      : cur(reinterpret_cast<const char*>(first_row)),
        end(cur + (n_rows > 0 ? n_rows : 0) * row_bytes),
        per_call(((end - cur) / 64 + calls - 1) / calls + 1) {}
  void step() {
    for (int64_t q = 0; q < per_call && cur < end; ++q, cur += 64) _mm_prefetch(cur, _MM_HINT_T1);
  }
};

}  // namespace moecat::kernels::avx512
