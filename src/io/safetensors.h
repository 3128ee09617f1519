// safetensors reader over mmap: 8-byte little-endian header length, JSON header
// {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__": {...}}, then the data.
// Validates header size, JSON, dtypes, shapes (overflow), offsets within the file, and that
// each tensor's byte size equals numel * element size.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/mmap_file.h"
#include "base/status.h"
#include "tensor/tensor.h"

namespace moecat {

class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  static Result<std::unique_ptr<SafetensorsFile>> FromMemory(const uint8_t* data, size_t size,
                                                             const std::string& name);
  const std::string& path() const { return path_; }
  // dtypes F32, F16, BF16 map to DType; I32/I8/U8 to I32/I8/I8 (raw); others are an error.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* tensor(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  Status parse(const uint8_t* data, size_t size);
  std::shared_ptr<MappedFile> map_;
  std::string path_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Write a safetensors file (tests and tools make HF-folder twins with it).
struct SafetensorsEntry { std::string name; DType dtype; Shape shape; const void* data; size_t nbytes; };
Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors);

}  // namespace moecat
