// Token level: the vocabulary as byte tries, walked depth-first with the recogniser state copied
// per branch (dead subtrees pruned at their first bad byte), plus the budget logic.
//
// Speed: inside a JSON string nearly every token is allowed, so those states would visit the
// whole trie. Tokens whose bytes are whole UTF-8 characters without '"', '\\' or controls
// ("plain" tokens) are decided in bulk there (only maxLength matters), and only the rest of the
// vocabulary (a second, much smaller trie) is walked.
#include <algorithm>

#include "serve/grammar/grammar_internal.h"
#include "serve/grammar/json_constraint.h"

namespace moecat {

namespace {
struct Trie {
  // CSR layout, nodes in depth-first order. [n_nodes + 1] offsets.
  std::vector<uint32_t> edge_off, tok_off;
  std::vector<uint8_t> edge_byte;
  std::vector<int32_t> edge_child, toks;

  void build(const std::vector<std::string>& bytes, const std::vector<int32_t>& ids) {
    struct Tmp { std::vector<std::pair<uint8_t, int32_t>> kids; std::vector<int32_t> toks; };
    std::vector<Tmp> t(1);
    for (int32_t id : ids) {
      int32_t n = 0;
      for (uint8_t b : bytes[id]) {
        int32_t c = -1;
        for (auto& [kb, kc] : t[n].kids) if (kb == b) { c = kc; break; }
        if (c < 0) {
          c = int32_t(t.size());
          t[n].kids.push_back({b, c});
          t.emplace_back();
        }
        n = c;
      }
      t[n].toks.push_back(id);
    }
    // Renumber depth-first so a subtree is contiguous (cache friendly walks).
    std::vector<int32_t> order, newid(t.size());
    std::vector<int32_t> stack{0};
    while (!stack.empty()) {
      int32_t n = stack.back();
      stack.pop_back();
      newid[n] = int32_t(order.size());
      order.push_back(n);
      auto& k = t[n].kids;
      std::sort(k.begin(), k.end());
      for (size_t i = k.size(); i-- > 0;) stack.push_back(k[i].second);
    }
    edge_off.assign(1, 0);
    tok_off.assign(1, 0);
    for (int32_t n : order) {
      for (auto [b, c] : t[n].kids) { edge_byte.push_back(b); edge_child.push_back(c); }
      for (int32_t id : t[n].toks) toks.push_back(id);
      edge_off.push_back(uint32_t(edge_byte.size()));
      tok_off.push_back(uint32_t(toks.size()));
    }
    for (auto& c : edge_child) c = newid[c];
  }
  int32_t child(int32_t n, uint8_t b) const {
    for (uint32_t e = edge_off[n]; e < edge_off[n + 1]; ++e) if (edge_byte[e] == b) return edge_child[e];
    return -1;
  }
};

// Whole, valid UTF-8 characters (controls and quotes allowed).
bool whole_utf8(const std::string& s) {
  for (size_t i = 0, n; i < s.size(); i += n)
    if ((n = grammar::utf8_char_len(s, i)) == 0) return false;
  return true;
}

// Code points of a plain token, or -1.
int plain_cps(const std::string& s) {
  int cps = 0;
  for (size_t i = 0, n; i < s.size(); i += n, ++cps) {
    const uint8_t c = s[i];
    if (c < 0x20 || c == '"' || c == '\\' || (n = grammar::utf8_char_len(s, i)) == 0) return -1;
  }
  return cps;
}
}  // namespace

struct ConstraintIndex {
  ConstraintVocab vocab;
  Trie full, nonplain;
  std::vector<int32_t> plain;       // plain token ids sorted by code points
  std::vector<uint32_t> plain_cps;  // [plain.size()] ascending
  std::vector<uint8_t> is_eog;      // [n_vocab]
  size_t max_len = 0;               // longest token in bytes
};

std::shared_ptr<const ConstraintIndex> build_constraint_index(ConstraintVocab vocab) {
  auto ix = std::make_shared<ConstraintIndex>();
  size_t n = vocab.bytes.size();
  vocab.special.resize(n, 0);
  ix->is_eog.assign(n, 0);
  for (int32_t e : vocab.eog) if (e >= 0 && size_t(e) < n) ix->is_eog[e] = 1;
  std::vector<int32_t> normal, nonplain;
  std::vector<std::pair<int, int32_t>> plain;
  for (size_t i = 0; i < n; ++i) {
    if (vocab.special[i] || vocab.bytes[i].empty() || ix->is_eog[i]) continue;
    normal.push_back(int32_t(i));
    ix->max_len = std::max(ix->max_len, vocab.bytes[i].size());
    int c = plain_cps(vocab.bytes[i]);
    if (c > 0) plain.push_back({c, int32_t(i)});
    else nonplain.push_back(int32_t(i));
  }
  std::sort(plain.begin(), plain.end());
  for (auto [c, id] : plain) { ix->plain.push_back(id); ix->plain_cps.push_back(uint32_t(c)); }
  ix->full.build(vocab.bytes, normal);
  ix->nonplain.build(vocab.bytes, nonplain);
  ix->vocab = std::move(vocab);
  return ix;
}

std::vector<uint8_t> text_token_mask(const ConstraintIndex& ix, char forbidden) {
  const size_t n = ix.vocab.bytes.size();
  std::vector<uint8_t> m(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const std::string& b = ix.vocab.bytes[i];
    if (ix.vocab.special[i] || ix.is_eog[i] || b.empty() || b.find(forbidden) != std::string::npos) continue;
    m[i] = whole_utf8(b) ? 1 : 0;
  }
  return m;
}

std::vector<int32_t> constraint_eog_ids(const ConstraintIndex& ix) { return ix.vocab.eog; }

namespace {

using grammar::Frame;
using grammar::Thread;
constexpr size_t kMaxThreads = 64;
constexpr int64_t kMargin = 2;

void dedup(std::vector<Thread>& v) {
  if (v.size() < 2) return;
  size_t w = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    bool dup = false;
    for (size_t j = 0; j < w && !dup; ++j) dup = v[j] == v[i];
    if (!dup && w < kMaxThreads) v[w++] = v[i];
  }
  v.resize(w);
}

class Impl final : public JsonConstraint {
 public:
  Impl(std::shared_ptr<const ConstraintIndex> ix, std::shared_ptr<const grammar::Grammar> g)
      : ix_(std::move(ix)), g_(std::move(g)), pda_{g_.get(), &arena_} {
    Thread t;
    if (g_->lead.empty()) {
      pda_.enter_value(t, g_->root, cur_);
    } else {
      t.mode = grammar::M_LEAD;
      cur_.push_back(t);
    }
  }

