// AVX-512 kernels for the repacked block layouts (repack.h): the codes are already in the Span
// lane order, so a block decodes with masks, shifts and (IQ4_XS) one table lookup per 64 codes,
// no permutes. Two uses of one decoder per type:
//   unpack  writes the Span for the row-tile matmul of span_avx512.cpp (prompts, batches);
//   fused   up to eight activation rows against consecutive weight rows straight from the
//           registers (generation; an expert's few tokens in a batch step), with the tile
//           path's arithmetic, so both give the same bits.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/quant/span_scales_avx512.h"
#include "kernels/quant/tile_avx512.h"
#include "kernels/quant/with_rows.h"

namespace moecat::kernels::avx512 {

using quant::ActSpan;
using quant::Span;

namespace {

// Template arguments are the file type's ggml id (Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q2_K 10,
// Q3_K 11, Q4_K 12, Q5_K 13, Q6_K 14, IQ4_NL 20, IQ4_XS 23, MXFP4 39); the repacked type id is
// quant::kRepackedId + that.
struct Decoded {
  __m512i q[4];  // chunk k: lane order (span.h)
  __m512 fsc, fmin;
};

// The N plane: chunks 2h / 2h + 1 are the low / high nibbles of bytes 64h..64h+63.
inline void nibbles(const uint8_t* n, __m512i* q) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i z0 = _mm512_loadu_si512(n), z1 = _mm512_loadu_si512(n + 64);
  q[0] = _mm512_and_si512(z0, m4);
  q[1] = _mm512_and_si512(_mm512_srli_epi16(z0, 4), m4);
  q[2] = _mm512_and_si512(z1, m4);
  q[3] = _mm512_and_si512(_mm512_srli_epi16(z1, 4), m4);
}

// The P2 plane: chunk k is bits 2k, 2k+1 of each byte (16-bit shifts: the bits a shift brings
// in from the neighbouring byte are masked off).
inline void pairs(const uint8_t* p, __m512i* q) {
  const __m512i m3 = _mm512_set1_epi8(3), z = _mm512_loadu_si512(p);
  q[0] = _mm512_and_si512(z, m3);
  q[1] = _mm512_and_si512(_mm512_srli_epi16(z, 2), m3);
  q[2] = _mm512_and_si512(_mm512_srli_epi16(z, 4), m3);
  q[3] = _mm512_and_si512(_mm512_srli_epi16(z, 6), m3);
}

// The H1 plane: add `v` to the bytes of chunk k whose bit is set in u64 k.
inline void add_bits(const uint8_t* h, __m512i* q, char v) {
  const __m512i add = _mm512_set1_epi8(v);
  for (int k = 0; k < 4; ++k) {
    uint64_t m;
    std::memcpy(&m, h + 8 * k, 8);
    q[k] = _mm512_mask_add_epi8(q[k], m, q[k], add);
  }
}

// Q8_0_R's B8 plane is in the pair form's 32-value lanes (repack.h); the Span lane order wants
// chunk k lane g = dword 4(g%2) + k of block g/2, i.e. half-chunk K = 4(g%2) + k, lane g/2. The
// plane's zmm m holds half-chunks 2m, 2m + 1, so K = k is in zmm k/2 and K = k + 4 in zmm
// 2 + k/2, both at lanes 8(k%2) + g/2: one two-source permute per chunk. (Only the
// reference paths and tests read the pair-form layouts as Spans; their products run the pair
// kernels.)
inline void b8_to_lanes(const uint8_t* p, __m512i* q) {
  __m512i z[4];
  for (int m = 0; m < 4; ++m) z[m] = _mm512_loadu_si512(p + 64 * m);
  for (int k = 0; k < 4; ++k) {
    alignas(64) int32_t idx[16];
    for (int g = 0; g < 16; ++g) idx[g] = 16 * (g % 2) + 8 * (k % 2) + g / 2;
    q[k] = _mm512_permutex2var_epi32(z[k / 2], _mm512_load_si512(idx), z[2 + k / 2]);
  }
}

// The N32 plane (Q4_K_R, MXFP4_R; repack.h) in the Span lane order: chunk k lane g is nibble
// g%2 of dword g/2 of byte-chunk k.
inline void n32_to_lanes(const uint8_t* p, __m512i* q) {
  const __m512i y0 = _mm512_loadu_si512(p), y1 = _mm512_loadu_si512(p + 64);
  alignas(64) int32_t sh[16];
  for (int g = 0; g < 16; ++g) sh[g] = 4 * (g % 2);
  for (int k = 0; k < 4; ++k) {
    alignas(64) int32_t idx[16];
    for (int g = 0; g < 16; ++g) idx[g] = 8 * k + g / 2;
    q[k] = _mm512_and_si512(
        _mm512_srlv_epi32(_mm512_permutex2var_epi32(y0, _mm512_load_si512(idx), y1), _mm512_load_si512(sh)),
        _mm512_set1_epi8(0x0F));
  }
}

// The H32 plane (Q5_K_R, Q5_0_R, Q5_1_R): chunk k lane g byte t has bit 4 at bit 4(g/2) + t of
// u32 k (g even) or u32 k + 4 (g odd).
inline void h32_to_lanes(const uint8_t* h, __m512i* q) {
  for (int k = 0; k < 4; ++k) {
    uint32_t lo, hi;
    std::memcpy(&lo, h + 4 * k, 4);
    std::memcpy(&hi, h + 4 * (k + 4), 4);
    const uint64_t m = _pdep_u64(lo, 0x0F0F0F0F0F0F0F0Full) | _pdep_u64(hi, 0xF0F0F0F0F0F0F0F0ull);
    q[k] = _mm512_mask_add_epi8(q[k], m, q[k], _mm512_set1_epi8(16));
  }
}

// The 32-value types' units (repack.h): kHead header bytes per block at the head (f16 d, and
// for Q4_1 / Q5_1 f16 m), Q5's H32 plane, then the N32 plane.
constexpr int nib32_head(int t) { return t == 3 || t == 7 ? 4 : 2; }
constexpr bool is_nib32(int t) { return t == 2 || t == 3 || t == 6 || t == 7 || t == 20; }

template <int kType>
inline void decode_nib32(const uint8_t* b, Decoded& d) {
  constexpr int kHead = nib32_head(kType);
  constexpr bool kQ5 = kType == 6 || kType == 7;
  const __m512i dup = load_idx(quant::kDup2Row.v);
  if constexpr (kHead == 4) {  // (d, m) pairs: 16 halves, d at the even ones; the offset is -m
    const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
    alignas(64) int32_t ev[16], od[16];
    for (int g = 0; g < 16; ++g) ev[g] = 2 * (g / 2), od[g] = 2 * (g / 2) + 1;
    d.fsc = _mm512_permutexvar_ps(_mm512_load_si512(ev), dm);
    d.fmin = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_permutexvar_ps(_mm512_load_si512(od), dm));
  } else {
    d.fsc = _mm512_permutexvar_ps(
        dup, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)))));
    d.fmin = _mm512_mul_ps(d.fsc, _mm512_set1_ps(kType == 2 ? 8.0f : kType == 6 ? 16.0f : 128.0f));
  }
  n32_to_lanes(b + 8 * kHead + (kQ5 ? 32 : 0), d.q);
  if constexpr (kType == 20) {
    const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128)));
    for (int k = 0; k < 4; ++k) d.q[k] = _mm512_shuffle_epi8(lut, d.q[k]);
  }
  if constexpr (kQ5) h32_to_lanes(b + 8 * kHead, d.q);
}

