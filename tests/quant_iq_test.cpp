// llama.cpp's i-quant weight types (src/kernels/quant/iquants*.cpp, iq_tables.*):
//  (1) hand-built blocks: bytes set field by field here (grid indices, signs, scales, high
//      bits), the expected floats computed here from each format's rule as stated per test;
//  (2) unpack_T (the Span form) against dequant_T on random blocks;
//  (3) the IQ4_NL / IQ4_XS encoders: error bounds, least-squares choice, and a decoder written
//      here reading what they wrote;
//  (4) the codebooks against ggml-common.h (sizes, entries, a hash of each whole grid, levels).
// Expected values are computed in double; "tol" is 1e-6 of the block's largest |value| (the
// decoders compute in float, as llama.cpp does).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/quant/iq_tables.h"
#include "kernels/quant/quant.h"

namespace moecat::kernels::quant {
namespace {

// kvalues_iq4nl as printed in ggml-common.h (written out here so IQ4 checks do not trust the table).
constexpr int kKv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// A float that is exactly an f16, and its bits.
struct Half {
  uint16_t bits;
  double v;
  explicit Half(float f) : bits(f32_to_f16(f)), v(f16_to_f32(bits)) {}
};

// Sign of value j (0..7) from 7 stored bits: bits 0..6 as stored, bit 7 the parity of the 7.
int sign7(int s7, int j) {
  const int bits = s7 | (std::popcount(static_cast<unsigned>(s7)) & 1) << 7;
  return (bits >> j) & 1 ? -1 : 1;
}
// Sign of value j from a full sign byte.
int sign8(int s8, int j) { return (s8 >> j) & 1 ? -1 : 1; }

// Field values for hand-built blocks: sub-block 0 gets every field's maximum, sub-block 1 its
// minimum (0), the rest fixed pseudo-random values over the full range.
struct Fields {
  std::mt19937 rng{12345};
  int operator()(int ib, int max) { return ib == 0 ? max : ib == 1 ? 0 : int(rng() % (max + 1)); }
};

const QuantType& type_of(DType t) {
  const QuantType* q = find(t);
  EXPECT_NE(q, nullptr);
  return *q;
}

double max_abs(const double* v, int n) {
  double m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(v[i]));
  return m;
}

// Value i of a Span, evaluated in double so the check measures the form, not float rounding.
double span_value(const Span& s, int i) { return double(s.fsc[i / 16]) * s.q[i] - double(s.fmin[i / 16]); }

// dequant_T and unpack_T of a 256-value type on `blocks` superblocks against `want`.
void check_decoders(DType t, const std::vector<uint8_t>& bytes, const std::vector<double>& want) {
  const QuantType& qt = type_of(t);
  const int n = static_cast<int>(want.size());
  ASSERT_EQ(bytes.size(), size_t(n / qt.block * qt.block_bytes));
  std::vector<float> got(n);
  qt.dequant_ref(bytes.data(), got.data(), n);
  for (int s = 0; s < n / 256; ++s) {
    const double tol = 1e-6 * max_abs(&want[256 * s], 256) + 1e-30;
    Span sp;
    qt.unpack_ref(bytes.data(), s, 256, &sp);
    for (int i = 0; i < 256; ++i) {
      ASSERT_NEAR(got[256 * s + i], want[256 * s + i], tol) << "dequant, block " << s << " value " << i;
      ASSERT_NEAR(span_value(sp, i), want[256 * s + i], tol) << "unpack, block " << s << " value " << i;
      ASSERT_EQ(sp.fmin[i / 16], 128.0f * sp.fsc[i / 16]) << "signed codes are stored +128";
    }
  }
}

const iq::Grids& G() { return iq::grids(); }

// ---- (1) hand-built blocks ------------------------------------------------------------------

// IQ2_XXS, 66 B: f16 d | per 32 values: 4 grid-index bytes, u32 = 4 x 7 sign bits | scale << 28.
// value = d * (0.5 + scale) * 0.25 * iq2xxs_grid[idx][j] * sign.
TEST(IqHandBuilt, Iq2Xxs) {
  Fields f;
  std::vector<uint8_t> b(2 * 66);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[66 * blk];
    const Half d(blk ? 0.0371f : -1.75f);
    put16(x, d.bits);
    for (int ib = 0; ib < 8; ++ib) {
      const int scale = f(ib, 15);
      uint32_t meta = uint32_t(scale) << 28;
      for (int l = 0; l < 4; ++l) {
        const int idx = f(ib, 255), s7 = f(ib, 127);
        x[2 + 8 * ib + l] = uint8_t(idx);
        meta |= uint32_t(s7) << (7 * l);
        for (int j = 0; j < 8; ++j)
          want[256 * blk + 32 * ib + 8 * l + j] = d.v * (0.5 + scale) * 0.25 * G().iq2xxs[idx][j] * sign7(s7, j);
      }
      put32(x + 2 + 8 * ib + 4, meta);
    }
  }
  check_decoders(DType::IQ2_XXS, b, want);
}

