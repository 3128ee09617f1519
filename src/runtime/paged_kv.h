// PagedKvCache: the server's KV store. Every layer's cache is one pool of fixed-size blocks
// (block_rows positions each); a sequence owns a block table, the same for all layers, and the
// model reads and writes through it (LayerKv::blocks). MLA models page the latent (+ rope key),
// since that is what their KvShape holds.
//
// Prefix caching: once a block is full its content depends only on the tokens up to its end,
// so it is registered under (parent block, its tokens). A new sequence whose prompt starts with
// the same tokens shares those blocks (read-only, reference counted) and skips their prefill.
// Blocks no sequence uses stay cached and are evicted least-recently-used when the pool runs
// out. Lookups compare the actual tokens and parent link, so a hash collision cannot alias.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "model/model.h"

namespace moecat {

class PagedKvCache;

// One sequence's view: the SequenceKv the model writes through plus its block table.
class PagedSeq {
 public:
  SequenceKv& kv() { return kv_; }
  // The pool's side layers (an MTP head's cache), paged by the same block table.
  SequenceKv& side_kv() { return side_kv_; }
  int64_t n_blocks() const { return (int64_t)table_.size(); }
  int64_t n_cached() const { return n_cached_; }  // prompt positions taken from the prefix cache

 private:
  friend class PagedKvCache;
  SequenceKv kv_, side_kv_;
  std::vector<int32_t> table_;  // block ids; capacity fixed at creation so kv_ pointers stay valid
  int64_t n_registered_ = 0;    // leading blocks already in (or found in) the prefix index
  int64_t n_cached_ = 0;
};

struct PagedKvStats {
  int64_t blocks_total = 0, blocks_in_use = 0, blocks_cached = 0;  // cached: idle but reusable
  int64_t lookup_tokens = 0, hit_tokens = 0;                       // prefix-cache lookups, totals
};

class PagedKvCache {
 public:
  // max_seq_len: the longest sequence (positions); n_blocks: pool size. The last n_side_layers
  // of shape are side layers (a draft head's cache): a sequence's kv() holds the others, its
  // side_kv() these; both share the block table, so cached prefixes carry both.
  PagedKvCache(const KvShape& shape, int64_t n_blocks, int64_t max_seq_len, int64_t block_rows = 16,
               int64_t n_side_layers = 0);

  int64_t block_rows() const { return block_rows_; }
  int64_t max_seq_len() const { return max_seq_len_; }
  size_t bytes() const { return storage_bytes_; }  // reserved; pages are touched only when used
  ~PagedKvCache();
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

  // A new sequence for this prompt: shares the cached blocks of its longest block-aligned
  // prefix, leaving at least one prompt token to evaluate (its logits start generation).
  std::unique_ptr<PagedSeq> open(const std::vector<int32_t>& prompt);

  // A sequence over the given blocks, outside the pool's bookkeeping (no references, no prefix
  // index): an expert-parallel server's follower rank replays rank 0's forwards through rank
  // 0's block tables, so its pool holds the same rows in the same blocks. tokens: the ids at
  // positions [0, n_tokens) (look-back models read them). Never pass it to reserve/commit/close.
  std::unique_ptr<PagedSeq> view(const int32_t* blocks, int64_t n_blocks, const int32_t* tokens, int64_t n_tokens) const;

  // Makes positions [0, n_pos) writable: allocates blocks, evicting idle cached ones (LRU).
  // False when the pool has too few free blocks (the sequence is unchanged).
  bool reserve(PagedSeq& s, int64_t n_pos);

  // After a forward filled positions [0, n_filled): registers the newly full blocks.
  // tokens: the sequence's tokens (at least n_filled).
  void commit(PagedSeq& s, const std::vector<int32_t>& tokens, int64_t n_filled);

  // Returns the sequence's blocks; registered ones stay cached for later requests.
  void close(PagedSeq& s);

  // Whether open(tokens) followed by reserve(n_pos) would succeed now: the blocks beyond the
  // cached prefix fit in what is free, not counting idle cached blocks that prefix would pin
  // nor `promised` blocks (what open sequences are still to reserve).
  bool can_open(const std::vector<int32_t>& tokens, int64_t n_pos, int64_t promised = 0) const;

  // Blocks that reserve() could obtain now (free + idle cached).
  int64_t available_blocks() const { return (int64_t)free_.size() + (int64_t)lru_.size(); }
  int64_t blocks_for(int64_t n_pos) const { return (n_pos + block_rows_ - 1) / block_rows_; }
  PagedKvStats stats() const;

  // Persistence of the prefix cache across restarts (runtime/prefix_cache_file.cpp). Only call
  // these while no sequence runs (before serving starts, after it stopped).
  struct CachedBlock {
    int32_t id;
    int64_t parent;  // index of its parent in the same list; -1: the first block of a sequence
  };
  // Registered blocks reachable from a sequence start, parents before children (blocks whose
  // parent was evicted can never be found again and are left out).
  std::vector<CachedBlock> cached_blocks() const;
  const std::vector<int32_t>& block_tokens(int32_t b) const { return blocks_[b].tokens; }
  // Layer il's K (v = false) or V rows of block b: block_rows x width elements of shape().type,
  // contiguous; block_layer_bytes(v) long.
  char* block_data(int32_t b, int64_t il, bool v) const;
  size_t block_layer_bytes(bool v) const;
  const KvShape& shape() const { return shape_; }
  // Takes a free block and registers it, idle (least recently used end), as the cached child of
  // block `parent` (-1: a first block) holding `tokens` [block_rows]; the caller fills its rows.
  // -1 when no block is free, the parent is not a registered block, or that content is cached.
  int32_t add_cached_block(int32_t parent, const int32_t* tokens);

 private:
  struct Block {
    int32_t refs = 0;
    bool registered = false;
    uint64_t serial = 0;         // identity of this registration (parents refer to it)
    uint64_t parent_serial = 0;  // 0: first block of a sequence
    uint64_t key = 0;
    std::vector<int32_t> tokens; // [block_rows] when registered
    std::list<int32_t>::iterator lru_it;
    bool in_lru = false;
  };
  static uint64_t key_of(uint64_t parent_serial, const int32_t* tokens, int64_t n);
  int32_t find(uint64_t parent_serial, const int32_t* tokens) const;
  int32_t take_block();  // -1 when none
  std::unique_ptr<PagedSeq> empty_seq() const;  // no blocks yet; layers point at the pool
  void unregister(int32_t b);

  KvShape shape_;
  int64_t n_blocks_, max_seq_len_, block_rows_, n_side_;
  // Anonymous mapping, not a zero-filled vector: the kernel hands out pages on first write, so a
  // pool sized for every slot's full context costs memory only for positions actually used.
  char* storage_ = nullptr;
  size_t storage_bytes_ = 0;
  std::vector<char*> k_base_, v_base_;  // [n_layer] pool base per layer (elements of shape_.type)
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;
  std::list<int32_t> lru_;  // idle registered blocks, least recently used first
  std::unordered_multimap<uint64_t, int32_t> index_;
  uint64_t next_serial_ = 1;
  int64_t lookup_tokens_ = 0, hit_tokens_ = 0;
};

}  // namespace moecat