template <int kType>
inline void decode(const uint8_t* b, Decoded& d) {
  if constexpr (is_nib32(kType)) {
    decode_nib32<kType>(b, d);
  } else if constexpr (kType == 39) {
    // MXFP4 (eight blocks): the exponents, then the N plane of e2m1 indices through the table.
    d.fsc = mxfp4_scales(b, 8);
    d.fmin = _mm512_mul_ps(d.fsc, _mm512_set1_ps(128.0f));
    n32_to_lanes(b + 8, d.q);
    const __m512i lut = mxfp4_lut();
    for (int k = 0; k < 4; ++k) d.q[k] = _mm512_shuffle_epi8(lut, d.q[k]);
  } else if constexpr (kType == 8) {
    // Q8_0 (eight blocks): fsc = the block's scale for both its groups, fmin = 128 fsc (codes
    // stored + 128), as unpack_q8_0 of the file layout computes them.
    const __m512 fsc = _mm512_permutexvar_ps(
        load_idx(quant::kDup2Row.v),
        _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)))));
    d.fsc = fsc;
    d.fmin = _mm512_mul_ps(fsc, _mm512_set1_ps(128.0f));
    b8_to_lanes(b + 16, d.q);
  } else if constexpr (kType == 12) {
    scales_k45(b, d.fsc, d.fmin);
    n32_to_lanes(b + 16, d.q);
  } else if constexpr (kType == 13) {
    // N32 + H32 (repack.h): chunk k lane g byte t has bit 4 at bit 4(g/2) + t of u32 k (g even)
    // or u32 k + 4 (g odd).
    scales_k45(b, d.fsc, d.fmin);
    n32_to_lanes(b + 48, d.q);
    h32_to_lanes(b + 16, d.q);
  } else if constexpr (kType == 14) {
    scales_q6k(b, d.fsc, d.fmin);
    nibbles(b, d.q);
    // H2: chunk k's bits 4-5 are bits 2k, 2k+1 of each byte, moved to 4-5: q | (shifted & 0x30).
    const __m512i h = _mm512_loadu_si512(b + 128), m30 = _mm512_set1_epi8(0x30);
    d.q[0] = _mm512_ternarylogic_epi32(d.q[0], _mm512_slli_epi16(h, 4), m30, 0xF8);
    d.q[1] = _mm512_ternarylogic_epi32(d.q[1], _mm512_slli_epi16(h, 2), m30, 0xF8);
    d.q[2] = _mm512_ternarylogic_epi32(d.q[2], h, m30, 0xF8);
    d.q[3] = _mm512_ternarylogic_epi32(d.q[3], _mm512_srli_epi16(h, 2), m30, 0xF8);
  } else if constexpr (kType == 10) {
    scales_q2k(b, d.fsc, d.fmin);
    pairs(b + 16, d.q);
  } else if constexpr (kType == 11) {
    scales_q3k(b, d.fsc, d.fmin);
    pairs(b + 32, d.q);
    add_bits(b, d.q, 4);
  } else {
    static_assert(kType == 23);
    scales_iq4xs(b, d.fsc, d.fmin);
    n32_to_lanes(b + 8, d.q);
    const __m512i lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlPlus128)));
    for (int k = 0; k < 4; ++k) d.q[k] = _mm512_shuffle_epi8(lut, d.q[k]);
  }
}