// IQ2_XS, 74 B: f16 d | 32 x u16 (9-bit index | 7 sign bits << 9) | 8 scale bytes (low nibble:
// values 0..15 of the 32, high nibble: 16..31). value = d * (0.5 + scale) * 0.25 * grid * sign.
TEST(IqHandBuilt, Iq2Xs) {
  Fields f;
  std::vector<uint8_t> b(2 * 74);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[74 * blk];
    const Half d(blk ? 0.0123f : 2.5f);
    put16(x, d.bits);
    for (int ib = 0; ib < 8; ++ib) {
      const int lo = f(ib, 15), hi = f(ib, 15);
      x[66 + ib] = uint8_t(lo | hi << 4);
      for (int l = 0; l < 4; ++l) {
        const int idx = f(ib, 511), s7 = f(ib, 127);
        put16(x + 2 + 2 * (4 * ib + l), uint16_t(idx | s7 << 9));
        const int scale = l < 2 ? lo : hi;
        for (int j = 0; j < 8; ++j)
          want[256 * blk + 32 * ib + 8 * l + j] = d.v * (0.5 + scale) * 0.25 * G().iq2xs[idx][j] * sign7(s7, j);
      }
    }
  }
  check_decoders(DType::IQ2_XS, b, want);
}

// IQ2_S, 82 B: f16 d | 32 low index bytes | 32 sign bytes (8 explicit signs) | 8 qh (bits 2l,
// 2l+1 = index bits 8, 9 of group l) | 8 scale bytes as IQ2_XS. value as IQ2_XS (iq2s_grid).
TEST(IqHandBuilt, Iq2S) {
  Fields f;
  std::vector<uint8_t> b(2 * 82);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[82 * blk];
    const Half d(blk ? -0.0625f : 0.3f);
    put16(x, d.bits);
    for (int ib = 0; ib < 8; ++ib) {
      const int lo = f(ib, 15), hi = f(ib, 15);
      x[74 + ib] = uint8_t(lo | hi << 4);
      for (int l = 0; l < 4; ++l) {
        const int idx = f(ib, 1023), s8 = f(ib, 255);
        x[2 + 4 * ib + l] = uint8_t(idx & 255);
        x[66 + ib] |= uint8_t((idx >> 8) << (2 * l));
        x[34 + 4 * ib + l] = uint8_t(s8);
        const int scale = l < 2 ? lo : hi;
        for (int j = 0; j < 8; ++j)
          want[256 * blk + 32 * ib + 8 * l + j] = d.v * (0.5 + scale) * 0.25 * G().iq2s[idx][j] * sign8(s8, j);
      }
    }
  }
  check_decoders(DType::IQ2_S, b, want);
}

// IQ3_XXS, 98 B: f16 d | 64 index bytes (4 values each; group l of 8 = bytes 2l, 2l+1) | per 32
// values a u32 = 4 x 7 sign bits | scale << 28. value = d * (0.5 + scale) * 0.5 * grid * sign.
TEST(IqHandBuilt, Iq3Xxs) {
  Fields f;
  std::vector<uint8_t> b(2 * 98);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[98 * blk];
    const Half d(blk ? 0.01f : -0.75f);
    put16(x, d.bits);
    for (int ib = 0; ib < 8; ++ib) {
      const int scale = f(ib, 15);
      uint32_t meta = uint32_t(scale) << 28;
      for (int l = 0; l < 4; ++l) {
        const int i1 = f(ib, 255), i2 = f(ib, 255), s7 = f(ib, 127);
        x[2 + 8 * ib + 2 * l] = uint8_t(i1);
        x[2 + 8 * ib + 2 * l + 1] = uint8_t(i2);
        meta |= uint32_t(s7) << (7 * l);
        for (int j = 0; j < 8; ++j) {
          const int g = j < 4 ? G().iq3xxs[i1][j] : G().iq3xxs[i2][j - 4];
          want[256 * blk + 32 * ib + 8 * l + j] = d.v * (0.5 + scale) * 0.5 * g * sign7(s7, j);
        }
      }
      put32(x + 66 + 4 * ib, meta);
    }
  }
  check_decoders(DType::IQ3_XXS, b, want);
}

