// Byte-level BPE model: rank-ordered merges over the bytes of one pre-token. Works in the raw byte
// domain: vocab strings (GPT-2 byte-level alphabet) are decoded to bytes once at build time.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"

namespace moecat {

class BpeModel {
 public:
  // tokens: byte-level strings in id order; in_model[i]: token i may be produced by BPE (false for
  // added/special/unused tokens). merges: (left, right) byte-level strings in rank order.
  Status Build(const std::vector<std::string>& tokens, const std::vector<bool>& in_model,
               const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
               int32_t unk_id);
  // Appends the ids of one pre-token (raw bytes). Bytes without a token map to unk_id, or are dropped.
  void Encode(std::string_view piece, std::vector<int32_t>& out) const;
  // Raw bytes of token `id` (byte-level alphabet decoded; other characters kept as UTF-8).
  const std::string& raw(int32_t id) const { return raw_[id]; }

 private:
  struct MergeInfo { int32_t rank, result; };
  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  std::vector<std::string> raw_;                   // [n_tokens] raw bytes
  std::unordered_map<std::string, int32_t> by_raw_;  // raw bytes -> id, model tokens only
  std::unordered_map<uint64_t, MergeInfo> merges_;   // (left id, right id) -> rank, merged id
  int32_t byte_id_[256];                             // single-byte token ids, -1 if absent
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1;
};

// Decodes a GPT-2 byte-level string to raw bytes. Returns false if it contains characters outside
// the byte-level alphabet (those are appended as UTF-8).
bool ByteLevelDecode(std::string_view s, std::string* out);

}  // namespace moecat
