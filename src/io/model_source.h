// ModelSource: one model on disk, either a GGUF file or a Hugging Face folder
// (config.json + model.safetensors | model-0000N-of-0000M.safetensors + index, tokenizer.json,
// tokenizer_config.json). Tensors are mmapped in place. Names are the file's own (GGUF names for
// GGUF, HF names for folders); the model layer maps them.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "tensor/tensor.h"

namespace moecat {

class ModelSource {
 public:
  enum class Kind { kGguf, kHfFolder };
  // Opens a .gguf file or a folder; progress is shown by the caller.
  static Result<std::unique_ptr<ModelSource>> Open(const std::string& path);

  Kind kind() const { return kind_; }
  const std::string& path() const { return path_; }
  const GgufFile* gguf() const { return gguf_.get(); }           // kGguf only
  const nlohmann::json& hf_config() const { return hf_config_; }  // kHfFolder only
  // tokenizer.json / tokenizer_config.json paths in the folder ("" when absent).
  const std::string& hf_tokenizer_json() const { return tok_json_; }
  const std::string& hf_tokenizer_config() const { return tok_config_; }

  const TensorView* find(const std::string& name) const;
  std::vector<std::string> tensor_names() const;  // file order
  std::string file_of(const std::string& name) const;  // which file holds it (for messages)
  size_t total_bytes() const;  // sum of tensor bytes

  // The checked accessor: the tensor must exist, have exactly `shape`, and one of `allowed`
  // dtypes; otherwise an error naming tensor, file, expected and actual.
  Result<TensorView> get(const std::string& name, const Shape& shape,
                         std::initializer_list<DType> allowed) const;

 private:
  Kind kind_ = Kind::kGguf;
  std::string path_;
  std::unique_ptr<GgufFile> gguf_;
  nlohmann::json hf_config_;
  std::string tok_json_, tok_config_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, std::pair<const TensorView*, size_t>> index_;  // name -> (view, shard)
  std::vector<std::string> order_;
};

}  // namespace moecat
