// Weight repacking (kernels/quant/repack.h): the repacked layouts are lossless (back to the
// file bytes exactly), their reference decoders give the file type's values, the AVX-512 unpack
// of a repacked block gives the same Span bytes as the unpack of the file block, and products
// over repacked weights (row tiles for batches, the fused one-row kernel for generation) have
// the same bits as over the file layout, on every ISA. The Weights accessor repacks at load
// and releases the file pages; export writes the file's bytes back.
#include <gtest/gtest.h>

#include "isa_testing.h"
#include "quant_testing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "io/gguf.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kernels/quant/quant.h"
#include "kernels/quant/repack.h"
#include "kernels/threadpool.h"
#include "model/arch/common.h"
#include "model/weights.h"
#include "testing.h"

namespace moecat::kernels {
namespace {

// n_values (whole blocks) of a file type in random blocks with sane float scale fields.
std::vector<uint8_t> random_values(DType t, int64_t n_values, uint32_t seed) {
  const quant::QuantType& qt = *quant::find(t);
  const int64_t n_blocks = n_values / qt.block;
  std::mt19937 g(seed);
  std::vector<uint8_t> b(static_cast<size_t>(n_blocks * qt.block_bytes));
  for (auto& c : b) c = static_cast<uint8_t>(g());
  for (int64_t i = 0; i < n_blocks; ++i) sanitize_block(t, b.data() + i * qt.block_bytes, g);
  return b;
}
std::vector<uint8_t> random_blocks(DType t, int64_t n_units, uint32_t seed) {
  return random_values(t, n_units * 256, seed);
}

constexpr DType kFileTypes[] = {DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS,
                                DType::MXFP4, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL};

TEST(QuantRepack, LosslessAndEveryCodeBitMoves) {
  int count = 0;
  quant::all_repacked(&count);
  EXPECT_EQ(count, 13);
  for (DType t : kFileTypes) {
    const DType r = quant::repacked_of(t);
    ASSERT_NE(r, t) << dtype_name(t);
    EXPECT_EQ(quant::natural_of(r), t);
    EXPECT_EQ(dtype_row_bytes(r, 512), dtype_row_bytes(t, 512));
    const int64_t nb = 7;
    const std::vector<uint8_t> file = random_blocks(t, nb, 11);
    std::vector<uint8_t> packed(file.size()), back(file.size());
    repack_rows(t, r, file.data(), packed.data(), 1, nb * 256);
    repack_rows(r, t, packed.data(), back.data(), 1, nb * 256);
    EXPECT_EQ(back, file) << dtype_name(t);
    EXPECT_NE(packed, file) << dtype_name(t);
    // A single code bit flipped in the file block changes the repacked bytes (no bit dropped)
    // and comes back: every bit of the code fields is carried.
    const int64_t bytes = static_cast<int64_t>(file.size()) / nb;
    for (int64_t byte = 0; byte < bytes; ++byte)
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<uint8_t> f(file.begin(), file.begin() + bytes), p(f.size()), q(f.size()), b2(f.size());
        repack_rows(t, r, f.data(), p.data(), 1, 256);
        f[byte] ^= static_cast<uint8_t>(1 << bit);
        repack_rows(t, r, f.data(), q.data(), 1, 256);
        ASSERT_NE(p, q) << dtype_name(t) << " byte " << byte << " bit " << bit;
        repack_rows(r, t, q.data(), b2.data(), 1, 256);
        ASSERT_EQ(b2, f) << dtype_name(t) << " byte " << byte << " bit " << bit;
      }
  }
}

TEST(QuantRepack, ReferenceDecodersAgreeWithTheFileType) {
  for (DType t : kFileTypes) {
    const DType r = quant::repacked_of(t);
    const quant::QuantType& nat = *quant::find(t);
    const quant::QuantType* rep = quant::find(r);
    ASSERT_NE(rep, nullptr) << dtype_name(r);
    const std::vector<uint8_t> file = random_blocks(t, 3, 5);
    std::vector<uint8_t> packed(file.size());
    repack_rows(t, r, file.data(), packed.data(), 1, 3 * 256);
    std::vector<float> a(768), b(768);
    nat.dequant_ref(file.data(), a.data(), 768);
    rep->dequant_ref(packed.data(), b.data(), 768);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << dtype_name(t);
    dequantize_row(r, packed.data(), b.data(), 768);  // the generic entry (embedding rows)
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << dtype_name(t);
    for (int s = 0; s < 3; ++s) {
      quant::Span x, y;
      nat.unpack_ref(file.data(), s, 256, &x);
      rep->unpack_ref(packed.data(), s, 256, &y);
      EXPECT_EQ(0, std::memcmp(&x, &y, sizeof x)) << dtype_name(t) << " span " << s;
    }
  }
}

// The vectorized repack equals the scalar one; the repacked unpacks write the Span lane order
// the file-layout fast unpacks write.
TEST(QuantRepack, LaneUnpackMatchesTheFileLayoutUnpack) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  IsaScope scope;
  set_isa(Isa::kAvx512);
  const KernelTable& k = active_table();
  if (!k.span_fused) GTEST_SKIP() << "AVX-512 without VNNI: no lane-order kernels";
  for (DType t : kFileTypes) {
    const DType r = quant::repacked_of(t);
    EXPECT_EQ(repack_type(t, 512), r) << dtype_name(t);
    // Rows that end in a partial unit: only Q8_0 and MXFP4 have a layout for them.
    EXPECT_EQ(repack_type(t, 256 + 32), quant::repack_tail_block(t) ? r : t) << dtype_name(t);
    const quant::UnpackFn fn = k.span_fast_unpack(static_cast<uint32_t>(t));
    const quant::UnpackFn fr = k.span_fast_unpack(static_cast<uint32_t>(r));
    ASSERT_TRUE(fn && fr) << dtype_name(t);
    const std::vector<uint8_t> file = random_blocks(t, 5, 9);
    std::vector<uint8_t> packed(file.size()), simd(file.size());
    quant::repack_units(t, r, file.data(), packed.data(), 5);  // the scalar reference
    ASSERT_TRUE(k.span_repack && k.span_repack(static_cast<uint32_t>(t), file.data(), simd.data(), 5));
    EXPECT_EQ(simd, packed) << dtype_name(t) << ": vectorized repack";
    for (int s = 0; s < 5; ++s) {
      quant::Span x, y;
      fn(file.data(), s, 256, &x);
      fr(packed.data(), s, 256, &y);
      EXPECT_EQ(0, std::memcmp(&x, &y, sizeof x)) << dtype_name(t) << " span " << s;
    }
  }
}

