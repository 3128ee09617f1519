// GGUF v3 writer. Header (metadata + tensor infos) is built in memory; tensor data is produced
// one tensor at a time by its Fill callback, so at most one tensor is held in memory. The file
// is written to "<path>.tmp" and renamed into place only when everything succeeded.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "io/gguf.h"

namespace moecat {

namespace {

template <class T>
void put(std::string& b, T v) {
  b.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void put_str(std::string& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b.append(s);
}

// Integer, bool or float scalar of type t (shared by scalars and array elements).
Status put_scalar(std::string& b, GgufType t, int64_t i, double f) {
  switch (t) {
    case GgufType::UINT8: put<uint8_t>(b, uint8_t(i)); break;
    case GgufType::INT8: put<int8_t>(b, int8_t(i)); break;
    case GgufType::BOOL: put<uint8_t>(b, i != 0); break;
    case GgufType::UINT16: put<uint16_t>(b, uint16_t(i)); break;
    case GgufType::INT16: put<int16_t>(b, int16_t(i)); break;
    case GgufType::UINT32: put<uint32_t>(b, uint32_t(i)); break;
    case GgufType::INT32: put<int32_t>(b, int32_t(i)); break;
    case GgufType::UINT64: put<uint64_t>(b, uint64_t(i)); break;
    case GgufType::INT64: put<int64_t>(b, i); break;
    case GgufType::FLOAT32: put<float>(b, float(f)); break;
    case GgufType::FLOAT64: put<double>(b, f); break;
    default: return Errorf("value type %u cannot be written as a scalar", unsigned(t));
  }
  return Status::Ok();
}

Status put_value(std::string& b, const GgufValue& v) {
  put<uint32_t>(b, uint32_t(v.type));
  if (v.type == GgufType::STRING) {
    put_str(b, v.str);
    return Status::Ok();
  }
  if (v.type == GgufType::BOOL) return put_scalar(b, v.type, v.b, 0);
  if (v.type != GgufType::ARRAY) return put_scalar(b, v.type, v.i, v.f);
  const GgufType t = v.array_type;
  if (t == GgufType::ARRAY) return Errorf("nested arrays are not supported");
  if (uint32_t(t) > uint32_t(GgufType::FLOAT64)) return Errorf("unknown array type %u", unsigned(t));
  put<uint32_t>(b, uint32_t(t));
  put<uint64_t>(b, v.array_size());
  if (t == GgufType::STRING) {
    for (const auto& s : v.arr_str) put_str(b, s);
  } else if (t == GgufType::FLOAT32 || t == GgufType::FLOAT64) {
    for (double f : v.arr_float) MOECAT_RETURN_IF_ERROR(put_scalar(b, t, 0, f));
  } else {
    for (int64_t i : v.arr_int) MOECAT_RETURN_IF_ERROR(put_scalar(b, t, i, 0));
  }
  return Status::Ok();
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void GgufWriter::set_value(const std::string& key, const GgufValue& v) {
  for (auto& kv : kv_)
    if (kv.first == key) {  // keep the original position, replace the value
      kv.second = v;
      return;
    }
  kv_.emplace_back(key, v);
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) {
  GgufValue g; g.type = GgufType::UINT32; g.i = v; set_value(key, g);
}
void GgufWriter::set_i32(const std::string& key, int32_t v) {
  GgufValue g; g.type = GgufType::INT32; g.i = v; set_value(key, g);
}
void GgufWriter::set_u64(const std::string& key, uint64_t v) {
  GgufValue g; g.type = GgufType::UINT64; g.i = static_cast<int64_t>(v); set_value(key, g);
}
void GgufWriter::set_f32(const std::string& key, float v) {
  GgufValue g; g.type = GgufType::FLOAT32; g.f = v; set_value(key, g);
}
void GgufWriter::set_bool(const std::string& key, bool v) {
  GgufValue g; g.type = GgufType::BOOL; g.b = v; g.i = v; set_value(key, g);
}
void GgufWriter::set_str(const std::string& key, const std::string& v) {
  GgufValue g; g.type = GgufType::STRING; g.str = v; set_value(key, g);
}
void GgufWriter::set_arr_str(const std::string& key, const std::vector<std::string>& v) {
  GgufValue g; g.type = GgufType::ARRAY; g.array_type = GgufType::STRING; g.arr_str = v;
  set_value(key, g);
}
void GgufWriter::set_arr_i32(const std::string& key, const std::vector<int32_t>& v) {
  GgufValue g; g.type = GgufType::ARRAY; g.array_type = GgufType::INT32;
  g.arr_int.assign(v.begin(), v.end());
  set_value(key, g);
}
void GgufWriter::set_arr_f32(const std::string& key, const std::vector<float>& v) {
  GgufValue g; g.type = GgufType::ARRAY; g.array_type = GgufType::FLOAT32;
  g.arr_float.assign(v.begin(), v.end());
  set_value(key, g);
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, const Shape& shape, Fill fill) {
  tensors_.push_back({name, dtype, shape, std::move(fill)});
}

Status GgufWriter::write(const std::string& path,
                         const std::function<void(size_t, size_t)>& progress) const {
  uint64_t alignment = 32;
  for (const auto& [key, v] : kv_)
    if (key == "general.alignment") {
      if (v.type != GgufType::UINT32 || v.i <= 0 || (v.i & (v.i - 1)) != 0)
        return Errorf("writing '%s': bad alignment: general.alignment must be a u32 power of two",
                      path.c_str());
      alignment = uint64_t(v.i);
    }

  std::string head;  // magic, counts, metadata, tensor infos, padding
  head.append("GGUF", 4);
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_.size());
  for (const auto& [key, v] : kv_) {
    put_str(head, key);
    Status s = put_value(head, v);
    if (!s.ok()) return s.prefix(strfmt("writing '%s': key '%s'", path.c_str(), key.c_str()));
  }
  std::set<std::string> names;
  std::vector<uint64_t> sizes;
  uint64_t offset = 0, total = 0;
  for (const auto& t : tensors_) {
    auto fail = [&](const char* why) {
      return Errorf("writing '%s': tensor '%s' %s", path.c_str(), t.name.c_str(), why);
    };
    if (!names.insert(t.name).second) return fail("is a duplicate name");
    if (t.shape.ndim < 1 || t.shape.ndim > kMaxDims) return fail("must have 1..4 dimensions");
    for (int d = 0; d < t.shape.ndim; ++d)
      if (t.shape.d[d] <= 0) return fail("has a dimension <= 0");
    auto info = dtype_info(uint32_t(t.dtype));
    if (!info) return fail("has an unknown dtype");
    if (t.shape.d[t.shape.ndim - 1] % info->block != 0)
      return fail("row length is not a multiple of the block size");
    uint64_t nbytes = uint64_t(t.shape.numel() / info->block * info->block_bytes);
    put_str(head, t.name);
    put<uint32_t>(head, uint32_t(t.shape.ndim));
    for (int d = t.shape.ndim - 1; d >= 0; --d) put<uint64_t>(head, uint64_t(t.shape.d[d]));
    put<uint32_t>(head, uint32_t(t.dtype));
    put<uint64_t>(head, offset);
    sizes.push_back(nbytes);
    total += nbytes;
    offset = align_up(offset + nbytes, alignment);
  }
  head.resize(align_up(head.size(), alignment), '\0');

  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Errorf("cannot create '%s': %s", tmp.c_str(), strerror(errno));
  auto io_fail = [&](const char* what) {
    Status s = Errorf("writing '%s': %s failed: %s", tmp.c_str(), what, strerror(errno));
    std::fclose(f);
    std::remove(tmp.c_str());
    return s;
  };
  if (std::fwrite(head.data(), 1, head.size(), f) != head.size()) return io_fail("header write");
  std::vector<uint8_t> buf;  // [nbytes] one tensor at a time, padded to the alignment
  size_t done = 0;
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const uint64_t padded = align_up(sizes[k], alignment);
    buf.assign(padded, 0);
    if (tensors_[k].fill) tensors_[k].fill(buf.data());
    if (std::fwrite(buf.data(), 1, padded, f) != padded) return io_fail("tensor data write");
    done += sizes[k];
    if (progress) progress(done, total);
  }
  if (std::fflush(f) != 0) return io_fail("flush");
  if (std::fclose(f) != 0) {
    Status s = Errorf("writing '%s': close failed: %s", tmp.c_str(), strerror(errno));
    std::remove(tmp.c_str());
    return s;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Errorf("cannot rename '%s' to '%s': %s", tmp.c_str(), path.c_str(), strerror(errno));
    std::remove(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

}  // namespace moecat
