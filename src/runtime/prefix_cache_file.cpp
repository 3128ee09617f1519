#include "runtime/prefix_cache_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/mmap_file.h"
#include "io/gguf.h"
#include "kernels/ops.h"

namespace moecat {

namespace {
constexpr char kMagic[8] = {'M', 'O', 'E', 'C', 'A', 'T', 'P', 'C'};
constexpr uint32_t kVersion = 1;

// 64-bit hash over a byte stream fed in arbitrary pieces (8-byte words: fast enough to check a
// multi-GiB cache file at start without dominating the load).
class Hasher {
 public:
  void add(const void* data, size_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    if (fill_ > 0) {  // complete the pending word first
      const size_t take = std::min(8 - fill_, n);
      std::memcpy(buf_ + fill_, p, take);
      fill_ += take, p += take, n -= take;
      if (fill_ < 8) return;
      word(buf_);
      fill_ = 0;
    }
    for (; n >= 8; n -= 8, p += 8) word(p);
    std::memcpy(buf_, p, n);
    fill_ = n;
  }
  template <typename T>
  void add_value(const T& v) { add(&v, sizeof v); }
  uint64_t digest() const {
    uint64_t h = h_ ^ (len_ * 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i < fill_; ++i) h = (h ^ buf_[i]) * 0x100000001B3ull;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
  }