// Every ISA's vectorized repack (KernelTable::span_repack) writes the scalar repack's bytes for
// each type it takes, and each ISA that repacks a type at load (repack_type) takes it there.
TEST(QuantRepack, VectorizedRepackIsTheScalarOne) {
  IsaScope scope;
  int checked = 0;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    const KernelTable& k = active_table();
    for (DType t : kFileTypes) {
      const DType r = quant::repacked_of(t);
      const std::vector<uint8_t> file = random_blocks(t, 7, 23);
      std::vector<uint8_t> packed(file.size()), simd(file.size(), 0xAB);
      quant::repack_units(t, r, file.data(), packed.data(), 7);
      if (!k.span_repack || !k.span_repack(static_cast<uint32_t>(t), file.data(), simd.data(), 7)) {
        EXPECT_TRUE(isa == Isa::kScalar || repack_type(t, 512) == t) << isa_name(isa) << " " << dtype_name(t);
        continue;
      }
      ++checked;
      EXPECT_EQ(simd, packed) << isa_name(isa) << " " << dtype_name(t);
    }
  }
  if (detected_isa() >= Isa::kAvx2) {
    EXPECT_GE(checked, 9);  // AVX2: Q8_0, Q4_K, Q5_K, IQ4_XS, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL
  }
}

