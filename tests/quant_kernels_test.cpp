// The int8 Span kernels (kernels/quant/span_*.cpp) for every block-quantized type, on every ISA
// this CPU has, against the double-precision product of the type's reference decoder
// (ref::matmul). Weights are random blocks: every code, sign and scale field random, the f16 /
// e8m0 scale fields set to sane magnitudes (a random f16 can be inf or NaN). Sizes are odd on
// purpose: row tiles of 4 with 1-3 left over, activation rows 1..17, 32-block types with rows
// that end inside a 256-value span.
//
// Bound. The kernels quantize each 32 activations to int8 with d = amax/127, so each x_i moves
// by at most d/2; the product differs from the exact one by at most sum_i |w_i| * d_i / 2, plus
// float rounding (1e-5 of sum |w_i x_i|). That bound is what the tests assert: a wrong code,
// scale or group would exceed it by orders of magnitude.
#include <gtest/gtest.h>

#include "isa_testing.h"
#include "quant_testing.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/ops.h"
#include "kernels/quant/quant.h"
#include "kernels/quant/repack.h"
#include "kernels/kernel_table.h"
#include "kernels/threadpool.h"

namespace moecat::kernels {
namespace {


struct Matrix {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Matrix random_matrix(const quant::QuantType& qt, int64_t out, int64_t in, uint32_t seed) {
  Matrix m;
  std::mt19937 g(seed);
  const int64_t nb = in / qt.block;
  m.bytes.resize(static_cast<size_t>(out * nb * qt.block_bytes));
  for (auto& c : m.bytes) c = static_cast<uint8_t>(g());
  for (int64_t b = 0; b < out * nb; ++b) sanitize_block(qt.type, m.bytes.data() + b * qt.block_bytes, g);
  m.view.dtype = qt.type;
  m.view.shape = Shape{out, in};
  m.view.data = m.bytes.data();
  m.view.nbytes = m.bytes.size();
  return m;
}


// The bound above, per output.
// |y - ref| bound from the activations' int8 rounding, one scale per `blk` values
// (kernels::activation_block: 32, or 256 where the ISA gives the type Q8_K-style activations).
std::vector<float> bounds(const Matrix& m, const quant::QuantType& qt, const std::vector<float>& x,
                          int64_t n, int64_t blk) {
  const int64_t out = m.view.shape[0], in = m.view.shape[1];
  std::vector<float> w(static_cast<size_t>(in)), bnd(static_cast<size_t>(n * out));
  for (int64_t r = 0; r < out; ++r) {
    qt.dequant_ref(m.view.row(r), w.data(), in);
    for (int64_t i = 0; i < n; ++i) {
      double e = 0, s = 0;
      for (int64_t b0 = 0; b0 < in; b0 += blk) {
        const int64_t b1 = std::min(in, b0 + blk);
        float amax = 0;
        for (int64_t l = b0; l < b1; ++l) amax = std::max(amax, std::fabs(x[i * in + l]));
        for (int64_t l = b0; l < b1; ++l) {
          e += std::fabs(w[l]) * amax / 127.0 / 2.0;
          s += std::fabs(double(w[l]) * x[i * in + l]);
        }
      }
      bnd[i * out + r] = static_cast<float>(e * 1.001 + 1e-5 * s + 1e-30);
    }
  }
  return bnd;
}

// Row lengths per block size: several spans, and for 32-block types a tail inside a span.
std::vector<int64_t> row_lengths(int block) {
  if (block == 256) return {256, 768};
  return {32, 96, 256, 288, 544};  // 256: one whole unit, repacked (a lone half pair)
}

TEST(QuantKernels, EveryTypeEveryIsaWithinTheActivationRoundingBound) {
  IsaScope scope;
  int count = 0;
  const quant::QuantType* types = quant::all(&count);
  for (int ti = 0; ti < count; ++ti) {
    const quant::QuantType& qt = types[ti];
    for (int64_t in : row_lengths(qt.block)) {
      for (int64_t out : {1, 6, 13}) {
        // 14 rows: past matmul_many's fused limit (12), so the repacked types run their row tiles.
        for (int64_t n : {1, 2, 5, 14}) {
          const Matrix m = random_matrix(qt, out, in, static_cast<uint32_t>(ti * 1000 + in + out + n));
          const std::vector<float> x = randv(n * in, static_cast<uint32_t>(in * 7 + n));
          std::vector<float> ref(static_cast<size_t>(n * out));
          ref::matmul(m.view, x.data(), n, ref.data());
          const std::vector<float> bnd32 = bounds(m, qt, x, n, 32), bnd256 = bounds(m, qt, x, n, 256);
          // The repacked layout of the same matrix where the type has one (AVX-512 VNNI runs its
          // own kernels on it: fused up to 12 rows, tiles past; other ISAs the reference decode).
          const DType r = quant::repacked_of(qt.type);
          const bool rep = r != qt.type && (in % 256 == 0 || quant::repack_tail_block(qt.type) > 0);
          std::vector<uint8_t> packed(rep ? m.bytes.size() : 0);
          if (rep) repack_rows(qt.type, r, m.bytes.data(), packed.data(), out, in);
          const TensorView rv{"w", r, Shape{out, in}, packed.data(), packed.size()};
          for (Isa isa : supported_isas()) {
            set_isa(isa);
            for (const TensorView* v : {&m.view, rep ? &rv : nullptr}) {
              if (!v) continue;
              std::vector<float> y(static_cast<size_t>(n * out), NAN);
              matmul(*v, x.data(), n, y.data(), nullptr);
              const int blk = activation_block(*v);
              ASSERT_TRUE(blk == 32 || blk == 256) << dtype_name(v->dtype) << " " << isa_name(isa);
              const std::vector<float>& bnd = blk == 256 ? bnd256 : bnd32;
              for (int64_t k = 0; k < n * out; ++k)
                ASSERT_LE(std::fabs(y[k] - ref[k]), bnd[k])
                    << dtype_name(v->dtype) << " " << isa_name(isa) << " in=" << in << " out=" << out
                    << " n=" << n << " k=" << k << " y=" << y[k] << " ref=" << ref[k];
            }
          }
        }
      }
    }
  }
}

// The registry's offset is what the kernels fold into the integer sums (span.h): it must be
// exactly the Span offset the type's unpack writes, fmin = offset * fsc in every group, for
// every type that declares one (and the types with mins of their own declare none).
TEST(QuantKernels, DeclaredOffsetIsTheUnpacksOffset) {
  int count = 0;
  const quant::QuantType* types = quant::all(&count);
  for (int ti = 0; ti < count; ++ti) {
    const quant::QuantType& qt = types[ti];
    const Matrix m = random_matrix(qt, 3, 512, static_cast<uint32_t>(ti + 1));
    std::vector<float> ratios;  // fmin / fsc of every group with a nonzero scale
    for (int64_t r = 0; r < 3; ++r)
      for (int s = 0; s < 2; ++s) {
        quant::Span sp;
        qt.unpack_ref(m.view.row(r), s, 256, &sp);
        for (int g = 0; g < quant::kGroups; ++g) {
          if (qt.offset != 0) {
            ASSERT_EQ(sp.fmin[g], float(qt.offset) * sp.fsc[g]) << dtype_name(qt.type) << " group " << g;
          }
          if (sp.fsc[g] != 0.0f) ratios.push_back(sp.fmin[g] / sp.fsc[g]);
        }
      }
    ASSERT_FALSE(ratios.empty()) << dtype_name(qt.type);
    const bool fixed = std::all_of(ratios.begin(), ratios.end(), [&](float v) { return v == ratios[0]; });
    if (qt.offset == 0) {
      EXPECT_FALSE(fixed) << dtype_name(qt.type) << " has a fixed offset: declare it";
    }
  }
}

// Q8_0 and MXFP4 have dedicated matmuls (matmul_q8_*, matmul_mxfp4_*); their Span unpacks (the
// generic and the ISA's lane-order one) are checked here through the table directly.
TEST(QuantKernels, SpanPathOfQ8AndMxfp4) {
  IsaScope scope;
  for (DType t : {DType::Q8_0, DType::MXFP4}) {
    const quant::QuantType& qt = *quant::find(t);
    const int64_t in = 544, out = 7, n = 3;
    const Matrix m = random_matrix(qt, out, in, 5);
    const std::vector<float> x = randv(n * in, 6);
    std::vector<float> ref(static_cast<size_t>(n * out));
    ref::matmul(m.view, x.data(), n, ref.data());
    const std::vector<float> bnd = bounds(m, qt, x, n, 32);
    for (Isa isa : supported_isas()) {
      set_isa(isa);
      const KernelTable& k = active_table();
      const int64_t nsp = (in + quant::kSpan - 1) / quant::kSpan;
      std::vector<quant::ActSpan> act(static_cast<size_t>(n * nsp));
      k.span_act(x.data(), in, 0, n, act.data(), t == DType::Q8_0);
      std::vector<float> y(static_cast<size_t>(n * out), NAN);
      k.span_matmul(qt.unpack_ref, k.span_fast_unpack(static_cast<uint32_t>(t)), qt.offset, m.bytes.data(),
                    m.view.row_bytes(), in, act.data(), nullptr, n, y.data(), out, 0, out);
      for (int64_t i = 0; i < n * out; ++i)
        ASSERT_LE(std::fabs(y[i] - ref[i]), bnd[i]) << dtype_name(t) << " " << isa_name(isa) << " i=" << i;
    }
  }
}

// Activations with one scale per 256 values (KernelTable::span_act_unit: AVX2's Q2_K, Q3_K, Q6_K)
// against their definition: per unit d = amax / 127, q = x / d rounded half away from zero (with
// the exact inverse), every group's dg = d, qs the group's code sum, bs = d qs; a row that ends
// inside a unit (544 = 2 units + 32) zero past its end. The blocks differ in size by 10^3, so
// the small ones round to few levels, as they do in llama.cpp's Q8_K.
TEST(QuantKernels, UnitActivationsAreOneScalePerUnit) {
  if (detected_isa() < Isa::kAvx2) GTEST_SKIP() << "no AVX2 on this CPU";
  IsaScope scope;
  set_isa(Isa::kAvx2);
  const KernelTable& k = active_table();
  ASSERT_NE(k.span_act_unit, nullptr);
  ASSERT_TRUE(k.span_unit_type(static_cast<uint32_t>(DType::Q6_K)));
  ASSERT_TRUE(k.span_unit_type(static_cast<uint32_t>(DType::Q2_K_R)));
  ASSERT_FALSE(k.span_unit_type(static_cast<uint32_t>(DType::Q4_K)));
  const int64_t in = 544, n = 2, nsp = 3;
  std::vector<float> x = randv(n * in, 9);
  for (int64_t i = 0; i < n * in; ++i) x[i] *= std::pow(10.0f, float((i / 32) % 4) - 2.0f);
  std::vector<quant::ActSpan> act(static_cast<size_t>(n * nsp));
  k.span_act_unit(x.data(), in, 0, n, act.data());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t s = 0; s < nsp; ++s) {
      const quant::ActSpan& a = act[r * nsp + s];
      const int64_t nv = std::min<int64_t>(256, in - 256 * s);
      const float* xs = x.data() + r * in + 256 * s;
      float amax = 0;
      for (int64_t i = 0; i < nv; ++i) amax = std::max(amax, std::fabs(xs[i]));
      const float d = amax / 127.0f, id = 1.0f / d;
      for (int g = 0; g < quant::kGroups; ++g) {
        int32_t qs = 0;
        for (int i = 16 * g; i < 16 * g + 16; ++i) {
          const int want = i < nv ? static_cast<int>(std::round(xs[i] * id)) : 0;
          ASSERT_EQ(a.q[i], want) << "row " << r << " unit " << s << " value " << i;
          qs += want;
        }
        const bool in_row = 16 * g < nv;
        ASSERT_EQ(a.dg[g], in_row ? d : 0.0f) << g;
        ASSERT_EQ(a.qs[g], qs) << g;
        ASSERT_EQ(a.bs[g], in_row ? d * float(qs) : 0.0f) << g;
      }
    }
}

// Every AVX-512 lane-order unpack writes exactly the reference unpack's Span, reordered (chunk
// k, lane g, byte c = value 16g + 4k + c), including spans that end early (32-value block types:
// groups past nv zeroed).
TEST(QuantKernels, FastUnpacksAreTheReferenceInLaneOrder) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  IsaScope scope;
  set_isa(Isa::kAvx512);
  const KernelTable& k = active_table();
  int count = 0;
  const quant::QuantType* types = quant::all(&count);
  int checked = 0;
  for (int ti = 0; ti < count; ++ti) {
    const quant::QuantType& qt = types[ti];
    const quant::UnpackFn fast = k.span_fast_unpack(static_cast<uint32_t>(qt.type));
    if (!fast) continue;
    ++checked;
    const Matrix m = random_matrix(qt, 1, 512, static_cast<uint32_t>(77 + ti));
    for (int nv = qt.block == 256 ? 256 : 32; nv <= 256; nv += 32) {
      alignas(64) quant::Span ref, got;
      std::memset(&ref, 0, sizeof ref);
      std::memset(&got, 0xAB, sizeof got);
      qt.unpack_ref(m.bytes.data(), 1, nv, &ref);
      for (int g = nv / 16; g < quant::kGroups; ++g) ref.fsc[g] = ref.fmin[g] = 0.0f;
      fast(m.bytes.data(), 1, nv, &got);
      for (int c = 0; c < 4; ++c)
        for (int p = 0; p < 64; ++p)
          ASSERT_EQ(got.q[64 * c + p], ref.q[16 * (p / 4) + 4 * c + p % 4])
              << dtype_name(qt.type) << " nv=" << nv << " chunk " << c << " byte " << p;
      EXPECT_EQ(0, std::memcmp(got.fsc, ref.fsc, sizeof ref.fsc)) << dtype_name(qt.type) << " nv=" << nv;
      EXPECT_EQ(0, std::memcmp(got.fmin, ref.fmin, sizeof ref.fmin)) << dtype_name(qt.type) << " nv=" << nv;
    }
  }
  EXPECT_GE(checked, 19);  // every type but BF16/F16 (no Span) has a lane-order unpack
}

// The AVX2 unpacks (natural order, span_unpack_avx2.cpp) write exactly the reference unpack's
// Span, spans that end early included (32-value block types: only the blocks before nv).
TEST(QuantKernels, Avx2UnpacksAreTheReference) {
  if (detected_isa() < Isa::kAvx2) GTEST_SKIP() << "no AVX2 on this CPU";
  IsaScope scope;
  set_isa(Isa::kAvx2);
  const KernelTable& k = active_table();
  int count = 0;
  const quant::QuantType* types = quant::all(&count);
  int checked = 0;
  for (int ti = 0; ti < count; ++ti) {
    const quant::QuantType& qt = types[ti];
    const quant::UnpackFn fast = k.span_fast_unpack(static_cast<uint32_t>(qt.type));
    if (!fast) continue;
    ++checked;
    const Matrix m = random_matrix(qt, 1, 512, static_cast<uint32_t>(91 + ti));
    for (int nv = qt.block == 256 ? 256 : 32; nv <= 256; nv += 32) {
      alignas(64) quant::Span ref, got;
      std::memset(&ref, 0xAB, sizeof ref);
      std::memset(&got, 0xAB, sizeof got);
      qt.unpack_ref(m.bytes.data(), 1, nv, &ref);
      fast(m.bytes.data(), 1, nv, &got);
      EXPECT_EQ(0, std::memcmp(got.q, ref.q, sizeof ref.q)) << dtype_name(qt.type) << " nv=" << nv;
      EXPECT_EQ(0, std::memcmp(got.fsc, ref.fsc, sizeof ref.fsc)) << dtype_name(qt.type) << " nv=" << nv;
      EXPECT_EQ(0, std::memcmp(got.fmin, ref.fmin, sizeof ref.fmin)) << dtype_name(qt.type) << " nv=" << nv;
    }
  }
  EXPECT_GE(checked, 18);  // Q4_0 .. Q5_1, IQ4_NL, Q2_K .. Q6_K, IQ4_XS, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S
}

// The pair form's activations (span.h ActPair) of every ISA that has them are the scalar Span
// activations (the reference rounding) moved into the pair lanes: block b of span 2p + h at lane
// 8h + b, its dword K at 64K + 32h + 4b; per block the scale, the code sum and scale x sum.
// Rows end inside a span and inside a pair (odd span counts); f16-rounded scales too.
TEST(QuantKernels, PairActivationsAreTheSpanActivationsInPairLanes) {
  IsaScope scope;
  int checked = 0;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    const KernelTable& k = active_table();
    if (!k.pair_act) continue;
    ++checked;
    // The per-32-scale types take the pair form on AVX2 and AVX-512 VNNI, in both layouts.
    EXPECT_EQ(k.pair_type(static_cast<uint32_t>(DType::Q4_K)), 1) << isa_name(isa);
    EXPECT_NE(k.pair_fused(static_cast<uint32_t>(DType::Q4_K_R)), nullptr) << isa_name(isa);
    for (int64_t in : {32, 256, 288, 768, 1056}) {
      for (bool f16 : {false, true}) {
        const int64_t rows = 3, nsp = (in + 255) / 256, np = (nsp + 1) / 2;
        std::vector<float> x = randv(rows * in, static_cast<uint32_t>(in + f16));
        std::vector<quant::ActSpan> sp(static_cast<size_t>(rows * nsp));
        std::vector<quant::ActPair> got(static_cast<size_t>(rows * np));
        std::memset(got.data(), 0xAB, got.size() * sizeof(quant::ActPair));
        scalar::span_act(x.data(), in, 0, rows, sp.data(), f16);
        k.pair_act(x.data(), in, 0, rows, got.data(), f16);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t p = 0; p < np; ++p) {
            quant::ActPair want;
            std::memset(&want, 0, sizeof want);
            for (int h = 0; h < 2 && 2 * p + h < nsp; ++h) {
              const quant::ActSpan& a = sp[static_cast<size_t>(r * nsp + 2 * p + h)];
              for (int b = 0; b < 8; ++b) {
                for (int K = 0; K < 8; ++K) std::memcpy(want.q + 64 * K + 32 * h + 4 * b, a.q + 32 * b + 4 * K, 4);
                if (256 * (2 * p + h) + 32 * b >= in) continue;  // past the row's end: all 0
                want.dg[8 * h + b] = a.dg[2 * b];
                want.qs[8 * h + b] = a.qs[2 * b] + a.qs[2 * b + 1];
                want.bs[8 * h + b] = a.dg[2 * b] * float(want.qs[8 * h + b]);
              }
            }
            const quant::ActPair& g = got[static_cast<size_t>(r * np + p)];
            ASSERT_EQ(0, std::memcmp(g.q, want.q, sizeof want.q)) << isa_name(isa) << " in=" << in << " pair " << p;
            ASSERT_EQ(0, std::memcmp(g.dg, want.dg, sizeof want.dg)) << isa_name(isa) << " in=" << in;
            ASSERT_EQ(0, std::memcmp(g.qs, want.qs, sizeof want.qs)) << isa_name(isa) << " in=" << in;
            ASSERT_EQ(0, std::memcmp(g.bs, want.bs, sizeof want.bs)) << isa_name(isa) << " in=" << in;
          }
      }
    }
  }
  if (detected_isa() >= Isa::kAvx2) {
    EXPECT_GE(checked, 1);
  }
}