// A row's partial last unit of nv values (repack.h; Q8_0 and MXFP4): the nv/32 block headers,
// then nv/4 lanes per chunk (Q8_0) or chunk pair (MXFP4). Masked loads: nothing past the row is
// touched; codes, scales and offsets past nv are 0, as the file layout's fast unpack gives them.
template <int kType>
inline void decode_tail(const uint8_t* b, int nv, Decoded& d) {
  const int nb = nv / 32;
  const __mmask64 m = (uint64_t(1) << (nv / 4)) - 1;
  if constexpr (kType == 8) {
    const __m128i h = _mm_maskz_loadu_epi16(static_cast<__mmask8>((1u << nb) - 1), b);
    d.fsc = _mm512_permutexvar_ps(load_idx(quant::kDup2Row.v), _mm512_castps256_ps512(_mm256_cvtph_ps(h)));
    // The tail's half-chunks are nv/8 bytes (nb lanes): spread to a whole plane, zeros after.
    alignas(64) uint8_t plane[256];
    const __mmask32 mh = (uint32_t(1) << (nv / 8)) - 1;  // nv <= 224: at most 28 bytes
    for (int K = 0; K < 8; ++K)
      _mm256_store_si256(reinterpret_cast<__m256i*>(plane + 32 * K), _mm256_maskz_loadu_epi8(mh, b + 2 * nb + (nv / 8) * K));
    b8_to_lanes(plane, d.q);
  } else {
    static_assert(kType == 39);
    d.fsc = mxfp4_scales(b, nb);
    // The tail's byte-chunks are nv/8 bytes (nb lanes): spread to a whole N32 plane.
    alignas(64) uint8_t plane[128];
    const __mmask32 mh = (uint32_t(1) << (nv / 8)) - 1;
    for (int K = 0; K < 4; ++K)
      _mm256_store_si256(reinterpret_cast<__m256i*>(plane + 32 * K), _mm256_maskz_loadu_epi8(mh, b + nb + (nv / 8) * K));
    n32_to_lanes(plane, d.q);
    const __m512i lut = mxfp4_lut();
    for (int k = 0; k < 4; ++k) d.q[k] = _mm512_maskz_shuffle_epi8(m, lut, d.q[k]);
  }
  d.fmin = _mm512_mul_ps(d.fsc, _mm512_set1_ps(128.0f));
}

