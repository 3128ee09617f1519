// AVX2 Span kernels (span.h) for CPUs without AVX-512: natural order throughout (the scalar
// activation layout), u8 x s8 products widened to int16 and summed pairwise in int32
// (vpmaddwd: exact, where vpmaddubsw could saturate on codes above 127), then eight group sums
// per vector by a fixed tree of horizontal adds.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/quant/span_util_avx2.h"

namespace moecat::kernels::avx2 {

using quant::ActSpan;
using quant::kGroups;
using quant::kSpan;
using quant::Span;

namespace {

// int32 partial products of group g (16 values): 8 lanes.
inline __m256i group_products(const uint8_t* w, const int8_t* a) {
  const __m256i wv = _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(w)));
  const __m256i av = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(a)));
  return _mm256_madd_epi16(wv, av);
}

// Group sums S_g for groups 8h .. 8h+7, in order.
inline __m256i group_sums8(const uint8_t* w, const int8_t* a) {
  __m256i p[8];
  for (int g = 0; g < 8; ++g) p[g] = group_products(w + 16 * g, a + 16 * g);
  const __m256i h1 = _mm256_hadd_epi32(p[0], p[1]), h2 = _mm256_hadd_epi32(p[2], p[3]);
  const __m256i h3 = _mm256_hadd_epi32(p[4], p[5]), h4 = _mm256_hadd_epi32(p[6], p[7]);
  const __m256i h12 = _mm256_hadd_epi32(h1, h2), h34 = _mm256_hadd_epi32(h3, h4);
  // h12 = [S0 S1 S2 S3 (low halves) | S0 S1 S2 S3 (high halves)]
  const __m128i s03 = _mm_add_epi32(_mm256_castsi256_si128(h12), _mm256_extracti128_si256(h12, 1));
  const __m128i s47 = _mm_add_epi32(_mm256_castsi256_si128(h34), _mm256_extracti128_si256(h34, 1));
  return _mm256_set_m128i(s47, s03);
}

// The same sums for codes below 128 (every type whose Span offset is below 128: the k-quants,
// Q4_0 .. Q5_1): u8 x s8 pairs by vpmaddubsw cannot saturate there (2 x 127 x 127 < 32768), so
// 32 values take two instructions instead of four per 16; the integer sums are exact either
// way, so the result has the same bits.
inline __m256i group_sums8_small(const uint8_t* w, const int8_t* a) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i p[4];  // p[i]: lane 0 group 2i's four partial sums, lane 1 group 2i + 1's
  for (int i = 0; i < 4; ++i)
    p[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * i)),
                                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32 * i))),
                             ones);
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
  // h = [S0 S2 S4 S6 | S1 S3 S5 S7]
  return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The same sums less 128 * (the group's activation sum) for codes stored + 128 (offset 128: Q8_0,
// MXFP4, the i-quants), i.e. the signed values v = c - 128 against the activations: |v| x
// (a with v's sign) by vpmaddubsw, which cannot saturate (2 x 128 x 127 < 32768). The caller
// then skips the offset product: the integer sums are the same, so are the bits.
inline __m256i group_sums8_signed(const uint8_t* w, const int8_t* a) {
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256i p[4];
  for (int i = 0; i < 4; ++i) {
    const __m256i v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * i)), flip);
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32 * i));
    p[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(x, v)), ones);
  }
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
  return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

}  // namespace

