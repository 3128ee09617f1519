// KvCache: the per-sequence key/value store a Model writes into. Contiguous per layer for now
// (capacity fixed at creation); the SequenceKv view is what a paged cache will hand out later.
#pragma once
#include <vector>

#include "model/model.h"

namespace moecat {

class KvCache {
 public:
  // max_batch: the most positions one forward writes (sizes the rings of windowed layers).
  KvCache(const KvShape& shape, int64_t capacity, int64_t max_batch = 512);
  SequenceKv& view() { return view_; }
  int64_t capacity() const { return view_.capacity; }
  size_t bytes() const { return storage_.size() * sizeof(float); }

 private:
  std::vector<float> storage_;  // the layers' rows, as bytes of shape.type (float-aligned)
  SequenceKv view_;
};

}  // namespace moecat
