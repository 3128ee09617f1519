// Tokenizers of the two BPE kinds open models ship:
//  - byte-level BPE (GPT-2 style: Llama-3, Qwen2/3, DeepSeek-V3, gpt-oss): HF tokenizer.json with
//    Split regexes + ByteLevel, or GGUF model "gpt2". Pre-tokenizer regexes run on PCRE2.
//  - SentencePiece-style BPE (Llama-2, Mistral / Mixtral): HF tokenizer.json with spaces
//    normalized to "▁" (Prepend/Replace normalizer or Metaspace) and byte fallback, or GGUF
//    model "llama" (tokens + scores + token types), see spm.h.
// Both with added/special tokens. This layer does not depend on io: the GGUF reader fills a
// TokenizerData.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace moecat {

struct TokenizerBuildOptions;  // tokenizer_impl.h

// GGUF token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
enum TokenType : int32_t { kTokNormal = 1, kTokUnknown = 2, kTokControl = 3, kTokUserDefined = 4,
                           kTokUnused = 5, kTokByte = 6 };

// Everything needed to build a tokenizer and to write it back into a GGUF.
struct TokenizerData {
  std::string model = "gpt2";             // tokenizer.ggml.model: "gpt2" or "llama" (SentencePiece)
  std::string pre;                        // tokenizer.ggml.pre ("llama-bpe", "qwen2", "deepseek-v3", "gpt-4o", ...)
  std::vector<std::string> tokens;        // byte-level encoded strings (GPT-2 byte-to-unicode map)
  std::vector<int32_t> token_types;       // TokenType per token
  std::vector<std::string> merges;        // "a b" pairs, rank order
  std::vector<float> scores;              // "llama": per-token merge priority (GGUF), if no merges
  bool add_space_prefix = true;           // "llama": text after the start / a special token gets "▁"
  std::vector<std::string> pre_regexes;   // Split patterns in order; empty => from `pre`
  int32_t bos_id = -1, eos_id = -1, eot_id = -1, pad_id = -1;
  std::vector<int32_t> eog_ids;           // all end-of-generation ids (eos, eot, <|im_end|>, ...)
  bool add_bos = false;                   // prepend BOS when encoding a prompt
  std::string chat_template;              // tokenizer.chat_template (jinja), if any
  // What a chat without a system message or tools of its own starts from (`moecat run`'s chat
  // mode, the web page via /props): moecat's extension, tokenizer_config.json keys
  // "default_system_prompt" / "default_tools" (a JSON array of OpenAI tools), GGUF keys
  // tokenizer.moecat.default_system_prompt / tokenizer.moecat.default_tools. Empty when absent.
  std::string default_system_prompt;
  std::string default_tools;              // JSON text of the array
};

class Tokenizer {
 public:
  // tokenizer.json (+ optional tokenizer_config.json for bos/eos/add_bos/chat_template).
  static Result<std::unique_ptr<Tokenizer>> FromHfFiles(const std::string& tokenizer_json_path,
                                                        const std::string& tokenizer_config_path = "");
  // Same, from in-memory JSON text (fuzzing, tests). config may be "".
  static Result<std::unique_ptr<Tokenizer>> FromHfJson(const std::string& tokenizer_json,
                                                       const std::string& tokenizer_config_json = "");
  static Result<std::unique_ptr<Tokenizer>> FromData(TokenizerData data);

  // add_bos: prepend BOS if the model asks for it (data().add_bos). parse_special: text such as
  // "<|im_start|>" becomes the special token rather than ordinary text.
  std::vector<int32_t> encode(const std::string& text, bool add_bos = true,
                              bool parse_special = true) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // raw bytes, may be invalid UTF-8 mid-stream
  std::string token_bytes(int32_t id) const;                 // the bytes of one token

  int32_t vocab_size() const;
  bool is_eog(int32_t id) const;
  const TokenizerData& data() const { return data_; }

  // Streaming: push ids, get back only complete UTF-8 characters; flush() returns the rest.
  class StreamDecoder {
   public:
    explicit StreamDecoder(const Tokenizer& t) : tok_(t) {}
    std::string push(int32_t id);
    std::string flush();
   private:
    const Tokenizer& tok_;
    std::string pending_;
  };

  ~Tokenizer();

 private:
  Tokenizer();
  // Shared by FromData and FromHfJson: validates `data` and builds the encoder.
  static Result<std::unique_ptr<Tokenizer>> Build(TokenizerData data, TokenizerBuildOptions opts);
  // One text segment (between added tokens) through the SentencePiece-style model.
  void EncodeSpm(std::string_view seg, bool at_start, std::vector<int32_t>& out) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  TokenizerData data_;
};

}  // namespace moecat