  bool complete() const override {
    for (const Thread& t : cur_) if (pda_.complete(t)) return true;
    return false;
  }

  void allowed(std::vector<uint8_t>& mask, int64_t remaining) override {
    const size_t n = ix_->vocab.bytes.size();
    mask.assign(n, 0);
    bool comp = complete();
    if (comp) for (int32_t e : ix_->vocab.eog) if (e >= 0 && size_t(e) < n) mask[e] = 1;
    bool any_open = false;
    for (const Thread& t : cur_) any_open = any_open || t.mode != grammar::M_DONE || t.cnt < g_->tail.size();
    if (!any_open) return;
    size_t base = arena_.size();
    int64_t best = grammar::kInf;
    size_t best_i = 0;
    for (size_t i = 0; i < cur_.size(); ++i) {
      int64_t r = pda_.rest(cur_[i], nullptr);
      if (r < best) { best = r; best_i = i; }
    }
    marked_ = 0;
    if (remaining <= best + kMargin) {
      // Tight: follow one shortest completion (committed, so it only ever shrinks).
      if (!has_commit_) {
        commit_.clear();
        pda_.rest(cur_[best_i], &commit_);
        has_commit_ = true;
      }
      walk_path(commit_, mask);
    } else {
      has_commit_ = false;
      budget_ = remaining - 1;
      if (!plain_fast_path(mask)) dfs_all(ix_->full, mask);
      else dfs_all(ix_->nonplain, mask);
    }
    if (marked_ == 0 && !comp) {  // nothing fits the budget: allow the best we can
      budget_ = grammar::kInf;
      dfs_all(ix_->full, mask);
    }
    arena_.resize(base);
  }

  bool accept(int32_t token) override {
    const size_t n = ix_->vocab.bytes.size();
    if (token < 0 || size_t(token) >= n) return false;
    if (ix_->is_eog[token]) return complete();
    if (ix_->vocab.special[token] || ix_->vocab.bytes[token].empty()) return false;
    const std::string& b = ix_->vocab.bytes[token];
    size_t base = arena_.size();
    std::vector<Thread> st = cur_, nx;
    for (uint8_t c : b) {
      nx.clear();
      for (const Thread& t : st) pda_.step(t, c, nx);
      dedup(nx);
      if (nx.empty()) { arena_.resize(base); return false; }
      st.swap(nx);
    }
    cur_.swap(st);
    if (has_commit_ && commit_.compare(0, b.size(), b) == 0) commit_.erase(0, b.size());
    else has_commit_ = false;
    if (arena_.size() > 4096) compact();
    return true;
  }

 private:
  // Keep only the frames the current threads use (others belong to dead alternatives).
  void compact() {
    std::vector<Frame> na;
    std::vector<std::pair<int32_t, int32_t>> remap;  // old -> new, small
    std::vector<int32_t> map(arena_.size(), -1);
    for (Thread& t : cur_) {
      std::vector<int32_t> chain;
      for (int32_t f = t.saved; f >= 0 && map[f] < 0; f = arena_[f].parent) chain.push_back(f);
      for (size_t i = chain.size(); i-- > 0;) {
        Frame fr = arena_[chain[i]];
        fr.parent = fr.parent >= 0 ? map[fr.parent] : -1;
        map[chain[i]] = int32_t(na.size());
        na.push_back(fr);
      }
      t.saved = t.saved >= 0 ? map[t.saved] : -1;
    }
    arena_.swap(na);
  }

