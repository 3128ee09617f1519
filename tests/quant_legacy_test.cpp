// Legacy 32-value formats (Q4_0, Q4_1, Q5_0, Q5_1) and low k-quants (Q2_K, Q3_K):
//  (1) the reference decoders on blocks whose bytes are set by hand, against values computed
//      here from the format's rule (written independently of src/kernels/quant);
//  (2) unpack (the Span form) against the reference decoder on random blocks, for these types
//      and for Q8_0, MXFP4, Q4_K, Q5_K, Q6_K, including the short tail spans of 32-value types;
//  (3) the encoders: every value within the format's step of its input (bounds stated per
//      type), on random rows and on all-zero, all-equal and one-huge-outlier rows.
#include "kernels/quant/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"

namespace moecat::kernels::quant {
namespace {

void put16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}
float get16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

const QuantType& entry(DType t) {
  const QuantType* q = find(t);
  EXPECT_NE(q, nullptr);
  return *q;
}

// ---- (1) hand-built blocks -------------------------------------------------------------------

// The legacy nibble rule: value i (0..31) is the low nibble of byte i for i < 16, the high
// nibble of byte i - 16 otherwise.
int nibble(const uint8_t* qs, int i) { return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4; }

TEST(QuantLegacy, Q4_0HandBuilt) {
  uint8_t b[18] = {};
  put16(b, 0.5f);
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  entry(DType::Q4_0).dequant_ref(b, y, 32);
  EXPECT_EQ(y[0], -4.0f);    // byte 0 low nibble 0: 0.5 * (0 - 8)
  EXPECT_EQ(y[16], 3.5f);    // byte 0 high nibble 15: 0.5 * (15 - 8)
  EXPECT_EQ(y[8], 0.0f);     // byte 8 low nibble 8
  EXPECT_EQ(y[31], -4.0f);   // byte 15 high nibble 0
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * float(nibble(b + 2, i) - 8)) << i;
}

TEST(QuantLegacy, Q4_1HandBuilt) {
  uint8_t b[20] = {};
  put16(b, 0.25f);
  put16(b + 2, -1.5f);
  for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(((3 * j) & 15) | ((j ^ 9) << 4));
  float y[32];
  entry(DType::Q4_1).dequant_ref(b, y, 32);
  EXPECT_EQ(y[1], 0.25f * 3 - 1.5f);          // byte 1 low nibble 3
  EXPECT_EQ(y[17], 0.25f * (1 ^ 9) - 1.5f);   // byte 1 high nibble 8
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.25f * float(nibble(b + 4, i)) - 1.5f) << i;
}

TEST(QuantLegacy, Q5_0HandBuilt) {
  uint8_t b[22] = {};
  put16(b, 0.125f);
  const uint32_t qh = 0xA5C30F01u;  // bit i: fifth bit of value i
  std::memcpy(b + 2, &qh, 4);
  for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>((j * 7) & 0xFF);
  float y[32];
  entry(DType::Q5_0).dequant_ref(b, y, 32);
  EXPECT_EQ(y[0], 0.125f * (16 + 0 - 16));   // bit 0 set, nibble 0
  EXPECT_EQ(y[1], 0.125f * (7 - 16));        // bit 1 clear, nibble 7
  EXPECT_EQ(y[31], 0.125f * (16 + 6 - 16));  // bit 31 set, byte 15 = 105 = 0x69: high nibble 6
  for (int i = 0; i < 32; ++i) {
    const int q = nibble(b + 6, i) + 16 * int((qh >> i) & 1);
    EXPECT_EQ(y[i], 0.125f * float(q - 16)) << i;
  }
}

TEST(QuantLegacy, Q5_1HandBuilt) {
  uint8_t b[24] = {};
  put16(b, 0.75f);
  put16(b + 2, 2.0f);
  const uint32_t qh = 0x80010000u | 0x00008002u;  // values 1, 15, 16, 31
  std::memcpy(b + 4, &qh, 4);
  for (int j = 0; j < 16; ++j) b[8 + j] = static_cast<uint8_t>(0xF0 | (j & 0xF));
  float y[32];
  entry(DType::Q5_1).dequant_ref(b, y, 32);
  EXPECT_EQ(y[1], 0.75f * (16 + 1) + 2.0f);
  EXPECT_EQ(y[16], 0.75f * 31 + 2.0f);
  EXPECT_EQ(y[17], 0.75f * 15 + 2.0f);
  for (int i = 0; i < 32; ++i) {
    const int q = nibble(b + 8, i) | (int((qh >> i) & 1) << 4);
    EXPECT_EQ(y[i], 0.75f * float(q) + 2.0f) << i;
  }
}