// Same bits as the file layout: every ISA (scalar decodes repacked blocks through the
// reference), one activation row (AVX-512, AVX2: the fused kernel) and several (row tiles),
// threads, odd row counts. Where an ISA keeps a type in its file layout at load and runs that
// layout in a kernel of its own (AVX2's Q2_K, Q3_K, Q6_K, span_kquant16_avx2.cpp: the weights'
// integer scales applied in the integer sums against activations with one scale per 256
// values), its repacked layout never meets it in a model and is read through the reference
// unpack with the same activations (KernelTable::span_unit_type covers both layouts), so the
// products agree within 1e-5 of the output's scale (float summation order; the bound against
// the reference is QuantKernels.EveryTypeEveryIsaWithinTheActivationRoundingBound's). Q8_0's
// and MXFP4's file layouts have kernels of their own (q8_0 activations);
// the repacked path rounds its activation scales to f16 the same way, so the products agree
// within 1e-5 of the output's scale (the same block products, summed in another order; rows of
// partial units too), and one row alone
// has the bits of the same row in a batch.
TEST(QuantRepack, ProductsHaveTheFileLayoutsBits) {
  IsaScope scope;
  ThreadPool pool(2);
  for (DType t : kFileTypes) {
    const DType r = quant::repacked_of(t);
    // 2560 = 10 units: the row tiles carry their sums over two K chunks (span_avx512.cpp).
    std::vector<int64_t> widths = {256, 768, 2560};
    if (quant::repack_tail_block(t)) widths.insert(widths.end(), {96, 320, 2880});  // partial last units
    for (int64_t in : widths) {
      const int64_t out = 203;
      std::vector<uint8_t> file = random_values(t, out * in, static_cast<uint32_t>(in + 3));
      std::vector<uint8_t> packed(file.size());
      repack_rows(t, r, file.data(), packed.data(), out, in);
      TensorView wf{"w", t, Shape{out, in}, file.data(), file.size()};
      TensorView wr{"w", r, Shape{out, in}, packed.data(), packed.size()};
      // Row counts on both sides of the fused kernel's limit (matmul_many.cpp kFusedMaxRows =
      // 12: groups of eight, then the rest) and past it (row tiles).
      for (const int64_t n : {int64_t(2), int64_t(5), int64_t(9), int64_t(13)}) {
        const std::vector<float> x = randv(n * in, static_cast<uint32_t>(17 + n));
        for (Isa isa : supported_isas()) {
          set_isa(isa);
          std::vector<float> a(static_cast<size_t>(n * out)), b(a.size()), c(static_cast<size_t>(out)),
              d(c.size());
          matmul(wf, x.data(), n, a.data(), nullptr);
          matmul(wr, x.data(), n, b.data(), &pool);
          const int64_t one = n / 2;  // a row alone has the bits of the same row in the batch
          matmul(wr, x.data() + one * in, 1, c.data(), &pool);
          matmul(wr, x.data() + one * in, 1, d.data(), nullptr);
          // Gathered rows (an expert's tokens): rows n-1, n-3, ... of x, written to an output
          // with a wider stride; each equals that row's product above.
          std::vector<int32_t> idx;
          for (int64_t i = n - 1; i >= 0; i -= 2) idx.push_back(static_cast<int32_t>(i));
          const int64_t ldg = out + 7;
          std::vector<float> g(static_cast<size_t>(idx.size() * ldg), -1.0f);
          const MatJob job{&wr, x.data(), n, idx.data(), static_cast<int64_t>(idx.size()), g.data(), ldg};
          matmul_many(&job, 1, &pool);
          for (size_t k = 0; k < idx.size(); ++k)
            for (int64_t i = 0; i < out; ++i)
              ASSERT_EQ(g[k * ldg + i], b[idx[k] * out + i])
                  << dtype_name(t) << " " << isa_name(isa) << " n=" << n << " gathered " << k;
          // The file layout's own kernels: Q8_0's and MXFP4's; a file layout this ISA keeps at
          // load and runs in a kernel of its own (AVX2's Q6_K).
          const KernelTable& k = active_table();
          const auto id = static_cast<uint32_t>(t);
          const bool kept = repack_type(t, in) == t && ((k.pair_type && k.pair_type(id)) || (k.span_fused && k.span_fused(id)));
          const bool own = t == DType::Q8_0 || t == DType::MXFP4 || kept;
          const double tol = 1e-5;
          double scale = 0.0;
          for (float v : a) scale = std::max(scale, std::fabs(double(v)));
          ASSERT_GT(scale, 0.0);
          for (int64_t i = 0; i < n * out; ++i) {
            if (own) {
              ASSERT_NEAR(a[i], b[i], tol * scale) << dtype_name(t) << " " << isa_name(isa) << " in=" << in << " i=" << i;
            } else {
              ASSERT_EQ(a[i], b[i]) << dtype_name(t) << " " << isa_name(isa) << " in=" << in << " i=" << i;
            }
          }
          for (int64_t i = 0; i < out; ++i) {
            ASSERT_EQ(c[i], b[one * out + i]) << dtype_name(t) << " " << isa_name(isa) << " in=" << in << " row " << i;
            ASSERT_EQ(d[i], c[i]) << dtype_name(t) << " " << isa_name(isa);
          }
        }
      }
    }
  }
}

