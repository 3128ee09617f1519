// Tokenizer unit tests that need no node: tiny hand-written tokenizer.json files with ids derived
// by hand, Split behaviors, NFC examples from UAX #15, streaming decode, malformed inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_nfc.h"

namespace moecat {
namespace {

using Ids = std::vector<int32_t>;

// Independent GPT-2 bytes_to_unicode (the test's own reference, not the library's table).
std::string ByteLevel(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    int n = 0;
    uint32_t cp = 0;
    for (int i = 0; i < 256; ++i) {
      bool keep = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
      if (i == b) { cp = keep ? i : 256 + n; break; }
      if (!keep) ++n;
    }
    if (cp < 0x80) out += static_cast<char>(cp);
    else { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
  }
  return out;
}

// Vocab: a b c Ġ ab abc Ġa Ġab bc; merges by rank: a+b, ab+c, Ġ+a, Ġa+b, b+c.
std::string TinyJson(const std::string& extra_vocab = "", const std::string& pre_tokenizer = "",
                     const std::string& post = "null", bool ignore_merges = false) {
  std::string pre = pre_tokenizer.empty()
                        ? R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})"
                        : pre_tokenizer;
  return R"({"version": "1.0", "normalizer": null, "pre_tokenizer": )" + pre +
         R"(, "post_processor": )" + post + R"(, "decoder": {"type": "ByteLevel"},
    "added_tokens": [
      {"id": 9, "content": "<|x|>", "special": true, "lstrip": false, "rstrip": false},
      {"id": 10, "content": "<x>", "special": false, "lstrip": true, "rstrip": true},
      {"id": 11, "content": "<|x|>ab", "special": true}],
    "model": {"type": "BPE", "ignore_merges": )" + std::string(ignore_merges ? "true" : "false") + R"(,
      "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6, "Ġab": 7, "bc": 8,
                "Ã": 12, "©": 13, "ac": 14)" + extra_vocab + R"(},
      "merges": ["a b", ["ab", "c"], "Ġ a", "Ġa b", "b c"]}})";
}

std::unique_ptr<Tokenizer> Load(const std::string& json, const std::string& config = "") {
  auto r = Tokenizer::FromHfJson(json, config);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r.value()) : nullptr;
}

TEST(Tokenizer, TinyBpeByRank) {
  auto t = Load(TinyJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->vocab_size(), 15);
  EXPECT_EQ(t->encode("abc", false), (Ids{5}));       // a+b (rank 0), then ab+c (rank 1)
  // " ab": a+b (rank 0) beats Ġ+a (rank 2), and Ġ+ab is no merge: Ġ, ab — not Ġab.
  EXPECT_EQ(t->encode("ab ab", false), (Ids{4, 3, 4}));
  EXPECT_EQ(t->encode("bc", false), (Ids{8}));
  EXPECT_EQ(t->encode("cab", false), (Ids{2, 4}));
  EXPECT_EQ(t->encode("ac", false), (Ids{0, 2}));      // "ac" is in the vocab but unreachable by merges
  EXPECT_EQ(t->encode("abcd", false), (Ids{5}));       // 'd' has no token and no unk: dropped, no crash
  EXPECT_EQ(t->encode("", false), (Ids{}));
  EXPECT_EQ(t->decode({3, 4, 5}), " ababc");
  EXPECT_EQ(t->decode({12, 13}), "\xC3\xA9");          // é from two byte-level tokens
  EXPECT_EQ(t->token_bytes(9), "<|x|>");
  EXPECT_EQ(t->token_bytes(-1), "");
  EXPECT_EQ(t->token_bytes(1000), "");
  EXPECT_EQ(t->encode("é", false), (Ids{12, 13}));
}

TEST(Tokenizer, IgnoreMerges) {
  auto t = Load(TinyJson("", "", "null", /*ignore_merges=*/true));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("ac", false), (Ids{14}));        // whole pre-token found in the vocab
  EXPECT_EQ(t->encode("cab", false), (Ids{2, 4}));     // not in vocab: normal merges
}

