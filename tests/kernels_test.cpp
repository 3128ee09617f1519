// Kernels: every ISA this CPU supports (scalar, avx2, avx512 as available) against the scalar
// references, and the references against independent double-precision computations written
// here. Tolerances are stated where used; "S" is the sum of |terms| of a dot product, the
// natural scale of its rounding error.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include "isa_testing.h"
#include "kernels_test_util.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"

namespace moecat::kernels {
namespace {
using namespace ktest;

// ---- conversions ---------------------------------------------------------------------------

TEST(Convert, QuantizeQ8HandComputedBlocks) {
  // Block 0: max |x| = 127 -> d = 1 exactly, q = roundf(x): ties go away from zero.
  // Block 1: max 254 -> d = 2, q = roundf(x / 2). Block 2: all zero -> d = 0, q = 0.
  std::vector<float> x(96, 0.0f);
  const float b0[8] = {127.0f, -127.0f, 0.5f, -0.5f, 1.5f, 2.49f, 2.5f, -3.5f};
  const int8_t q0[8] = {127, -127, 1, -1, 2, 2, 3, -4};
  const float b1[6] = {254.0f, 3.0f, 1.0f, -1.0f, -5.0f, 100.2f};
  const int8_t q1[6] = {127, 2, 1, -1, -3, 50};
  for (int j = 0; j < 8; ++j) x[j] = b0[j];
  for (int j = 0; j < 6; ++j) x[32 + j] = b1[j];
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int fast = 0; fast < 2; ++fast) {
      BlockQ8_0 blk[3];
      std::memset(blk, 0x55, sizeof blk);
      if (fast) quantize_row_q8_0_fast(x.data(), blk, 96); else quantize_row_q8_0(x.data(), blk, 96);
      SCOPED_TRACE(std::string(isa_name(isa)) + (fast ? " fast" : " scalar"));
      EXPECT_EQ(blk[0].d, 0x3C00);  // f16 1.0
      EXPECT_EQ(blk[1].d, 0x4000);  // f16 2.0
      EXPECT_EQ(blk[2].d, 0x0000);
      for (int j = 0; j < 8; ++j) EXPECT_EQ(blk[0].qs[j], q0[j]) << j;
      for (int j = 8; j < 32; ++j) EXPECT_EQ(blk[0].qs[j], 0) << j;
      for (int j = 0; j < 6; ++j) EXPECT_EQ(blk[1].qs[j], q1[j]) << j;
      for (int j = 0; j < 32; ++j) EXPECT_EQ(blk[2].qs[j], 0) << j;
    }
  }
}

TEST(Convert, QuantizeQ8FastMatchesReferenceBitForBit) {
  IsaScope scope;
  std::vector<float> x = randv(32 * 200, 7, -3.0f, 3.0f);
  for (int i = 0; i < 32 * 10; ++i) x[i] = std::round(x[i] * 40.0f) / 2.0f;  // many exact halves
  for (int i = 32 * 10; i < 32 * 11; ++i) x[i] = 1e-30f * float(i % 7);       // tiny scales
  std::vector<uint8_t> a(200 * 34), b(200 * 34);
  quantize_row_q8_0(x.data(), a.data(), int64_t(x.size()));
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::memset(b.data(), 0, b.size());
    quantize_row_q8_0_fast(x.data(), b.data(), int64_t(x.size()));
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size())) << isa_name(isa);
  }
}