// The k-quant 2-bit rule: in 128-value half h, value 32k + l (k = 0..3) has bits 2k..2k+1 of
// qs[32h + l].
int two_bits(const uint8_t* qs, int e) {
  const int h = e / 128, k = (e % 128) / 32, l = e % 32;
  return (qs[32 * h + l] >> (2 * k)) & 3;
}

TEST(QuantLegacy, Q2_KHandBuilt) {
  uint8_t b[84] = {};
  for (int g = 0; g < 16; ++g) b[g] = static_cast<uint8_t>((g & 0xF) | ((15 - g) << 4));  // scale g, min 15-g
  b[16 + 0] = 0xE4;  // values 0, 32, 64, 96: codes 0, 1, 2, 3
  b[16 + 33] = 0x1B;  // values 129, 161, 193, 225: codes 3, 2, 1, 0
  for (int i = 0; i < 64; ++i)
    if (i != 0 && i != 33) b[16 + i] = static_cast<uint8_t>(i * 37 + 11);
  put16(b + 80, 0.5f);
  put16(b + 82, 0.25f);
  float y[256];
  entry(DType::Q2_K).dequant_ref(b, y, 256);
  EXPECT_EQ(y[0], 0.5f * 0 * 0 - 0.25f * 15);     // group 0: scale 0, min 15
  EXPECT_EQ(y[32], 0.5f * 2 * 1 - 0.25f * 13);    // group 2
  EXPECT_EQ(y[64], 0.5f * 4 * 2 - 0.25f * 11);    // group 4
  EXPECT_EQ(y[96], 0.5f * 6 * 3 - 0.25f * 9);     // group 6
  EXPECT_EQ(y[129], 0.5f * 8 * 3 - 0.25f * 7);    // group 8
  EXPECT_EQ(y[161], 0.5f * 10 * 2 - 0.25f * 5);   // group 10
  EXPECT_EQ(y[193], 0.5f * 12 * 1 - 0.25f * 3);   // group 12
  EXPECT_EQ(y[225], 0.5f * 14 * 0 - 0.25f * 1);   // group 14
  for (int e = 0; e < 256; ++e) {
    const int g = e / 16;
    EXPECT_EQ(y[e], 0.5f * float(g) * float(two_bits(b + 16, e)) - 0.25f * float(15 - g)) << e;
  }
}

TEST(QuantLegacy, Q3_KHandBuilt) {
  // Sixteen signed scales covering both ends and using the high 2 bits of every group,
  // including groups 8..15 (high nibbles of bytes 0..7).
  const int sc[16] = {-32, 31, -1, 0, 17, -17, 5, -5, 30, -30, 12, -12, 1, -2, 25, -25};
  uint8_t b[110] = {};
  uint8_t* s = b + 96;
  for (int g = 0; g < 16; ++g) {
    const int u = sc[g] + 32;  // stored +32 in 6 bits
    if (g < 8) s[g] |= static_cast<uint8_t>(u & 0xF);
    else s[g - 8] |= static_cast<uint8_t>((u & 0xF) << 4);
    s[8 + g % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (g / 4)));
  }
  for (int i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(i * 53 + 7);        // hmask
  for (int i = 0; i < 64; ++i) b[32 + i] = static_cast<uint8_t>(i * 29 + 3);   // low 2 bits
  put16(b + 108, 0.0625f);
  float y[256];
  entry(DType::Q3_K).dequant_ref(b, y, 256);
  // Value 0: hmask[0] = 7 has bit 0 set, low bits of qs[0] = 3 are 3: q3 = 3; scale -32.
  EXPECT_EQ(y[0], 0.0625f * -32 * 3);
  // Value 255 (half 1, quarter 3, l 31): hmask[31] = 0x72, bit 7 clear; qs[63] = 0x26, bits
  // 6..7 = 0: q3 = 0 - 4 = -4; group 15 scale -25.
  EXPECT_EQ(y[255], 0.0625f * -25 * -4);
  // Value 40 (quarter 1, l 8): hmask[8] = 0xAF, bit 1 set; qs[8] = 0xEB, bits 2..3 = 2: q3 = 2;
  // group 2, scale -1.
  EXPECT_EQ(y[40], 0.0625f * -1 * 2);
  for (int e = 0; e < 256; ++e) {
    const bool hi = (b[e % 32] >> (e / 32)) & 1;
    const int q3 = two_bits(b + 32, e) - (hi ? 0 : 4);
    EXPECT_EQ(y[e], 0.0625f * float(sc[e / 16]) * float(q3)) << e;
  }
  // A value whose hmask bit is clear: value 3 (hmask[3] = 0xA6, bit 0 clear), qs[3] = 0x5A,
  // low bits 2: q3 = 2 - 4 = -2; group 0 scale -32.
  EXPECT_EQ(y[3], 0.0625f * -32 * -2);
}

