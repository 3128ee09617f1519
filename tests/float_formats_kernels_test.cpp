// FP8 (e4m3 in place, block scales in a side table) and MXFP4 kernels: every ISA this CPU supports against the scalar
// references, and the formats' decoding against their specifications written out here.
// Tolerances as in kernels_test.cpp: "S" is the sum of |terms| of a dot product.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "isa_testing.h"
#include "kernels/ops.h"
#include "kernels_test_util.h"

namespace moecat::kernels {
namespace {
using namespace ktest;

// ---- FP8 (e4m3 in place) -----------------------------------------------------------------------

// e4m3 straight from the OCP definition, in double: (-1)^s 2^(e-7) (1 + m/8), e = 0: 2^-6 m/8.
double e4m3_by_definition(int b) {
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  const double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return s ? -v : v;
}

TEST(Fp8, DecodesEveryByte) {
  // A few values written out by hand (the OCP FP8 spec's e4m3 table), then all 256 bytes
  // against the definition; 0x7F / 0xFF are the only NaNs (e4m3 has no infinities).
  const struct { int b; double v; } known[] = {
      {0x00, 0.0},          {0x01, 0.001953125},  {0x07, 0.013671875}, {0x08, 0.015625},
      {0x38, 1.0},          {0x3C, 1.5},          {0x40, 2.0},          {0x77, 240.0},
      {0x7E, 448.0},        {0xFE, -448.0},       {0xB8, -1.0},         {0x81, -0.001953125},
      {0x30, 0.5},          {0x6E, 112.0}};
  for (const auto& k : known) EXPECT_EQ(double(fp8_e4m3_to_f32(uint8_t(k.b))), k.v) << std::hex << k.b;
  EXPECT_TRUE(std::signbit(fp8_e4m3_to_f32(0x80)) && fp8_e4m3_to_f32(0x80) == 0.0f);
  for (int b = 0; b < 256; ++b) {
    const float f = fp8_e4m3_to_f32(uint8_t(b));
    if ((b & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(f)) << b;
      continue;
    }
    EXPECT_EQ(double(f), e4m3_by_definition(b)) << b;
    if (b > 0 && b < 0x7F) {
      EXPECT_GT(f, fp8_e4m3_to_f32(uint8_t(b - 1))) << b;  // codes ordered
    }
  }
}

// FP8 weights in place [out][in] from random bytes (every non-NaN code, both signs) and a side
// table of random scales for br x bc blocks (partial blocks where out / in are not multiples).
struct Fp8Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  TensorView view;
};
// Sets the FP8 activation mode (ops.h set_fp8_bf16) for a scope; the default after.
struct Fp8ActScope {
  explicit Fp8ActScope(bool bf16) { set_fp8_bf16(bf16); }
  ~Fp8ActScope() { set_fp8_bf16(true); }
};

Fp8Weights make_fp8(int64_t out, int64_t in, int64_t br, int64_t bc, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> code(0, 253);
  std::uniform_real_distribution<float> sc(0.0005f, 0.01f);
  Fp8Weights w;
  w.bytes.resize(static_cast<size_t>(out * in));
  for (uint8_t& b : w.bytes) {
    const int c = code(g);
    b = uint8_t(c >= 0x7F ? c + 1 : c);  // skip 0x7F (NaN); 0xFF is out of range
  }
  const int64_t ld = (in + bc - 1) / bc;
  w.scales.resize(static_cast<size_t>(((out + br - 1) / br) * ld));
  for (float& s : w.scales) s = sc(g);
  w.view.dtype = DType::F8_E4M3;
  w.view.shape = Shape{out, in};
  w.view.data = w.bytes.data();
  w.view.nbytes = w.bytes.size();
  w.view.fp8_scales = w.scales.data();
  w.view.fp8_br = br;
  w.view.fp8_bc = bc;
  w.view.fp8_ld = ld;
  return w;
}

TEST(Fp8, DequantizeIsScaleTimesCode) {
  const Fp8Weights w = make_fp8(37, 96, 16, 64, 5);  // partial blocks at both edges
  std::vector<float> row(96);
  for (int64_t r = 0; r < 37; ++r) {
    dequantize_view_row(w.view, r, row.data());
    for (int64_t k = 0; k < 96; ++k) {
      const double d = w.scales[(r / 16) * 2 + k / 64];
      EXPECT_EQ(double(row[k]), double(float(d * e4m3_by_definition(w.bytes[r * 96 + k])))) << r << " " << k;
    }
  }
}

TEST(Fp8, MatmulMatchesReferenceOnEveryIsa) {
  // Every ISA's in-place FP8 matmul vs ref::matmul (exact decode, double dot) on odd shapes:
  // rows not a multiple of the 4-row tiles, activation rows not a multiple of the 2/4-column
  // tiles, rows of 1, 3, 5 and 33 32-value blocks, scale blocks of 128x128 (partial at both
  // edges), 16x32, 5x64 (row blocks straddling the 4-row tiles) and 1x96. f32 products summed
  // per 32 values in 8/16 lanes: 1e-5 * S.
  IsaScope scope;
  Fp8ActScope act(false);
  const int64_t blocks[][2] = {{128, 128}, {16, 32}, {5, 64}, {1, 96}};
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (const auto& bl : blocks)
      for (int64_t in : {32, 96, 160, 1056})
        for (int64_t n : {1, 2, 3, 5, 7})
          for (int64_t out : {1, 3, 17, 37, 133}) {
            const Fp8Weights w = make_fp8(out, in, bl[0], bl[1], uint32_t(in * 31 + out + bl[0]));
            const std::vector<float> x = randv(n * in, uint32_t(n * 7 + in));
            std::vector<float> yr(n * out), y(n * out, -12345.0f);
            ref::matmul(w.view, x.data(), n, yr.data());
            matmul(w.view, x.data(), n, y.data(), nullptr);
            std::vector<double> s(n * out, 0.0);
            std::vector<float> row(in);
            for (int64_t r = 0; r < out; ++r) {
              dequantize_view_row(w.view, r, row.data());
              for (int64_t i = 0; i < n; ++i)
                for (int64_t k = 0; k < in; ++k) s[i * out + r] += std::fabs(double(row[k]) * x[i * in + k]);
            }
            for (int64_t i = 0; i < n * out; ++i)
              ASSERT_NEAR(y[i], yr[i], 1e-5 * s[i] + 1e-30) << isa_name(isa) << " block " << bl[0] << "x" << bl[1]
                                                            << " in=" << in << " n=" << n << " out=" << out << " i=" << i;
          }
  }
}