// IQ3_S, 110 B: f16 d | 64 low index bytes | 8 qh (bit k = index bit 8 of byte k of the 32) |
// 32 sign bytes | 4 scale bytes (nibble ib%2 of byte ib/2). value = d * (1 + 2*scale) * grid * sign.
TEST(IqHandBuilt, Iq3S) {
  Fields f;
  std::vector<uint8_t> b(2 * 110);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[110 * blk];
    const Half d(blk ? 0.002f : -0.04f);
    put16(x, d.bits);
    for (int ib = 0; ib < 8; ++ib) {
      const int scale = f(ib, 15);
      x[106 + ib / 2] |= uint8_t(scale << (4 * (ib % 2)));
      int idx[8];
      for (int k = 0; k < 8; ++k) {
        idx[k] = f(ib, 511);
        x[2 + 8 * ib + k] = uint8_t(idx[k] & 255);
        x[66 + ib] |= uint8_t((idx[k] >> 8) << k);
      }
      for (int l = 0; l < 4; ++l) {
        const int s8 = f(ib, 255);
        x[74 + 4 * ib + l] = uint8_t(s8);
        for (int j = 0; j < 8; ++j)
          want[256 * blk + 32 * ib + 8 * l + j] =
              d.v * (1 + 2 * scale) * G().iq3s[idx[2 * l + j / 4]][j % 4] * sign8(s8, j);
      }
    }
  }
  check_decoders(DType::IQ3_S, b, want);
}

// IQ1_S, 50 B: f16 d | 32 low index bytes | per 32 values a u16 = 4 x 3 high index bits (group l
// at 3l) | scale << 12 (3 bits) | delta sign << 15. value = d * (2*scale + 1) * (grid +- 1/8)
// (+1/8 when the sign bit is 0).
TEST(IqHandBuilt, Iq1S) {
  Fields f;
  std::vector<uint8_t> b(2 * 50);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[50 * blk];
    const Half d(blk ? 0.021f : -0.5f);
    put16(x, d.bits);
    for (int ib = 0; ib < 8; ++ib) {
      const int scale = f(ib, 7), neg = f(ib, 1);
      uint16_t qh = uint16_t(scale << 12 | neg << 15);
      for (int l = 0; l < 4; ++l) {
        const int idx = f(ib, 2047);
        x[2 + 4 * ib + l] = uint8_t(idx & 255);
        qh |= uint16_t((idx >> 8) << (3 * l));
        for (int j = 0; j < 8; ++j)
          want[256 * blk + 32 * ib + 8 * l + j] = d.v * (2 * scale + 1) * (G().iq1s[idx][j] + (neg ? -0.125 : 0.125));
      }
      put16(x + 34 + 2 * ib, qh);
    }
  }
  check_decoders(DType::IQ1_S, b, want);
}

