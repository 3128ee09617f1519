// GGUF reader. Layout (v2/v3, little-endian):
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x { string key, u32 type, value },
//   n_tensors x { string name, u32 n_dims, u64 ne[n_dims] (innermost first), u32 ggml type,
//                 u64 offset (relative to the data section) },
//   zero padding to general.alignment, then the data section.
// Every count and length is checked against the bytes that remain before anything is
// allocated, so a hostile file can make us fail but never over-allocate or read out of bounds.
#include "io/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace moecat {

static_assert(std::endian::native == std::endian::little, "GGUF reader assumes a little-endian host");

namespace {

constexpr uint64_t kMaxKeyLen = 1u << 16;            // keys and tensor names are short identifiers
constexpr uint64_t kMaxArrayElems = uint64_t(1) << 28;  // a vocabulary is ~10^5..10^6 entries
constexpr size_t kMinKvBytes = 8 + 4 + 1;             // empty key, type, 1-byte value
constexpr size_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, 1 dim, type, offset

// Bytes a single element of `t` occupies at least (strings: their u64 length).
size_t min_elem_bytes(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    case GgufType::STRING: return 8;
    case GgufType::ARRAY: return 4 + 8;
  }
  return 1;
}

bool is_int_type(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
    case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64:
      return true;
    default: return false;
  }
}

// Bounds-checked little-endian reader over a byte buffer.
class Cursor {
 public:
  Cursor(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }

  Status need(size_t k, const char* what) const {
    if (k > remaining())
      return Errorf("truncated file: %s needs %zu bytes at offset %zu but only %zu remain", what, k,
                    pos_, remaining());
    return Status::Ok();
  }
  template <class T>
  Status read(T* out, const char* what) {
    MOECAT_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, d_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status read_string(std::string* out, const char* what, uint64_t max_len) {
    uint64_t len = 0;
    MOECAT_RETURN_IF_ERROR(read(&len, what));
    if (len > remaining())
      return Errorf("truncated file: %s of length %llu at offset %zu runs past the end of the file "
                    "(%zu bytes remain)",
                    what, (unsigned long long)len, pos_ - 8, remaining());
    if (len > max_len)
      return Errorf("%s length %llu at offset %zu is absurd (limit %llu)", what,
                    (unsigned long long)len, pos_ - 8, (unsigned long long)max_len);
    out->assign(reinterpret_cast<const char*>(d_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

// Reads one integer or bool of type t into *out (UINT64 above INT64_MAX is rejected).
Status read_int(Cursor& c, GgufType t, int64_t* out) {
  switch (t) {
    case GgufType::UINT8: { uint8_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "u8 value")); *out = v; break; }
    case GgufType::INT8: { int8_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "i8 value")); *out = v; break; }
    case GgufType::BOOL: { uint8_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "bool value")); *out = v != 0; break; }
    case GgufType::UINT16: { uint16_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "u16 value")); *out = v; break; }
    case GgufType::INT16: { int16_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "i16 value")); *out = v; break; }
    case GgufType::UINT32: { uint32_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "u32 value")); *out = v; break; }
    case GgufType::INT32: { int32_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "i32 value")); *out = v; break; }
    case GgufType::INT64: { int64_t v; MOECAT_RETURN_IF_ERROR(c.read(&v, "i64 value")); *out = v; break; }
    case GgufType::UINT64: {
      uint64_t v;
      MOECAT_RETURN_IF_ERROR(c.read(&v, "u64 value"));
      if (v > uint64_t(INT64_MAX))
        return Errorf("u64 value %llu does not fit in int64", (unsigned long long)v);
      *out = static_cast<int64_t>(v);
      break;
    }
    default: MOECAT_CHECK_MSG(false, "read_int on a non-integer type");
  }
  return Status::Ok();
}

Status read_float(Cursor& c, GgufType t, double* out) {
  if (t == GgufType::FLOAT32) {
    float v;
    MOECAT_RETURN_IF_ERROR(c.read(&v, "f32 value"));
    *out = v;
  } else {
    MOECAT_RETURN_IF_ERROR(c.read(out, "f64 value"));
  }
  return Status::Ok();
}

