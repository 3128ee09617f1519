#include "runtime/kv_cache.h"

namespace moecat {

KvCache::KvCache(const KvShape& s, int64_t capacity) {
  const int64_t per_layer = capacity * (s.k_width + s.v_width);
  storage_.assign(static_cast<size_t>(per_layer * s.n_layer), 0.0f);
  view_.capacity = capacity;
  view_.tokens.assign(static_cast<size_t>(capacity), 0);
  view_.layers.resize(s.n_layer);
  for (int64_t il = 0; il < s.n_layer; ++il) {
    LayerKv& L = view_.layers[il];
    L.k = storage_.data() + il * per_layer;
    L.v = L.k + capacity * s.k_width;
    L.k_width = s.k_width;
    L.v_width = s.v_width;
  }
}

}  // namespace moecat