TEST(Fp8, MatmulThreadsBitExact) {
  IsaScope scope;
  ThreadPool pool(3);
  for (bool bf16 : {false, true})
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    Fp8ActScope act(bf16);
    const Fp8Weights w = make_fp8(70, 512, 16, 128, 9);
    const std::vector<float> x = randv(5 * 512, 10);
    std::vector<float> y1(5 * 70), y3(y1.size()), yrow(70);
    matmul(w.view, x.data(), 5, y1.data(), nullptr);
    matmul(w.view, x.data(), 5, y3.data(), &pool);
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << isa_name(isa);
    matmul(w.view, x.data() + 3 * 512, 1, yrow.data(), nullptr);  // one row alone: same bits
    EXPECT_EQ(0, std::memcmp(yrow.data(), y1.data() + 3 * 70, 70 * 4)) << isa_name(isa);
  }
}

TEST(Fp8, Bf16ActivationsMatchTheirReference) {
  // The bf16-activation kernel (AVX-512 BF16 + VBMI only) vs ref::matmul_fp8_bf16 (activations
  // rounded to nearest-even bf16, exact weights, double dot) on odd shapes: rows of 1, 3 and 17
  // 64-value chunks, scale blocks 128x128 (partial at both edges), 16x64, 5x192; products exact,
  // f32 sums: 1e-5 * S. Rows that are not whole 64-value chunks take the exact kernel.
  IsaScope scope;
  Fp8ActScope act(true);
  set_isa(Isa::kAvx512 <= detected_isa() ? Isa::kAvx512 : detected_isa());
  if (!fp8_bf16_active()) GTEST_SKIP() << "no AVX-512 BF16 + VBMI on this CPU";
  const int64_t blocks[][2] = {{128, 128}, {16, 64}, {5, 192}};
  for (const auto& bl : blocks)
    for (int64_t in : {64, 192, 1088})
      for (int64_t n : {1, 2, 3, 5})
        for (int64_t out : {1, 3, 17, 37, 133}) {
          const Fp8Weights w = make_fp8(out, in, bl[0], bl[1], uint32_t(in * 29 + out + bl[1]));
          const std::vector<float> x = randv(n * in, uint32_t(n * 5 + in));
          std::vector<float> yr(n * out), y(n * out, -12345.0f), ye(n * out);
          ref::matmul_fp8_bf16(w.view, x.data(), n, yr.data());
          ref::matmul(w.view, x.data(), n, ye.data());
          matmul(w.view, x.data(), n, y.data(), nullptr);
          std::vector<double> s(n * out, 0.0);
          std::vector<float> row(in);
          for (int64_t r = 0; r < out; ++r) {
            dequantize_view_row(w.view, r, row.data());
            for (int64_t i = 0; i < n; ++i)
              for (int64_t k = 0; k < in; ++k) s[i * out + r] += std::fabs(double(row[k]) * x[i * in + k]);
          }
          for (int64_t i = 0; i < n * out; ++i) {
            ASSERT_NEAR(y[i], yr[i], 1e-5 * s[i] + 1e-30)
                << "block " << bl[0] << "x" << bl[1] << " in=" << in << " n=" << n << " out=" << out << " i=" << i;
            // Against exact activations: within bf16's rounding, 2^-9 of S.
            ASSERT_NEAR(y[i], ye[i], 0x1p-9 * s[i] + 1e-30) << "in=" << in << " out=" << out << " i=" << i;
          }
        }
  // 96-value rows (not whole 64-value chunks): the exact kernel, in bf16 mode too.
  const Fp8Weights w = make_fp8(9, 96, 16, 32, 3);
  const std::vector<float> x = randv(96, 4);
  std::vector<float> y(9), ye(9);
  matmul(w.view, x.data(), 1, y.data(), nullptr);
  {
    Fp8ActScope exact(false);
    matmul(w.view, x.data(), 1, ye.data(), nullptr);
  }
  EXPECT_EQ(0, std::memcmp(y.data(), ye.data(), sizeof(float) * 9));
}

