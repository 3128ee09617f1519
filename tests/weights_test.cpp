// Weights: GGUF <-> HF naming, stacked vs per-expert tensors (HF and legacy GGUF), f32
// conversion of small tensors, and errors that name the tensor and file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/half.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "model/arch/common.h"
#include "model/weights.h"
#include "testing.h"

namespace moecat {
namespace {

using testing_util::TempDir;

constexpr int64_t kE = 3, kF = 4, kD = 32;

std::vector<float> random_floats(size_t n, int seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::unique_ptr<ModelSource> open(const std::string& p) {
  auto r = ModelSource::Open(p);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

TEST(Weights, StackedAndLegacySplitExpertsGiveTheSameViews) {
  const std::vector<float> data = random_floats(kE * kF * kD, 1);  // [E][F][D]
  const std::string stacked = TempDir() + "/stacked.gguf", split = TempDir() + "/split.gguf";
  {
    GgufWriter w;
    w.set_str("general.architecture", "llama");
    w.add_tensor("blk.0.ffn_gate_exps.weight", DType::F32, {kE, kF, kD},
                 [&](uint8_t* dst) { memcpy(dst, data.data(), data.size() * 4); });
    ASSERT_TRUE(w.write(stacked).ok());
  }
  {
    GgufWriter w;
    w.set_str("general.architecture", "llama");
    for (int64_t e = 0; e < kE; ++e)
      w.add_tensor("blk.0.ffn_gate." + std::to_string(e) + ".weight", DType::F32, {kF, kD},
                   [&, e](uint8_t* dst) { memcpy(dst, data.data() + e * kF * kD, kF * kD * 4); });
    ASSERT_TRUE(w.write(split).ok());
  }
  auto sa = open(stacked), sb = open(split);
  Weights wa(*sa, {}), wb(*sb, {});
  auto a = wa.get_experts("blk.0.ffn_gate_exps.weight", kE, {kF, kD}, {DType::F32});
  auto b = wb.get_experts("blk.0.ffn_gate_exps.weight", kE, {kF, kD}, {DType::F32});
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  for (int64_t e = 0; e < kE; ++e) {
    EXPECT_EQ(0, memcmp((*a)[e].data, data.data() + e * kF * kD, kF * kD * 4)) << "stacked expert " << e;
    EXPECT_EQ(0, memcmp((*b)[e].data, data.data() + e * kF * kD, kF * kD * 4)) << "split expert " << e;
  }
  // Both are recorded as one stacked tensor for export.
  ASSERT_EQ(wb.loaded().size(), 1u);
  EXPECT_EQ(wb.loaded()[0].shape, (Shape{kE, kF, kD}));
  // Wrong expert count: the split file lacks expert 3.
  auto bad = wb.get_experts("blk.0.ffn_gate_exps.weight", kE + 1, {kF, kD}, {DType::F32});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("blk.0.ffn_gate.3.weight"), std::string::npos) << bad.status().message();
}

TEST(Weights, HfFolderNamesExpertsAndBf16Norms) {
  namespace fs = std::filesystem;
  const std::string dir = TempDir() + "/hf";
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << R"({"architectures":["LlamaForCausalLM"]})";
  const std::vector<float> q = random_floats(8 * kD, 2), g0 = random_floats(kF * kD, 3), g1 = random_floats(kF * kD, 4);
  std::vector<uint16_t> norm(kD);
  for (int64_t i = 0; i < kD; ++i) norm[i] = f32_to_bf16(0.5f + 0.25f * i);  // exact in bf16
  std::vector<SafetensorsEntry> t = {
      {"model.layers.2.self_attn.q_proj.weight", DType::F32, {8, kD}, q.data(), q.size() * 4},
      {"model.layers.2.mlp.experts.0.gate_proj.weight", DType::F32, {kF, kD}, g0.data(), g0.size() * 4},
      {"model.layers.2.mlp.experts.1.gate_proj.weight", DType::F32, {kF, kD}, g1.data(), g1.size() * 4},
      {"model.layers.2.input_layernorm.weight", DType::BF16, {kD}, norm.data(), norm.size() * 2},
  };
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", t).ok());
  auto src = open(dir);
  std::vector<NamePair> names = llama_like_names();
  names.push_back({"blk.{L}.ffn_gate_exps.weight", "model.layers.{L}.mlp.experts.{E}.gate_proj.weight"});
  Weights w(*src, names);
  EXPECT_EQ(w.source_name("blk.2.attn_q.weight"), "model.layers.2.self_attn.q_proj.weight");
  EXPECT_EQ(w.source_name("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(w.source_name("blk.12.ffn_down.weight"), "model.layers.12.mlp.down_proj.weight");
  auto wq = w.get("blk.2.attn_q.weight", {8, kD}, {DType::F32});
  ASSERT_TRUE(wq.ok()) << wq.status().message();
  EXPECT_EQ(0, memcmp(wq->data, q.data(), q.size() * 4));
  auto ex = w.get_experts("blk.2.ffn_gate_exps.weight", 2, {kF, kD}, {DType::F32});
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  EXPECT_EQ(0, memcmp((*ex)[1].data, g1.data(), g1.size() * 4));
  auto n = w.get_f32("blk.2.attn_norm.weight", {kD});
  ASSERT_TRUE(n.ok()) << n.status().message();
  ASSERT_EQ(n->dtype, DType::F32);
  for (int64_t i = 0; i < kD; ++i) EXPECT_EQ(static_cast<const float*>(n->data)[i], 0.5f + 0.25f * i);
  // Errors name the HF tensor and the file.
  auto missing = w.get("blk.2.attn_k.weight", {8, kD}, {DType::F32});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("model.layers.2.self_attn.k_proj.weight"), std::string::npos);
  auto shape = w.get("blk.2.attn_q.weight", {9, kD}, {DType::F32});
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("[8, 32]"), std::string::npos) << shape.status().message();
  EXPECT_NE(shape.status().message().find("model.safetensors"), std::string::npos) << shape.status().message();
}

TEST(Weights, UnsupportedQuantTypeIsNamedPerTensor) {
  // A GGUF with a type moecat does not compute with (ternary TQ2_0) opens (the layout is known)
  // but the accessor names tensor and type; k-quant and i-quant tensors of the same shape are
  // accepted.
  const std::string path = TempDir() + "/tq2.gguf";
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.add_tensor("blk.0.attn_q.weight", static_cast<DType>(35), {2, 256},
               [](uint8_t* dst) { memset(dst, 0, 2 * 66); });
  w.add_tensor("blk.0.attn_v.weight", DType::IQ4_XS, {2, 256}, [](uint8_t* dst) { memset(dst, 0, 2 * 136); });
  w.add_tensor("blk.0.attn_k.weight", DType::Q4_K, {2, 256}, [](uint8_t* dst) { memset(dst, 0, 2 * 144); });
  ASSERT_TRUE(w.write(path).ok());
  auto src = open(path);
  Weights wt(*src, {});
  auto r = wt.get("blk.0.attn_q.weight", {2, 256}, MOECAT_MATRIX_TYPES);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tq2_0"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("blk.0.attn_q.weight"), std::string::npos) << r.status().message();
  auto k = wt.get("blk.0.attn_k.weight", {2, 256}, MOECAT_MATRIX_TYPES);
  EXPECT_TRUE(k.ok()) << k.status().message();
  auto v = wt.get("blk.0.attn_v.weight", {2, 256}, MOECAT_MATRIX_TYPES);
  EXPECT_TRUE(v.ok()) << v.status().message();
}

TEST(Weights, RowTablesStayInTheFileLayout) {
  // get_rows (LongCat-Flash-Lite's n-gram tables, 31.4B parameters read 12 rows per token): a
  // view of the mapped file, never repacked, so loading does not read the table; get() of the
  // same tensor is repacked where the kernels have a layout for it.
  const std::string path = TempDir() + "/rows.gguf";
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.add_tensor("token_embd_ngram.0.weight", DType::Q4_K, {8, 256}, [](uint8_t* dst) {
    for (int i = 0; i < 8 * 144; ++i) dst[i] = static_cast<uint8_t>(i * 7);
    for (int blk = 0; blk < 8; ++blk) {  // finite scales: d = 1, dmin = 0.5
      const uint8_t dm[4] = {0x00, 0x3C, 0x00, 0x38};
      memcpy(dst + blk * 144, dm, 4);
    }
  });
  ASSERT_TRUE(w.write(path).ok());
  auto src = open(path);
  const TensorView* raw = src->find("token_embd_ngram.0.weight");
  ASSERT_NE(raw, nullptr);
  Weights a(*src, {}), b(*src, {});
  auto rows = a.get_rows("token_embd_ngram.0.weight", {8, 256}, MOECAT_MATRIX_TYPES);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(rows->dtype, DType::Q4_K);
  EXPECT_EQ(rows->data, raw->data);
  ASSERT_EQ(a.loaded().size(), 1u);  // recorded for export and the bench's byte counts
  auto mat = b.get("token_embd_ngram.0.weight", {8, 256}, MOECAT_MATRIX_TYPES);
  ASSERT_TRUE(mat.ok()) << mat.status().message();
  EXPECT_EQ(mat->dtype, kernels::repack_type(DType::Q4_K, 256));
  // Either way a row decodes to the same values.
  std::vector<float> x(256), y(256);
  kernels::dequantize_row(rows->dtype, rows->row(5), x.data(), 256);
  kernels::dequantize_row(mat->dtype, mat->row(5), y.data(), 256);
  EXPECT_EQ(x, y);
}

}  // namespace
}  // namespace moecat