// AVX2's Span activations (natural order, like the scalar reference's) are the reference's
// bytes: codes, scales (f16-rounded too), sums; rows ending inside a span.
TEST(QuantKernels, Avx2SpanActivationsAreTheReference) {
  if (detected_isa() < Isa::kAvx2) GTEST_SKIP() << "no AVX2 on this CPU";
  IsaScope scope;
  set_isa(Isa::kAvx2);
  const KernelTable& k = active_table();
  for (int64_t in : {32, 256, 288, 800}) {
    for (bool f16 : {false, true}) {
      const int64_t rows = 3, nsp = (in + 255) / 256;
      std::vector<float> x = randv(rows * in, static_cast<uint32_t>(7 * in + f16));
      x[1] = 0.0f;
      std::vector<quant::ActSpan> want(static_cast<size_t>(rows * nsp)), got(want.size());
      std::memset(got.data(), 0xAB, got.size() * sizeof(quant::ActSpan));
      scalar::span_act(x.data(), in, 0, rows, want.data(), f16);
      k.span_act(x.data(), in, 0, rows, got.data(), f16);
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(quant::ActSpan))) << "in=" << in << " f16=" << f16;
    }
  }
  // A row of zeros: scale 0, codes 0 (no division by zero).
  std::vector<float> z(256, 0.0f);
  quant::ActSpan a, b;
  scalar::span_act(z.data(), 256, 0, 1, &a, false);
  k.span_act(z.data(), 256, 0, 1, &b, false);
  EXPECT_EQ(0, std::memcmp(&a, &b, sizeof a));
}

