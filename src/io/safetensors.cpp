// safetensors reader/writer. File: u64 LE header length N, N bytes of JSON, then the data
// section; data_offsets are relative to byte 8 + N. Everything in the header is validated
// before a TensorView is built, so views never point outside the file.
#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

namespace moecat {

static_assert(std::endian::native == std::endian::little, "safetensors reader assumes little-endian");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // real headers are a few MB at most
constexpr int kMaxJsonDepth = 16;                   // real headers nest 3 deep

struct StDType { const char* name; DType dtype; int64_t elem; };
constexpr StDType kSupported[] = {
    {"F32", DType::F32, 4}, {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
    {"I8", DType::I8, 1},   {"U8", DType::I8, 1},   {"I32", DType::I32, 4},
    {"F8_E4M3", DType::F8_E4M3, 1},  // FP8 checkpoints: scaled at load (model/weights.cpp)
};
// Valid safetensors dtypes moecat cannot use (yet): reported as "unsupported", not "unknown".
constexpr const char* kUnsupported[] = {"F64", "I64", "U64", "U32", "I16", "U16", "BOOL",
                                        "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2",
                                        "F4", "C64"};

// Nesting depth of a JSON text (outside strings). Checked before parsing so that a hostile
// "[[[[..." header cannot make the parser build millions of nested values.
int json_depth(const char* s, size_t n) {
  int depth = 0, max_depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < n; ++i) {
    char ch = s[i];
    if (in_str) {
      if (ch == '\\') ++i;
      else if (ch == '"') in_str = false;
    } else if (ch == '"') {
      in_str = true;
    } else if (ch == '[' || ch == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > kMaxJsonDepth) return max_depth;
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return max_depth;
}

// Reads a JSON integer that must be >= 0 and fit in int64.
Status json_index(const nlohmann::json& j, const char* what, int64_t* out) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > uint64_t(INT64_MAX)) return Errorf("%s %llu overflows int64", what, (unsigned long long)v);
    *out = int64_t(v);
    return Status::Ok();
  }
  if (j.is_number_integer()) return Errorf("%s %lld is negative", what, (long long)j.get<int64_t>());
  if (j.is_number_float()) return Errorf("%s %s is a non-integer", what, j.dump().c_str());
  return Errorf("%s must be an integer, got %s", what, j.type_name());
}

}  // namespace

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  MOECAT_ASSIGN_OR_RETURN(auto map, MappedFile::Open(path));
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->map_ = map;
  f->path_ = path;
  Status s = f->parse(map->data(), map->size());
  if (!s.ok()) return s.prefix("'" + path + "'");
  return f;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromMemory(const uint8_t* data,
                                                                     size_t size,
                                                                     const std::string& name) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = name;
  Status s = f->parse(data, size);
  if (!s.ok()) return s.prefix("'" + name + "'");
  return f;
}

