// The architecture registry: the only place that chooses code by architecture. Each
// src/model/arch/<name>.cpp defines one ArchEntry; load_model() asks each whether it accepts
// the file and lets the first that does build the Model.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/gguf.h"
#include "io/model_source.h"
#include "model/model.h"

namespace moecat {

struct ArchEntry {
  const char* name;  // "llama", "mixtral", "qwen3moe"
  // GGUF general.architecture / HF config "architectures" this entry handles.
  bool (*accepts)(const ModelSource& src);
  Result<std::unique_ptr<Model>> (*load)(std::unique_ptr<ModelSource> src);
  // Hyperparameter keys as llama.cpp's converter writes them (general.architecture included).
  void (*write_gguf_meta)(const ModelConfig& c, GgufWriter& w);
};

const std::vector<const ArchEntry*>& arch_registry();
const ArchEntry* find_arch(const std::string& name);

// Opens a .gguf or HF folder and loads the model it holds.
Result<std::unique_ptr<Model>> load_model(const std::string& path);

}  // namespace moecat