TEST(Convert, F16AndBF16RoundToNearestEven) {
  std::vector<float> x = randv(20000, 11, -70000.0f, 70000.0f);
  std::vector<float> small = randv(20000, 12, -1e-4f, 1e-4f);  // f16 subnormal range
  x.insert(x.end(), small.begin(), small.end());
  // Exact ties: halfway between adjacent f16 values 1 and 1+2^-10 -> even (1.0).
  x.push_back(1.0f + 0.00048828125f);
  x.push_back(1.0f + 3 * 0.00048828125f);  // between 1+2^-10 and 1+2^-9 -> 1+2^-9 (even)
  std::vector<uint16_t> h(x.size()), bf(x.size());
  convert_row(x.data(), DType::F16, h.data(), int64_t(x.size()));
  convert_row(x.data(), DType::BF16, bf.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (std::fabs(v) < 65504.0) {  // f16: no neighbour may be strictly closer; ties even
      const double got = f16_bits_to_double(h[i]);
      for (int dlt : {-1, 1}) {
        const uint16_t nb = uint16_t(h[i] + dlt);
        if (((nb >> 10) & 31) == 31 || ((h[i] ^ nb) & 0x8000)) continue;
        const double other = f16_bits_to_double(nb);
        ASSERT_LE(std::fabs(got - v), std::fabs(other - v)) << v;
        if (std::fabs(got - v) == std::fabs(other - v)) {
          ASSERT_EQ(h[i] & 1, 0) << v;
        }
      }
    }
    {  // bf16: same check on the top 16 bits of a float
      auto dec = [](uint16_t b) { uint32_t u = uint32_t(b) << 16; float f; std::memcpy(&f, &u, 4); return double(f); };
      const double got = dec(bf[i]);
      for (int dlt : {-1, 1}) {
        const double other = dec(uint16_t(bf[i] + dlt));
        ASSERT_LE(std::fabs(got - v), std::fabs(other - v)) << v;
        if (std::fabs(got - v) == std::fabs(other - v)) {
          ASSERT_EQ(bf[i] & 1, 0) << v;
        }
      }
    }
  }
  std::vector<float> back(x.size());
  dequantize_row(DType::F16, h.data(), back.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(double(back[i]), f16_bits_to_double(h[i]));
  EXPECT_EQ(h[h.size() - 2], 0x3C00);
  EXPECT_EQ(h[h.size() - 1], 0x3C02);
}

TEST(Convert, DequantizeQ8IsScaleTimesQ) {
  const std::vector<float> x = randv(64, 3);
  BlockQ8_0 b[2];
  quantize_row_q8_0(x.data(), b, 64);
  std::vector<float> y(64);
  dequantize_row(DType::Q8_0, b, y.data(), 64);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(y[i], float(f16_bits_to_double(b[i / 32].d)) * b[i / 32].qs[i % 32]);
    EXPECT_NEAR(y[i], x[i], 1.0 / 127 * 0.51 + 1e-3);  // within half a step (+ f16 of d)
  }
}

// ---- matmul --------------------------------------------------------------------------------

TEST(Matmul, ReferenceMatchesDoublePrecision) {
  // ref::matmul vs an independent double dot on the same (dequantized) operands.
  // F32/F16/BF16: ref accumulates in double -> 1e-6 * S. Q8_0: f32 across blocks like
  // llama.cpp -> 1e-4 * S would be generous; observed far smaller.
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::MXFP4}) {
    for (int64_t in : {32, 96, 2880, 4128}) {
      const int64_t out = 5, n = 3;
      Weights w = make_weights(t, out, in, 100 + uint32_t(in));
      const std::vector<float> x = randv(n * in, 200 + uint32_t(in));
      std::vector<float> y(n * out);
      ref::matmul(w.view, x.data(), n, y.data());
      std::vector<double> ye, s;
      exact_matmul(w.view, x.data(), n, ye, s);
      const double tol = t == DType::Q8_0 || t == DType::MXFP4 ? 1e-4 : 1e-6;
      for (int64_t i = 0; i < n * out; ++i)
        ASSERT_NEAR(y[i], ye[i], tol * s[i] + 1e-30) << dtype_name(t) << " in=" << in << " i=" << i;
    }
  }
}

TEST(Matmul, FloatTypesMatchReference) {
  // f32 FMA accumulation in 8/16 lanes vs double reference: 1e-5 * S.
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (DType t : {DType::F32, DType::F16, DType::BF16})
      for (int64_t in : {1, 5, 17, 32, 1023})
        for (int64_t n : {1, 3, 7, 33})
          for (int64_t out : {1, 3, 16, 37}) check_matmul_vs_ref(t, n, in, out, 1e-5);
  }
}