Status SafetensorsFile::parse(const uint8_t* data, size_t size) {
  if (size < 8) return Errorf("truncated file: %zu bytes, the header length alone needs 8", size);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > kMaxHeaderBytes)
    return Errorf("header length %llu is absurd (too large, limit %llu)", (unsigned long long)n,
                  (unsigned long long)kMaxHeaderBytes);
  if (n > size - 8)
    return Errorf("truncated file: header length %llu runs past the end of the file (%zu bytes)",
                  (unsigned long long)n, size);
  const char* text = reinterpret_cast<const char*>(data + 8);
  if (json_depth(text, n) > kMaxJsonDepth)
    return Errorf("header JSON is nested too deeply (more than %d levels)", kMaxJsonDepth);

  // nlohmann keeps the last of duplicate keys silently; the parse callback sees every key, so
  // track the keys of each open object to detect duplicates.
  std::vector<std::set<std::string>> open_keys;
  std::string duplicate;
  auto cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) open_keys.emplace_back();
    else if (ev == E::object_end && !open_keys.empty()) open_keys.pop_back();
    else if (ev == E::key && !open_keys.empty() && parsed.is_string() &&
             !open_keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = strfmt(open_keys.size() == 1 ? "duplicate tensor name '%s'" : "duplicate key '%s'",
                         parsed.get<std::string>().c_str());
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, text + n, cb);
  } catch (const nlohmann::json::exception& e) {
    return Errorf("header is not valid JSON: %s", e.what());
  }
  if (!duplicate.empty()) return Errorf("%s in header", duplicate.c_str());
  if (!header.is_object()) return Errorf("header must be a JSON object, got %s", header.type_name());

  const uint64_t data_size = size - 8 - n;
  const uint8_t* base = data + 8 + n;
  struct Range { int64_t begin, end; };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) return Errorf("__metadata__ must be an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string())
          return Errorf("__metadata__ value of '%s' must be a string", m.key().c_str());
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto fail = [&](Status s) { return s.prefix(strfmt("tensor '%s'", name.c_str())); };
    if (!e.is_object()) return fail(Errorf("entry must be an object"));
    if (!e.contains("dtype") || !e["dtype"].is_string()) return fail(Errorf("missing string 'dtype'"));
    if (!e.contains("shape") || !e["shape"].is_array()) return fail(Errorf("missing array 'shape'"));
    if (!e.contains("data_offsets") || !e["data_offsets"].is_array() || e["data_offsets"].size() != 2)
      return fail(Errorf("'data_offsets' must be an array [begin, end]"));

    const std::string dt = e["dtype"].get<std::string>();
    const StDType* sd = nullptr;
    for (const auto& s : kSupported) if (dt == s.name) sd = &s;
    if (!sd) {
      for (const char* u : kUnsupported)
        if (dt == u) return Errorf("unsupported dtype %s in tensor '%s'", dt.c_str(), name.c_str());
      return Errorf("unknown dtype '%s' in tensor '%s'", dt.c_str(), name.c_str());
    }
    const auto& sh = e["shape"];
    if (sh.size() > size_t(kMaxDims))
      return fail(Errorf("has %zu dimensions, at most %d are supported", sh.size(), kMaxDims));
    TensorView tv;
    tv.name = name;
    tv.dtype = sd->dtype;
    tv.shape.ndim = int(sh.size());  // 0 = scalar
    int64_t numel = 1;
    for (size_t d = 0; d < sh.size(); ++d) {
      Status s = json_index(sh[d], "shape entry", &tv.shape.d[d]);
      if (!s.ok()) return fail(s);
      if (__builtin_mul_overflow(numel, tv.shape.d[d], &numel))
        return fail(Errorf("element count of shape overflows int64"));
    }
    int64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, sd->elem, &nbytes)) return fail(Errorf("byte size overflows int64"));
    Range r{};
    Status s = json_index(e["data_offsets"][0], "data offset begin", &r.begin);
    if (s.ok()) s = json_index(e["data_offsets"][1], "data offset end", &r.end);
    if (!s.ok()) return fail(s);
    if (r.end < r.begin)
      return fail(Errorf("data_offsets end < begin (%lld < %lld)", (long long)r.end, (long long)r.begin));
    if (uint64_t(r.end) > data_size)
      return fail(Errorf("data_offsets [%lld, %lld] run past the end of the data section (%llu bytes)",
                         (long long)r.begin, (long long)r.end, (unsigned long long)data_size));
    if (r.end - r.begin != nbytes)
      return fail(Errorf("size mismatch: data_offsets span %lld bytes but shape %s of %s needs %lld",
                         (long long)(r.end - r.begin), tv.shape.str().c_str(), sd->name,
                         (long long)nbytes));
    tv.data = base + r.begin;
    tv.nbytes = size_t(nbytes);
    tensors_.push_back(std::move(tv));
    ranges.push_back(r);
  }

  // File order = data order. Like the safetensors library's own reader, the tensors must tile
  // the data section exactly: each one starts where the previous one (in offset order) ends, the
  // first at 0 and the last at the end of the file — no overlap, no hole, nothing left over.
  std::vector<size_t> order(tensors_.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (ranges[a].begin != ranges[b].begin) return ranges[a].begin < ranges[b].begin;
    if (ranges[a].end != ranges[b].end) return ranges[a].end < ranges[b].end;
    return tensors_[a].name < tensors_[b].name;
  });
  int64_t covered = 0;  // data bytes [0, covered) belong to the tensors seen so far
  const TensorView* prev = nullptr;
  for (size_t k : order) {
    if (ranges[k].begin < covered)
      return Errorf("tensor '%s' data overlaps tensor '%s'", tensors_[k].name.c_str(), prev->name.c_str());
    if (ranges[k].begin > covered)
      return Errorf("tensor '%s' starts at data offset %lld but the data before it ends at %lld: the file has a "
                    "hole of %lld bytes no tensor covers",
                    tensors_[k].name.c_str(), (long long)ranges[k].begin, (long long)covered,
                    (long long)(ranges[k].begin - covered));
    covered = ranges[k].end;
    prev = &tensors_[k];
  }
  if (uint64_t(covered) != data_size)
    return Errorf("the tensors cover %lld of the %llu data bytes: %llu bytes at the end belong to no tensor",
                  (long long)covered, (unsigned long long)data_size, (unsigned long long)(data_size - covered));
  std::vector<TensorView> sorted;
  sorted.reserve(order.size());
  for (size_t k : order) sorted.push_back(std::move(tensors_[k]));
  tensors_ = std::move(sorted);
  for (size_t k = 0; k < tensors_.size(); ++k) index_[tensors_[k].name] = k;
  return Status::Ok();
}

const TensorView* SafetensorsFile::tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const char* name = nullptr;
    int64_t elem = 0;
    for (const auto& s : kSupported)
      if (s.dtype == t.dtype && !name && std::strcmp(s.name, "U8") != 0) { name = s.name; elem = s.elem; }
    if (!name) return Errorf("writing '%s': tensor '%s' has dtype %s, not writable as safetensors",
                             path.c_str(), t.name.c_str(), dtype_name(t.dtype));
    if (!names.insert(t.name).second || t.name == "__metadata__")
      return Errorf("writing '%s': duplicate or reserved tensor name '%s'", path.c_str(), t.name.c_str());
    if (uint64_t(t.shape.numel() * elem) != t.nbytes)
      return Errorf("writing '%s': tensor '%s' has %zu bytes, shape %s needs %lld", path.c_str(),
                    t.name.c_str(), t.nbytes, t.shape.str().c_str(), (long long)(t.shape.numel() * elem));
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int d = 0; d < t.shape.ndim; ++d) shape.push_back(t.shape.d[d]);
    header[t.name] = {{"dtype", name}, {"shape", shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // data section starts 8-byte aligned

  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Errorf("cannot create '%s': %s", tmp.c_str(), strerror(errno));
  uint64_t n = text.size();
  bool ok = std::fwrite(&n, 8, 1, f) == 1 && std::fwrite(text.data(), 1, n, f) == n;
  for (const auto& t : tensors)
    ok = ok && (t.nbytes == 0 || std::fwrite(t.data, 1, t.nbytes, f) == t.nbytes);
  ok = std::fflush(f) == 0 && ok;
  int err = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    std::remove(tmp.c_str());
    return Errorf("writing '%s' failed: %s", path.c_str(), strerror(err));
  }
  return Status::Ok();
}

}  // namespace moecat
