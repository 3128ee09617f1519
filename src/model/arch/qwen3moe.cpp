// Qwen3-MoE: GQA attention with per-head q/k RMSNorm and an explicit head_dim, neox rope,
// softmax top-k experts with optional renormalisation (norm_topk_prob); layers listed in
// mlp_only_layers (or off the decoder_sparse_step grid) use a dense MLP.
// HF Qwen3MoeForCausalLM; GGUF arch `qwen3moe`.
#include "model/arch/common.h"
#include "model/decoder.h"
#include "model/registry.h"

namespace moecat {

namespace {

bool accepts(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf) return gguf_arch_of(src) == "qwen3moe";
  return hf_arch_of(src) == "Qwen3MoeForCausalLM";
}

std::vector<NamePair> names() {
  std::vector<NamePair> n = llama_like_names();
  n.insert(n.end(), {
      {"blk.{L}.ffn_gate_inp.weight", "model.layers.{L}.mlp.gate.weight"},
      {"blk.{L}.ffn_gate_exps.weight", "model.layers.{L}.mlp.experts.{E}.gate_proj.weight"},
      {"blk.{L}.ffn_up_exps.weight", "model.layers.{L}.mlp.experts.{E}.up_proj.weight"},
      {"blk.{L}.ffn_down_exps.weight", "model.layers.{L}.mlp.experts.{E}.down_proj.weight"},
  });
  return n;
}

Result<std::unique_ptr<Model>> load(std::unique_ptr<ModelSource> src) {
  ModelConfig c;
  c.arch = "qwen3moe";
  c.gguf_arch = "qwen3moe";
  c.qk_norm = true;
  if (src->kind() == ModelSource::Kind::kGguf) {
    MOECAT_RETURN_IF_ERROR(read_llama_like_gguf(*src, "qwen3moe", c));
    c.rope.neox = true;
    GgufMeta m(*src->gguf(), "qwen3moe");
    c.norm_topk_prob = m.opt_bool("expert_weights_norm", true);
    // GGUF marks dense layers by the absence of expert tensors.
    c.layer_is_moe.resize(c.n_layer);
    for (int64_t il = 0; il < c.n_layer; ++il)
      c.layer_is_moe[il] = src->find("blk." + std::to_string(il) + ".ffn_gate_inp.weight") != nullptr;
  } else {
    MOECAT_RETURN_IF_ERROR(read_llama_like_hf(*src, c));
    HfMeta m(src->hf_config(), src->path() + "/config.json");
    MOECAT_ASSIGN_OR_RETURN(c.n_expert, m.req_int("num_experts"));
    MOECAT_ASSIGN_OR_RETURN(c.n_expert_used, m.req_int("num_experts_per_tok"));
    MOECAT_ASSIGN_OR_RETURN(c.n_ff_expert, m.req_int("moe_intermediate_size"));
    c.norm_topk_prob = m.opt_bool("norm_topk_prob", true);
    const int64_t step = std::max<int64_t>(1, m.opt_int("decoder_sparse_step", 1));
    c.layer_is_moe.assign(c.n_layer, true);
    for (int64_t il = 0; il < c.n_layer; ++il) c.layer_is_moe[il] = (il + 1) % step == 0;
    auto mo = m.json().find("mlp_only_layers");
    if (mo != m.json().end() && mo->is_array())
      for (const auto& v : *mo)
        if (v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < c.n_layer)
          c.layer_is_moe[v.get<int64_t>()] = false;
  }
  if (c.n_expert <= 0 || c.n_expert_used <= 0 || c.n_expert_used > c.n_expert || c.n_ff_expert <= 0)
    return Errorf("qwen3moe: bad expert configuration (%lld experts, %lld used, n_ff_expert %lld)",
                  (long long)c.n_expert, (long long)c.n_expert_used, (long long)c.n_ff_expert);
  return DecoderModel::Load(std::move(c), std::move(src), names());
}

void write_meta(const ModelConfig& c, GgufWriter& w) {
  write_llama_like_meta(c, w);
  w.set_u32("qwen3moe.expert_feed_forward_length", static_cast<uint32_t>(c.n_ff_expert));
}

}  // namespace

extern const ArchEntry kArchQwen3Moe = {"qwen3moe", accepts, load, write_meta};

}  // namespace moecat
