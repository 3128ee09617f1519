// Byte-level BPE, and the merge machinery shared with the SentencePiece-style model (spm.cpp):
// a min-heap of candidate pairs over a linked list of symbols, O(n log n) per pre-token. Ties on
// rank go to the leftmost pair, as in HF tokenizers and llama.cpp.
#include "tokenizer/bpe.h"

#include <functional>
#include <queue>

#include "tokenizer/utf8.h"

namespace moecat {
namespace {

constexpr uint64_t kEmpty = ~0ull;

size_t Capacity(size_t expected) {
  size_t cap = 16;
  while (cap < expected * 2) cap <<= 1;  // load factor <= 0.5
  return cap;
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

void IdIndex::Reset(size_t expected) {
  size_t cap = Capacity(expected);
  ids_.assign(cap, -1);
  tags_.assign(cap, 0);
  mask_ = cap - 1;
}

void IdIndex::Insert(int32_t id, const std::vector<std::string>& keys) {
  uint64_t h = std::hash<std::string_view>()(keys[id]);
  uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    if (ids_[i] < 0) { ids_[i] = id; tags_[i] = tag; return; }
    if (tags_[i] == tag && keys[ids_[i]] == keys[id]) return;
  }
}

int32_t IdIndex::Find(std::string_view key, const std::vector<std::string>& keys) const {
  if (ids_.empty()) return -1;
  uint64_t h = std::hash<std::string_view>()(key);
  uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    if (ids_[i] < 0) return -1;
    if (tags_[i] == tag && keys[ids_[i]] == key) return ids_[i];
  }
}

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

void PairIndex::Reset(size_t expected) {
  size_t cap = Capacity(expected);
  slots_.assign(cap, Entry{kEmpty, 0, 0});
  mask_ = cap - 1;
}

void PairIndex::Insert(int32_t a, int32_t b, int32_t rank, int32_t result) {
  uint64_t key = Key(a, b);
  for (size_t i = Mix(key) & mask_;; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return;
    if (slots_[i].key == kEmpty) { slots_[i] = Entry{key, rank, result}; return; }
  }
}

const PairIndex::Entry* PairIndex::Find(int32_t a, int32_t b) const {
  if (slots_.empty()) return nullptr;
  uint64_t key = Key(a, b);
  for (size_t i = Mix(key) & mask_;; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return &slots_[i];
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

Status SplitMergeRule(const std::string& rule, size_t rank, std::string_view* a, std::string_view* b) {
  size_t sp = rule.find(' ');
  if (sp == std::string::npos || sp == 0 || sp + 1 == rule.size())
    return Errorf("merge %zu (\"%.60s\") is not of the form \"a b\"", rank, rule.c_str());
  *a = std::string_view(rule).substr(0, sp);
  *b = std::string_view(rule).substr(sp + 1);
  return Status::Ok();
}

void ApplyMerges(const PairIndex& merges, std::vector<int32_t>* syms) {
  struct Sym { int32_t id; int32_t prev, next; };
  const int n = static_cast<int>(syms->size());
  if (n < 2) return;
  std::vector<Sym> sym(n);  // [n] linked list; merged-away symbols get id -2
  for (int i = 0; i < n; ++i) sym[i] = {(*syms)[i], i - 1, i + 1 < n ? i + 1 : -1};

  struct Cand { int32_t rank, pos, left, right, result; };
  auto worse = [](const Cand& x, const Cand& y) { return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos; };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> heap(worse);
  auto push = [&](int pos) {
    int nx = sym[pos].next;
    if (nx < 0 || sym[pos].id < 0 || sym[nx].id < 0) return;
    if (const PairIndex::Entry* m = merges.Find(sym[pos].id, sym[nx].id))
      heap.push({m->rank, pos, sym[pos].id, sym[nx].id, m->result});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Sym& l = sym[c.pos];
    // Stale entries: the left symbol changed (merged or died) or its right neighbour changed.
    // Ids only grow longer under merging, so an unchanged id means an unchanged symbol.
    if (l.id != c.left || l.next < 0 || sym[l.next].id != c.right) continue;
    int r = l.next;
    l.id = c.result;
    l.next = sym[r].next;
    if (l.next >= 0) sym[l.next].prev = c.pos;
    sym[r].id = -2;
    if (l.prev >= 0) push(l.prev);
    push(c.pos);
  }
  syms->clear();
  for (int i = 0; i >= 0; i = sym[i].next) syms->push_back(sym[i].id);
}

Status BpeModel::Build(const std::vector<std::string>& tokens, const std::vector<bool>& in_model,
                       const std::vector<std::string>& merges, bool ignore_merges, int32_t unk_id) {
  ignore_merges_ = ignore_merges;
  unk_id_ = unk_id;
  for (auto& b : byte_id_) b = -1;
  raw_.assign(tokens.size(), std::string());
  IdIndex by_str;  // byte-level string -> id, model tokens only
  by_str.Reset(tokens.size());
  by_raw_.Reset(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    bool byte_level = ByteLevelDecode(tokens[i], &raw_[i]);
    if (!in_model[i]) continue;
    const auto id = static_cast<int32_t>(i);
    by_str.Insert(id, tokens);
    // Tokens with characters outside the byte-level alphabet can never come out of a byte-level
    // pre-token, so they are not reachable by raw-byte lookup.
    if (!byte_level || raw_[i].empty()) continue;
    by_raw_.Insert(id, raw_);
    if (raw_[i].size() == 1) {
      auto b = static_cast<unsigned char>(raw_[i][0]);
      if (byte_id_[b] < 0) byte_id_[b] = id;
    }
  }
  merges_.Reset(merges.size());
  std::string cat;
  for (size_t r = 0; r < merges.size(); ++r) {
    std::string_view a, b;
    MOECAT_RETURN_IF_ERROR(SplitMergeRule(merges[r], r, &a, &b));
    int32_t ia = by_str.Find(a, tokens), ib = by_str.Find(b, tokens);
    if (ia < 0 || ib < 0)
      return Errorf("merge %zu (\"%.60s\") names a token not in the vocab", r, merges[r].c_str());
    cat.assign(a);
    cat.append(b);
    int32_t ic = by_str.Find(cat, tokens);
    if (ic < 0) return Errorf("merge %zu (\"%.60s\") produces a token not in the vocab", r, merges[r].c_str());
    merges_.Insert(ia, ib, static_cast<int32_t>(r), ic);
  }
  return Status::Ok();
}

void BpeModel::Encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_ || piece.size() == 1) {
    int32_t id = by_raw_.Find(piece, raw_);
    if (id >= 0) { out.push_back(id); return; }
  }
  std::vector<int32_t> syms(piece.size());  // one symbol per byte
  for (size_t i = 0; i < piece.size(); ++i) syms[i] = byte_id_[static_cast<unsigned char>(piece[i])];
  ApplyMerges(merges_, &syms);
  for (int32_t id : syms) {
    if (id >= 0) out.push_back(id);
    else if (unk_id_ >= 0) out.push_back(unk_id_);
  }
}

}  // namespace moecat
