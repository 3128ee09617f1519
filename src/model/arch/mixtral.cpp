// Mixtral: Llama attention + softmax top-k mixture of SwiGLU experts in every layer.
// HF MixtralForCausalLM; GGUF arch `llama` with llama.expert_count > 0 and stacked expert
// tensors blk.N.ffn_{gate,up,down}_exps.weight [n_expert, out, in].
#include "model/arch/common.h"
#include "model/decoder.h"
#include "model/registry.h"

namespace moecat {

namespace {

bool accepts(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf)
    return gguf_arch_of(src) == "llama" && src.gguf()->get_int("llama.expert_count").value_or(0) > 0;
  return hf_arch_of(src) == "MixtralForCausalLM";
}

std::vector<NamePair> names() {
  std::vector<NamePair> n = llama_like_names();
  n.insert(n.end(), {
      {"blk.{L}.ffn_gate_inp.weight", "model.layers.{L}.block_sparse_moe.gate.weight"},
      {"blk.{L}.ffn_gate_exps.weight", "model.layers.{L}.block_sparse_moe.experts.{E}.w1.weight"},
      {"blk.{L}.ffn_down_exps.weight", "model.layers.{L}.block_sparse_moe.experts.{E}.w2.weight"},
      {"blk.{L}.ffn_up_exps.weight", "model.layers.{L}.block_sparse_moe.experts.{E}.w3.weight"},
  });
  return n;
}

Result<std::unique_ptr<Model>> load(std::unique_ptr<ModelSource> src) {
  ModelConfig c;
  c.arch = "mixtral";
  c.gguf_arch = "llama";
  c.gguf_rope_permuted = true;
  c.norm_topk_prob = true;  // softmax over the chosen experts' logits == renormalised top-k
  if (src->kind() == ModelSource::Kind::kGguf) {
    MOECAT_RETURN_IF_ERROR(read_llama_like_gguf(*src, "llama", c));
    c.rope.neox = false;
  } else {
    MOECAT_RETURN_IF_ERROR(read_llama_like_hf(*src, c));
    HfMeta m(src->hf_config(), src->path() + "/config.json");
    MOECAT_ASSIGN_OR_RETURN(c.n_expert, m.req_int("num_local_experts"));
    MOECAT_ASSIGN_OR_RETURN(c.n_expert_used, m.req_int("num_experts_per_tok"));
    c.n_ff_expert = c.n_ff;
  }
  if (c.n_expert <= 0 || c.n_expert_used <= 0 || c.n_expert_used > c.n_expert || c.n_ff_expert <= 0)
    return Errorf("mixtral: bad expert configuration (%lld experts, %lld used, n_ff %lld)",
                  (long long)c.n_expert, (long long)c.n_expert_used, (long long)c.n_ff_expert);
  return DecoderModel::Load(std::move(c), std::move(src), names());
}

}  // namespace

extern const ArchEntry kArchMixtral = {"mixtral", accepts, load, write_llama_like_meta};

}  // namespace moecat
