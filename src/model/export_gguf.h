// `moecat convert`: write a loaded model (HF folder or GGUF) as a GGUF that llama.cpp loads:
// GGUF tensor names, llama.cpp's metadata keys, q/k rows permuted where the arch's GGUF form
// expects it, experts stacked, and weights converted to the requested type.
#pragma once
#include <functional>
#include <string>

#include "base/status.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace moecat {

Status export_gguf(const Model& model, const Tokenizer& tok, DType type, const std::string& out_path,
                   const std::function<void(size_t, size_t)>& progress);

}  // namespace moecat