namespace {

// Rows [row0, row1) of x into ActSpans in natural order. kUnit: one scale per 256 values (amax
// of the unit / 127, as llama.cpp's Q8_K activations for the K-quants; every group's dg equal,
// so any Span kernel reads them; span_kquant16_avx2.cpp applies the weights' integer scales
// exactly against them). Otherwise as the scalar reference lays them out and rounds (tests
// compare the bytes): per 32 values amax / 127, codes with the exact scale, the kept scale
// f16-rounded with f16. Both: per 16 the code sum and scale x sum.
template <bool kUnit>
void act_rows(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  for (int64_t r = row0; r < row1; ++r) {
    ActSpan* a = static_cast<ActSpan*>(act) + r * nsp;
    const float* xr = x + r * in;
    for (int64_t s = 0; s < nsp; ++s) {
      std::memset(&a[s], 0, sizeof(ActSpan));
      const int64_t nv = in - s * kSpan < kSpan ? in - s * kSpan : kSpan;
      const float du = kUnit ? amax_n(xr + s * kSpan, nv) / 127.0f : 0.0f, idu = du != 0.0f ? 1.0f / du : 0.0f;
      for (int64_t b = 0; b < nv / 32; ++b) {
        int32_t sum[2];
        float ds = du;
        if constexpr (kUnit) {
          quantize32_with(xr + s * kSpan + 32 * b, idu, a[s].q + 32 * b, &sum[0], &sum[1]);
        } else {
          const float d = quantize32(xr + s * kSpan + 32 * b, a[s].q + 32 * b, &sum[0], &sum[1]);
          ds = f16 ? _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT)) : d;
        }
        for (int h = 0; h < 2; ++h) {
          a[s].dg[2 * b + h] = ds;
          a[s].bs[2 * b + h] = ds * static_cast<float>(sum[h]);
          a[s].qs[2 * b + h] = sum[h];
        }
      }
    }
  }
}

}  // namespace

void span_act(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16) {
  act_rows<false>(x, in, row0, row1, act, f16);
}

void span_act_unit(const float* x, int64_t in, int64_t row0, int64_t row1, void* act) {
  act_rows<true>(x, in, row0, row1, act, false);
}

void span_matmul(quant::UnpackFn unpack, quant::UnpackFn fast, int offset, const uint8_t* w, int64_t row_bytes,
                 int64_t in, const void* act, const int32_t* rows, int64_t n, float* y,
                 int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  Span* buf = span_scratch(nsp);
  const auto* acts = static_cast<const ActSpan*>(act);
  if (fast) unpack = fast;  // span_unpack_avx2.cpp: the same Span, vectorized
  // Codes below 128 (group_sums8_small): the types with an offset of 0..32 (k-quants, Q4_0 ..
  // Q5_1; their codes are at most 63). Offset 128 (Q8_0, MXFP4, the i-quants) stores int8 + 128.
  const bool small = offset < 128, signed128 = offset == 128;
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t s = 0; s < nsp; ++s) {
      const int nv = static_cast<int>(in - s * kSpan < kSpan ? in - s * kSpan : kSpan);
      Span* sp = &buf[s];
      if (nv < kSpan)
        for (int c = 0; c < 8; ++c) _mm256_store_si256(reinterpret_cast<__m256i*>(sp->q + 32 * c), _mm256_setzero_si256());
      unpack(w + r * row_bytes, s, nv, sp);
      for (int g = nv / 16; g < kGroups; ++g) sp->fsc[g] = sp->fmin[g] = 0.0f;
    }
    for (int64_t i = 0; i < n; ++i) {
      const ActSpan* a = acts + (rows ? rows[i] : i) * nsp;
      __m256 acc = _mm256_setzero_ps();
      for (int64_t s = 0; s < nsp; ++s) {
        const Span& sp = buf[s];
        for (int h = 0; h < 2; ++h) {
          const uint8_t* wq = sp.q + 128 * h;
          const int8_t* aq = a[s].q + 128 * h;
          __m256i S = small ? group_sums8_small(wq, aq) : signed128 ? group_sums8_signed(wq, aq) : group_sums8(wq, aq);
          const __m256 sc = _mm256_mul_ps(_mm256_load_ps(sp.fsc + 8 * h), _mm256_load_ps(a[s].dg + 8 * h));
          if (offset && !signed128) {  // fmin = offset * fsc: in the integer sum
            const __m256i qs = _mm256_load_si256(reinterpret_cast<const __m256i*>(a[s].qs + 8 * h));
            S = _mm256_sub_epi32(S, _mm256_mullo_epi32(qs, _mm256_set1_epi32(offset)));
          }
          acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S), sc, acc);
          if (!offset)
            acc = _mm256_fnmadd_ps(_mm256_load_ps(sp.fmin + 8 * h), _mm256_load_ps(a[s].bs + 8 * h), acc);
        }
      }
      y[i * ldy + r] = hsum8(acc);
    }
  }
}


}  // namespace moecat::kernels::avx2