// ---- mxfp4 ---------------------------------------------------------------------------------

// The OCP e2m1 values, doubled (so the e8m0 scale is halved): written out here independently.
const double kE2m1Doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, -0.0, -1, -2, -3, -4, -6, -8, -12};

// Element j of an mxfp4 block, from the spec: low nibbles are elements 0-15, high 16-31.
int mxfp4_code(const BlockMxfp4& b, int j) { return j < 16 ? b.qs[j] & 15 : b.qs[j - 16] >> 4; }
double mxfp4_value(const BlockMxfp4& b, int j) {
  return kE2m1Doubled[mxfp4_code(b, j)] * std::ldexp(1.0, int(b.e) - 128);
}

TEST(Mxfp4, QuantizeHandComputedBlocks) {
  // e = floor(log2f(amax)) - 2 + 127 (mod 256), d = 2^(e-128), code = nearest kvalue*d with
  // ties to the lowest code, as llama.cpp's quantize_row_mxfp4_ref.
  std::vector<float> x(7 * 32, 0.0f);
  // Block 0: amax 6 -> e = 127, d = 0.5: representable 0, .5, 1, 1.5, 2, 3, 4, 6 (and negated).
  const float b0[] = {6.0f, -3.0f, 1.0f, 0.5f, 0.25f, -0.25f, 2.5f, 5.0f, -5.0f, 1.75f, -0.0f, 0.7f};
  const int c0[] = {7, 13, 2, 1, 0, 0, 4, 6, 14, 3, 0, 1};
  for (int j = 0; j < 12; ++j) x[j] = b0[j];
  x[16] = -6.0f;  // element 16: the high nibble of byte 0
  x[31] = 5.9f;   // -> 6 (code 7)
  // Block 1: all zero -> e = 0, codes 0.
  // Block 2: amax 1 -> e = 125, d = 1/8: 1 is code 6 (8/8), not the largest code.
  x[64] = 1.0f; x[65] = -0.125f; x[66] = 0.3f;   // 0.3 -> 0.25 (code 2)
  // Block 3: amax 7.9 -> e = 127, clipped to 6.
  x[96] = 7.9f; x[97] = -7.9f;
  // Block 4: amax = 16 - 2^-20: log2f rounds to 4.0, so e = 129 (d = 2) and 16 -> code 6.
  x[128] = 0x1.fffffep3f; x[129] = 3.0f;  // 3 -> 2 (code 1) or 4 (code 2): tie -> code 1
  // Block 5: huge: amax 3e38 -> floor(log2) = 127, e = 252, d = 2^124: 3e38 clips to 12*d.
  x[160] = 3e38f; x[161] = -1e38f;  // -1e38 / 2^124 = -4.70 -> -4 (code 12)
  // Block 6: tiny: amax 2^-130 -> floor(log2) - 2 + 127 = -5, wraps to e = 251 (like llama.cpp
  // on x86); everything rounds to code 0.
  x[192] = std::ldexp(1.0f, -130); x[193] = -std::ldexp(1.0f, -131);
  std::vector<BlockMxfp4> q(7);
  std::memset(q.data(), 0x55, q.size() * sizeof(BlockMxfp4));
  convert_row(x.data(), DType::MXFP4, q.data(), int64_t(x.size()));
  const uint8_t want_e[7] = {127, 0, 125, 127, 129, 252, 251};
  for (int b = 0; b < 7; ++b) EXPECT_EQ(q[b].e, want_e[b]) << "block " << b;
  for (int j = 0; j < 12; ++j) EXPECT_EQ(mxfp4_code(q[0], j), c0[j]) << j;
  EXPECT_EQ(mxfp4_code(q[0], 16), 15);
  EXPECT_EQ(mxfp4_code(q[0], 31), 7);
  for (int j = 12; j < 31; ++j) {
    if (j == 16) continue;
    EXPECT_EQ(mxfp4_code(q[0], j), 0) << j;
  }
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[1].qs[j], 0) << j;
  EXPECT_EQ(mxfp4_code(q[2], 0), 6);
  EXPECT_EQ(mxfp4_code(q[2], 1), 9);
  EXPECT_EQ(mxfp4_code(q[2], 2), 2);
  EXPECT_EQ(mxfp4_code(q[3], 0), 7);
  EXPECT_EQ(mxfp4_code(q[3], 1), 15);
  EXPECT_EQ(mxfp4_code(q[4], 0), 6);
  EXPECT_EQ(mxfp4_code(q[4], 1), 1);
  EXPECT_EQ(mxfp4_code(q[5], 0), 7);
  EXPECT_EQ(mxfp4_code(q[5], 1), 12);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[6].qs[j], 0) << j;
  // Byte packing of block 0 spelled out: byte 0 = code(x0) | code(x16) << 4.
  EXPECT_EQ(q[0].qs[0], 7 | 15 << 4);
  EXPECT_EQ(q[0].qs[15], 0 | 7 << 4);
}