Status read_value(Cursor& c, uint32_t raw_type, GgufValue* v) {
  if (raw_type > uint32_t(GgufType::FLOAT64)) return Errorf("unknown type %u of value", raw_type);
  v->type = static_cast<GgufType>(raw_type);
  if (v->type == GgufType::STRING) return c.read_string(&v->str, "string value", UINT64_MAX);
  if (v->type == GgufType::FLOAT32 || v->type == GgufType::FLOAT64) return read_float(c, v->type, &v->f);
  if (v->type == GgufType::BOOL) {
    int64_t b = 0;
    MOECAT_RETURN_IF_ERROR(read_int(c, v->type, &b));
    v->b = b != 0;
    v->i = b;
    return Status::Ok();
  }
  if (v->type != GgufType::ARRAY) return read_int(c, v->type, &v->i);

  uint32_t et = 0;
  uint64_t n = 0;
  MOECAT_RETURN_IF_ERROR(c.read(&et, "array element type"));
  if (et == uint32_t(GgufType::ARRAY)) return Errorf("nested arrays are not supported");
  if (et > uint32_t(GgufType::FLOAT64)) return Errorf("unknown type %u of array elements", et);
  v->array_type = static_cast<GgufType>(et);
  MOECAT_RETURN_IF_ERROR(c.read(&n, "array length"));
  // Check the count before reserving: every element takes at least min_elem_bytes in the file.
  if (n > c.remaining() / min_elem_bytes(v->array_type))
    return Errorf("truncated file: array of %llu elements at offset %zu runs past the end of the "
                  "file (%zu bytes remain)",
                  (unsigned long long)n, c.pos() - 12, c.remaining());
  if (n > kMaxArrayElems)
    return Errorf("array length %llu is absurd (limit %llu)", (unsigned long long)n,
                  (unsigned long long)kMaxArrayElems);
  const GgufType t = v->array_type;
  if (t == GgufType::STRING) {
    v->arr_str.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      Status s = c.read_string(&v->arr_str[k], "string", UINT64_MAX);
      if (!s.ok()) return s.prefix(strfmt("array element %llu", (unsigned long long)k));
    }
  } else if (t == GgufType::FLOAT32 || t == GgufType::FLOAT64) {
    v->arr_float.resize(n);
    for (uint64_t k = 0; k < n; ++k) MOECAT_RETURN_IF_ERROR(read_float(c, t, &v->arr_float[k]));
  } else {
    v->arr_int.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      Status s = read_int(c, t, &v->arr_int[k]);
      if (!s.ok()) return s.prefix(strfmt("array element %llu", (unsigned long long)k));
    }
  }
  return Status::Ok();
}

// a + b and a * b without wrap-around; false on overflow.
bool add_ok(uint64_t a, uint64_t b, uint64_t* r) { return !__builtin_add_overflow(a, b, r); }

}  // namespace

size_t GgufValue::array_size() const {
  if (type != GgufType::ARRAY) return 0;
  if (array_type == GgufType::STRING) return arr_str.size();
  if (array_type == GgufType::FLOAT32 || array_type == GgufType::FLOAT64) return arr_float.size();
  return arr_int.size();
}

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  MOECAT_ASSIGN_OR_RETURN(auto map, MappedFile::Open(path));
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->map_ = map;
  f->path_ = path;
  Status s = f->parse(map->data(), map->size());
  if (!s.ok()) return s.prefix("'" + path + "'");
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::FromMemory(const uint8_t* data, size_t size,
                                                       const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  Status s = f->parse(data, size);
  if (!s.ok()) return s.prefix("'" + name + "'");
  return f;
}