// Threads split rows; row tiles and activation rows never change an output's arithmetic.
TEST(QuantKernels, ThreadsAndBatchBitExact) {
  IsaScope scope;
  ThreadPool pool(2);
  for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q5_0, DType::IQ4_XS, DType::IQ2_XS}) {
    const quant::QuantType& qt = *quant::find(t);
    const int64_t in = 512, out = 203, n = 9;
    const Matrix m = random_matrix(qt, out, in, 42);
    const std::vector<float> x = randv(n * in, 43);
    for (Isa isa : supported_isas()) {
      set_isa(isa);
      std::vector<float> a(static_cast<size_t>(n * out)), b(a.size()), c(static_cast<size_t>(out));
      matmul(m.view, x.data(), n, a.data(), nullptr);
      matmul(m.view, x.data(), n, b.data(), &pool);
      matmul(m.view, x.data() + 4 * in, 1, c.data(), &pool);  // one row alone
      for (int64_t k = 0; k < n * out; ++k) ASSERT_EQ(a[k], b[k]) << dtype_name(t) << " " << isa_name(isa);
      for (int64_t r = 0; r < out; ++r) ASSERT_EQ(c[r], a[4 * out + r]) << dtype_name(t) << " " << isa_name(isa);
    }
  }
}

// The repacked layouts' two kernels (fused up to 12 activation rows, for one row in blocks of 8
// weight rows; row tiles past 12) give the same bits, also on rows of an odd number of 256-value
// units (768: a pair and a lone unit, which the pair form's fused kernels run in half-width
// registers). Pair form: Q4_K .. Q4_1; Span form: Q6_K, Q2_K, Q3_K.
TEST(QuantKernels, FusedAndRowTilesBitExact) {
  IsaScope scope;
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::IQ4_XS, DType::Q8_0, DType::MXFP4, DType::Q4_1, DType::Q6_K,
                  DType::Q2_K, DType::Q3_K}) {
    const quant::QuantType& qt = *quant::find(t);
    const DType r = quant::repacked_of(t);
    ASSERT_NE(r, t) << dtype_name(t);
    for (int64_t in : {512, 768, 1280}) {
      const int64_t out = 37, n = 14;
      const Matrix m = random_matrix(qt, out, in, static_cast<uint32_t>(in + 3));
      std::vector<uint8_t> packed(m.bytes.size());
      repack_rows(t, r, m.bytes.data(), packed.data(), out, in);
      const TensorView rv{"w", r, Shape{out, in}, packed.data(), packed.size()};
      const std::vector<float> x = randv(n * in, static_cast<uint32_t>(in + 4));
      for (Isa isa : supported_isas()) {
        set_isa(isa);
        // Both layouts: AVX2 runs Q6_K / Q2_K / Q3_K fused from the file's (span_kquant16_avx2.cpp).
        for (const TensorView* v : {&m.view, &rv}) {
          std::vector<float> tiles(static_cast<size_t>(n * out)), fused(static_cast<size_t>(5 * out)), one(out);
          matmul(*v, x.data(), n, tiles.data(), nullptr);
          matmul(*v, x.data(), 5, fused.data(), nullptr);
          matmul(*v, x.data(), 1, one.data(), nullptr);  // one token: weight rows in blocks of 8 (37 = 4 x 8 + 5)
          for (int64_t k = 0; k < 5 * out; ++k)
            ASSERT_EQ(fused[k], tiles[k]) << dtype_name(v->dtype) << " " << isa_name(isa) << " in=" << in << " k=" << k;
          for (int64_t k = 0; k < out; ++k)
            ASSERT_EQ(one[k], tiles[k]) << dtype_name(v->dtype) << " " << isa_name(isa) << " in=" << in << " one row, k=" << k;
        }
      }
    }
  }
}

