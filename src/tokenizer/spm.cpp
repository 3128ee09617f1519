// SentencePiece-style BPE: see spm.h.
#include "tokenizer/spm.h"

#include <algorithm>
#include <numeric>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace moecat {
namespace {

// "<0xAB>" -> 0xAB, or -1.
int ByteTokenValue(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  int hi = hex(s[3]), lo = hex(s[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Byte length of the UTF-8 character at s[i] (1 for an invalid byte, so nothing is lost).
size_t CharLen(std::string_view s, size_t i) {
  uint32_t cp;
  int n = Utf8Decode(s, i, &cp);
  return n > 0 ? static_cast<size_t>(n) : 1;
}

std::string SpaceToBlank(const std::string& t) {
  std::string out;
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, kSpmSpace.size(), kSpmSpace) == 0) { out += ' '; i += kSpmSpace.size(); }
    else out += t[i++];
  }
  return out;
}

}  // namespace

Status SpmModel::Build(const std::vector<std::string>& tokens, const std::vector<int32_t>& types,
                       const std::vector<std::string>& merges, const std::vector<float>& scores,
                       bool byte_fallback, int32_t unk_id) {
  const size_t n = tokens.size();
  if (types.size() != n) return Errorf("SentencePiece vocabulary: %zu token types for %zu tokens", types.size(), n);
  if (!scores.empty() && scores.size() != n)
    return Errorf("SentencePiece vocabulary: %zu scores for %zu tokens", scores.size(), n);
  byte_fallback_ = byte_fallback;
  unk_id_ = unk_id;
  for (auto& b : byte_id_) b = -1;
  raw_.assign(n, std::string());
  text_ = tokens;
  by_text_.Reset(n);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (types[i] == kTokByte) {
      int b = ByteTokenValue(tokens[i]);
      if (b < 0) return Errorf("byte token %zu (\"%.60s\") is not of the form <0xXX>", i, tokens[i].c_str());
      raw_[i] = std::string(1, static_cast<char>(b));
      if (byte_id_[b] < 0) byte_id_[b] = id;
      continue;
    }
    raw_[i] = SpaceToBlank(tokens[i]);
    if (types[i] == kTokNormal && !tokens[i].empty()) by_text_.Insert(id, text_);
  }

  std::string cat;
  if (!merges.empty()) {  // HF: rank order
    merges_.Reset(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
      std::string_view a, b;
      MOECAT_RETURN_IF_ERROR(SplitMergeRule(merges[r], r, &a, &b));
      int32_t ia = by_text_.Find(a, text_), ib = by_text_.Find(b, text_);
      cat.assign(a);
      cat.append(b);
      int32_t ic = by_text_.Find(cat, text_);
      // HF keeps merges whose parts are special or byte tokens; none can fire on normal text.
      if (ia < 0 || ib < 0 || ic < 0) continue;
      merges_.Insert(ia, ib, static_cast<int32_t>(r), ic);
    }
    return Status::Ok();
  }
  if (scores.empty()) return Status::Ok();
  // GGUF: every split of a normal token into two normal tokens is a merge; its priority is the
  // merged token's score (higher first; equal scores tie, and then the leftmost pair wins).
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return scores[a] > scores[b]; });
  std::vector<int32_t> rank(n, 0);
  for (size_t k = 1; k < n; ++k)
    rank[order[k]] = rank[order[k - 1]] + (scores[order[k]] != scores[order[k - 1]] ? 1 : 0);
  merges_.Reset(n * 2);
  for (size_t i = 0; i < n; ++i) {
    if (types[i] != kTokNormal) continue;
    std::string_view t = tokens[i];
    for (size_t k = CharLen(t, 0); k < t.size(); k += CharLen(t, k)) {
      int32_t ia = by_text_.Find(t.substr(0, k), text_);
      if (ia < 0) continue;
      int32_t ib = by_text_.Find(t.substr(k), text_);
      if (ib >= 0) merges_.Insert(ia, ib, rank[i], static_cast<int32_t>(i));
    }
  }
  return Status::Ok();
}

void SpmModel::Encode(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<int32_t> syms;              // one symbol per character
  std::vector<std::string_view> unknown;  // the characters of the -1 symbols, in order
  for (size_t i = 0; i < text.size();) {
    std::string_view ch = text.substr(i, CharLen(text, i));
    i += ch.size();
    syms.push_back(by_text_.Find(ch, text_));
    if (syms.back() < 0) unknown.push_back(ch);
  }
  ApplyMerges(merges_, &syms);
  size_t k = 0;
  bool prev_unk = false;
  for (int32_t id : syms) {
    if (id >= 0) { out.push_back(id); prev_unk = false; continue; }
    std::string_view ch = unknown[k++];
    bool bytes = byte_fallback_;
    for (char c : ch) bytes = bytes && byte_id_[static_cast<unsigned char>(c)] >= 0;
    if (bytes) {
      for (char c : ch) out.push_back(byte_id_[static_cast<unsigned char>(c)]);
      prev_unk = false;
    } else if (unk_id_ >= 0 && !prev_unk) {
      out.push_back(unk_id_);  // consecutive unknown characters fuse into one unk (HF fuse_unk)
      prev_unk = true;
    }
  }
}

std::vector<float> SpmScoresFromMerges(const std::vector<std::string>& tokens,
                                       const std::vector<std::string>& merges) {
  constexpr float kFloor = -1e9f;  // below every merge rank
  std::vector<float> scores(tokens.size(), kFloor);
  IdIndex index;
  index.Reset(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) index.Insert(static_cast<int32_t>(i), tokens);
  std::string cat;
  for (size_t r = 0; r < merges.size(); ++r) {
    std::string_view a, b;
    if (!SplitMergeRule(merges[r], r, &a, &b).ok()) continue;
    cat.assign(a);
    cat.append(b);
    int32_t id = index.Find(cat, tokens);
    if (id >= 0 && scores[id] == kFloor) scores[id] = -static_cast<float>(r);
  }
  // Single characters are never merge targets; 0 keeps them apart from the floor for readers.
  for (size_t i = 0; i < tokens.size(); ++i)
    if (scores[i] == kFloor && CharLen(tokens[i], 0) == tokens[i].size()) scores[i] = 0.0f;
  return scores;
}

}  // namespace moecat