  bool fits(const std::vector<Thread>& st) const {
    if (budget_ >= grammar::kInf) return true;
    for (const Thread& t : st) if (pda_.rest(t, nullptr) <= budget_) return true;
    return false;
  }

  void mark(const Trie& tr, int32_t node, std::vector<uint8_t>& mask) {
    for (uint32_t i = tr.tok_off[node]; i < tr.tok_off[node + 1]; ++i) { mask[tr.toks[i]] = 1; ++marked_; }
  }

  void dfs_all(const Trie& tr, std::vector<uint8_t>& mask) {
    // Sized once per walk: dfs keeps references into lv_.
    if (lv_.size() < ix_->max_len + 2) lv_.resize(ix_->max_len + 2);
    lv_[0] = cur_;
    dfs(tr, 0, 0, mask);
  }

  void dfs(const Trie& tr, int32_t node, size_t d, std::vector<uint8_t>& mask) {
    for (uint32_t e = tr.edge_off[node]; e < tr.edge_off[node + 1]; ++e) {
      size_t base = arena_.size();
      std::vector<Thread>& out = lv_[d + 1];
      out.clear();
      for (const Thread& t : lv_[d]) pda_.step(t, tr.edge_byte[e], out);
      if (!out.empty()) {
        dedup(out);
        int32_t c = tr.edge_child[e];
        if (tr.tok_off[c] != tr.tok_off[c + 1] && fits(out)) mark(tr, c, mask);
        if (tr.edge_off[c] != tr.edge_off[c + 1]) dfs(tr, c, d + 1, mask);
      }
      arena_.resize(base);
    }
  }

  // Tokens whose bytes are a prefix of path (all on the trie path; each checked by the pda).
  void walk_path(const std::string& path, std::vector<uint8_t>& mask) {
    const Trie& tr = ix_->full;
    std::vector<Thread> st = cur_, nx;
    int32_t node = 0;
    for (uint8_t b : path) {
      node = tr.child(node, b);
      if (node < 0) return;
      nx.clear();
      for (const Thread& t : st) pda_.step(t, b, nx);
      dedup(nx);
      if (nx.empty()) return;
      st.swap(nx);
      mark(ix_->full, node, mask);
    }
  }

  // In string content every plain token is fine (up to maxLength): mark them in bulk.
  bool plain_fast_path(std::vector<uint8_t>& mask) {
    uint32_t room = 0;
    for (const Thread& t : cur_) {
      if (t.sub != 0) return false;  // S_NORMAL
      if (t.mode == grammar::M_STRING) {
        if (pda_.rest(t, nullptr) > budget_) return false;
        const grammar::Node& n = g_->nodes[t.node];
        room = std::max(room, n.max_len - std::min(n.max_len, t.cnt));
      } else if (t.mode == grammar::M_KEY) {
        if (g_->nodes[t.c.node].addl < 0 || pda_.rest_as_additional_key(t) > budget_) return false;
        room = UINT32_MAX;
      } else {
        return false;
      }
    }
    auto end = std::upper_bound(ix_->plain_cps.begin(), ix_->plain_cps.end(), room);
    size_t k = size_t(end - ix_->plain_cps.begin());
    for (size_t i = 0; i < k; ++i) mask[ix_->plain[i]] = 1;
    marked_ += k;
    return true;
  }

  std::shared_ptr<const ConstraintIndex> ix_;
  std::shared_ptr<const grammar::Grammar> g_;
  std::vector<Frame> arena_;
  grammar::Pda pda_;
  std::vector<Thread> cur_;
  std::vector<std::vector<Thread>> lv_;
  int64_t budget_ = 0;
  size_t marked_ = 0;
  bool has_commit_ = false;
  std::string commit_;
};

}  // namespace

Result<std::unique_ptr<JsonConstraint>> JsonConstraint::Create(std::shared_ptr<const ConstraintIndex> index,
                                                               const nlohmann::json& schema, const std::string& lead,
                                                               const std::string& tail) {
  if (!index) return Errorf("json constraint: no vocabulary index");
  MOECAT_ASSIGN_OR_RETURN(auto g, grammar::compile_schema(schema.is_null() ? nullptr : &schema));
  if (!lead.empty() || !tail.empty()) {
    auto framed = std::make_shared<grammar::Grammar>(*g);
    framed->lead = lead;
    framed->tail = tail;
    g = std::move(framed);
  }
  return std::unique_ptr<JsonConstraint>(new Impl(std::move(index), std::move(g)));
}

}  // namespace moecat
