// AVX2 natural-order unpacks of the grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S): the same Span as each type's reference unpack in iquants.cpp (codes, and
// fsc / fmin from the same float expressions; tests/quant_kernels_test.cpp compares them byte for
// byte), eight values at a time instead of one: a grid row is one 64-bit load from this file's
// copy of the grid, stored already as Span codes (128 + magnitude; IQ1: 128 + 8 grid + 1; IQ3's
// 4-value entries in pairs), and its sign byte becomes a byte mask by a table, so a negative
// value's code 128 - m is (c ^ 0xFF) + 1 = (c ^ mask) - mask. IQ1's -1/8 delta takes 2 off
// every code of its row. Without these, AVX2 CPUs decoded every weight of an IQ1/IQ2/IQ3 file
// value by value at every token (the files big MoE models are downloaded as).
// The format notes are iquants.cpp's; the index and scale expressions here are the same ones.
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/quant/iq_tables.h"
#include "kernels/quant/span_util_avx2.h"

namespace moecat::kernels::avx2 {

using quant::Span;

namespace {

using Tables = quant::iq::SpanGrids;
inline const Tables& tables() { return quant::iq::span_grids(); }

inline uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Four rows of 8 codes (r[0..3], 128 + magnitude) with their sign masks to dst (32 bytes).
inline void put_rows(uint8_t* dst, const uint64_t* r, const uint64_t* m) {
  const __m256i v = _mm256_setr_epi64x(static_cast<long long>(r[0]), static_cast<long long>(r[1]),
                                       static_cast<long long>(r[2]), static_cast<long long>(r[3]));
  const __m256i k = _mm256_setr_epi64x(static_cast<long long>(m[0]), static_cast<long long>(m[1]),
                                       static_cast<long long>(m[2]), static_cast<long long>(m[3]));
  _mm256_store_si256(reinterpret_cast<__m256i*>(dst), _mm256_sub_epi8(_mm256_xor_si256(v, k), k));
}
inline void set_group(Span* out, int g, float sc) {
  out->fsc[g] = sc;
  out->fmin[g] = 128.0f * sc;
}

void unpack_iq2xxs(const uint8_t* row, int64_t s, int, Span* out) {
  const Tables& T = tables();
  const uint8_t* x = row + s * 66;
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t* q = x + 2 + 8 * ib;
    const uint32_t meta = u32_at(q + 4);
    const float db = d * (0.5f + float(meta >> 28)) * 0.25f;
    set_group(out, 2 * ib, db);
    set_group(out, 2 * ib + 1, db);
    uint64_t r[4], m[4];
    for (int l = 0; l < 4; ++l) {
      r[l] = T.iq2xxs[q[l]];
      m[l] = T.sign_mask[T.ksigns[(meta >> (7 * l)) & 127]];
    }
    put_rows(out->q + 32 * ib, r, m);
  }
}

// IQ2_XS (kS = false, 74 bytes, scales at 66) and IQ2_S (kS = true, 82 bytes, scales at 74).
template <bool kS>
void unpack_iq2(const uint8_t* row, int64_t s, int, Span* out) {
  const Tables& T = tables();
  const uint8_t* x = row + s * (kS ? 82 : 74);
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t sc = x[(kS ? 74 : 66) + ib];
    set_group(out, 2 * ib, d * (0.5f + float(sc & 0xF)) * 0.25f);
    set_group(out, 2 * ib + 1, d * (0.5f + float(sc >> 4)) * 0.25f);
    uint64_t r[4], m[4];
    for (int l = 0; l < 4; ++l) {
      if constexpr (kS) {
        r[l] = T.iq2s[x[2 + 4 * ib + l] | (((x[66 + ib] >> (2 * l)) & 3) << 8)];
        m[l] = T.sign_mask[x[34 + 4 * ib + l]];
      } else {
        const uint16_t w = u16_at(x + 2 + 2 * (4 * ib + l));
        r[l] = T.iq2xs[w & 511];
        m[l] = T.sign_mask[T.ksigns[w >> 9]];
      }
    }
    put_rows(out->q + 32 * ib, r, m);
  }
}

