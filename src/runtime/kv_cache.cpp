#include "runtime/kv_cache.h"

#include <algorithm>

namespace moecat {

KvCache::KvCache(const KvShape& s, int64_t capacity, int64_t max_batch) {
  // Rows per layer: the whole context, or for a windowed layer just enough for the window plus
  // one batch written ahead of its queries (the ring never overwrites a visible row).
  std::vector<int64_t> rows(s.n_layer, capacity), ring(s.n_layer, 0);
  for (int64_t il = 0; il < s.n_layer && il < (int64_t)s.window.size(); ++il) {
    if (s.window[il] <= 0) continue;
    const int64_t r = s.window[il] + std::max<int64_t>(1, max_batch) - 1;
    if (r < capacity) rows[il] = ring[il] = r;
  }
  const size_t elt = kv_type_bytes(s.type);
  size_t total = 0;  // bytes
  for (int64_t il = 0; il < s.n_layer; ++il) total += rows[il] * (s.k_width + s.v_width) * elt;
  storage_.assign((total + sizeof(float) - 1) / sizeof(float), 0.0f);
  view_.capacity = capacity;
  view_.tokens.assign(static_cast<size_t>(capacity), 0);
  view_.layers.resize(s.n_layer);
  char* p = reinterpret_cast<char*>(storage_.data());
  for (int64_t il = 0; il < s.n_layer; ++il) {
    LayerKv& L = view_.layers[il];
    L.type = s.type;
    L.k = p;
    L.v = p + rows[il] * s.k_width * elt;
    L.k_width = s.k_width;
    L.v_width = s.v_width;
    L.ring = ring[il];
    p += rows[il] * (s.k_width + s.v_width) * elt;
  }
}

}  // namespace moecat