// A gated pair (MatJob::up + glu) gives the bits of its two products followed by the
// activation over the whole output, whatever the threads, with the pair next to other jobs
// reading the same input (shared activation quantization) and gate and up of different types.
TEST(QuantKernels, GatedPairIsTheTwoProductsThenTheActivation) {
  IsaScope scope;
  ThreadPool pool(3);
  const int64_t in = 512, out = 203, n = 7;
  const Matrix gate = random_matrix(*quant::find(DType::Q4_K), out, in, 7);
  const Matrix up = random_matrix(*quant::find(DType::Q6_K), out, in, 8);
  const Matrix other = random_matrix(*quant::find(DType::Q4_K), 45, in, 9);
  const std::vector<float> x = randv(n * in, 10);
  const int32_t rows[4] = {6, 0, 3, 3};
  auto glu = [](const void* ctx, float* g, float* u, int64_t m, int64_t ld, int64_t r0, int64_t r1) {
    static_cast<std::atomic<int>*>(const_cast<void*>(ctx))->fetch_add(1);
    for (int64_t i = 0; i < m; ++i) swiglu(g + i * ld + r0, u + i * ld + r0, r1 - r0, g + i * ld + r0);
  };
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::vector<float> g(4 * out), u(g.size()), o(4 * 45);
    for (int i = 0; i < 4; ++i) {
      matmul(gate.view, x.data() + rows[i] * in, 1, g.data() + i * out, nullptr);
      matmul(up.view, x.data() + rows[i] * in, 1, u.data() + i * out, nullptr);
    }
    swiglu(g.data(), u.data(), 4 * out, g.data());
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      std::atomic<int> calls{0};
      std::vector<float> y(4 * out, -1.0f), yu(y.size(), -1.0f), yo(o.size());
      const MatJob jobs[2] = {{&other.view, x.data(), n, rows, 4, yo.data(), 45},
                              {&gate.view, x.data(), n, rows, 4, y.data(), out, &up.view, yu.data(), +glu, &calls}};
      matmul_many(jobs, 2, p);
      EXPECT_GE(calls.load(), 1);
      for (size_t k = 0; k < y.size(); ++k) ASSERT_EQ(y[k], g[k]) << isa_name(isa) << " " << k;
    }
  }
}

}  // namespace
}  // namespace moecat::kernels
