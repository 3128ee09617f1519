// PCRE2-based pre-tokenizer; see pretokenizer.h. Split semantics follow HF tokenizers: matches are
// found left to right on each piece separately, empty matches are skipped (the search moves on by
// one character), then `invert` and the delimiter behavior decide how spans become pieces.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "tokenizer/utf8.h"

namespace moecat {

const char* const kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

// Taken verbatim from the pre_tokenizer Split patterns of the published tokenizer.json files
// (Llama-3, Qwen3, DeepSeek-V3, gpt-oss), so that a file's list can be recognised by name.
const char* const kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// DeepSeek-V3: digits in groups of 3, CJK/kana runs ([一-龥぀-ゟ゠-ヿ]+), then the main pattern
// (which contains literal CR/LF characters inside its classes, as in the JSON).
const char* const kDeepseekV3Regexes[] = {
    "\\p{N}{1,3}",
    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
};
const char* const kGpt4oRegex =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// LongCat-Flash (llama.cpp's "longcat-flash"): the Qwen2 pattern, then runs of CJK punctuation
// (optionally after a space) and runs of CJK/Hangul characters isolated from what the first
// step left. Source: a llama.cpp LongCat port's vocabulary notes (see docs/longcat-flash.md);
// not checked against the published tokenizer.json, which is not available here.
const char* const kLongCatRegexes[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    // " ?[！-／：-～‘-‟　-。《》「」【】]+"
    " ?[\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82"
    "\xe3\x80\x8a\xe3\x80\x8b\xe3\x80\x8c\xe3\x80\x8d\xe3\x80\x90\xe3\x80\x91]+",
    // "[一-龥ࠀ-一가-퟿]+"
    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+",
};

// Canonical names first: PreNameForRegexes returns the first name with an equal list.
const char* const kCanonicalNames[] = {"llama-bpe", "qwen2", "deepseek-v3", "gpt-4o", "longcat-flash", "gpt2"};

// Per-thread PCRE2 match state: encode() is const and may run on several threads at once.
struct MatchState {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* jit = nullptr;
  MatchState() {
    md = pcre2_match_data_create(32, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    jit = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (mctx) {
      if (jit) pcre2_jit_stack_assign(mctx, nullptr, jit);
      // Hostile patterns (from a tokenizer.json) must not hang: bound backtracking per match.
      pcre2_set_match_limit(mctx, 20'000'000);
      pcre2_set_depth_limit(mctx, 100'000);
    }
  }
  ~MatchState() {
    if (md) pcre2_match_data_free(md);
    if (mctx) pcre2_match_context_free(mctx);
    if (jit) pcre2_jit_stack_free(jit);
  }
};

MatchState& State() {
  thread_local MatchState st;
  return st;
}

size_t CharLen(std::string_view s, size_t i) {
  uint32_t cp;
  int n = Utf8Decode(s, i, &cp);
  return n > 0 ? static_cast<size_t>(n) : 1;
}

}  // namespace

std::vector<std::string> NamedPreRegexes(const std::string& name) {
  if (name == "llama-bpe" || name == "llama3") return {kLlama3Regex};
  if (name == "qwen2") return {kQwen2Regex};
  if (name == "deepseek-v3") return {std::begin(kDeepseekV3Regexes), std::end(kDeepseekV3Regexes)};
  if (name == "gpt-4o") return {kGpt4oRegex};
  if (name == "longcat-flash" || name == "longcat") return {std::begin(kLongCatRegexes), std::end(kLongCatRegexes)};
  if (name == "gpt2" || name == "default") return {kGpt2Regex};
  return {};
}

std::string PreNameForRegexes(const std::vector<std::string>& regexes) {
  for (const char* name : kCanonicalNames)
    if (NamedPreRegexes(name) == regexes) return name;
  return "";
}

std::string EscapeRegex(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}-/#&~").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

struct PreTokenizer::Compiled {
  SplitStep step;
  pcre2_code* code = nullptr;
  ~Compiled() { if (code) pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(std::vector<SplitStep> steps) {
  std::unique_ptr<PreTokenizer> pt(new PreTokenizer());
  for (auto& s : steps) {
    auto c = std::make_unique<Compiled>();
    c->step = std::move(s);
    if (c->step.split) {
      int err = 0;
      PCRE2_SIZE off = 0;
      // MATCH_INVALID_UTF: invalid UTF-8 input is safe (it simply never matches).
      c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(c->step.pattern.data()), c->step.pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
      if (!c->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        return Errorf("bad pre-tokenizer regex at offset %zu: %s (pattern: %.200s)", static_cast<size_t>(off),
                      reinterpret_cast<const char*>(msg), c->step.pattern.c_str());
      }
      pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if unavailable
    }
    pt->steps_.push_back(std::move(c));
  }
  return pt;
}

void PreTokenizer::Split(std::string_view text, std::vector<std::string>& out) const {
  std::vector<std::string> cur{std::string(text)}, next;
  struct Span { size_t b, e; bool delim; };
  std::vector<Span> spans;
  MatchState& st = State();
  for (const auto& c : steps_) {
    next.clear();
    for (std::string& piece : cur) {
      if (c->step.add_prefix_space && (piece.empty() || piece[0] != ' ')) piece.insert(piece.begin(), ' ');
      if (!c->step.split || !st.md || !st.mctx) { next.push_back(std::move(piece)); continue; }
      // 1. Find matches (delimiters) and gaps.
      spans.clear();
      const size_t n = piece.size();
      size_t pos = 0, prev = 0;
      const auto* subj = reinterpret_cast<PCRE2_SPTR>(piece.data());
      while (pos < n) {
        int rc = pcre2_match(c->code, subj, n, pos, 0, st.md, st.mctx);
        if (rc < 0) break;  // no match, or a limit hit on hostile input: the rest stays one gap
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md);
        size_t s = ov[0], e = ov[1];
        if (s < pos || e < s || e > n) break;  // \K tricks could report odd spans; stop safely
        if (e == s) { pos = s + CharLen(piece, s); continue; }
        if (s > prev) spans.push_back({prev, s, false});
        spans.push_back({s, e, true});
        prev = pos = e;
      }
      if (prev < n) spans.push_back({prev, n, false});
      if (c->step.invert)
        for (auto& sp : spans) sp.delim = !sp.delim;
      // 2. Combine spans according to the delimiter behavior.
      std::vector<std::pair<size_t, size_t>> parts;
      bool prev_delim = false;
      switch (c->step.behavior) {
        case SplitBehavior::kRemoved:
          for (auto& sp : spans) if (!sp.delim) parts.push_back({sp.b, sp.e});
          break;
        case SplitBehavior::kIsolated:
          for (auto& sp : spans) parts.push_back({sp.b, sp.e});
          break;
        case SplitBehavior::kMergedWithPrevious:
          for (auto& sp : spans) {
            if (sp.delim && !prev_delim && !parts.empty()) parts.back().second = sp.e;
            else parts.push_back({sp.b, sp.e});
            prev_delim = sp.delim;
          }
          break;
        case SplitBehavior::kMergedWithNext:
          for (size_t i = spans.size(); i-- > 0;) {
            if (spans[i].delim && !prev_delim && !parts.empty()) parts.back().first = spans[i].b;
            else parts.push_back({spans[i].b, spans[i].e});
            prev_delim = spans[i].delim;
          }
          std::reverse(parts.begin(), parts.end());
          break;
        case SplitBehavior::kContiguous:
          for (size_t i = 0; i < spans.size(); ++i) {
            if (i > 0 && spans[i].delim == prev_delim) parts.back().second = spans[i].e;
            else parts.push_back({spans[i].b, spans[i].e});
            prev_delim = spans[i].delim;
          }
          break;
      }
      for (auto& p : parts)
        if (p.second > p.first) next.emplace_back(piece.substr(p.first, p.second - p.first));
    }
    std::swap(cur, next);
  }
  for (auto& p : cur)
    if (!p.empty()) out.push_back(std::move(p));
}

}  // namespace moecat