// Q8_0 and MXFP4 rows that end in a partial unit (gpt-oss's 2880 = 11 units + 64 values):
// lossless with every bit carried, the headers then the plane cut to the tail's lanes, the
// reference decoders and the AVX-512 unpack of the partial unit equal to the file layout's
// (codes and scales past the row's end zero), the vectorized whole units and the scalar tail
// together equal to the scalar repack of the row. MXFP4 exponents include the subnormal
// scales (e = 0, 1) and the largest.
TEST(QuantRepack, RowsEndingInAPartialUnit) {
  EXPECT_EQ(quant::repack_tail_block(DType::Q8_0), 32);
  EXPECT_EQ(quant::repack_tail_block(DType::MXFP4_R), 32);
  EXPECT_EQ(quant::repack_tail_block(DType::Q4_K), 0);
  for (DType t : {DType::Q8_0, DType::MXFP4}) {
    const DType r = quant::repacked_of(t);
    const quant::QuantType& nat = *quant::find(t);
    const quant::QuantType& rep = *quant::find(r);
    const int bb = static_cast<int>(nat.block_bytes), hb = t == DType::Q8_0 ? 2 : 1, ub = 8 * bb;
    for (int64_t cols : {32, 64, 224, 256 + 96, 2880}) {
      const int64_t rows = 3, units = cols / 256, tail = cols % 256, row_bytes = cols / 32 * bb;
      std::vector<uint8_t> file = random_values(t, rows * cols, static_cast<uint32_t>(cols));
      if (t == DType::MXFP4) {
        const uint8_t ex[] = {0, 1, 2, 3, 254, 127};
        for (int b = 0; b < 6 && b < cols / 32; ++b) file[static_cast<size_t>(bb * b)] = ex[b];
      }
      std::vector<uint8_t> packed(file.size()), back(file.size());
      repack_rows(t, r, file.data(), packed.data(), rows, cols);
      repack_rows(r, t, packed.data(), back.data(), rows, cols);
      ASSERT_EQ(back, file) << dtype_name(t) << " " << cols;
      // The tail's bytes: headers first, then (Q8_0, + 128) byte p of half-chunk K, or (MXFP4)
      // of byte-chunk K%4 (half-chunks K < 4 in the low nibbles, K + 4 in the high ones).
      const uint8_t* ft = file.data() + row_bytes + units * ub;  // row 1's tail
      const uint8_t* pt = packed.data() + row_bytes + units * ub;
      const int nb = static_cast<int>(tail / 32), L = static_cast<int>(tail / 4);
      for (int b = 0; b < nb; ++b) EXPECT_EQ(0, std::memcmp(pt + hb * b, ft + bb * b, static_cast<size_t>(hb))) << cols;
      auto code = [&](int v) {  // file code of value v of the tail
        const uint8_t* blk = ft + bb * (v / 32);
        if (t == DType::Q8_0) return blk[2 + v % 32] ^ 0x80;
        return (blk[1 + v % 16] >> (4 * ((v % 32) / 16))) & 15;
      };
      // The pair form's 32-value lanes: half-chunk K byte p is value 32(p/4) + 4K + p%4.
      for (int K = 0; K < 8; ++K)
        for (int p = 0; p < L / 2; ++p) {
          const int got = t == DType::Q8_0 ? pt[2 * nb + (L / 2) * K + p]
                                           : (pt[nb + (L / 2) * (K % 4) + p] >> (4 * (K / 4))) & 15;
          ASSERT_EQ(got, code(32 * (p / 4) + 4 * K + p % 4)) << dtype_name(t) << " " << cols << " K" << K << " p" << p;
        }
      for (int64_t byte = 0; byte < nb * bb; ++byte) {  // every bit of the tail is carried
        std::vector<uint8_t> f(file.begin(), file.begin() + row_bytes), p1(f.size()), p2(f.size());
        repack_rows(t, r, f.data(), p1.data(), 1, cols);
        f[static_cast<size_t>(units * ub + byte)] ^= 0x10;
        repack_rows(t, r, f.data(), p2.data(), 1, cols);
        ASSERT_NE(p1, p2) << dtype_name(t) << " " << cols << " byte " << byte;
      }
      std::vector<float> a(static_cast<size_t>(cols)), b(a.size());
      for (int64_t i = 0; i < rows; ++i) {
        nat.dequant_ref(file.data() + i * row_bytes, a.data(), cols);
        rep.dequant_ref(packed.data() + i * row_bytes, b.data(), cols);
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << dtype_name(t) << " " << cols;
        dequantize_row(r, packed.data() + i * row_bytes, b.data(), cols);
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << dtype_name(t) << " " << cols;
        for (int64_t s = 0; s * 256 < cols; ++s) {
          const int nv = static_cast<int>(std::min<int64_t>(256, cols - s * 256));
          quant::Span x{}, y{};  // the reference unpacks write values < nv only
          nat.unpack_ref(file.data() + i * row_bytes, s, nv, &x);
          rep.unpack_ref(packed.data() + i * row_bytes, s, nv, &y);
          ASSERT_EQ(0, std::memcmp(&x, &y, sizeof x)) << dtype_name(t) << " " << cols << " span " << s;
        }
      }
      if (detected_isa() < Isa::kAvx512) continue;
      IsaScope scope;
      set_isa(Isa::kAvx512);
      const KernelTable& k = active_table();
      if (!k.span_fused) continue;
      std::vector<uint8_t> scalar(file.size());
      for (int64_t i = 0; i < rows; ++i) {
        const uint8_t* fr = file.data() + i * row_bytes;
        uint8_t* sr = scalar.data() + i * row_bytes;
        quant::repack_units(t, r, fr, sr, units);
        if (tail) quant::repack_tail(t, r, fr + units * ub, sr + units * ub, static_cast<int>(tail));
      }
      EXPECT_EQ(scalar, packed) << dtype_name(t) << " " << cols;
      const quant::UnpackFn fn = k.span_fast_unpack(static_cast<uint32_t>(t));
      const quant::UnpackFn fp = k.span_fast_unpack(static_cast<uint32_t>(r));
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t s = 0; s * 256 < cols; ++s) {
          const int nv = static_cast<int>(std::min<int64_t>(256, cols - s * 256));
          quant::Span x, y, ref{};
          std::memset(&x, 0x5a, sizeof x);  // fast unpacks write the whole Span, zeros past nv
          std::memset(&y, 0xa5, sizeof y);
          fn(file.data() + i * row_bytes, s, nv, &x);
          fp(packed.data() + i * row_bytes, s, nv, &y);
          ASSERT_EQ(0, std::memcmp(&x, &y, sizeof x)) << dtype_name(t) << " " << cols << " row " << i << " span " << s;
          nat.unpack_ref(file.data() + i * row_bytes, s, nv, &ref);
          for (int g = 0; g < nv / 16; ++g) ASSERT_EQ(ref.fsc[g], y.fsc[g]) << dtype_name(t) << " group " << g;
        }
    }
  }
}

