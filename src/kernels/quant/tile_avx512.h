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

// The loop of the AVX-512 fused kernels (quant::fused_rows): zmm sums, eight rows reduced
// together by reduce8, one by _mm512_reduce_add_ps.
template <int kBlock, class A, class F>
inline void fused_rows(const A* acts, const int32_t* rows, int64_t stride, int64_t m, int64_t r0, int64_t r1, float* y,
                       int64_t ldy, F&& sums) {
  quant::fused_rows<kBlock, __m512>(
      acts, rows, stride, m, r0, r1, y, ldy, sums,
      [](float* out, const __m512(&acc)[8]) { _mm256_storeu_ps(out, reduce8(acc)); },
      [](__m512 v) { return _mm512_reduce_add_ps(v); });
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