TEST(Tokenizer, AddedTokens) {
  auto t = Load(TinyJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("ab<|x|>c", false), (Ids{4, 9, 2}));
  EXPECT_EQ(t->encode("<|x|>abc", false), (Ids{11, 2}));   // longest added token wins
  EXPECT_EQ(t->encode("<|x|><|x|>", false), (Ids{9, 9}));
  // lstrip/rstrip on <x>: the spaces around it are swallowed.
  EXPECT_EQ(t->encode("a <x> b", false), (Ids{0, 10, 1}));
  // parse_special=false: special tokens are plain text, non-special added tokens still match.
  Ids plain = t->encode("<|x|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 9), 0);
  EXPECT_EQ(t->encode("<x>", false, false), (Ids{10}));
  const TokenizerData& d = t->data();
  EXPECT_EQ(d.token_types[9], kTokControl);
  EXPECT_EQ(d.token_types[10], kTokUserDefined);
  EXPECT_EQ(d.token_types[0], kTokNormal);
  EXPECT_EQ(d.token_types[12], kTokNormal);
  EXPECT_EQ(d.tokens[9], "<|x|>");
  EXPECT_EQ(d.merges, (std::vector<std::string>{"a b", "ab c", "Ġ a", "Ġa b", "b c"}));
  EXPECT_EQ(d.pre, "gpt2");
}

TEST(Tokenizer, BosFromTemplateAndConfig) {
  std::string post = R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|x|>", "type_id": 0}},
      {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<|x|>": {"id": "<|x|>", "ids": [9], "tokens": ["<|x|>"]}}})";
  auto t = Load(TinyJson("", "", post));
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->data().add_bos);
  EXPECT_EQ(t->data().bos_id, 9);
  EXPECT_EQ(t->encode("abc"), (Ids{9, 5}));
  EXPECT_EQ(t->encode("abc", false), (Ids{5}));
  // tokenizer_config.json overrides: add_bos_token false, eos as an object.
  auto t2 = Load(TinyJson("", "", post),
                 R"({"add_bos_token": false, "eos_token": {"content": "<x>"}, "chat_template": "{{ x }}"})");
  ASSERT_TRUE(t2);
  EXPECT_FALSE(t2->data().add_bos);
  EXPECT_EQ(t2->data().eos_id, 10);
  EXPECT_TRUE(t2->is_eog(10));
  EXPECT_FALSE(t2->is_eog(9));
  EXPECT_EQ(t2->data().chat_template, "{{ x }}");
  EXPECT_EQ(t2->encode("abc"), (Ids{5}));
}

// moecat's extension: the system prompt and tools a chat starts from when it brings none.
TEST(Tokenizer, ChatDefaultsFromConfig) {
  auto t = Load(TinyJson(), R"({"default_system_prompt": "Be brief.",
      "default_tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->data().default_system_prompt, "Be brief.");
  auto tools = nlohmann::json::parse(t->data().default_tools);
  ASSERT_TRUE(tools.is_array());
  EXPECT_EQ(tools[0]["function"]["name"], "f");
  auto none = Load(TinyJson(), "{}");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->data().default_system_prompt, "");
  EXPECT_EQ(none->data().default_tools, "");
  // Wrong types are the file's fault: a clear error, not a silent default.
  EXPECT_FALSE(Tokenizer::FromHfJson(TinyJson(), R"({"default_tools": {"name": "f"}})").ok());
  EXPECT_FALSE(Tokenizer::FromHfJson(TinyJson(), R"({"default_system_prompt": 3})").ok());
}

TEST(Tokenizer, AddPrefixSpace) {
  auto t = Load(TinyJson("", R"({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true})"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("ab", false), (Ids{3, 4}));
}

// Split on the string "-" with each HF behavior; ignore_merges makes every piece one token.
TEST(Tokenizer, SplitBehaviors) {
  const std::string extra = R"(, "-": 20, "a-": 21, "-a": 22, "--": 23)";
  auto ids = [&](const std::string& behavior, bool invert) {
    std::string pre = R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": "-"},
        "behavior": ")" + behavior + R"(", "invert": )" + (invert ? "true" : "false") + R"(},
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})";
    auto t = Load(TinyJson(extra, pre, "null", true));
    return t ? t->encode("a--a", false) : Ids{-1};
  };
  EXPECT_EQ(ids("Isolated", false), (Ids{0, 20, 20, 0}));
  EXPECT_EQ(ids("Removed", false), (Ids{0, 0}));
  EXPECT_EQ(ids("MergedWithPrevious", false), (Ids{21, 20, 0}));
  EXPECT_EQ(ids("MergedWithNext", false), (Ids{0, 20, 22}));
  EXPECT_EQ(ids("Contiguous", false), (Ids{0, 23, 0}));
  EXPECT_EQ(ids("Removed", true), (Ids{20, 20}));
}