// IQ1_M, 56 B: 32 low index bytes | 16 qh bytes (byte 2ib + l/2, nibble l%2: 3 high index bits of
// group l, delta sign in the nibble's bit 3) | 4 x u16 scale words: word w holds the 3-bit scales
// of values 0..15 / 16..31 of sub-block 2w at bits 0 / 3, of sub-block 2w+1 at bits 6 / 9, and
// nibble w of the f16 d in bits 12..15. value = d * (2*scale + 1) * (grid +- 1/8).
TEST(IqHandBuilt, Iq1M) {
  Fields f;
  std::vector<uint8_t> b(2 * 56);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[56 * blk];
    const Half d(blk ? 0.0173f : -3.1f);  // all four nibbles of d's bits matter
    uint16_t words[4] = {};
    for (int w = 0; w < 4; ++w) words[w] = uint16_t(((d.bits >> (4 * w)) & 0xF) << 12);
    for (int ib = 0; ib < 8; ++ib) {
      int scale[2];
      for (int h = 0; h < 2; ++h) {
        scale[h] = f(ib, 7);
        words[ib / 2] |= uint16_t(scale[h] << (6 * (ib % 2) + 3 * h));
      }
      for (int l = 0; l < 4; ++l) {
        const int idx = f(ib, 2047), neg = f(ib, 1);
        x[4 * ib + l] = uint8_t(idx & 255);
        x[32 + 2 * ib + l / 2] |= uint8_t(((idx >> 8) | neg << 3) << (4 * (l % 2)));
        for (int j = 0; j < 8; ++j)
          want[256 * blk + 32 * ib + 8 * l + j] =
              d.v * (2 * scale[l / 2] + 1) * (G().iq1s[idx][j] + (neg ? -0.125 : 0.125));
      }
    }
    for (int w = 0; w < 4; ++w) put16(x + 48 + 2 * w, words[w]);
  }
  check_decoders(DType::IQ1_M, b, want);
}

// IQ4_XS, 136 B: f16 d | u16 scales_h (2 bits per 32 at 2ib) | 4 bytes scales_l (nibble ib%2 of
// byte ib/2) | 8 x 16 code bytes (byte j: value j low nibble, j+16 high).
// value = d * (ls - 32) * kvalues[code], ls = scales_l nibble | scales_h bits << 4.
TEST(IqHandBuilt, Iq4Xs) {
  Fields f;
  std::vector<uint8_t> b(2 * 136);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* x = &b[136 * blk];
    const Half d(blk ? 0.0009f : -0.01f);
    put16(x, d.bits);
    uint16_t sh = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = f(ib, 63);
      x[4 + ib / 2] |= uint8_t((ls & 15) << (4 * (ib % 2)));
      sh |= uint16_t((ls >> 4) << (2 * ib));
      for (int j = 0; j < 32; ++j) {
        const int code = ib < 2 ? (ib == 0 ? j % 16 : 15 - j % 16) : f(ib, 15);
        x[8 + 16 * ib + j % 16] |= uint8_t(code << (j < 16 ? 0 : 4));
        want[256 * blk + 32 * ib + j] = d.v * (ls - 32) * kKv[code];
      }
    }
    put16(x + 2, sh);
  }
  check_decoders(DType::IQ4_XS, b, want);
}

// IQ4_NL, 18 B per 32: f16 d | 16 code bytes as IQ4_XS. value = d * kvalues[code]. Eleven
// blocks: one full span (8 blocks) and a tail span of 3 blocks (nv = 96).
TEST(IqHandBuilt, Iq4Nl) {
  Fields f;
  const int nb = 11;
  std::vector<uint8_t> b(nb * 18);
  std::vector<double> want(nb * 32);
  for (int blk = 0; blk < nb; ++blk) {
    uint8_t* x = &b[18 * blk];
    const Half d(0.013f * float(blk - 5) + 0.001f);
    put16(x, d.bits);
    for (int j = 0; j < 32; ++j) {
      const int code = blk == 0 ? j % 16 : f(blk, 15);
      x[2 + j % 16] |= uint8_t(code << (j < 16 ? 0 : 4));
      want[32 * blk + j] = d.v * kKv[code];
    }
  }
  const QuantType& qt = type_of(DType::IQ4_NL);
  ASSERT_EQ(qt.block, 32);
  std::vector<float> got(want.size());
  qt.dequant_ref(b.data(), got.data(), int64_t(want.size()));
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i]) + 1e-30) << i;
  for (int s = 0; s < 2; ++s) {
    const int nv = s == 0 ? 256 : 96;
    Span sp;
    qt.unpack_ref(b.data(), s, nv, &sp);
    for (int i = 0; i < nv; ++i)
      ASSERT_NEAR(span_value(sp, i), want[256 * s + i], 1e-6 * std::fabs(want[256 * s + i]) + 1e-30) << s << " " << i;
  }
}

// ---- (2) unpack vs dequant on random blocks -------------------------------------------------