template <int kType>
void unpack(const uint8_t* row, int64_t s, int nv, Span* out) {
  Decoded d;
  if ((kType == 8 || kType == 39) && nv < quant::kSpan) {
    decode_tail<kType == 39 ? 39 : 8>(row + s * kquant_block_bytes(kType), nv, d);
  } else {
    decode<kType>(row + s * kquant_block_bytes(kType), d);
  }
  for (int k = 0; k < 4; ++k) _mm512_store_si512(out->q + 64 * k, d.q[k]);
  _mm512_store_ps(out->fsc, d.fsc);
  _mm512_store_ps(out->fmin, d.fmin);
}

// Per span: S_g by four chained vpdpbusd, then acc += S * (fsc * dg) and acc -= fmin * bs, or
// with kOff the offset in the integer sum (S starts at -offset * qs, no fmin): the operations
// and order of dot_tile in span_avx512.cpp.
template <bool kOff>
inline __m512 span_dot(const Decoded& d, const ActSpan& as, int offset, __m512 acc) {
  const __m512i init = kOff ? _mm512_mullo_epi32(_mm512_load_si512(as.qs), _mm512_set1_epi32(-offset))
                            : _mm512_setzero_si512();
  __m512i S = _mm512_dpbusd_epi32(init, d.q[0], _mm512_load_si512(as.q));
  S = _mm512_dpbusd_epi32(S, d.q[1], _mm512_load_si512(as.q + 64));
  S = _mm512_dpbusd_epi32(S, d.q[2], _mm512_load_si512(as.q + 128));
  S = _mm512_dpbusd_epi32(S, d.q[3], _mm512_load_si512(as.q + 192));
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), _mm512_mul_ps(d.fsc, _mm512_load_ps(as.dg)), acc);
  if (!kOff) acc = _mm512_fnmadd_ps(d.fmin, _mm512_load_ps(as.bs), acc);
  return acc;
}