// ---- (2) unpack vs dequant on random blocks --------------------------------------------------

// Where each type keeps its f16 scale fields (random bytes there could be inf/NaN or absurd),
// plus MXFP4's e8m0 exponent byte.
struct ScaleFields {
  DType type;
  std::vector<int> f16_at;
  bool e8m0 = false;
};
const ScaleFields kCovered[] = {
    {DType::Q4_0, {0}}, {DType::Q4_1, {0, 2}}, {DType::Q5_0, {0}},  {DType::Q5_1, {0, 2}},
    {DType::Q8_0, {0}}, {DType::MXFP4, {}, true}, {DType::Q2_K, {80, 82}}, {DType::Q3_K, {108}},
    {DType::Q4_K, {0, 2}}, {DType::Q5_K, {0, 2}}, {DType::Q6_K, {208}},
};

std::vector<uint8_t> random_row(const ScaleFields& f, const QuantType& q, int blocks, std::mt19937& rng) {
  std::vector<uint8_t> row(static_cast<size_t>(blocks) * q.block_bytes);
  for (auto& x : row) x = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> mag(0.001f, 2.0f);
  for (int b = 0; b < blocks; ++b) {
    uint8_t* blk = row.data() + static_cast<size_t>(b) * q.block_bytes;
    for (int at : f.f16_at) put16(blk + at, (rng() & 1 ? -1.0f : 1.0f) * mag(rng));
    if (f.e8m0) blk[0] = static_cast<uint8_t>(118 + rng() % 20);
  }
  return row;
}

TEST(QuantLegacy, UnpackMatchesDequant) {
  std::mt19937 rng(1234);
  for (const ScaleFields& f : kCovered) {
    const QuantType& q = entry(f.type);
    // 32-value types: rows of 1, 8 and 29 blocks (tail spans of 32 and 160 values); 256: 3.
    const std::vector<int> row_blocks = q.block == 32 ? std::vector<int>{1, 8, 29} : std::vector<int>{3};
    for (int blocks : row_blocks) {
      for (int rep = 0; rep < 20; ++rep) {
        const std::vector<uint8_t> row = random_row(f, q, blocks, rng);
        const int64_t n = int64_t(blocks) * q.block;
        std::vector<float> ref(static_cast<size_t>(n));
        q.dequant_ref(row.data(), ref.data(), n);
        for (int64_t s = 0; s * kSpan < n; ++s) {
          const int nv = static_cast<int>(std::min<int64_t>(kSpan, n - s * kSpan));
          Span sp{};
          q.unpack_ref(row.data(), s, nv, &sp);
          for (int i = 0; i < nv; ++i) {
            const int64_t e = s * kSpan + i;
            // Tolerance relative to the largest |value| of the block holding e.
            const int64_t b0 = e / q.block * q.block;
            float amax = 0;
            for (int64_t k = b0; k < b0 + q.block; ++k) amax = std::max(amax, std::fabs(ref[k]));
            const float v = sp.fsc[i / kGroup] * float(sp.q[i]) - sp.fmin[i / kGroup];
            ASSERT_NEAR(v, ref[e], 1e-6f * amax)
                << dtype_name(f.type) << " blocks " << blocks << " span " << s << " value " << i;
          }
        }
      }
    }
  }
}

// ---- (3) encoders ----------------------------------------------------------------------------