// Random bytes, then every f16 scale field set to a sane value (|d| in [1e-3, 1]) so that the
// relative check is meaningful (random f16 bits include inf / NaN / huge values).
std::vector<uint8_t> random_blocks(DType t, int nblocks, uint32_t seed) {
  const QuantType& qt = type_of(t);
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> mag(1e-3f, 1.0f);
  std::vector<uint8_t> b(size_t(nblocks) * qt.block_bytes);
  for (auto& c : b) c = uint8_t(g());
  for (int i = 0; i < nblocks; ++i) {
    uint8_t* x = &b[size_t(i) * qt.block_bytes];
    const uint16_t d = f32_to_f16(g() % 2 ? mag(g) : -mag(g));
    if (t == DType::IQ1_M) {  // d lives in the top nibbles of the four scale words
      for (int w = 0; w < 4; ++w) {
        uint16_t word;
        std::memcpy(&word, x + 48 + 2 * w, 2);
        word = uint16_t((word & 0x0FFF) | ((d >> (4 * w)) & 0xF) << 12);
        put16(x + 48 + 2 * w, word);
      }
    } else {
      put16(x, d);
    }
  }
  return b;
}

class IqRandom : public ::testing::TestWithParam<DType> {};

TEST_P(IqRandom, UnpackMatchesDequant) {
  const DType t = GetParam();
  const QuantType& qt = type_of(t);
  const int nspans = 24;
  const int n = nspans * 256 - (qt.block == 32 ? 256 - 160 : 0);  // IQ4_NL: last span a tail of 160
  const int nblocks = n / qt.block;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    const std::vector<uint8_t> b = random_blocks(t, nblocks, seed);
    std::vector<float> ref(n);
    qt.dequant_ref(b.data(), ref.data(), n);
    for (int s = 0; s < nspans; ++s) {
      const int nv = std::min(256, n - 256 * s);
      Span sp;
      qt.unpack_ref(b.data(), s, nv, &sp);
      double m = 0;
      for (int i = 0; i < nv; ++i) m = std::max(m, std::fabs(double(ref[256 * s + i])));
      ASSERT_GT(m, 0);
      for (int i = 0; i < nv; ++i)
        ASSERT_NEAR(span_value(sp, i), ref[256 * s + i], 1e-6 * m) << "span " << s << " value " << i << " seed " << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIq, IqRandom,
                         ::testing::Values(DType::IQ1_S, DType::IQ1_M, DType::IQ2_XXS, DType::IQ2_XS,
                                           DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S, DType::IQ4_NL,
                                           DType::IQ4_XS));

// ---- (3) IQ4 encoders -----------------------------------------------------------------------

// Test data: gaussian rows with a few outliers, a zero block, a constant block, a one-spike block.
std::vector<float> encoder_data(int n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(g);
  for (int i = 0; i < n / 97; ++i) v[g() % n] *= 20.0f;
  std::fill(v.begin(), v.begin() + 32, 0.0f);
  std::fill(v.begin() + 32, v.begin() + 64, 0.37f);
  std::fill(v.begin() + 64, v.begin() + 96, 0.0f);
  v[70] = -2.0f;
  return v;
}

// The decoder of this test, from the layout: IQ4_NL block i and IQ4_XS sub-block values.
double nl_value(const uint8_t* b, int i) {
  const uint8_t* x = b + 18 * (i / 32);
  uint16_t h;
  std::memcpy(&h, x, 2);
  const int j = i % 32, code = j < 16 ? x[2 + j] & 15 : x[2 + j - 16] >> 4;
  return double(f16_to_f32(h)) * kKv[code];
}
int xs_ls(const uint8_t* x, int ib) {
  uint16_t sh;
  std::memcpy(&sh, x + 2, 2);
  return ((x[4 + ib / 2] >> (4 * (ib % 2))) & 15) | ((sh >> (2 * ib)) & 3) << 4;
}
double xs_value(const uint8_t* b, int i) {
  const uint8_t* x = b + 136 * (i / 256);
  uint16_t h;
  std::memcpy(&h, x, 2);
  const int ib = (i % 256) / 32, j = i % 32;
  const int code = j < 16 ? x[8 + 16 * ib + j] & 15 : x[8 + 16 * ib + j - 16] >> 4;
  return double(f16_to_f32(h)) * (xs_ls(x, ib) - 32) * kKv[code];
}

// Squared error of the simplest IQ4_NL encoding of 32 values: d = f16(m / -127) for the
// largest-magnitude value m, nearest level (the encoder's first candidate; it must not do worse).
double naive_nl_sse(const float* x) {
  float m = 0;
  for (int j = 0; j < 32; ++j)
    if (std::fabs(x[j]) > std::fabs(m)) m = x[j];
  const double d = f16_to_f32(f32_to_f16(m / -127.0f));
  double sse = 0;
  for (int j = 0; j < 32; ++j) {
    double best = INFINITY;
    for (int k : kKv) best = std::min(best, std::fabs(double(x[j]) - double(float(d) * float(k))));
    sse += best * best;
  }
  return sse;
}

// Bound (IQ4_NL): with d0 = m/-127 every value x satisfies x/d0 in [-127, 127]; the levels'
// widest half-gap is 12 (89..113) and 113..127 leaves 14, so |x - d0*level| <= 14*|d0|, and the
// least-squares choice keeps the block's RMS error <= 14.1/127 * max|x| (0.1 for f16 rounding).
TEST(IqEncoder, Iq4NlRoundTrip) {
  const int n = 32 * 400;
  const std::vector<float> x = encoder_data(n, 7);
  std::vector<uint8_t> b(n / 32 * 18);
  quantize_iq4_nl(x.data(), b.data(), n);
  std::vector<float> y(n);
  dequant_iq4_nl(b.data(), y.data(), n);
  double total_sse = 0, total_sq = 0;  // for the log
  for (int blk = 0; blk < n / 32; ++blk) {
    double sse = 0, amax = 0;
    for (int j = 0; j < 32; ++j) {
      const int i = 32 * blk + j;
      ASSERT_EQ(double(y[i]), nl_value(b.data(), i)) << "the test's decoder disagrees at " << i;
      sse += double(x[i] - y[i]) * double(x[i] - y[i]);
      amax = std::max(amax, std::fabs(double(x[i])));
      total_sq += double(x[i]) * x[i];
    }
    total_sse += sse;
    EXPECT_LE(std::sqrt(sse / 32), 14.1 / 127 * amax + 1e-12) << "block " << blk;
    EXPECT_LE(sse, naive_nl_sse(&x[32 * blk]) * (1 + 1e-5) + 1e-12) << "block " << blk;
  }
  EXPECT_EQ(y[0], 0.0f);  // the zero block stays zero
  // A spike among zeros: the zeros decode to d * 1 (the level nearest 0), so least squares
  // trades a little of the spike for them; it stays within 1%.
  EXPECT_NEAR(y[70], -2.0f, 0.02f);
  std::printf("IQ4_NL relative RMS error on the outlier data %.4f\n", std::sqrt(total_sse / total_sq));
  std::vector<uint8_t> b2(b.size());
  quantize_iq4_nl(x.data(), b2.data(), n);
  EXPECT_EQ(b, b2) << "deterministic";
}

// Bound (IQ4_XS), per 32-value sub-block with largest |x| = a and the block's f16 d: the encoder
// tries k0 = round(a'/d) with a' = m/-127 (|k0| <= 31), whose scale k0*d is within d/2 of a';
// so |x - k0*d*level| <= 14*|a'| + 127*d/2, and RMS <= 14.1/127 * a + 63.5 * d.
TEST(IqEncoder, Iq4XsRoundTrip) {
  const int n = 256 * 60;
  const std::vector<float> x = encoder_data(n, 11);
  std::vector<uint8_t> b(n / 256 * 136);
  quantize_iq4_xs(x.data(), b.data(), n);
  std::vector<float> y(n);
  dequant_iq4_xs(b.data(), y.data(), n);
  double total_sse = 0, total_sq = 0;
  for (int sb = 0; sb < n / 32; ++sb) {
    const uint8_t* blk = &b[136 * (sb / 8)];
    uint16_t h;
    std::memcpy(&h, blk, 2);
    const double d = f16_to_f32(h);
    EXPECT_GE(d, 0.0);
    double sse = 0, amax = 0;
    for (int j = 0; j < 32; ++j) {
      const int i = 32 * sb + j;
      ASSERT_EQ(double(y[i]), xs_value(b.data(), i)) << "the test's decoder disagrees at " << i;
      sse += double(x[i] - y[i]) * double(x[i] - y[i]);
      amax = std::max(amax, std::fabs(double(x[i])));
      total_sq += double(x[i]) * x[i];
    }
    total_sse += sse;
    EXPECT_LE(std::sqrt(sse / 32), 14.1 / 127 * amax + 63.5 * d + 1e-12) << "sub-block " << sb;
  }
  EXPECT_EQ(y[0], 0.0f);
  std::printf("IQ4_XS relative RMS error on the outlier data %.4f\n", std::sqrt(total_sse / total_sq));
}

// Relative RMS error on plain gaussian data: ~7.5% for both types (llama.cpp's own reference
// encoders, without an importance matrix, give ~7.9% / ~7.7% on the same kind of data).
TEST(IqEncoder, GaussianError) {
  const int n = 256 * 256;
  std::mt19937 g(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = nd(g);
  for (DType t : {DType::IQ4_NL, DType::IQ4_XS}) {
    const QuantType& qt = type_of(t);
    std::vector<uint8_t> b(size_t(n / qt.block) * qt.block_bytes);
    qt.quantize(x.data(), b.data(), n);
    qt.dequant_ref(b.data(), y.data(), n);
    double sse = 0, sq = 0;
    for (int i = 0; i < n; ++i) {
      sse += double(x[i] - y[i]) * double(x[i] - y[i]);
      sq += double(x[i]) * x[i];
    }
    std::printf("%s relative RMS error on gaussian data %.4f\n", t == DType::IQ4_NL ? "IQ4_NL" : "IQ4_XS",
                std::sqrt(sse / sq));
    EXPECT_LT(std::sqrt(sse / sq), 0.08);
  }
}

TEST(IqEncoder, RegistryHasEncoders) {
  EXPECT_EQ(type_of(DType::IQ4_NL).quantize, &quantize_iq4_nl);
  EXPECT_EQ(type_of(DType::IQ4_XS).quantize, &quantize_iq4_xs);
  EXPECT_EQ(type_of(DType::IQ4_NL).block_bytes, 18);
  EXPECT_EQ(type_of(DType::IQ4_XS).block_bytes, 136);
}

// ---- (4) tables -----------------------------------------------------------------------------

// FNV-1a 64 over a grid's bytes, entry by entry, value by value (= the little-endian bytes of
// ggml-common.h's uint64/uint32 entries); the constants below were computed from that file
// (commit 80fb11ac of the llama.cpp node-llama-cpp ships) with a few lines of Python.
template <typename T, size_t N, size_t M>
uint64_t fnv(const T (&g)[N][M]) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t k = 0; k < N; ++k)
    for (size_t j = 0; j < M; ++j) h = (h ^ uint8_t(g[k][j])) * 0x100000001b3ull;
  return h;
}
// Entry k of a grid as ggml-common.h prints it (bytes little-endian).
template <typename T, size_t M>
uint64_t entry(const T (&e)[M]) {
  uint64_t v = 0;
  for (size_t j = 0; j < M; ++j) v |= uint64_t(uint8_t(e[j])) << (8 * j);
  return v;
}