TEST(KQuants, MatmulThreadsBitExact) {
  // The products against the reference (with the int8 activation rounding bound) are checked
  // for every block type in tests/quant_kernels_test.cpp; here: threads bit-exact.
  IsaScope scope;
  ThreadPool pool(3);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    const Weights w = make_weights(DType::Q4_K, 64, 512, 9);
    const std::vector<float> x = randv(5 * 512, 10);
    std::vector<float> y1(5 * 64), y3(y1.size());
    matmul(w.view, x.data(), 5, y1.data(), nullptr);
    matmul(w.view, x.data(), 5, y3.data(), &pool);
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << isa_name(isa);
  }
}

TEST(KQuants, RoundTripErrorWithinTheFormatsStep) {
  // Uniform values in [-1, 1]: each sub-block's step is its range over 15 / 31 levels (Q4_K /
  // Q5_K), or its abs-max over 31 (Q6_K), plus the 6- / 8-bit rounding of the scales; the RMS
  // error must stay below a third of that step and no value may be off by more than one step.
  struct Case { DType t; double step; } cases[] = {{DType::Q4_K, 2.0 / 15}, {DType::Q5_K, 2.0 / 31}, {DType::Q6_K, 1.0 / 31}};
  for (const Case& c : cases) {
    const int64_t n = 4096;
    const std::vector<float> x = randv(n, 21);
    std::vector<uint8_t> q(static_cast<size_t>(dtype_row_bytes(c.t, n)));
    std::vector<float> y(static_cast<size_t>(n));
    convert_row(x.data(), c.t, q.data(), n);
    dequantize_row(c.t, q.data(), y.data(), n);
    double se = 0, worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      se += double(x[i] - y[i]) * double(x[i] - y[i]);
      worst = std::max(worst, double(std::fabs(x[i] - y[i])));
    }
    EXPECT_LT(std::sqrt(se / n), c.step / 3) << dtype_name(c.t);
    EXPECT_LT(worst, c.step) << dtype_name(c.t);
  }
}

TEST(KQuants, HandBuiltBlocksDecodeByTheFormat) {
  // Q4_K: d = 1, dmin = 0.5. Sub-block 0: scale 2, min 1 (bytes 0 and 4, low 6 bits); sub-block
  // 5: scale 35 = 0b100011, min 17 = 0b010001 (low nibbles in byte 9, high 2 bits on top of
  // bytes 1 and 5). Value 0 of sub-block 0 is the low nibble of qs[0]; value 0 of sub-block 5 the
  // high nibble of qs[64] (sub-blocks 4 and 5 share bytes 64..95).
  uint8_t b4[144] = {};
  b4[0] = 0x00; b4[1] = 0x3C;  // f16 1.0
  b4[2] = 0x00; b4[3] = 0x38;  // f16 0.5
  uint8_t* sc = b4 + 4;
  sc[0] = 2; sc[4] = 1;
  sc[9] = 0x3 | (0x1 << 4);      // scale 35 low nibble 3, min 17 low nibble 1
  sc[1] |= 2 << 6;               // scale 35 high bits 0b10
  sc[5] |= 1 << 6;               // min 17 high bits 0b01
  b4[16 + 0] = 0x0A;             // sub-block 0, value 0: q = 10
  b4[16 + 64] = 0x70;            // sub-block 5, value 0: q = 7
  float y[256];
  dequantize_row(DType::Q4_K, b4, y, 256);
  EXPECT_FLOAT_EQ(y[0], 1.0f * 2 * 10 - 0.5f * 1);    // 19.5
  EXPECT_FLOAT_EQ(y[160], 1.0f * 35 * 7 - 0.5f * 17);  // 236.5
  EXPECT_FLOAT_EQ(y[1], -0.5f);                        // q 0: just the min
  // Q5_K: the same, plus the fifth bit of sub-block 5's value 0 (bit 5 of qh[0]).
  uint8_t b5[176] = {};
  std::memcpy(b5, b4, 16);
  b5[16 + 0] = 1 << 5;
  b5[48 + 64] = 0x70;
  dequantize_row(DType::Q5_K, b5, y, 256);
  EXPECT_FLOAT_EQ(y[160], 1.0f * 35 * (7 + 16) - 0.5f * 17);
  // Q6_K: d = 0.25, scale[9] = -3 (values 144..159). Value 144 is in the second half (128..255)
  // at row 16 of its first quarter: low 4 bits in ql[64 + 16], high 2 bits in qh[32 + 16] bits 0-1.
  uint8_t b6[210] = {};
  b6[192 + 9] = static_cast<uint8_t>(int8_t(-3));
  b6[208] = 0x00; b6[209] = 0x34;  // f16 0.25
  b6[64 + 16] = 0x5;               // low bits 5
  b6[128 + 32 + 16] = 0x2;         // high bits 2 -> q = 5 + 32 = 37, minus 32 = 5
  dequantize_row(DType::Q6_K, b6, y, 256);
  EXPECT_FLOAT_EQ(y[144], 0.25f * -3 * 5);
  EXPECT_FLOAT_EQ(y[145], 0.25f * -3 * -32);  // q 0 -> -32
}

