// Hyperparameters and tensor names that Llama-style architectures share (Llama, Mixtral,
// Qwen3-MoE): read once here so each arch file only adds what is its own.
#pragma once
#include <vector>

#include "base/status.h"
#include "io/gguf.h"
#include "io/model_source.h"
#include "model/config.h"
#include "model/meta.h"
#include "model/weights.h"

namespace moecat {

// general.architecture of a GGUF, or "" for HF folders.
std::string gguf_arch_of(const ModelSource& src);
// HF config "architectures"[0] (or "" if absent / GGUF).
std::string hf_arch_of(const ModelSource& src);

// n_vocab from the embedding tensor, the usual attention/norm/rope keys.
Status read_llama_like_gguf(const ModelSource& src, const std::string& arch, ModelConfig& c);
Status read_llama_like_hf(const ModelSource& src, ModelConfig& c);
// The config's rope_scaling / rope_parameters (llama3, linear, yarn with HF's mscale rules);
// rope.theta should already hold the top-level rope_theta (rope_parameters may override it).
Status read_hf_rope(const HfMeta& m, const std::string& file, int64_t n_ctx_train, RopeConfig& rope);

// Embedding, output, norms, attention, dense MLP names (HF Llama layout).
std::vector<NamePair> llama_like_names();

// Keys llama.cpp's converter writes for every Llama-style arch ("<arch>.context_length", ...).
void write_llama_like_meta(const ModelConfig& c, GgufWriter& w);

}  // namespace moecat