Status GgufFile::parse(const uint8_t* data, size_t size) {
  size_ = size;
  Cursor c(data, size);
  char magic[4];
  MOECAT_RETURN_IF_ERROR(c.read(&magic, "magic"));
  if (std::memcmp(magic, "GGUF", 4) != 0) return Errorf("not a GGUF file (bad magic)");
  MOECAT_RETURN_IF_ERROR(c.read(&version_, "version"));
  if (version_ != 2 && version_ != 3)
    return Errorf("unsupported GGUF version %u (only 2 and 3 are supported)", version_);
  uint64_t n_tensors = 0, n_kv = 0;
  MOECAT_RETURN_IF_ERROR(c.read(&n_tensors, "tensor count"));
  MOECAT_RETURN_IF_ERROR(c.read(&n_kv, "metadata count"));
  // Each entry occupies a minimum number of bytes, so counts beyond that are impossible.
  const size_t rem = c.remaining();
  if (n_kv > rem / kMinKvBytes)
    return Errorf("absurd metadata count n_kv=%llu: cannot fit in the remaining %zu bytes",
                  (unsigned long long)n_kv, rem);
  if (n_tensors > rem / kMinTensorInfoBytes ||
      n_kv * kMinKvBytes + n_tensors * kMinTensorInfoBytes > rem)
    return Errorf("absurd tensor count n_tensors=%llu: cannot fit in the remaining %zu bytes",
                  (unsigned long long)n_tensors, rem);

  // ---- metadata ----
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    Status s = c.read_string(&key, "key", kMaxKeyLen);
    if (!s.ok()) return s.prefix(strfmt("metadata entry %llu", (unsigned long long)k));
    uint32_t t = 0;
    s = c.read(&t, "value type");
    if (s.ok()) {
      GgufValue v;
      s = read_value(c, t, &v);
      if (s.ok() && !kv_.emplace(key, std::move(v)).second) s = Errorf("duplicate key");
      if (s.ok()) kv_keys_.push_back(key);
    }
    if (!s.ok()) return s.prefix(strfmt("metadata key '%s'", key.c_str()));
  }

  alignment_ = 32;
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::UINT32)
      return Errorf("bad alignment: general.alignment must be of type u32");
    if (a->i == 0 || (a->i & (a->i - 1)) != 0)
      return Errorf("bad alignment %lld: general.alignment must be a power of two", (long long)a->i);
    alignment_ = static_cast<size_t>(a->i);
  }

  // ---- tensor infos ----
  struct Info { uint64_t offset; uint64_t nbytes; };
  std::vector<Info> infos;
  infos.reserve(n_tensors);  // bounded above by remaining bytes / kMinTensorInfoBytes
  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorView tv;
    Status s = c.read_string(&tv.name, "tensor name", kMaxKeyLen);
    if (!s.ok()) return s.prefix(strfmt("tensor info %llu", (unsigned long long)k));
    auto fail = [&](Status st) { return st.prefix(strfmt("tensor '%s'", tv.name.c_str())); };
    if (index_.count(tv.name)) return fail(Errorf("duplicate tensor name"));
    uint32_t n_dims = 0;
    if (!(s = c.read(&n_dims, "n_dims")).ok()) return fail(s);
    if (n_dims == 0 || n_dims > kMaxDims)
      return fail(Errorf("n_dims %u out of range (must be 1..%d)", n_dims, kMaxDims));
    uint64_t ne[kMaxDims];
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!(s = c.read(&ne[d], "dimension")).ok()) return fail(s);
      if (ne[d] == 0) return fail(Errorf("dimension %u is zero", d));
      if (ne[d] > uint64_t(INT64_MAX))
        return fail(Errorf("dimension %u is negative (%lld)", d, (long long)ne[d]));
    }
    uint32_t type = 0;
    if (!(s = c.read(&type, "tensor type")).ok()) return fail(s);
    uint64_t offset = 0;
    if (!(s = c.read(&offset, "tensor offset")).ok()) return fail(s);
    auto info = dtype_info(type);
    if (!info) return fail(Errorf("unknown type: ggml type id %u is not supported", type));
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d)
      if (__builtin_mul_overflow(numel, int64_t(ne[d]), &numel))
        return fail(Errorf("element count overflows int64"));
    if (int64_t(ne[0]) % info->block != 0)
      return fail(Errorf("row length %lld is not a multiple of the block size %lld of type %s",
                         (long long)ne[0], (long long)info->block, info->name));
    int64_t nbytes = 0;
    if (__builtin_mul_overflow(numel / info->block, info->block_bytes, &nbytes))
      return fail(Errorf("byte size overflows int64"));
    if (offset % alignment_ != 0)
      return fail(Errorf("data offset %llu is not a multiple of the alignment %zu",
                         (unsigned long long)offset, alignment_));
    tv.dtype = static_cast<DType>(type);
    tv.shape.ndim = static_cast<int>(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) tv.shape.d[n_dims - 1 - d] = int64_t(ne[d]);
    tv.nbytes = static_cast<size_t>(nbytes);
    index_.emplace(tv.name, tensors_.size());
    tensors_.push_back(std::move(tv));
    infos.push_back({offset, uint64_t(nbytes)});
  }

  // ---- data section ----
  uint64_t start = c.pos();
  uint64_t pad = (alignment_ - start % alignment_) % alignment_;
  data_offset_ = static_cast<size_t>(start + pad);
  if (n_tensors > 0 && data_offset_ > size)
    return Errorf("truncated file: padding before the data section (data starts at %zu, file has "
                  "%zu bytes)",
                  data_offset_, size);
  for (size_t k = 0; k < tensors_.size(); ++k) {
    uint64_t end = 0;
    if (!add_ok(data_offset_, infos[k].offset, &end) || !add_ok(end, infos[k].nbytes, &end) ||
        end > size)
      return Errorf("tensor '%s': data (offset %llu, %llu bytes) runs past the end of the file "
                    "(data section has %zu bytes)",
                    tensors_[k].name.c_str(), (unsigned long long)infos[k].offset,
                    (unsigned long long)infos[k].nbytes, size - data_offset_);
    tensors_[k].data = data + data_offset_ + infos[k].offset;
  }
  // Overlap: sort by offset, each tensor must end before the next begins.
  std::vector<size_t> order(tensors_.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return infos[a].offset < infos[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const Info& p = infos[order[k - 1]];
    if (p.offset + p.nbytes > infos[order[k]].offset)
      return Errorf("tensor '%s' data overlaps tensor '%s'", tensors_[order[k]].name.c_str(),
                    tensors_[order[k - 1]].name.c_str());
  }
  return Status::Ok();
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v || !is_int_type(v->type)) return std::nullopt;
  return v->i;
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == GgufType::FLOAT32 || v->type == GgufType::FLOAT64) return v->f;
  if (is_int_type(v->type)) return double(v->i);
  return std::nullopt;
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufType::BOOL) return std::nullopt;
  return v->b;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufType::STRING) return std::nullopt;
  return v->str;
}

const TensorView* GgufFile::tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace moecat