// Through the accessor: a Q4_K / Q6_K file loads repacked where the kernels have the layout
// (and as it is with repacking off); embedding rows decode the same; the loaded views export
// back to the file's bytes.
TEST(QuantRepack, WeightsRepackAtLoadAndExportTheFileBytes) {
  const std::string path = testing_util::TempDir() + "/repack.gguf";
  const std::vector<uint8_t> q4 = random_blocks(DType::Q4_K, 6 * 2, 1), q6 = random_blocks(DType::Q6_K, 4 * 3 * 1, 2);
  {
    GgufWriter w;
    w.set_str("general.architecture", "llama");
    w.add_tensor("token_embd.weight", DType::Q4_K, {6, 512}, [&](uint8_t* dst) { memcpy(dst, q4.data(), q4.size()); });
    w.add_tensor("blk.0.ffn_down_exps.weight", DType::Q6_K, {4, 3, 256},
                 [&](uint8_t* dst) { memcpy(dst, q6.data(), q6.size()); });
    ASSERT_TRUE(w.write(path).ok());
  }
  auto src = ModelSource::Open(path);
  ASSERT_TRUE(src.ok()) << src.status().message();
  for (bool on : {true, false}) {
    set_repack(on);
    Weights w(**src, {});
    auto e = w.get("token_embd.weight", {6, 512}, MOECAT_MATRIX_TYPES);
    auto x = w.get_experts("blk.0.ffn_down_exps.weight", 4, {3, 256}, MOECAT_MATRIX_TYPES);
    set_repack(true);
    ASSERT_TRUE(e.ok() && x.ok());
    EXPECT_EQ(e->dtype, on ? repack_type(DType::Q4_K, 512) : DType::Q4_K);
    EXPECT_EQ((*x)[2].dtype, on ? repack_type(DType::Q6_K, 256) : DType::Q6_K);
    std::vector<float> a(512), b(512);
    dequantize_row(DType::Q4_K, q4.data() + 4 * 2 * 144, a.data(), 512);
    dequantize_row(e->dtype, e->row(4), b.data(), 512);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), 512 * 4));
    // Back to the file layout, as export does, byte for byte.
    std::vector<uint8_t> back(q6.size());
    for (int64_t i = 0; i < 4; ++i) {
      const TensorView& v = (*x)[i];
      if (v.dtype == DType::Q6_K) {
        memcpy(back.data() + i * v.nbytes, v.data, v.nbytes);
      } else {
        repack_rows(v.dtype, DType::Q6_K, v.data, back.data() + i * v.nbytes, 3, 256);
      }
    }
    EXPECT_EQ(back, q6);
  }
}

}  // namespace
}  // namespace moecat::kernels
