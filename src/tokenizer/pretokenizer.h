// Pre-tokenization: a sequence of regex/string split steps (HF `Split`, and the GPT-2 regex of a
// `ByteLevel` pre-tokenizer with use_regex) applied to every piece in turn, on PCRE2 with
// Unicode properties. Pieces stay raw UTF-8 bytes; the byte-level alphabet is applied later (BPE).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace moecat {

// HF SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct SplitStep {
  std::string pattern;         // PCRE2 regex (String patterns are escaped into one)
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;         // true: the matches are the pieces, the gaps the delimiters
  bool add_prefix_space = false;  // ByteLevel add_prefix_space: prepend ' ' to each piece first
  bool split = true;           // false: only add_prefix_space (ByteLevel with use_regex=false)
};

// The regex of a ByteLevel pre-tokenizer with use_regex=true (GPT-2).
extern const char* const kGpt2Regex;

// Regex lists of the llama.cpp `tokenizer.ggml.pre` names we know ("llama-bpe", "llama3", "qwen2",
// "deepseek-v3", "gpt-4o", "longcat-flash", "gpt2", "default"); empty if unknown.
std::vector<std::string> NamedPreRegexes(const std::string& name);
// The canonical llama.cpp name whose list equals `regexes`, or "" if none.
std::string PreNameForRegexes(const std::vector<std::string>& regexes);
// PCRE2 regex matching `s` literally.
std::string EscapeRegex(std::string_view s);

class PreTokenizer {
 public:
  static Result<std::unique_ptr<PreTokenizer>> Create(std::vector<SplitStep> steps);
  ~PreTokenizer();
  // Appends the pieces of `text` (never empty strings) to `out`.
  void Split(std::string_view text, std::vector<std::string>& out) const;

 private:
  PreTokenizer() = default;
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> steps_;
};

}  // namespace moecat
