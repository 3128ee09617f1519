// LayerKv writes: the one place cache rows are converted to the cache's element type.
#include "kernels/ops.h"
#include "model/model.h"

namespace moecat {

const char* kv_type_name(KvType t) { return t == KvType::kF16 ? "f16" : "f32"; }
size_t kv_type_bytes(KvType t) { return t == KvType::kF16 ? 2 : 4; }

namespace {
void store(void* base, KvType type, int64_t width, int64_t row, int64_t col, const float* src, int64_t n) {
  MOECAT_CHECK(col >= 0 && n >= 0 && col + n <= width);
  char* dst = static_cast<char*>(base) + (row * width + col) * static_cast<int64_t>(kv_type_bytes(type));
  kernels::convert_row(src, type == KvType::kF16 ? DType::F16 : DType::F32, dst, n);
}
}  // namespace

void LayerKv::store_k(int64_t pos, int64_t col, const float* src, int64_t n) const {
  store(k, type, k_width, row(pos), col, src, n);
}
void LayerKv::store_v(int64_t pos, int64_t col, const float* src, int64_t n) const {
  store(v, type, v_width, row(pos), col, src, n);
}

}  // namespace moecat
