// Llama (dense, GQA): HF LlamaForCausalLM, GGUF arch `llama` without experts.
#include "model/arch/common.h"
#include "model/decoder.h"
#include "model/registry.h"

namespace moecat {

namespace {

bool accepts(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf)
    return gguf_arch_of(src) == "llama" && src.gguf()->get_int("llama.expert_count").value_or(0) == 0;
  return hf_arch_of(src) == "LlamaForCausalLM";
}

Result<std::unique_ptr<Model>> load(std::unique_ptr<ModelSource> src) {
  ModelConfig c;
  c.arch = "llama";
  c.gguf_arch = "llama";
  c.gguf_rope_permuted = true;  // llama.cpp's converter permutes q/k for interleaved rope
  if (src->kind() == ModelSource::Kind::kGguf) {
    MOECAT_RETURN_IF_ERROR(read_llama_like_gguf(*src, "llama", c));
    c.rope.neox = false;
  } else {
    MOECAT_RETURN_IF_ERROR(read_llama_like_hf(*src, c));
  }
  if (c.n_ff <= 0) return Errorf("llama: missing feed-forward size");
  return DecoderModel::Load(std::move(c), std::move(src), llama_like_names());
}

}  // namespace

extern const ArchEntry kArchLlama = {"llama", accepts, load, write_llama_like_meta};

}  // namespace moecat
