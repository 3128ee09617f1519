// GGUF v3 (llama.cpp's model file format): reader over mmap (tensor data is not copied) and
// writer. Every count, length, offset and size read from the file is validated against the file
// size before use; a malformed file yields a Status naming the problem, never a crash.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mmap_file.h"
#include "base/status.h"
#include "tensor/tensor.h"

namespace moecat {

enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

// One metadata value. Scalars live in i/u/f/b/str by kind; arrays in the arr_* vector matching
// array_type (integer and bool arrays in arr_int, float arrays in arr_float, strings in arr_str).
struct GgufValue {
  GgufType type = GgufType::UINT32;
  GgufType array_type = GgufType::UINT32;  // element type when type == ARRAY
  int64_t i = 0;      // all signed/unsigned integer scalars (UINT64 above INT64_MAX is rejected)
  double f = 0;       // FLOAT32 / FLOAT64
  bool b = false;
  std::string str;
  std::vector<int64_t> arr_int;
  std::vector<double> arr_float;
  std::vector<std::string> arr_str;
  size_t array_size() const;
};

class GgufFile {
 public:
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parse a buffer that the caller keeps alive (fuzzing, tests). `name` is used in messages.
  static Result<std::unique_ptr<GgufFile>> FromMemory(const uint8_t* data, size_t size,
                                                      const std::string& name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }
  size_t file_size() const { return size_; }

  const std::map<std::string, GgufValue>& kv() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  // Metadata keys in file order (kv() is sorted by key); used to rewrite a file faithfully.
  const std::vector<std::string>& kv_keys() const { return kv_keys_; }
  // Typed look-ups: nullopt when missing or of a different kind (any integer type converts to
  // int64, FLOAT32/FLOAT64 to double; get_float also accepts integers).
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;
  std::optional<std::string> get_string(const std::string& key) const;

  // Tensors in file order. TensorView::shape is outermost-first (GGUF ne[] reversed).
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  Status parse(const uint8_t* data, size_t size);
  std::shared_ptr<MappedFile> map_;
  std::string path_;
  size_t size_ = 0;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<std::string> kv_keys_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
};

// Writes GGUF v3. Metadata is written in insertion order; tensor data is produced on demand by a
// callback at write time so that converting a large model never holds it all in memory.
class GgufWriter {
 public:
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_str(const std::string& key, const std::string& v);
  void set_arr_str(const std::string& key, const std::vector<std::string>& v);
  void set_arr_i32(const std::string& key, const std::vector<int32_t>& v);
  void set_arr_f32(const std::string& key, const std::vector<float>& v);
  // Copy every key of another file (used when rewriting a GGUF).
  void set_value(const std::string& key, const GgufValue& v);

  // `fill(dst)` must write exactly dtype_row_bytes(dtype, shape.cols) * rows bytes into dst.
  using Fill = std::function<void(uint8_t* dst)>;
  void add_tensor(const std::string& name, DType dtype, const Shape& shape, Fill fill);

  // progress(done_bytes, total_bytes) is called as tensor data is written.
  Status write(const std::string& path,
               const std::function<void(size_t, size_t)>& progress = nullptr) const;

 private:
  struct Tensor { std::string name; DType dtype; Shape shape; Fill fill; };
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace moecat