TEST(Mxfp4, DequantizeExtremesAndRoundTrip) {
  // e8m0 extremes: 2^(e-128) with e = 0, 1 (f32 subnormals) and 254, 255 (12 * 2^127 = inf).
  for (int e : {0, 1, 2, 127, 128, 200, 254, 255}) {
    BlockMxfp4 b;
    b.e = static_cast<uint8_t>(e);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
    float y[32];
    dequantize_row(DType::MXFP4, &b, y, 32);
    for (int j = 0; j < 32; ++j) {
      const double want = mxfp4_value(b, j);
      if (std::isinf(float(want))) {
        EXPECT_TRUE(std::isinf(y[j]) && (y[j] > 0) == (want > 0)) << e << " " << j;
      } else {
        EXPECT_EQ(double(y[j]), want) << "e=" << e << " j=" << j;
      }
    }
    EXPECT_EQ(double(e8m0_to_f32_half(b.e)), std::ldexp(1.0, e - 128));
  }
  // Round trip: blocks whose largest |value| is 8 or 12 times d re-derive the same e, and every
  // value is exactly representable, so quantize(dequantize(b)) == b (code 8, "-0", excepted:
  // it comes back as 0). e up to 252 (12 * 2^(253-128) overflows f32).
  std::mt19937 g(11);
  for (int it = 0; it < 2000; ++it) {
    BlockMxfp4 b;
    b.e = static_cast<uint8_t>(g() % 253);
    uint8_t codes[32];
    for (int j = 0; j < 32; ++j) {
      codes[j] = static_cast<uint8_t>(g() % 16);
      if (codes[j] == 8) codes[j] = 0;
    }
    codes[g() % 32] = static_cast<uint8_t>(6 + (g() % 2) + 8 * (g() % 2));  // +-8 or +-12
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(codes[j] | codes[j + 16] << 4);
    float y[32];
    dequantize_row(DType::MXFP4, &b, y, 32);
    for (int j = 0; j < 32; ++j) ASSERT_EQ(double(y[j]), mxfp4_value(b, j));
    BlockMxfp4 back;
    quantize_row_mxfp4(y, &back, 32);
    ASSERT_EQ(back.e, b.e) << it;
    ASSERT_EQ(0, std::memcmp(back.qs, b.qs, 16)) << it << " e=" << int(b.e);
  }
}

TEST(Mxfp4, MatmulMatchesReference) {
  // Exact int32 block sums in every variant; only the f32 order differs: 1e-5 * S.
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t in : {32, 64, 96, 2880})
      for (int64_t n : {1, 2, 3, 5, 7, 33})
        for (int64_t out : {1, 2, 3, 5, 9, 16, 37}) check_matmul_vs_ref(DType::MXFP4, n, in, out, 1e-5);
    check_matmul_vs_ref(DType::MXFP4, 100, 2880, 17, 1e-5);
  }
}