TEST(Matmul, Q8MatchesReference) {
  // Same exact int32 block sums; only the f32 order differs (per-lane partial sums, FMA):
  // 1e-5 * S.
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t in : {32, 64, 96, 4128})
      for (int64_t n : {1, 3, 7, 33, 100})
        for (int64_t out : {1, 5, 16, 37}) check_matmul_vs_ref(DType::Q8_0, n, in, out, 1e-5);
    check_matmul_vs_ref(DType::Q8_0, 1000, 64, 5, 1e-5);
    check_matmul_vs_ref(DType::F16, 1000, 17, 5, 1e-5);
  }
}

TEST(Matmul, ThreadedEqualsSingleThreadBitForBit) {
  // Threads split output rows; each output's arithmetic is independent of the split. Also:
  // a batch of n rows gives exactly the rows computed one at a time (x-row tiling).
  IsaScope scope;
  ThreadPool p2(2), p3(3);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::MXFP4}) {
      for (int64_t out : {37, 300, 1001}) {
        const int64_t in = 256, n = 9;
        Weights w = make_weights(t, out, in, uint32_t(out));
        const std::vector<float> x = randv(n * in, 5);
        std::vector<float> y1(n * out), y2(n * out), y3(n * out), yrow(out);
        matmul(w.view, x.data(), n, y1.data(), nullptr);
        matmul(w.view, x.data(), n, y2.data(), &p2);
        matmul(w.view, x.data(), n, y3.data(), &p3);
        EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << isa_name(isa) << " " << dtype_name(t);
        EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << isa_name(isa) << " " << dtype_name(t);
        for (int64_t i = 0; i < n; ++i) {
          matmul(w.view, x.data() + i * in, 1, yrow.data(), &p3);
          EXPECT_EQ(0, std::memcmp(yrow.data(), y1.data() + i * out, out * 4))
              << isa_name(isa) << " " << dtype_name(t) << " row " << i;
        }
      }
    }
  }
}

// ---- elementwise ---------------------------------------------------------------------------

const int64_t kLens[] = {1, 3, 7, 16, 33, 100, 1000};

TEST(Ops, Rmsnorm) {
  // Sum of squares in double in every variant; only its order differs: 2e-6 relative.
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t n : kLens) {
      const std::vector<float> x = randv(n, uint32_t(n), -4, 4), w = randv(n, uint32_t(n) + 1);
      for (bool with_w : {false, true}) {
        std::vector<float> y(n), yr(n);
        rmsnorm(x.data(), with_w ? w.data() : nullptr, 1e-6f, n, y.data());
        ref::rmsnorm(x.data(), with_w ? w.data() : nullptr, 1e-6f, n, yr.data());
        double ss = 0;
        for (float v : x) ss += double(v) * v;
        const double sc = 1.0 / std::sqrt(ss / n + 1e-6);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_NEAR(y[i], yr[i], 2e-6 * std::fabs(yr[i]) + 1e-30) << isa_name(isa) << " n=" << n;
          const double ex = x[i] * sc * (with_w ? w[i] : 1.0);
          ASSERT_NEAR(yr[i], ex, 1e-6 * std::fabs(ex) + 1e-30);  // reference vs exact
        }
      }
    }
  }
}