TEST(IqTables, SizesEntriesAndHashes) {
  const iq::Grids& g = G();
  EXPECT_EQ(std::size(g.iq2xxs), 256u);
  EXPECT_EQ(std::size(g.iq2xs), 512u);
  EXPECT_EQ(std::size(g.iq2s), 1024u);
  EXPECT_EQ(std::size(g.iq3xxs), 256u);
  EXPECT_EQ(std::size(g.iq3s), 512u);
  EXPECT_EQ(std::size(g.iq1s), 2048u);
  EXPECT_EQ(entry(g.iq2xxs[1]), 0x080808080808082bull);
  EXPECT_EQ(entry(g.iq2xxs[131]), 0x082b2b2b19081908ull);
  EXPECT_EQ(entry(g.iq2xxs[255]), 0x2b2b2b1908081908ull);
  EXPECT_EQ(entry(g.iq2xs[259]), 0x190808080819082bull);
  EXPECT_EQ(entry(g.iq2xs[511]), 0x2b2b2b2b2b2b2b2bull);
  EXPECT_EQ(entry(g.iq2s[515]), 0x190808191908192bull);
  EXPECT_EQ(entry(g.iq2s[1023]), 0x2b2b2b2b2b2b2b2bull);
  EXPECT_EQ(entry(g.iq3xxs[1]), 0x04040414ull);
  EXPECT_EQ(entry(g.iq3xxs[131]), 0x14242c1cull);
  EXPECT_EQ(entry(g.iq3xxs[255]), 0x3e341c04ull);
  EXPECT_EQ(entry(g.iq3s[259]), 0x05090903ull);
  EXPECT_EQ(entry(g.iq3s[511]), 0x0f0f0101ull);
  EXPECT_EQ(entry(g.iq1s[0]), 0xffffffffffffffffull);
  EXPECT_EQ(entry(g.iq1s[1]), 0xffffffffffffff01ull);
  EXPECT_EQ(entry(g.iq1s[1027]), 0x000000000000ff01ull);
  EXPECT_EQ(entry(g.iq1s[2047]), 0x0101010101010101ull);
  EXPECT_EQ(fnv(g.iq2xxs), 0xbb4ee025b5ac6e8eull);
  EXPECT_EQ(fnv(g.iq2xs), 0xc9b1ee61e79909bdull);
  EXPECT_EQ(fnv(g.iq2s), 0x123edd38a3b62b90ull);
  EXPECT_EQ(fnv(g.iq3xxs), 0xdfa5dc83d6a155d5ull);
  EXPECT_EQ(fnv(g.iq3s), 0xfa37020c25b44829ull);
  EXPECT_EQ(fnv(g.iq1s), 0x6703ed863501ae2eull);
}