TEST(Mxfp4, MatmulEdgeBlocksMatchDoublePrecision) {
  // Each weight row has one nonzero block (the others: zero codes 0 or 8 = -0, random e), so
  // each output is one block dot, computed here in double from the spec: f16(d_x) *
  // 2^(e-128) * sum(q8 * kvalue). e covers the e8m0 extremes; activation block magnitudes
  // keep the scales and sums finite and normal. Last row: all-zero blocks -> exactly 0.
  const int64_t nb = 8, in = nb * 32, n = 3, out = 3 * nb + 1;
  const int es[nb] = {0, 1, 2, 100, 127, 200, 254, 255};
  const float amp[nb] = {1e4f, 1e4f, 1e4f, 1.0f, 1.0f, 1e-3f, 1e-4f, 1e-4f};
  std::mt19937 g(5);
  std::vector<BlockMxfp4> wb(out * nb);
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockMxfp4& k = wb[r * nb + b];
      const bool special = r < out - 1 && b == r % nb;
      // Zero blocks keep e <= 200: 0 * (d_x * 2^(e-128)) is NaN once that scale overflows, in
      // llama.cpp too.
      k.e = special ? static_cast<uint8_t>(es[b]) : static_cast<uint8_t>(r == out - 1 ? 0 : g() % 201);
      for (int j = 0; j < 16; ++j)
        k.qs[j] = special ? static_cast<uint8_t>(g()) : static_cast<uint8_t>((g() % 2) * 0x08 | (g() % 2) * 0x80);
      if (special && r >= 2 * nb) std::memset(k.qs, 0x77, 16);  // all codes 12: largest sums
    }
  }
  Weights w;
  w.view.dtype = DType::MXFP4;
  w.view.shape = Shape{out, in};
  w.view.data = wb.data();
  w.view.nbytes = wb.size() * sizeof(BlockMxfp4);
  std::vector<float> x = randv(n * in, 6);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < in; ++k) x[i * in + k] = std::fabs(x[i * in + k]) * amp[k / 32] * (i == 1 ? -1 : 1);
  std::vector<double> ye(n * out), s(n * out);
  std::vector<BlockQ8_0> xq(nb);
  for (int64_t i = 0; i < n; ++i) {
    quantize_row_q8_0(x.data() + i * in, xq.data(), in);
    for (int64_t r = 0; r < out; ++r) {
      double acc = 0, sa = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const double dx = f16_bits_to_double(xq[b].d);
        for (int j = 0; j < 32; ++j) {
          const double t = mxfp4_value(wb[r * nb + b], j) * dx * xq[b].qs[j];
          acc += t;
          sa += std::fabs(t);
        }
      }
      ye[i * out + r] = acc;
      s[i * out + r] = sa;
    }
  }
  std::vector<float> y(n * out);
  ref::matmul(w.view, x.data(), n, y.data());
  for (int64_t i = 0; i < n * out; ++i) {
    ASSERT_TRUE((std::isfinite(ye[i]) && s[i] > 0) || i % out == out - 1) << i;
    ASSERT_NEAR(y[i], ye[i], 1e-6 * s[i]) << "ref i=" << i;
  }
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::fill(y.begin(), y.end(), -1.0f);
    matmul(w.view, x.data(), n, y.data(), nullptr);
    for (int64_t i = 0; i < n * out; ++i) {
      ASSERT_NEAR(y[i], ye[i], 1e-5 * s[i]) << isa_name(isa) << " i=" << i;
      if (i % out != out - 1) continue;
      EXPECT_EQ(y[i], 0.0f) << isa_name(isa);
    }
  }
}

TEST(Mxfp4, ThreadsAndBatchBitExactAt2880) {
  // gpt-oss hidden size: 3 threads == 1 thread, and batch rows == rows one at a time.
  IsaScope scope;
  ThreadPool p3(3);
  const int64_t in = 2880, out = 301, n = 5;
  Weights w = make_weights(DType::MXFP4, out, in, 77);
  const std::vector<float> x = randv(n * in, 78);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::vector<float> y1(n * out), y3(n * out), yrow(out);
    matmul(w.view, x.data(), n, y1.data(), nullptr);
    matmul(w.view, x.data(), n, y3.data(), &p3);
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << isa_name(isa);
    for (int64_t i = 0; i < n; ++i) {
      matmul(w.view, x.data() + i * in, 1, yrow.data(), &p3);
      EXPECT_EQ(0, std::memcmp(yrow.data(), y1.data() + i * out, out * 4)) << isa_name(isa) << " " << i;
    }
  }
}

}  // namespace
}  // namespace moecat::kernels