TEST(Ops, SoftmaxAndSwiglu) {
  // exp is within 2 ulp (tested below), sums in double: 2e-6 relative per element.
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t n : kLens) {
      const std::vector<float> orig = randv(n, uint32_t(n), -20, 20);
      std::vector<float> x = orig, xr = orig;
      softmax(x.data(), n);
      ref::softmax(xr.data(), n);
      double mx = -1e300, den = 0;
      for (float v : orig) mx = std::max<double>(mx, v);
      for (float v : orig) den += std::exp(double(v) - mx);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(x[i], xr[i], 2e-6 * xr[i] + 1e-30) << isa_name(isa) << " n=" << n;
        // The float subtraction x - max rounds the argument: relative error up to |arg| * 2^-24.
        const double ex = std::exp(double(orig[i]) - mx) / den;
        ASSERT_NEAR(xr[i], ex, (1e-6 + 1.2e-7 * std::fabs(orig[i] - mx)) * ex + 1e-30);
      }
      const std::vector<float> g = randv(n, uint32_t(n) + 5, -30, 30), u = randv(n, uint32_t(n) + 6);
      std::vector<float> y(n), yr(n);
      swiglu(g.data(), u.data(), n, y.data());
      ref::swiglu(g.data(), u.data(), n, yr.data());
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(y[i], yr[i], 2e-6 * std::fabs(yr[i]) + 1e-37) << isa_name(isa) << " n=" << n;
        const double ex = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
        ASSERT_NEAR(yr[i], ex, 1e-6 * std::fabs(ex) + 1e-37);
      }
    }
  }
}

TEST(Ops, ExpAccuracy) {
  // <= 2 ulp for normal results; results below FLT_MIN within 2^-148 absolute; specials exact.
  IsaScope scope;
  std::vector<float> x;
  for (double v = -103.9; v < 88.72; v += 0.0123) x.push_back(float(v));
  for (int i = -1000; i <= 1000; ++i) x.push_back(float(i) * 1e-6f);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::vector<float> y(x.size());
    exp_row(x.data(), y.data(), int64_t(x.size()));
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double e = std::exp(double(x[i]));
      if (e >= 1.1754943508222875e-38) {
        int ex;
        std::frexp(e, &ex);
        const double ulp = std::ldexp(1.0, ex - 24);
        worst = std::max(worst, std::fabs(y[i] - e) / ulp);
      } else {
        ASSERT_LE(std::fabs(y[i] - e), std::ldexp(1.0, -148)) << x[i];
      }
    }
    EXPECT_LE(worst, 2.0) << isa_name(isa);
    const float sp[6] = {0.0f, -INFINITY, INFINITY, NAN, 100.0f, -200.0f};
    float r[6];
    exp_row(sp, r, 6);
    EXPECT_EQ(r[0], 1.0f);
    EXPECT_EQ(r[1], 0.0f);
    EXPECT_EQ(r[2], INFINITY);
    EXPECT_TRUE(std::isnan(r[3]));
    EXPECT_EQ(r[4], INFINITY);
    EXPECT_EQ(r[5], 0.0f);
  }
}