TEST(IqTables, LevelsSignsAndKvalues) {
  const iq::Grids& g = G();
  auto all_in = [](const auto& grid, std::initializer_list<int> allowed) {
    for (const auto& e : grid)
      for (auto v : e)
        if (std::find(allowed.begin(), allowed.end(), int(v)) == allowed.end()) return false;
    return true;
  };
  EXPECT_TRUE(all_in(g.iq2xxs, {8, 25, 43}));
  EXPECT_TRUE(all_in(g.iq2xs, {8, 25, 43}));
  EXPECT_TRUE(all_in(g.iq2s, {8, 25, 43}));
  EXPECT_TRUE(all_in(g.iq3xxs, {4, 12, 20, 28, 36, 44, 52, 62}));
  EXPECT_TRUE(all_in(g.iq3s, {1, 3, 5, 7, 9, 11, 13, 15}));
  EXPECT_TRUE(all_in(g.iq1s, {-1, 0, 1}));
  // Every entry of a grid is distinct (a packing slip would collapse entries).
  auto distinct = [](const auto& grid) {
    std::vector<uint64_t> v;
    for (const auto& e : grid) v.push_back(entry(e));
    std::sort(v.begin(), v.end());
    return std::adjacent_find(v.begin(), v.end()) == v.end();
  };
  EXPECT_TRUE(distinct(g.iq2xxs) && distinct(g.iq2xs) && distinct(g.iq2s));
  EXPECT_TRUE(distinct(g.iq3xxs) && distinct(g.iq3s) && distinct(g.iq1s));
  // ksigns_iq2xs in ggml-common.h: 0, 129, 130, 3, ... 255.
  EXPECT_EQ(g.ksigns[0], 0);
  EXPECT_EQ(g.ksigns[1], 129);
  EXPECT_EQ(g.ksigns[2], 130);
  EXPECT_EQ(g.ksigns[3], 3);
  EXPECT_EQ(g.ksigns[16], 144);
  EXPECT_EQ(g.ksigns[127], 255);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(std::popcount(unsigned(g.ksigns[i])) % 2, 0) << i;
  for (int j = 0; j < 8; ++j) EXPECT_EQ(iq::kmask(j), 1 << j);
  for (int k = 0; k < 16; ++k) EXPECT_EQ(iq::kvalues_iq4nl[k], kKv[k]);
  EXPECT_EQ(iq::kIq1Delta, 0.125f);
}

}  // namespace
}  // namespace moecat::kernels::quant
