// Model folders whose config and tensors disagree must fail at load with a message that names
// the offending tensor (or key) and file — never crash or run with wrong shapes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "model/registry.h"

namespace fs = std::filesystem;

namespace moecat {
namespace {

class BadModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::path(MOECAT_BINARY_DIR) / "bad_model_test.work" / std::to_string(getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    const std::string py = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    const std::string gen = py + " " MOECAT_SOURCE_DIR "/tools/make_test_model.py deepseek_v3 " +
                            (root_ / "ds").string() + " --seed 46 > /dev/null";
    ASSERT_EQ(system(gen.c_str()), 0) << "cannot generate the test model (python3-numpy missing?)";
    const std::string lc = py + " " MOECAT_SOURCE_DIR "/tools/longcat_test_model.py " + (root_ / "lc").string() +
                           " --seed 16 > /dev/null 2>&1 && " + py + " " MOECAT_SOURCE_DIR "/tools/longcat_test_model.py " +
                           (root_ / "lc_nomtp").string() + " --seed 16 --no-mtp > /dev/null 2>&1";
    ASSERT_EQ(system(lc.c_str()), 0) << "cannot generate the LongCat test models";
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // A copy of a good folder (default: DeepSeek-V3) with config.json edited by `edit`.
  static std::string variant(const std::string& name, const std::function<void(nlohmann::json&)>& edit,
                             const std::string& base = "ds") {
    fs::path dir = root_ / name;
    fs::remove_all(dir);
    fs::copy(root_ / base, dir, fs::copy_options::recursive);
    std::ifstream in(dir / "config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(dir / "config.json") << j.dump(2);
    return dir.string();
  }

  static std::string load_error(const std::string& path) {
    auto m = load_model(path);
    EXPECT_FALSE(m.ok()) << path << " loaded although it is inconsistent";
    return m.ok() ? "" : m.status().message();
  }

  static inline fs::path root_;
};

TEST_F(BadModelTest, GoodFolderLoads) {
  auto m = load_model((root_ / "ds").string());
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->config().arch, "deepseek2");
}

TEST_F(BadModelTest, WrongKvLoraRankNamesTheTensor) {
  std::string e = load_error(variant("kvlora", [](nlohmann::json& j) { j["kv_lora_rank"] = j["kv_lora_rank"].get<int>() * 2; }));
  EXPECT_NE(e.find("kv_a_proj_with_mqa"), std::string::npos) << e;
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
}

TEST_F(BadModelTest, WrongQLoraRankNamesTheTensor) {
  std::string e = load_error(variant("qlora", [](nlohmann::json& j) { j["q_lora_rank"] = j["q_lora_rank"].get<int>() + 16; }));
  EXPECT_NE(e.find("q_a_proj"), std::string::npos) << e;
}

TEST_F(BadModelTest, MissingQLoraMeansQProjIsMissing) {
  std::string e = load_error(variant("noqlora", [](nlohmann::json& j) { j["q_lora_rank"] = nullptr; }));
  EXPECT_NE(e.find("q_proj"), std::string::npos) << e;
}

TEST_F(BadModelTest, TooManyExpertsNamesTheExpertTensor) {
  std::string e = load_error(variant("experts", [](nlohmann::json& j) { j["n_routed_experts"] = j["n_routed_experts"].get<int>() + 8; }));
  EXPECT_NE(e.find("mlp.gate.weight"), std::string::npos) << e;
}

TEST_F(BadModelTest, TooManyLayersNamesTheMissingLayer) {
  std::string e = load_error(variant("layers", [](nlohmann::json& j) { j["num_hidden_layers"] = j["num_hidden_layers"].get<int>() + 1; }));
  EXPECT_NE(e.find("model.layers.3."), std::string::npos) << e;
}

TEST_F(BadModelTest, ImpossibleRoutingIsRejected) {
  std::string e = load_error(variant("routing", [](nlohmann::json& j) { j["num_experts_per_tok"] = 64; }));
  EXPECT_NE(e.find("expert"), std::string::npos) << e;
  e = load_error(variant("groups", [](nlohmann::json& j) { j["n_group"] = 3; }));
  EXPECT_NE(e.find("groups"), std::string::npos) << e;
}

TEST_F(BadModelTest, NegativeOrMissingDimensionsAreRejected) {
  std::string e = load_error(variant("neg", [](nlohmann::json& j) { j["v_head_dim"] = -4; }));
  EXPECT_NE(e.find("v_head_dim"), std::string::npos) << e;
  e = load_error(variant("missing", [](nlohmann::json& j) { j.erase("kv_lora_rank"); }));
  EXPECT_NE(e.find("kv_lora_rank"), std::string::npos) << e;
}

TEST_F(BadModelTest, LongcatGoodFoldersLoad) {
  auto m = load_model((root_ / "lc").string());
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE((*m)->has_mtp());
  auto n = load_model((root_ / "lc_nomtp").string());
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_FALSE((*n)->has_mtp());
}

TEST_F(BadModelTest, LongcatMissingMtpTensorsNamesTheTensor) {
  std::string e = load_error(variant("lc_mtp", [](nlohmann::json& j) { j["num_nextn_predict_layers"] = 1; }, "lc_nomtp"));
  EXPECT_NE(e.find("model.mtp.layers.0."), std::string::npos) << e;
}

TEST_F(BadModelTest, LongcatWrongExpertCountNamesTheTensor) {
  std::string e = load_error(variant("lc_exp", [](nlohmann::json& j) { j["n_routed_experts"] = j["n_routed_experts"].get<int>() + 1; }, "lc"));
  EXPECT_NE(e.find("mlp.router.classifier.weight"), std::string::npos) << e;
  e = load_error(variant("lc_zero", [](nlohmann::json& j) { j["zero_expert_num"] = j["zero_expert_num"].get<int>() + 2; }, "lc"));
  EXPECT_NE(e.find("mlp.router.classifier.weight"), std::string::npos) << e;
}

TEST_F(BadModelTest, LongcatWrongLoraRanksNameTheTensor) {
  std::string e = load_error(variant("lc_q", [](nlohmann::json& j) { j["q_lora_rank"] = j["q_lora_rank"].get<int>() * 2; }, "lc"));
  EXPECT_NE(e.find("self_attn.0.q_a_proj.weight"), std::string::npos) << e;
  e = load_error(variant("lc_kv", [](nlohmann::json& j) { j["kv_lora_rank"] = j["kv_lora_rank"].get<int>() + 8; }, "lc"));
  EXPECT_NE(e.find("kv_a_proj_with_mqa.weight"), std::string::npos) << e;
}

}  // namespace
}  // namespace moecat