TEST(Ops, Rope) {
  // One extra rounding (FMA) vs the reference: 1e-6 * (|x0| + |x1|).
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (bool neox : {false, true}) {
      for (int64_t rot : {2, 6, 18, 32, 34, 64}) {
        const int64_t hd = 64 + 6, nh = 3;
        const std::vector<float> x0 = randv(nh * hd, uint32_t(rot), -3, 3);
        std::vector<float> c(rot / 2), s(rot / 2);
        for (int64_t i = 0; i < rot / 2; ++i) {
          const double th = 17.0 * std::pow(10000.0, -2.0 * double(i) / double(rot));
          c[i] = float(std::cos(th));
          s[i] = float(std::sin(th));
        }
        std::vector<float> x = x0, xr = x0;
        rope(x.data(), nh, hd, rot, c.data(), s.data(), neox);
        ref::rope(xr.data(), nh, hd, rot, c.data(), s.data(), neox);
        for (int64_t h = 0; h < nh; ++h) {
          for (int64_t i = 0; i < rot / 2; ++i) {  // independent: the pair rotation
            const int64_t a = h * hd + (neox ? i : 2 * i), b = h * hd + (neox ? i + rot / 2 : 2 * i + 1);
            const double e0 = double(x0[a]) * c[i] - double(x0[b]) * s[i];
            const double e1 = double(x0[a]) * s[i] + double(x0[b]) * c[i];
            const double sc = std::fabs(x0[a]) + std::fabs(x0[b]);
            ASSERT_NEAR(xr[a], e0, 1e-6 * sc);
            ASSERT_NEAR(xr[b], e1, 1e-6 * sc);
            ASSERT_NEAR(x[a], xr[a], 1e-6 * sc) << isa_name(isa) << " rot=" << rot << " neox=" << neox;
            ASSERT_NEAR(x[b], xr[b], 1e-6 * sc) << isa_name(isa) << " rot=" << rot << " neox=" << neox;
          }
          for (int64_t k = h * hd + rot; k < (h + 1) * hd; ++k) ASSERT_EQ(x[k], x0[k]);  // untouched
        }
      }
    }
  }
}

TEST(Ops, DotAndAxpy) {
  // dot: f32 lanes vs double reference, 1e-6 * S. axpy: one FMA vs mul+add, 1 ulp-ish.
  IsaScope scope;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t n : kLens) {
      const std::vector<float> a = randv(n, uint32_t(n)), b = randv(n, uint32_t(n) + 9);
      double s = 0, e = 0;
      for (int64_t i = 0; i < n; ++i) {
        s += std::fabs(double(a[i]) * b[i]);
        e += double(a[i]) * b[i];
      }
      EXPECT_NEAR(ref::dot(a.data(), b.data(), n), e, 1e-7 * s + 1e-30);
      EXPECT_NEAR(dot(a.data(), b.data(), n), e, 1e-6 * s + 1e-30) << isa_name(isa) << " n=" << n;
      std::vector<float> guard = randv(n + 20, 77);  // detects writes past n
      std::vector<float> yy(guard);
      std::copy(b.begin(), b.end(), yy.begin());
      axpy(0.37f, a.data(), yy.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double ex = double(b[i]) + 0.37 * double(a[i]);
        ASSERT_NEAR(yy[i], ex, 2e-7 * (std::fabs(b[i]) + std::fabs(0.37 * a[i])));
      }
      for (int64_t i = n; i < n + 20; ++i) ASSERT_EQ(yy[i], guard[i]);
    }
  }
}

// ---- attention -----------------------------------------------------------------------------

// Independent naive attention: full masked score matrix in double, softmax with the sink
// as an extra column.
std::vector<double> naive_attention(const std::vector<float>& q, const std::vector<int32_t>& pos,
                                    const std::vector<float>& k, const std::vector<float>& v,
                                    const AttentionParams& p, int64_t n_pos) {
  const int64_t nt = int64_t(pos.size());
  std::vector<double> out(nt * p.n_head * p.head_dim_v, 0.0);
  for (int64_t t = 0; t < nt; ++t) {
    for (int64_t h = 0; h < p.n_head; ++h) {
      const int64_t kv = h * p.n_head_kv / p.n_head;
      std::vector<double> sc(n_pos + 1, -INFINITY);
      for (int64_t j = 0; j < n_pos; ++j) {
        const bool visible = j <= pos[t] && (p.window == 0 || j > pos[t] - p.window);
        if (!visible) continue;
        double d = 0;
        for (int64_t c = 0; c < p.head_dim_k; ++c)
          d += double(q[(t * p.n_head + h) * p.head_dim_k + c]) * k[j * p.k_pos_stride + kv * p.head_dim_k + c];
        sc[j] = d * p.scale;
      }
      if (p.sinks) sc[n_pos] = p.sinks[h];
      double mx = -INFINITY, den = 0;
      for (double s : sc) mx = std::max(mx, s);
      if (mx == -INFINITY) continue;
      for (double& s : sc) den += (s = std::exp(s - mx));
      for (int64_t j = 0; j < n_pos; ++j)
        for (int64_t c = 0; c < p.head_dim_v; ++c)
          out[(t * p.n_head + h) * p.head_dim_v + c] += sc[j] / den * v[j * p.v_pos_stride + kv * p.head_dim_v + c];
    }
  }
  return out;
}