// Largest |x| over values [b0, b0 + len).
float block_amax(const std::vector<float>& x, int64_t b0, int len) {
  float a = 0;
  for (int i = 0; i < len; ++i) a = std::max(a, std::fabs(x[b0 + i]));
  return a;
}

// The bound on |decoded - input| for value e, read from the encoded bytes. Each is the format's
// step (half of it inside the grid) plus, where the grid's ends can fall short of the block's
// extremes, the rounding of the scale codes; `slack` covers the f16 rounding of d/m (relative
// 2^-11 of amounts <= ~3 * block amax, so 2^-9 * amax is generous).
//   Q4_0/Q5_0: |d|           (the value of largest magnitude is code 0 exactly; the other side's
//                             grid end is one step short of its mirror image)
//   Q4_1/Q5_1: |d| / 2        (m = block min, d = range / qmax: every value inside the grid)
//   Q2_K:      d*sc/2 + 1.5*d + dmin/2   (4-bit min code: bottom off by <= dmin/2; 4-bit scale
//                             code fitted to the top: off by <= 1.5 d)
//   Q3_K:      |d*sc| + 4*|d| (grid [-4, 3] * scale: one step short on one side, plus the
//                             6-bit scale code's rounding/clamping times 4)
float error_bound(DType t, const uint8_t* blk, int e_in_block, float amax) {
  const float slack = amax * (1.0f / 512.0f) + 1e-30f;
  switch (t) {
    case DType::Q4_0:
    case DType::Q5_0: return std::fabs(get16(blk)) + slack;
    case DType::Q4_1:
    case DType::Q5_1: return 0.5f * std::fabs(get16(blk)) + slack;
    case DType::Q2_K: {
      const float d = get16(blk + 80), dmin = get16(blk + 82);
      const int sc = blk[e_in_block / 16] & 0xF;
      return 0.5f * d * float(sc) + 1.5f * d + 0.5f * dmin + slack;
    }
    case DType::Q3_K: {
      const float d = std::fabs(get16(blk + 108));
      const int g = e_in_block / 16;
      const uint8_t* s = blk + 96;
      const int low = g < 8 ? s[g] & 0xF : s[g - 8] >> 4;
      const int sc = (low | ((s[8 + g % 4] >> (2 * (g / 4))) & 3) << 4) - 32;
      return d * float(std::abs(sc)) + 4.0f * d + slack;
    }
    default: ADD_FAILURE() << "no bound for " << dtype_name(t); return 0;
  }
}

struct RoundTrip {
  double max_ratio = 0;  // max over values of error / bound
  double rms_err = 0, rms_x = 0;
};

RoundTrip round_trip(DType t, const std::vector<float>& x) {
  const QuantType& q = entry(t);
  const int64_t n = static_cast<int64_t>(x.size());
  EXPECT_EQ(n % q.block, 0);
  std::vector<uint8_t> bytes(static_cast<size_t>(n / q.block * q.block_bytes));
  q.quantize(x.data(), bytes.data(), n);
  std::vector<float> y(static_cast<size_t>(n));
  q.dequant_ref(bytes.data(), y.data(), n);
  RoundTrip r;
  for (int64_t e = 0; e < n; ++e) {
    const int64_t b = e / q.block;
    const float bound = error_bound(t, bytes.data() + b * q.block_bytes, static_cast<int>(e % q.block),
                                    block_amax(x, b * q.block, q.block));
    const float err = std::fabs(y[e] - x[e]);
    EXPECT_TRUE(std::isfinite(y[e])) << dtype_name(t) << " value " << e;
    EXPECT_LE(err, bound) << dtype_name(t) << " value " << e << ": x " << x[e] << " y " << y[e];
    r.max_ratio = std::max(r.max_ratio, double(err) / double(bound));
    r.rms_err += double(err) * err;
    r.rms_x += double(x[e]) * x[e];
  }
  r.rms_err = std::sqrt(r.rms_err / double(n));
  r.rms_x = std::sqrt(r.rms_x / double(n));
  return r;
}

const DType kEncoded[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K};

