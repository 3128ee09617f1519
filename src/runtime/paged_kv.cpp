#include "runtime/paged_kv.h"

#include <sys/mman.h>

#include <algorithm>

#include "base/check.h"

namespace moecat {

PagedKvCache::PagedKvCache(const KvShape& shape, int64_t n_blocks, int64_t max_seq_len, int64_t block_rows,
                           int64_t n_side_layers)
    : shape_(shape), n_blocks_(n_blocks), max_seq_len_(max_seq_len), block_rows_(block_rows), n_side_(n_side_layers) {
  MOECAT_CHECK(n_blocks > 0 && n_blocks < (int64_t(1) << 31) && block_rows > 0 && max_seq_len > 0);
  MOECAT_CHECK(n_side_layers >= 0 && n_side_layers < shape.n_layer);
  const int64_t rows = n_blocks * block_rows;
  const size_t elt = kv_type_bytes(shape.type);
  storage_bytes_ = static_cast<size_t>(shape.n_layer * rows * (shape.k_width + shape.v_width)) * elt;
  void* mem = storage_bytes_ ? mmap(nullptr, storage_bytes_, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                             : nullptr;
  MOECAT_CHECK_MSG(mem != MAP_FAILED, "cannot reserve the KV cache pool");
  storage_ = static_cast<char*>(mem);
  char* p = storage_;
  for (int64_t il = 0; il < shape.n_layer; ++il) {
    k_base_.push_back(p);
    p += rows * shape.k_width * elt;
    v_base_.push_back(p);
    p += rows * shape.v_width * elt;
  }
  blocks_.resize(n_blocks);
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

PagedKvCache::~PagedKvCache() {
  if (storage_) munmap(storage_, storage_bytes_);
}

uint64_t PagedKvCache::key_of(uint64_t parent_serial, const int32_t* tokens, int64_t n) {
  uint64_t h = 1469598103934665603ull ^ (parent_serial * 0x9E3779B97F4A7C15ull);
  for (int64_t i = 0; i < n; ++i) {
    h ^= static_cast<uint32_t>(tokens[i]);
    h *= 1099511628211ull;
    h ^= h >> 29;
  }
  return h;
}

int32_t PagedKvCache::find(uint64_t parent_serial, const int32_t* tokens) const {
  const uint64_t key = key_of(parent_serial, tokens, block_rows_);
  auto [lo, hi] = index_.equal_range(key);
  for (auto it = lo; it != hi; ++it) {
    const Block& b = blocks_[it->second];
    if (b.parent_serial == parent_serial && std::equal(b.tokens.begin(), b.tokens.end(), tokens))
      return it->second;
  }
  return -1;
}

std::unique_ptr<PagedSeq> PagedKvCache::view(const int32_t* blocks, int64_t n_blocks, const int32_t* tokens,
                                              int64_t n_tokens) const {
  auto s = empty_seq();
  MOECAT_CHECK(n_blocks <= blocks_for(max_seq_len_) && n_tokens <= max_seq_len_);
  for (int64_t i = 0; i < n_blocks; ++i) {
    MOECAT_CHECK(blocks[i] >= 0 && blocks[i] < n_blocks_);
    s->table_.push_back(blocks[i]);
  }
  std::copy(tokens, tokens + n_tokens, s->kv_.tokens.begin());
  return s;
}

std::unique_ptr<PagedSeq> PagedKvCache::empty_seq() const {
  auto s = std::make_unique<PagedSeq>();
  const int64_t max_blocks = blocks_for(max_seq_len_);
  s->table_.reserve(static_cast<size_t>(max_blocks));
  s->kv_.capacity = max_seq_len_;
  s->kv_.tokens.assign(static_cast<size_t>(max_seq_len_), 0);
  const int64_t n_main = shape_.n_layer - n_side_;
  s->kv_.layers.resize(n_main);
  s->side_kv_.capacity = max_seq_len_;
  s->side_kv_.layers.resize(n_side_);
  for (int64_t il = 0; il < shape_.n_layer; ++il) {
    LayerKv& L = il < n_main ? s->kv_.layers[il] : s->side_kv_.layers[il - n_main];
    L.type = shape_.type;
    L.k = k_base_[il];
    L.v = v_base_[il];
    L.k_width = shape_.k_width;
    L.v_width = shape_.v_width;
    L.blocks = s->table_.data();
    L.block_rows = block_rows_;
  }
  return s;
}

std::unique_ptr<PagedSeq> PagedKvCache::open(const std::vector<int32_t>& prompt) {
  auto s = empty_seq();
  // Longest cached block-aligned prefix, keeping at least one token to evaluate.
  const int64_t usable = std::min<int64_t>((int64_t)prompt.size() - 1, max_seq_len_) / block_rows_;
  uint64_t parent = 0;
  for (int64_t i = 0; i < usable; ++i) {
    const int32_t b = find(parent, prompt.data() + i * block_rows_);
    if (b < 0) break;
    Block& B = blocks_[b];
    if (B.in_lru) {
      lru_.erase(B.lru_it);
      B.in_lru = false;
    }
    ++B.refs;
    s->table_.push_back(b);
    parent = B.serial;
  }
  s->n_registered_ = (int64_t)s->table_.size();
  s->n_cached_ = s->n_registered_ * block_rows_;
  std::copy(prompt.begin(), prompt.begin() + s->n_cached_, s->kv_.tokens.begin());
  lookup_tokens_ += (int64_t)prompt.size();
  hit_tokens_ += s->n_cached_;
  return s;
}

bool PagedKvCache::can_open(const std::vector<int32_t>& tokens, int64_t n_pos, int64_t promised) const {
  if (n_pos > max_seq_len_) return false;
  const int64_t usable = std::min<int64_t>((int64_t)tokens.size() - 1, max_seq_len_) / block_rows_;
  uint64_t parent = 0;
  int64_t shared = 0, pinned_idle = 0;
  for (; shared < usable; ++shared) {
    const int32_t b = find(parent, tokens.data() + shared * block_rows_);
    if (b < 0) break;
    pinned_idle += blocks_[b].in_lru;
    parent = blocks_[b].serial;
  }
  return blocks_for(n_pos) - shared <= available_blocks() - pinned_idle - promised;
}

void PagedKvCache::unregister(int32_t b) {
  Block& B = blocks_[b];
  if (!B.registered) return;
  auto [lo, hi] = index_.equal_range(B.key);
  for (auto it = lo; it != hi; ++it)
    if (it->second == b) {
      index_.erase(it);
      break;
    }
  B.registered = false;
  B.tokens.clear();
}

int32_t PagedKvCache::take_block() {
  if (!free_.empty()) {
    const int32_t b = free_.back();
    free_.pop_back();
    return b;
  }
  if (lru_.empty()) return -1;
  const int32_t b = lru_.front();  // least recently used idle cached block
  lru_.pop_front();
  blocks_[b].in_lru = false;
  unregister(b);
  return b;
}

bool PagedKvCache::reserve(PagedSeq& s, int64_t n_pos) {
  if (n_pos > max_seq_len_) return false;
  const int64_t need = blocks_for(n_pos) - (int64_t)s.table_.size();
  if (need <= 0) return true;
  if (need > available_blocks()) return false;
  for (int64_t i = 0; i < need; ++i) {
    const int32_t b = take_block();
    MOECAT_CHECK(b >= 0);
    blocks_[b].refs = 1;
    s.table_.push_back(b);  // capacity reserved in open(): data() unchanged
  }
  return true;
}

void PagedKvCache::commit(PagedSeq& s, const std::vector<int32_t>& tokens, int64_t n_filled) {
  const int64_t full = std::min<int64_t>(n_filled / block_rows_, (int64_t)s.table_.size());
  MOECAT_CHECK((int64_t)tokens.size() >= full * block_rows_);
  for (int64_t i = s.n_registered_; i < full; ++i) {
    const int32_t b = s.table_[i];
    Block& B = blocks_[b];
    const uint64_t parent = i == 0 ? 0 : blocks_[s.table_[i - 1]].serial;
    const int32_t* t = tokens.data() + i * block_rows_;
    if (B.registered || find(parent, t) >= 0) {
      // Another sequence registered the same content meanwhile: keep ours private. Later
      // blocks can still chain from the registered twin only if we adopt it, so stop here.
      if (!B.registered) break;
      continue;
    }
    B.registered = true;
    B.serial = next_serial_++;
    B.parent_serial = parent;
    B.tokens.assign(t, t + block_rows_);
    B.key = key_of(parent, t, block_rows_);
    index_.emplace(B.key, b);
    s.n_registered_ = i + 1;
  }
}

void PagedKvCache::close(PagedSeq& s) {
  for (int32_t b : s.table_) {
    Block& B = blocks_[b];
    MOECAT_CHECK(B.refs > 0);
    if (--B.refs > 0) continue;
    if (B.registered) {
      B.lru_it = lru_.insert(lru_.end(), b);
      B.in_lru = true;
    } else {
      free_.push_back(b);
    }
  }
  s.table_.clear();
}

std::vector<PagedKvCache::CachedBlock> PagedKvCache::cached_blocks() const {
  std::vector<int32_t> reg;
  for (int32_t b = 0; b < (int32_t)blocks_.size(); ++b)
    if (blocks_[b].registered) reg.push_back(b);
  // Serials grow with registration and a parent is registered before its children.
  std::sort(reg.begin(), reg.end(), [&](int32_t a, int32_t b) { return blocks_[a].serial < blocks_[b].serial; });
  std::unordered_map<uint64_t, int64_t> index_of;  // serial -> index in out
  std::vector<CachedBlock> out;
  for (int32_t b : reg) {
    const Block& B = blocks_[b];
    int64_t parent = -1;
    if (B.parent_serial != 0) {
      auto it = index_of.find(B.parent_serial);
      if (it == index_of.end()) continue;  // orphan: its parent was evicted
      parent = it->second;
    }
    index_of[B.serial] = (int64_t)out.size();
    out.push_back({b, parent});
  }
  return out;
}

size_t PagedKvCache::block_layer_bytes(bool v) const {
  return static_cast<size_t>(block_rows_ * (v ? shape_.v_width : shape_.k_width)) * kv_type_bytes(shape_.type);
}

char* PagedKvCache::block_data(int32_t b, int64_t il, bool v) const {
  MOECAT_CHECK(b >= 0 && b < (int32_t)blocks_.size() && il >= 0 && il < shape_.n_layer);
  return (v ? v_base_[il] : k_base_[il]) + static_cast<size_t>(b) * block_layer_bytes(v);
}

int32_t PagedKvCache::add_cached_block(int32_t parent, const int32_t* tokens) {
  uint64_t parent_serial = 0;
  if (parent >= 0) {
    if (parent >= (int32_t)blocks_.size() || !blocks_[parent].registered) return -1;
    parent_serial = blocks_[parent].serial;
  }
  if (free_.empty() || find(parent_serial, tokens) >= 0) return -1;
  const int32_t b = free_.back();
  free_.pop_back();
  Block& B = blocks_[b];
  B.refs = 0;
  B.registered = true;
  B.serial = next_serial_++;
  B.parent_serial = parent_serial;
  B.tokens.assign(tokens, tokens + block_rows_);
  B.key = key_of(parent_serial, tokens, block_rows_);
  index_.emplace(B.key, b);
  B.lru_it = lru_.insert(lru_.end(), b);
  B.in_lru = true;
  return b;
}

PagedKvStats PagedKvCache::stats() const {
  PagedKvStats st;
  st.blocks_total = n_blocks_;
  st.blocks_cached = (int64_t)lru_.size();
  st.blocks_in_use = n_blocks_ - (int64_t)free_.size() - st.blocks_cached;
  st.lookup_tokens = lookup_tokens_;
  st.hit_tokens = hit_tokens_;
  return st;
}

}  // namespace moecat
