// SentencePiece-style BPE (Llama-2, Mistral / Mixtral, ...), as Hugging Face tokenizer.json
// (model BPE with byte_fallback, spaces normalized to "▁") and llama.cpp GGUF (model "llama",
// tokens + scores + token types) store it. Symbols are the UTF-8 characters of the normalized
// text; adjacent symbols merge into vocabulary tokens in priority order; a character with no
// token falls back to its <0xXX> byte tokens (or to unk).
//
// Priorities: from HF merges (rank order), or from GGUF scores (the pair whose merged token has
// the highest score goes first, as llama.cpp's SPM tokenizer does). Both reduce to one pair table
// and ApplyMerges (bpe.h).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/bpe.h"

namespace moecat {

// "▁" (U+2581), what SentencePiece writes for a space.
inline constexpr std::string_view kSpmSpace = "\xE2\x96\x81";

class SpmModel {
 public:
  // tokens / types: the vocabulary in id order (TokenType values). Exactly one of `merges`
  // ("a b", rank order) and `scores` (one per token) drives the merge order; with neither, the
  // text splits into characters. byte_fallback: characters without a token become <0xXX> tokens.
  Status Build(const std::vector<std::string>& tokens, const std::vector<int32_t>& types,
               const std::vector<std::string>& merges, const std::vector<float>& scores,
               bool byte_fallback, int32_t unk_id);
  // Appends the ids of `text`, already normalized (spaces as "▁", prefix added).
  void Encode(std::string_view text, std::vector<int32_t>& out) const;
  // Raw bytes of token `id`: "▁" -> " ", <0xXX> -> that byte.
  const std::string& raw(int32_t id) const { return raw_[id]; }

 private:
  std::vector<std::string> text_;  // [n_tokens] token text as stored ("▁" for spaces)
  std::vector<std::string> raw_;   // [n_tokens] bytes the token decodes to
  IdIndex by_text_;                // token text -> id, normal tokens only
  PairIndex merges_;
  int32_t byte_id_[256];          // <0xXX> token ids, -1 if absent
  bool byte_fallback_ = false;
  int32_t unk_id_ = -1;
};

// Scores for a GGUF from HF merges: a token's score is minus the rank of the first merge that
// produces it, so llama.cpp's score order reproduces the merge order; tokens no merge produces
// get `floor` (they are never merge targets in HF). Used when converting to GGUF.
std::vector<float> SpmScoresFromMerges(const std::vector<std::string>& tokens,
                                       const std::vector<std::string>& merges);

}  // namespace moecat