TEST(Tokenizer, Nfc) {
  EXPECT_EQ(NfcNormalize("abc"), "abc");
  EXPECT_EQ(NfcNormalize("e\u0301"), "\u00e9");
  EXPECT_EQ(NfcNormalize("Gru\u0308\u00dfe"), "Gr\u00fc\u00dfe");
  EXPECT_EQ(NfcNormalize("\u212b"), "\u00c5");                      // singleton decomposition
  EXPECT_EQ(NfcNormalize("\u1100\u1161\u11a8"), "\uac01");          // Hangul L V T
  EXPECT_EQ(NfcNormalize("\uac00\u11a8"), "\uac01");                // Hangul LV + T
  EXPECT_EQ(NfcNormalize("q\u0307\u0323"), "q\u0323\u0307");        // reordering, no composite
  EXPECT_EQ(NfcNormalize("\u1e0b\u0323"), "\u1e0d\u0307");          // UAX #15 example
  EXPECT_EQ(NfcNormalize("\u0958"), "\u0915\u093c");                // composition exclusion
  EXPECT_EQ(NfcNormalize("\xff" "e\u0301"), "\xff\u00e9");          // invalid byte kept
  EXPECT_EQ(NfcNormalize("\u0301e"), "\u0301e");                    // leading non-starter
}

// A 256-token vocabulary of single bytes through the GGUF route: one token per byte.
std::unique_ptr<Tokenizer> ByteTokenizer() {
  TokenizerData d;
  d.pre = "gpt2";
  for (int b = 0; b < 256; ++b) d.tokens.push_back(ByteLevel(std::string(1, static_cast<char>(b))));
  d.token_types.assign(256, kTokNormal);
  auto r = Tokenizer::FromData(d);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r.value()) : nullptr;
}

TEST(Tokenizer, StreamDecoderSplitsMultiByteChars) {
  auto t = ByteTokenizer();
  ASSERT_TRUE(t);
  const std::string text = "a\U0001F600\u00e9\u4e2d!";
  Ids ids = t->encode(text, false);
  ASSERT_EQ(ids.size(), text.size());  // one token per byte, id == byte
  for (size_t i = 0; i < text.size(); ++i) EXPECT_EQ(ids[i], static_cast<unsigned char>(text[i]));
  Tokenizer::StreamDecoder sd(*t);
  std::vector<std::string> outs;
  for (int32_t id : ids) outs.push_back(sd.push(id));
  EXPECT_EQ(sd.flush(), "");
  EXPECT_EQ(outs, (std::vector<std::string>{"a", "", "", "", "\U0001F600", "", "\u00e9", "", "", "\u4e2d", "!"}));
  // An incomplete sequence comes out on flush; stray bytes are not held forever.
  Tokenizer::StreamDecoder sd2(*t);
  EXPECT_EQ(sd2.push(0xE4), "");
  EXPECT_EQ(sd2.push(0xB8), "");
  EXPECT_EQ(sd2.flush(), "\xE4\xB8");
  EXPECT_EQ(sd2.push(0x80), "\x80");
  EXPECT_EQ(sd2.push(0xF0), "");
  EXPECT_EQ(sd2.push('a'), "\xF0" "a");
}

TEST(Tokenizer, FromDataNamedPre) {
  TokenizerData d;
  d.pre = "llama-bpe";
  d.tokens = {ByteLevel("1"), ByteLevel("2"), ByteLevel("3"), ByteLevel("4"), ByteLevel("12"), ByteLevel("123")};
  d.merges = {"1 2", "12 3"};
  auto r = Tokenizer::FromData(d);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Llama-3 splits digits in groups of at most three.
  EXPECT_EQ(r.value()->encode("1234", false), (Ids{5, 3}));
  d.pre = "qwen2";  // single digits
  auto q = Tokenizer::FromData(d);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(q.value()->encode("1234", false), (Ids{0, 1, 2, 3}));
}