void unpack_iq3xxs(const uint8_t* row, int64_t s, int, Span* out) {
  const Tables& T = tables();
  const uint8_t* x = row + s * 98;
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t* q = x + 2 + 8 * ib;
    const uint32_t meta = u32_at(x + 66 + 4 * ib);
    const float db = d * (0.5f + float(meta >> 28)) * 0.5f;
    set_group(out, 2 * ib, db);
    set_group(out, 2 * ib + 1, db);
    uint64_t r[4], m[4];
    for (int l = 0; l < 4; ++l) {
      r[l] = T.iq3xxs[q[2 * l]] | uint64_t(T.iq3xxs[q[2 * l + 1]]) << 32;
      m[l] = T.sign_mask[T.ksigns[(meta >> (7 * l)) & 127]];
    }
    put_rows(out->q + 32 * ib, r, m);
  }
}

void unpack_iq3s(const uint8_t* row, int64_t s, int, Span* out) {
  const Tables& T = tables();
  const uint8_t* x = row + s * 110;
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const float db = d * float(1 + 2 * ((x[106 + ib / 2] >> (4 * (ib % 2))) & 0xF));
    set_group(out, 2 * ib, db);
    set_group(out, 2 * ib + 1, db);
    auto entry = [&](int k) { return T.iq3s[x[2 + 8 * ib + k] | (((x[66 + ib] >> k) & 1) << 8)]; };
    uint64_t r[4], m[4];
    for (int l = 0; l < 4; ++l) {
      r[l] = entry(2 * l) | uint64_t(entry(2 * l + 1)) << 32;
      m[l] = T.sign_mask[x[74 + 4 * ib + l]];
    }
    put_rows(out->q + 32 * ib, r, m);
  }
}

// IQ1: rows of 129 + 8 grid; a negative delta takes 2 off each code (no byte borrows: >= 121).
constexpr uint64_t kTwos = 0x0202020202020202ull;

void unpack_iq1s(const uint8_t* row, int64_t s, int, Span* out) {
  const Tables& T = tables();
  const uint8_t* x = row + s * 50;
  const float d = f16_at(x);
  for (int ib = 0; ib < 8; ++ib) {
    const uint16_t qh = u16_at(x + 34 + 2 * ib);
    const float sc = d * float(2 * ((qh >> 12) & 7) + 1) * 0.125f;
    set_group(out, 2 * ib, sc);
    set_group(out, 2 * ib + 1, sc);
    const uint64_t off = qh & 0x8000 ? kTwos : 0;
    for (int l = 0; l < 4; ++l) {
      const uint64_t v = T.iq1s[x[2 + 4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)] - off;
      std::memcpy(out->q + 32 * ib + 8 * l, &v, 8);
    }
  }
}

void unpack_iq1m(const uint8_t* row, int64_t s, int, Span* out) {
  const Tables& T = tables();
  const uint8_t* x = row + s * 56;
  uint16_t w4[4];
  for (int k = 0; k < 4; ++k) w4[k] = u16_at(x + 48 + 2 * k);
  const float d = _cvtsh_ss(static_cast<uint16_t>((w4[0] >> 12) | ((w4[1] >> 8) & 0x00F0) | ((w4[2] >> 4) & 0x0F00) |
                                                  (w4[3] & 0xF000)));
  for (int ib = 0; ib < 8; ++ib) {
    const uint16_t w = w4[ib / 2];
    for (int h = 0; h < 2; ++h) set_group(out, 2 * ib + h, d * float(2 * ((w >> (6 * (ib % 2) + 3 * h)) & 7) + 1) * 0.125f);
    for (int l = 0; l < 4; ++l) {
      const int nib = (x[32 + 2 * ib + l / 2] >> (4 * (l % 2))) & 0xF;
      const uint64_t v = T.iq1s[x[4 * ib + l] | ((nib & 7) << 8)] - (nib & 8 ? kTwos : 0);
      std::memcpy(out->q + 32 * ib + 8 * l, &v, 8);
    }
  }
}

}  // namespace

quant::UnpackFn span_fast_unpack_iq(uint32_t t) {
  switch (t) {
    case 16: return unpack_iq2xxs;     // IQ2_XXS
    case 17: return unpack_iq2<false>;  // IQ2_XS
    case 22: return unpack_iq2<true>;   // IQ2_S
    case 18: return unpack_iq3xxs;     // IQ3_XXS
    case 21: return unpack_iq3s;       // IQ3_S
    case 19: return unpack_iq1s;       // IQ1_S
    case 29: return unpack_iq1m;       // IQ1_M
    default: return nullptr;
  }
}

}  // namespace moecat::kernels::avx2
