// libFuzzer target for the tokenizer:
//  1. the input as tokenizer.json text (FromHfJson: byte-level or SentencePiece-style); if it
//     loads, encode/decode with it;
//  2. the input as text, encoded by two small fixed valid tokenizers (byte-level: NFC, Qwen-style
//     regex, added tokens with lstrip/rstrip; SentencePiece-style: "▁" normalizers, byte
//     fallback), checking ids are in range and streaming decode == the tokens' bytes.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/base/*.cpp \
//          src/tokenizer/*.cpp fuzz/tokenizer_fuzz.cpp -lpcre2-8 -o /tmp/tok/fuzz
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

using moecat::Tokenizer;

const char* const kTinyJson = R"({
  "normalizer": {"type": "NFC"},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     "behavior": "Isolated", "invert": false},
    {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}],
                     "special_tokens": {"<s>": {"id": "<s>", "ids": [20]}}},
  "added_tokens": [
    {"id": 20, "content": "<s>", "special": true},
    {"id": 21, "content": "<|im_end|>", "special": true, "lstrip": true},
    {"id": 22, "content": "<x>", "special": false, "rstrip": true}],
  "model": {"type": "BPE", "ignore_merges": true,
    "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6, "Ġab": 7, "bc": 8,
              "Ã": 9, "©": 10, "Ã©": 11, "Ċ": 12, "-": 13, "1": 14, "'": 15, "s": 16, "'s": 17},
    "merges": ["a b", ["ab", "c"], "Ġ a", "Ġa b", "b c", "Ã ©", "' s"]}})";

// SentencePiece-style (Llama-2 layout): Prepend + Replace normalizers; byte-fallback tokens for
// a few bytes only, so most unknown characters become <unk>.
const char* const kTinySpmJson = R"({
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                 {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
  "pre_tokenizer": null,
  "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}],
  "model": {"type": "BPE", "byte_fallback": true, "fuse_unk": true, "unk_token": "<unk>",
    "vocab": {"<unk>": 0, "<s>": 1, "\u2581": 2, "a": 3, "b": 4, "\u2581a": 5, "ab": 6, "\u2581ab": 7,
              "\u00e9": 8, "<0x41>": 9, "<0xC3>": 10, "<0xA9>": 11, "<0xE4>": 12, "<0x20>": 13},
    "merges": ["\u2581 a", "a b", "\u2581a b"]}})";

const Tokenizer& Load(const char* json) {
  auto r = Tokenizer::FromHfJson(json);
  if (!r.ok()) {
    std::fprintf(stderr, "fixed tokenizer does not load: %s\n", r.status().message().c_str());
    std::abort();
  }
  return *std::move(r.value()).release();
}

const Tokenizer& TinySpm() {
  static const Tokenizer& t = Load(kTinySpmJson);
  return t;
}

const Tokenizer& Tiny() {
  static const Tokenizer& t = Load(kTinyJson);
  return t;
}

void Exercise(const Tokenizer& t, const std::string& text) {
  for (bool special : {true, false}) {
    std::vector<int32_t> ids = t.encode(text, true, special);
    for (int32_t id : ids)
      if (id < 0 || id >= t.vocab_size()) std::abort();
    std::string whole;
    for (int32_t id : ids) whole += t.token_bytes(id);
    Tokenizer::StreamDecoder sd(t);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.flush();
    if (streamed != whole) std::abort();
    // decode() is the same bytes, less the one leading space a SentencePiece prefix leaves.
    std::string decoded = t.decode(ids);
    if (decoded != whole && !(whole.size() == decoded.size() + 1 && whole[0] == ' ' && whole.compare(1, std::string::npos, decoded) == 0))
      std::abort();
  }
  (void)t.decode({-5, 0, t.vocab_size(), 1 << 30});  // out-of-range ids decode to nothing
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto r = Tokenizer::FromHfJson(input);
  if (r.ok()) {
    Exercise(*r.value(), "Hello world 123 \xC3\xA9 \xE4\xB8\xAD <s>");
    Exercise(*r.value(), input.substr(0, 256));
  }
  Exercise(Tiny(), input);
  Exercise(TinySpm(), input);
  return 0;
}
