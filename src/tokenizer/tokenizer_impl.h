// Internals shared by tokenizer.cpp (building, encoding) and hf_loader.cpp (tokenizer.json parsing).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"

namespace moecat {

// What a tokenizer needs beyond TokenizerData (HF-only settings a GGUF cannot express, or the
// parsed form of TokenizerData fields). Merges come from TokenizerData::merges ("a b").
struct TokenizerBuildOptions {
  std::vector<SplitStep> steps;                               // pre-tokenizer
  bool nfc = false;                                           // NFC normalizer
  bool ignore_merges = false;                                 // whole pre-token in vocab => one token
  int32_t unk_id = -1;
  std::unordered_map<int32_t, std::pair<bool, bool>> strip;   // added token id -> (lstrip, rstrip)
  // SentencePiece-style ("llama") only: where "▁" is prepended, whether text splits before each
  // "▁" (HF Metaspace split), and whether characters without a token become <0xXX> tokens.
  enum class SpmPrefix { kNone, kEverySegment, kFirst } spm_prefix = SpmPrefix::kEverySegment;
  bool spm_split = false;
  bool byte_fallback = true;
};

struct Tokenizer::Impl {
  BpeModel bpe;
  std::unique_ptr<PreTokenizer> pre;
  std::unique_ptr<SpmModel> spm;  // set for SentencePiece-style tokenizers (then bpe/pre are unused)
  TokenizerBuildOptions::SpmPrefix spm_prefix = TokenizerBuildOptions::SpmPrefix::kNone;
  bool spm_split = false;
  bool nfc = false;
  struct Added { int32_t id; bool special, lstrip, rstrip; };
  std::vector<Added> added;                 // CONTROL / USER_DEFINED tokens
  std::vector<int32_t> by_first_byte[256];  // indices into `added`, longest content first
  std::unordered_set<int32_t> eog;
};

// Names of end-of-generation tokens, looked up in the vocab to fill eog_ids.
extern const char* const kEogTokenNames[];
extern const size_t kEogTokenNameCount;

}  // namespace moecat
