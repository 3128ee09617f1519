// Byte-level BPE model: rank-ordered merges over the bytes of one pre-token. Works in the raw byte
// domain: vocab strings (GPT-2 byte-level alphabet) are decoded to bytes once at build time.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace moecat {

// Open-addressing index from a string key to a token id; the keys live in an external vector of
// strings (indexed by id), so the index itself is two flat arrays. Much faster to build and probe
// than std::unordered_map<std::string, int> for 200k-entry vocabularies.
class IdIndex {
 public:
  void Reset(size_t expected);
  // Inserts id under keys[id] unless an entry with that key exists (the first one wins).
  void Insert(int32_t id, const std::vector<std::string>& keys);
  int32_t Find(std::string_view key, const std::vector<std::string>& keys) const;  // -1 if absent

 private:
  std::vector<int32_t> ids_;    // [capacity] id or -1
  std::vector<uint32_t> tags_;  // [capacity] high hash bits, to skip most key compares
  size_t mask_ = 0;
};

// Open-addressing map from a symbol pair (left id, right id) to its merge (rank, result id).
// The first insert of a pair wins (a repeated merge keeps its best rank).
class PairIndex {
 public:
  struct Entry { uint64_t key; int32_t rank, result; };
  void Reset(size_t expected);
  void Insert(int32_t a, int32_t b, int32_t rank, int32_t result);
  const Entry* Find(int32_t a, int32_t b) const;  // nullptr if the pair never merges

 private:
  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  std::vector<Entry> slots_;  // key ~0 = empty
  size_t mask_ = 0;
};

// Splits a merge rule "a b" at its space; Status names rule `rank` when it is not of that form.
Status SplitMergeRule(const std::string& rule, size_t rank, std::string_view* a, std::string_view* b);

// Merges adjacent symbols in rank order (ties: leftmost first), in place: `syms` holds the
// initial symbol ids (-1 = a symbol no merge may touch) and is left holding the merged ones.
// O(n log n): a min-heap of candidate pairs over a linked list of symbols.
void ApplyMerges(const PairIndex& merges, std::vector<int32_t>* syms);

class BpeModel {
 public:
  // tokens: byte-level strings in id order; in_model[i]: token i may be produced by BPE (false for
  // added/special/unused tokens). merges: "a b" byte-level pairs in rank order.
  Status Build(const std::vector<std::string>& tokens, const std::vector<bool>& in_model,
               const std::vector<std::string>& merges, bool ignore_merges, int32_t unk_id);
  // Appends the ids of one pre-token (raw bytes). Bytes without a token map to unk_id, or are dropped.
  void Encode(std::string_view piece, std::vector<int32_t>& out) const;
  // Raw bytes of token `id` (byte-level alphabet decoded; other characters kept as UTF-8).
  const std::string& raw(int32_t id) const { return raw_[id]; }

 private:
  std::vector<std::string> raw_;  // [n_tokens] raw bytes
  IdIndex by_raw_;                // raw bytes -> id, byte-level model tokens only
  PairIndex merges_;
  int32_t byte_id_[256];          // single-byte token ids, -1 if absent
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1;
};

// Decodes a GPT-2 byte-level string to raw bytes. Returns false if it contains characters outside
// the byte-level alphabet (those are appended as UTF-8).
bool ByteLevelDecode(std::string_view s, std::string* out);

}  // namespace moecat