// Relative RMS error allowed each encoder on uniform [-1, 1] values (measured: Q4 0.065/0.060,
// Q5 0.032/0.029, Q3_K 0.13, Q2_K 0.28, close to ggml's reference quantizers; the limits catch
// an encoder that clips or wastes its grid, not small regressions).
double rms_limit(DType t) {
  switch (t) {
    case DType::Q4_0: case DType::Q4_1: return 0.10;
    case DType::Q5_0: case DType::Q5_1: return 0.05;
    case DType::Q3_K: return 0.20;
    case DType::Q2_K: return 0.40;
    default: return 0;
  }
}

TEST(QuantLegacy, EncoderRandomRows) {
  for (DType t : kEncoded) {
    std::mt19937 rng(77);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::normal_distribution<float> gauss(0.0f, 0.02f);
    std::vector<float> x(4096);
    for (auto& v : x) v = u(rng);
    const RoundTrip r = round_trip(t, x);
    EXPECT_LE(r.rms_err / r.rms_x, rms_limit(t)) << dtype_name(t);
    // Weight-like: Gaussian, small, with shifted blocks so mins/offsets matter.
    for (size_t i = 0; i < x.size(); ++i) x[i] = gauss(rng) + ((i / 512) % 2 ? 0.03f : 0.0f);
    round_trip(t, x);
    std::printf("%-5s uniform: rms err / rms x = %.4f, max err / bound = %.3f\n", dtype_name(t),
                r.rms_err / r.rms_x, r.max_ratio);
  }
}

TEST(QuantLegacy, EncoderSpecialRows) {
  for (DType t : kEncoded) {
    const QuantType& q = entry(t);
    const int n = 512;
    // All zero: decodes to exact zeros.
    std::vector<float> x(n, 0.0f), y(n);
    std::vector<uint8_t> bytes(static_cast<size_t>(n / q.block * q.block_bytes));
    q.quantize(x.data(), bytes.data(), n);
    q.dequant_ref(bytes.data(), y.data(), n);
    for (int i = 0; i < n; ++i) ASSERT_EQ(y[i], 0.0f) << dtype_name(t) << " zero row, value " << i;
    // All equal (both signs): within the bounds (in practice the f16 rounding of the constant).
    for (float c : {0.3f, -0.7f, 1e-3f}) {
      std::fill(x.begin(), x.end(), c);
      const RoundTrip r = round_trip(t, x);
      EXPECT_LE(r.rms_err, 1e-3 * std::fabs(c)) << dtype_name(t) << " constant " << c;
    }
    // One huge outlier in random values: its block's step grows, every bound still holds and
    // the outlier itself survives (to within the bound, i.e. a few percent).
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : x) v = u(rng);
    for (float big : {500.0f, -3000.0f}) {
      x[37] = big;
      round_trip(t, x);
      q.quantize(x.data(), bytes.data(), n);
      q.dequant_ref(bytes.data(), y.data(), n);
      EXPECT_NEAR(y[37], big, 0.1f * std::fabs(big)) << dtype_name(t);
      // Blocks away from the outlier are unaffected by it (blocks are independent).
      EXPECT_NEAR(y[n - 1], x[n - 1], 0.5f) << dtype_name(t);
    }
  }
}

// The encoders' blocks are what the unpack path reads too (no separate layout assumptions).
TEST(QuantLegacy, EncodedBlocksUnpack) {
  for (DType t : kEncoded) {
    const QuantType& q = entry(t);
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(-2.0f, 1.0f);
    const int n = 256 * 2 + (q.block == 32 ? 96 : 0);  // a 96-value tail span for 32-blocks
    std::vector<float> x(n), y(n);
    for (auto& v : x) v = u(rng);
    std::vector<uint8_t> bytes(static_cast<size_t>(n / q.block * q.block_bytes));
    q.quantize(x.data(), bytes.data(), n);
    q.dequant_ref(bytes.data(), y.data(), n);
    for (int s = 0; s * kSpan < n; ++s) {
      const int nv = std::min(kSpan, n - s * kSpan);
      Span sp{};
      q.unpack_ref(bytes.data(), s, nv, &sp);
      for (int i = 0; i < nv; ++i)
        ASSERT_NEAR(sp.fsc[i / 16] * float(sp.q[i]) - sp.fmin[i / 16], y[s * kSpan + i], 1e-5f)
            << dtype_name(t) << " span " << s << " value " << i;
    }
  }
}

}  // namespace
}  // namespace moecat::kernels::quant