// The attention tests' layout: 8 query heads over 2 kv heads, padded cache rows.
AttentionParams test_params(int64_t dk, int64_t dv, int64_t window) {
  AttentionParams p;
  p.n_head = 8;
  p.n_head_kv = 2;
  p.head_dim_k = dk;
  p.head_dim_v = dv;
  p.scale = 1.0f / std::sqrt(float(dk));
  p.k_pos_stride = p.n_head_kv * dk + 3;  // padded rows
  p.v_pos_stride = p.n_head_kv * dv + 5;
  p.window = window;
  return p;
}

TEST(Attention, MatchesNaiveDoubleWithGqaWindowsSinks) {
  // Outputs are convex combinations of V entries (|v| <= 1): 2e-6 absolute.
  IsaScope scope;
  ThreadPool pool(3);
  struct Case {
    int64_t dk, dv, window;
    bool sinks;
    std::vector<int32_t> pos;
  };
  const std::vector<Case> cases = {
      {64, 64, 0, false, {0}},         {64, 64, 0, false, {50}},
      {20, 12, 0, true, {50}},         {64, 64, 5, false, {50}},
      {64, 64, 17, true, {40, 41, 42, 43, 44}},
      {33, 64, 0, false, {10, 11, 12, 13, 14, 15, 16}},
      {64, 33, 3, true, {0, 1, 2, 3, 60}},
  };
  const float sinks[8] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f, -2.0f, 1.0f, 0.25f};
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (const Case& cs : cases) {
      AttentionParams p = test_params(cs.dk, cs.dv, cs.window);
      p.sinks = cs.sinks ? sinks : nullptr;
      const int64_t n_pos = 64, nt = int64_t(cs.pos.size());
      const std::vector<float> q = randv(nt * p.n_head * cs.dk, 1, -2, 2);
      const std::vector<float> k = randv(n_pos * p.k_pos_stride, 2, -2, 2);
      const std::vector<float> v = randv(n_pos * p.v_pos_stride, 3);
      std::vector<float> o1(nt * p.n_head * cs.dv), o3(o1.size()), oref(o1.size());
      attention(q.data(), cs.pos.data(), nt, k.data(), v.data(), p, o1.data(), nullptr);
      attention(q.data(), cs.pos.data(), nt, k.data(), v.data(), p, o3.data(), &pool);
      ref::attention(q.data(), cs.pos.data(), nt, k.data(), v.data(), p, oref.data());
      const std::vector<double> ex = naive_attention(q, cs.pos, k, v, p, n_pos);
      for (size_t i = 0; i < ex.size(); ++i) {
        ASSERT_NEAR(oref[i], ex[i], 1e-6) << i;
        ASSERT_NEAR(o1[i], ex[i], 2e-6) << isa_name(isa) << " case dk=" << cs.dk << " w=" << cs.window << " i=" << i;
      }
      EXPECT_EQ(0, std::memcmp(o1.data(), o3.data(), o1.size() * 4)) << isa_name(isa);
    }
  }
}