TEST(Tokenizer, FromDataErrors) {
  TokenizerData good;
  good.tokens = {"a", "b", "ab"};
  good.merges = {"a b"};
  ASSERT_TRUE(Tokenizer::FromData(good).ok());
  auto expect_error = [](TokenizerData d, const char* what) {
    auto r = Tokenizer::FromData(std::move(d));
    EXPECT_FALSE(r.ok()) << what;
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
  };
  TokenizerData d = good; d.model = "bert"; expect_error(d, "model");
  d = good; d.model = "llama"; d.scores = {1.0f}; expect_error(d, "llama scores size");
  d = good; d.pre = "no-such-pre"; expect_error(d, "pre");
  d = good; d.merges = {"ab"}; expect_error(d, "merge form");
  d = good; d.merges = {"a c"}; expect_error(d, "merge unknown");
  d = good; d.merges = {"b a"}; expect_error(d, "merge result unknown");
  d = good; d.bos_id = 3; expect_error(d, "bos range");
  d = good; d.token_types = {1}; expect_error(d, "types size");
  d = good; d.tokens.clear(); d.merges.clear(); expect_error(d, "empty");
  d = good; d.pre_regexes = {"(unclosed"}; expect_error(d, "bad regex");
}

TEST(Tokenizer, MalformedJsonIsAnError) {
  const std::string model_ok = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
  const std::string pre_ok = R"("pre_tokenizer": {"type": "ByteLevel"})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "JSON"},
      {"{", "JSON"},
      {"[]", "object"},
      {"{}", "model"},
      {"{\"model\": 5, " + pre_ok + "}", "model"},
      {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, )" + pre_ok + "}", "WordPiece"},
      {R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}, )" + pre_ok + "}", "Unigram"},
      {R"({"model": {"type": "BPE", "merges": []}, )" + pre_ok + "}", "vocab"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}}, )" + pre_ok + "}", "merges"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}, )" + pre_ok + "}", "vocab"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}, )" + pre_ok + "}", "vocab"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}, )" + pre_ok + "}", "twice"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 99999999999}, "merges": []}, )" + pre_ok + "}", "range"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 5000000}, "merges": []}, )" + pre_ok + "}", "beyond"},
      {R"({"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}, )" + pre_ok + "}", "range"},
      {R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}, )" + pre_ok + "}", "integer"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 1.5}, "merges": []}, )" + pre_ok + "}", "integer"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [[1, 2]]}, )" + pre_ok + "}", "merge"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a", "a"]]}, )" + pre_ok + "}", "merge"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["aa"]}, )" + pre_ok + "}", "merge"},
      {"{" + model_ok + "}", "pre_tokenizer"},
      {"{" + model_ok + R"(, "pre_tokenizer": {"type": "Whitespace"}})", "Whitespace"},
      {"{" + model_ok + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"}})",
       "ByteLevel"},
      {"{" + model_ok + R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split",
          "pattern": {"Regex": "(a"}, "behavior": "Isolated"}, {"type": "ByteLevel"}]}})", "regex"},
      {"{" + model_ok + R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split",
          "pattern": {"Regex": "a"}, "behavior": "Sideways"}, {"type": "ByteLevel"}]}})", "behavior"},
      {"{" + model_ok + ", " + pre_ok + R"(, "normalizer": {"type": "Lowercase"}})", "normalizer"},
      {"{" + model_ok + ", " + pre_ok + R"(, "added_tokens": [{"id": 0, "content": "zzz"}]})", "twice"},
      {"{" + model_ok + ", " + pre_ok + R"(, "added_tokens": [{"id": "x", "content": "zzz"}]})", "added_tokens"},
      {"{" + model_ok + ", " + pre_ok + R"(, "added_tokens": {}})", "added_tokens"},
  };
  for (const auto& [json, keyword] : cases) {
    auto r = Tokenizer::FromHfJson(json);
    ASSERT_FALSE(r.ok()) << json;
    EXPECT_NE(r.status().message().find(keyword), std::string::npos)
        << "message \"" << r.status().message() << "\" should mention " << keyword;
  }
  // The base case really is valid, and a bad tokenizer_config.json is also reported.
  ASSERT_TRUE(Tokenizer::FromHfJson("{" + model_ok + ", " + pre_ok + "}").ok());
  EXPECT_FALSE(Tokenizer::FromHfJson("{" + model_ok + ", " + pre_ok + "}", "{oops").ok());
  EXPECT_FALSE(Tokenizer::FromHfFiles("/nonexistent/tokenizer.json").ok());
}

TEST(Tokenizer, HostileTextDoesNotCrash) {
  auto t = Load(TinyJson());
  ASSERT_TRUE(t);
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 37 + 11) & 0xFF);
  Ids ids = t->encode(junk, false);
  for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < t->vocab_size());
  auto bt = ByteTokenizer();
  ASSERT_TRUE(bt);
  EXPECT_EQ(bt->decode(bt->encode(junk, false)), junk);  // byte-exact, even for invalid UTF-8
}

}  // namespace
}  // namespace moecat