// C activation rows a[c] against weight row `row`: each span is decoded once and dotted with
// the C rows (the tile path's per-output arithmetic: same bits); acc[c] = row c's 16 lanes.
template <int kType, bool kOff, int C>
inline void row_sums(const uint8_t* row, int64_t full, int tail, const ActSpan* const* a, __m512 (&acc)[C],
                     int offset) {
  constexpr int64_t kBytes = kquant_block_bytes(kType);
  constexpr int64_t kAhead = 8192;
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t s = 0; s < full; ++s) {
    // Rows are read one after another as one stream, which the hardware prefetcher alone
    // leaves latency-bound here: fetch kAhead bytes ahead, every line of this block's
    // distance (prefetches never fault, so running past the matrix is fine). Into L2, not L1:
    // an L1 prefetch holds one of the few L1 miss buffers until its line arrives, which the
    // decode of the heavier types then waits behind. kernels_bench, 32768 x 7168 Q6_K at one
    // token (193 MB, from memory): 4 KB ahead into L1 19.6 ms, 8 KB into L2 15.1-15.6; q8_0
    // (151936 x 2048) unchanged. DeepSeek-shaped Q4_K_M generation 7.9 -> 9.3 t/s at 1 thread
    // (its Q6_K output matrix is 60 % of a token), Qwen3-shaped Q4_K_M 61 -> 68 at 2.
    const char* pf = reinterpret_cast<const char*>(row + s * kBytes + kAhead);
    for (int64_t o = 0; o < kBytes; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
    Decoded d;
    decode<kType>(row + s * kBytes, d);
    for (int c = 0; c < C; ++c) acc[c] = span_dot<kOff>(d, a[c][s], offset, acc[c]);
  }
  if (tail) {
    Decoded d;
    decode_tail<kType == 39 ? 39 : 8>(row + full * kBytes, tail, d);
    for (int c = 0; c < C; ++c) acc[c] = span_dot<kOff>(d, a[c][full], offset, acc[c]);
  }
}

// One block of activation rows (quant::for_row_groups; matmul_many sends at most 12).
template <int kType, bool kOff>
void fused_groups(const uint8_t* w, int64_t row_bytes, int64_t nsp, const ActSpan* acts, const int32_t* rows,
                  int64_t m, float* y, int64_t ldy, int64_t r0, int64_t r1, int offset) {
  constexpr int64_t kBytes = kquant_block_bytes(kType);
  // Q8_0 and MXFP4 rows may end in a partial unit (its bytes tell how many values).
  int64_t full = nsp;
  int tail = 0;
  if ((kType == 8 || kType == 39) && row_bytes != nsp * kBytes) {
    full = nsp - 1;
    tail = static_cast<int>((row_bytes - full * kBytes) / (kBytes / 8) * 32);
  }
  fused_rows<16>(acts, rows, nsp, m, r0, r1, y, ldy, [&](int64_t r, const ActSpan* const* a, auto& acc) {
    row_sums<kType, kOff, std::extent_v<std::remove_reference_t<decltype(acc)>>>(w + r * row_bytes, full, tail, a, acc, offset);
  });
}

template <int kType>
void fused(const uint8_t* w, int64_t row_bytes, int64_t nsp, const ActSpan* acts, const int32_t* rows, int64_t m,
           float* y, int64_t ldy, int64_t r0, int64_t r1, int offset) {
  if (offset) {
    fused_groups<kType, true>(w, row_bytes, nsp, acts, rows, m, y, ldy, r0, r1, offset);
  } else {
    fused_groups<kType, false>(w, row_bytes, nsp, acts, rows, m, y, ldy, r0, r1, 0);
  }
}

}  // namespace

namespace {

struct RepackedKernels {
  quant::UnpackFn unpack;
  quant::FusedDotFn fused;
};

template <int kType>
constexpr RepackedKernels kernels_of() {
  return {unpack<kType>, fused<kType>};
}

RepackedKernels repacked_kernels(uint32_t t) {
  switch (t - quant::kRepackedId) {
    case 2: return kernels_of<2>();
    case 3: return kernels_of<3>();
    case 6: return kernels_of<6>();
    case 7: return kernels_of<7>();
    case 20: return kernels_of<20>();
    case 8: return kernels_of<8>();
    case 10: return kernels_of<10>();
    case 11: return kernels_of<11>();
    case 12: return kernels_of<12>();
    case 13: return kernels_of<13>();
    case 14: return kernels_of<14>();
    case 23: return kernels_of<23>();
    case 39: return kernels_of<39>();
    default: return {nullptr, nullptr};
  }
}

}  // namespace

quant::UnpackFn span_fast_unpack_repacked(uint32_t t) { return repacked_kernels(t).unpack; }
quant::FusedDotFn span_fused(uint32_t t) { return repacked_kernels(t).fused; }

}  // namespace moecat::kernels::avx512