TEST(Attention, F16CacheMatchesNaiveDoubleOnTheHalfValues) {
  // The same cases over an f16 cache: every ISA's dot_rows_f16 / wsum_rows_f16 must give the
  // attention of the cache's exact (half) values, 2e-6 absolute as above; threads bit-exact.
  IsaScope scope;
  ThreadPool pool(3);
  // Head dims 64/128/192/256 take the grouped kernels' fixed-size paths, others the tiled one
  // (heads x rows tiles, masked last chunk); 40 query heads on one KV head (an MLA-like group)
  // are cut into chunks of up to 16 heads; MLA's own 576 / 512 dims; sinks per head.
  struct Case { int64_t dk, dv, window; std::vector<int32_t> pos; int64_t heads = 8, kv_heads = 2; bool sinks = false; };
  const std::vector<Case> cases = {
      {64, 64, 0, {50}}, {20, 12, 0, {50}}, {64, 64, 5, {50}}, {33, 64, 0, {10, 11, 12, 13, 14, 15, 16}},
      {64, 33, 3, {0, 1, 2, 3, 60}}, {7, 9, 0, {1, 2, 63}}, {128, 128, 0, {63}, 8, 1, true},
      {128, 40, 9, {30, 31}}, {192, 64, 0, {20}, 40, 1}, {256, 96, 0, {62, 63}, 6, 3, true},
      {576, 512, 0, {5, 62, 63}, 23, 1}, {50, 16, 4, {9, 10, 11}, 6, 1},
      // Qwen3-30B-A3B's group of 8 heads per KV head (odd and even row counts).
      {128, 64, 0, {40, 41}, 16, 2}, {128, 128, 0, {0, 2}, 8, 1, true},
  };
  const float sinks[8] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f, -2.0f, 1.0f, 0.25f};
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (const Case& cs : cases) {
      AttentionParams p = test_params(cs.dk, cs.dv, cs.window);
      p.n_head = cs.heads;
      p.n_head_kv = cs.kv_heads;
      p.k_pos_stride = p.n_head_kv * cs.dk + 3;
      p.v_pos_stride = p.n_head_kv * cs.dv + 5;
      p.sinks = cs.sinks ? sinks : nullptr;
      p.kv_f16 = true;
      const int64_t n_pos = 64, nt = int64_t(cs.pos.size());
      const std::vector<float> q = randv(nt * p.n_head * cs.dk, 11, -2, 2);
      std::vector<float> k = randv(n_pos * p.k_pos_stride, 12, -2, 2), v = randv(n_pos * p.v_pos_stride, 13);
      std::vector<uint16_t> k16(k.size()), v16(v.size());
      convert_row(k.data(), DType::F16, k16.data(), int64_t(k.size()));
      convert_row(v.data(), DType::F16, v16.data(), int64_t(v.size()));
      for (size_t i = 0; i < k.size(); ++i) k[i] = f16_to_f32(k16[i]);
      for (size_t i = 0; i < v.size(); ++i) v[i] = f16_to_f32(v16[i]);
      std::vector<float> o1(nt * p.n_head * cs.dv), o3(o1.size());
      attention(q.data(), cs.pos.data(), nt, k16.data(), v16.data(), p, o1.data(), nullptr);
      attention(q.data(), cs.pos.data(), nt, k16.data(), v16.data(), p, o3.data(), &pool);
      const std::vector<double> ex = naive_attention(q, cs.pos, k, v, p, n_pos);
      for (size_t i = 0; i < ex.size(); ++i)
        ASSERT_NEAR(o1[i], ex[i], 2e-6) << isa_name(isa) << " case dk=" << cs.dk << " dv=" << cs.dv << " i=" << i;
      EXPECT_EQ(0, std::memcmp(o1.data(), o3.data(), o1.size() * 4)) << isa_name(isa);
    }
  }
}

TEST(Dispatch, IsaSelection) {
  IsaScope scope;
  EXPECT_LE(active_isa(), detected_isa());
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    EXPECT_EQ(active_isa(), isa);
  }
  EXPECT_STREQ(isa_name(Isa::kAvx512), "avx512");
  std::printf("detected ISA: %s\n", isa_name(detected_isa()));
}

}  // namespace
}  // namespace moecat::kernels