 private:
  void word(const uint8_t* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h_ = (h_ ^ (w * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
    h_ ^= h_ >> 29;
    len_ += 8;
  }
  uint64_t h_ = 0xCBF29CE484222325ull, len_ = 0;
  uint8_t buf_[8] = {};
  size_t fill_ = 0;
};

// The model's identity: its configuration (GGUF header with metadata and tensor table, or the HF
// config) and, per tensor, name, type, shape and samples of its bytes. Reading the samples touches
// two pages per tensor, not the whole file, so start-up stays fast for big models; a file whose
// metadata, tensor table or any tensor's ends differ counts as another model.
uint64_t model_hash(const Model& model) {
  const ModelSource& src = model.weights().source();
  Hasher h;
  h.add_value(static_cast<int>(src.kind()));
  if (const GgufFile* g = src.gguf()) {
    const size_t n = g->data_offset();
    std::vector<char> head(n);
    const int fd = ::open(g->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      const ssize_t got = ::pread(fd, head.data(), n, 0);
      ::close(fd);
      if (got > 0) h.add(head.data(), static_cast<size_t>(got));
    }
    h.add_value(g->file_size());
  } else {
    const std::string cfg = src.hf_config().dump();
    h.add(cfg.data(), cfg.size());
  }
  for (const std::string& name : src.tensor_names()) {
    const TensorView* t = src.find(name);
    if (!t) continue;
    h.add(name.data(), name.size());
    h.add_value(static_cast<int>(t->dtype));
    for (int i = 0; i < t->shape.ndim; ++i) h.add_value(t->shape.d[i]);
    h.add_value(t->nbytes);
    const size_t k = std::min<size_t>(t->nbytes, 256);
    const uint8_t* p = static_cast<const uint8_t*>(t->data);
    if (p && k) {
      h.add(p, k);
      h.add(p + t->nbytes - k, k);
    }
  }
  return h.digest();
}

struct Header {
  uint64_t block_rows, n_layer, k_bytes, v_bytes, n_blocks;
};

// Bounds-checked reader over the mapped file.
struct Reader {
  const uint8_t* p;
  size_t left;
  bool take(void* dst, size_t n) {
    if (n > left) return false;
    std::memcpy(dst, p, n);
    p += n, left -= n;
    return true;
  }
};
}  // namespace

std::string prefix_cache_identity(const Model& model, const PagedKvCache& cache) {
  const KvShape& s = cache.shape();
  char buf[320];
  std::snprintf(buf, sizeof buf, "model=%016llx kv=%s layers=%lld k_width=%lld v_width=%lld block_rows=%lld isa=%s repack=%d",
                (unsigned long long)model_hash(model), kv_type_name(s.type), (long long)s.n_layer,
                (long long)s.k_width, (long long)s.v_width, (long long)cache.block_rows(),
                kernels::isa_name(kernels::active_isa()), kernels::repack_enabled() ? 1 : 0);
  return buf;
}

Result<int64_t> save_prefix_cache(const PagedKvCache& cache, const std::string& path, const std::string& identity) {
  const auto blocks = cache.cached_blocks();
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Errorf("cannot write the prefix cache to %s: %s", tmp.c_str(), std::strerror(errno));
  Hasher h;
  bool ok = true;
  auto put = [&](const void* data, size_t n) {
    h.add(data, n);
    ok = ok && std::fwrite(data, 1, n, f) == n;
  };
  put(kMagic, sizeof kMagic);
  put(&kVersion, sizeof kVersion);
  const uint32_t id_len = static_cast<uint32_t>(identity.size());
  put(&id_len, sizeof id_len);
  put(identity.data(), identity.size());
  const KvShape& s = cache.shape();
  const Header hd{(uint64_t)cache.block_rows(), (uint64_t)s.n_layer, cache.block_layer_bytes(false),
                  cache.block_layer_bytes(true), (uint64_t)blocks.size()};
  put(&hd, sizeof hd);
  for (const auto& b : blocks) {
    put(&b.parent, sizeof b.parent);
    const std::vector<int32_t>& t = cache.block_tokens(b.id);
    put(t.data(), t.size() * sizeof(int32_t));
    for (int64_t il = 0; il < s.n_layer; ++il) {
      put(cache.block_data(b.id, il, false), hd.k_bytes);
      put(cache.block_data(b.id, il, true), hd.v_bytes);
    }
  }
  const uint64_t sum = h.digest();
  ok = ok && std::fwrite(&sum, 1, sizeof sum, f) == sizeof sum;
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return Errorf("cannot write the prefix cache to %s: %s", path.c_str(), std::strerror(err));
  }
  return (int64_t)blocks.size();
}

Result<int64_t> load_prefix_cache(PagedKvCache& cache, const std::string& path, const std::string& identity,
                                  int64_t n_vocab) {
  MOECAT_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  const uint8_t* base = file->data();
  const size_t size = file->size();
  if (size < sizeof kMagic + 8 + sizeof(Header) + 8 || std::memcmp(base, kMagic, sizeof kMagic) != 0)
    return Errorf("%s is not a moecat prefix-cache file", path.c_str());
  Reader r{base + sizeof kMagic, size - sizeof kMagic - 8};  // the checksum is not payload
  uint32_t version = 0, id_len = 0;
  r.take(&version, 4);
  if (version != kVersion) return Errorf("%s has format version %u; this moecat writes %u", path.c_str(), version, kVersion);
  r.take(&id_len, 4);
  if (id_len > r.left) return Errorf("%s is truncated", path.c_str());
  const std::string id(reinterpret_cast<const char*>(r.p), id_len);
  r.p += id_len, r.left -= id_len;
  if (id != identity)
    return Errorf("%s was written for another model, cache type or kernel set (file: %s; now: %s)", path.c_str(),
                  id.c_str(), identity.c_str());
  Header hd{};
  if (!r.take(&hd, sizeof hd)) return Errorf("%s is truncated", path.c_str());
  if (hd.block_rows != (uint64_t)cache.block_rows() || hd.n_layer != (uint64_t)cache.shape().n_layer ||
      hd.k_bytes != cache.block_layer_bytes(false) || hd.v_bytes != cache.block_layer_bytes(true))
    return Errorf("%s has another KV geometry than this server's cache", path.c_str());
  const uint64_t per_block = 8 + hd.block_rows * 4 + hd.n_layer * (hd.k_bytes + hd.v_bytes);
  if (hd.n_blocks > r.left / per_block || hd.n_blocks * per_block != r.left)
    return Errorf("%s is truncated or has trailing bytes (%llu blocks declared)", path.c_str(),
                  (unsigned long long)hd.n_blocks);
  Hasher h;
  h.add(base, size - 8);
  uint64_t sum = 0;
  std::memcpy(&sum, base + size - 8, 8);
  if (h.digest() != sum) return Errorf("%s fails its checksum (damaged or partly written)", path.c_str());

  // Structure before anything touches the pool: parents precede children, token ids in range.
  const uint8_t* first = r.p;
  for (uint64_t i = 0; i < hd.n_blocks; ++i) {
    const uint8_t* rec = first + i * per_block;
    int64_t parent;
    std::memcpy(&parent, rec, 8);
    if (parent < -1 || parent >= (int64_t)i) return Errorf("%s: block %llu has an invalid parent", path.c_str(), (unsigned long long)i);
    for (uint64_t j = 0; j < hd.block_rows; ++j) {
      int32_t t;
      std::memcpy(&t, rec + 8 + j * 4, 4);
      if (t < 0 || t >= n_vocab) return Errorf("%s: block %llu holds token id %d outside the vocabulary", path.c_str(), (unsigned long long)i, t);
    }
  }
  // Blocks are taken while the pool has free ones; a block whose parent did not make it in (no
  // room, or the same content twice) is skipped with its descendants.
  std::vector<int32_t> id_of(hd.n_blocks, -1);
  std::vector<int32_t> tokens(hd.block_rows);
  int64_t loaded = 0;
  for (uint64_t i = 0; i < hd.n_blocks; ++i) {
    const uint8_t* rec = first + i * per_block;
    int64_t parent;
    std::memcpy(&parent, rec, 8);
    if (parent >= 0 && id_of[parent] < 0) continue;
    std::memcpy(tokens.data(), rec + 8, hd.block_rows * 4);
    const int32_t b = cache.add_cached_block(parent >= 0 ? id_of[parent] : -1, tokens.data());
    if (b < 0) continue;
    id_of[i] = b;
    const uint8_t* data = rec + 8 + hd.block_rows * 4;
    for (uint64_t il = 0; il < hd.n_layer; ++il) {
      std::memcpy(cache.block_data(b, (int64_t)il, false), data, hd.k_bytes);
      data += hd.k_bytes;
      std::memcpy(cache.block_data(b, (int64_t)il, true), data, hd.v_bytes);
      data += hd.v_bytes;
    }
    ++loaded;
  }
  return loaded;
}

}  // namespace moecat
