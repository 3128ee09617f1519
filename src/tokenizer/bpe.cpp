// BPE merging with a min-heap of candidate pairs over a linked list of symbols: O(n log n) per
// pre-token. Ties on rank go to the leftmost pair, as in HF tokenizers.
#include "tokenizer/bpe.h"

#include <queue>

#include "tokenizer/utf8.h"

namespace moecat {

bool ByteLevelDecode(std::string_view s, std::string* out) {
  bool ok = true;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    int n = Utf8Decode(s, i, &cp);
    if (n <= 0) { out->push_back(s[i]); ++i; ok = false; continue; }
    int b = UnicodeToByte(cp);
    if (b >= 0) out->push_back(static_cast<char>(b));
    else { out->append(s.substr(i, n)); ok = false; }
    i += n;
  }
  return ok;
}

Status BpeModel::Build(const std::vector<std::string>& tokens, const std::vector<bool>& in_model,
                       const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
                       int32_t unk_id) {
  ignore_merges_ = ignore_merges;
  unk_id_ = unk_id;
  for (auto& b : byte_id_) b = -1;
  raw_.resize(tokens.size());
  by_raw_.reserve(tokens.size());
  std::unordered_map<std::string_view, int32_t> by_str;  // byte-level string -> id, model tokens
  by_str.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    bool byte_level = ByteLevelDecode(tokens[i], &raw_[i]);
    if (!in_model[i]) continue;
    by_str.emplace(tokens[i], static_cast<int32_t>(i));
    // Tokens with characters outside the byte-level alphabet can never come out of a byte-level
    // pre-token, so they are not reachable by raw-byte lookup.
    if (!byte_level || raw_[i].empty()) continue;
    by_raw_.emplace(raw_[i], static_cast<int32_t>(i));
    if (raw_[i].size() == 1) {
      auto b = static_cast<unsigned char>(raw_[i][0]);
      if (byte_id_[b] < 0) byte_id_[b] = static_cast<int32_t>(i);
    }
  }
  merges_.reserve(merges.size());
  std::string cat;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    auto ia = by_str.find(a), ib = by_str.find(b);
    if (ia == by_str.end() || ib == by_str.end())
      return Errorf("merge %zu (\"%.60s\" + \"%.60s\") names a token not in the vocab", r, a.c_str(), b.c_str());
    cat = a + b;
    auto ic = by_str.find(cat);
    if (ic == by_str.end())
      return Errorf("merge %zu (\"%.60s\" + \"%.60s\") produces a token not in the vocab", r, a.c_str(), b.c_str());
    // A repeated pair keeps its first (best) rank.
    merges_.emplace(Key(ia->second, ib->second), MergeInfo{static_cast<int32_t>(r), ic->second});
  }
  return Status::Ok();
}

void BpeModel::Encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_ || piece.size() == 1) {
    auto it = by_raw_.find(std::string(piece));
    if (it != by_raw_.end()) { out.push_back(it->second); return; }
  }
  struct Sym { int32_t id; int32_t prev, next; };
  std::vector<Sym> sym(piece.size());  // [n] one symbol per byte, merged symbols die (id = -2)
  const int n = static_cast<int>(piece.size());
  for (int i = 0; i < n; ++i) sym[i] = {byte_id_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};

  struct Cand { int32_t rank, pos, left, right; };
  auto worse = [](const Cand& x, const Cand& y) { return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos; };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> heap(worse);
  auto push = [&](int pos) {
    int nx = sym[pos].next;
    if (nx < 0 || sym[pos].id < 0 || sym[nx].id < 0) return;
    auto it = merges_.find(Key(sym[pos].id, sym[nx].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, sym[pos].id, sym[nx].id});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Sym& l = sym[c.pos];
    // Stale entries: the left symbol changed (merged or died) or its right neighbour changed.
    if (l.id != c.left || l.next < 0 || sym[l.next].id != c.right) continue;
    int r = l.next;
    l.id = merges_.find(Key(c.left, c.right))->second.result;
    l.next = sym[r].next;
    if (l.next >= 0) sym[l.next].prev = c.pos;
    sym[r].id = -2;
    if (l.prev >= 0) push(l.prev);
    push(c.pos);
  }
  for (int i = 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0) out.push_back(sym[i].id);
    else if (unk_id_ >= 0) out.push_back(unk_id_);
  }
}

}  // namespace moecat
