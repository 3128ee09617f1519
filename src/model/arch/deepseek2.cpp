// DeepSeek-V3 (and V2): multi-head latent attention (blocks/mla), sigmoid expert scores with a
// selection-only bias, group-limited top-k, routed scaling, shared experts, and the first
// `first_k_dense_replace` layers dense. HF DeepseekV3ForCausalLM; GGUF arch `deepseek2` as
// llama.cpp's converter writes it (kv_b split into attn_k_b / attn_v_b; see docs/gguf-deepseek2.md).
#include <algorithm>
#include <cmath>

#include "model/arch/common.h"
#include "model/blocks/rope.h"
#include "model/decoder.h"
#include "model/registry.h"

namespace moecat {

namespace {

// llama.cpp's llama_expert_gating_func_type values.
constexpr int64_t kGatingSoftmax = 1, kGatingSigmoid = 2;

bool accepts(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf) return gguf_arch_of(src) == "deepseek2";
  const std::string a = hf_arch_of(src);
  return a == "DeepseekV3ForCausalLM" || a == "DeepseekV2ForCausalLM";
}

std::vector<NamePair> names() {
  std::vector<NamePair> n = llama_like_names();
  n.insert(n.end(), {
      {"blk.{L}.attn_q_a.weight", "model.layers.{L}.self_attn.q_a_proj.weight"},
      {"blk.{L}.attn_q_a_norm.weight", "model.layers.{L}.self_attn.q_a_layernorm.weight"},
      {"blk.{L}.attn_q_b.weight", "model.layers.{L}.self_attn.q_b_proj.weight"},
      {"blk.{L}.attn_kv_a_mqa.weight", "model.layers.{L}.self_attn.kv_a_proj_with_mqa.weight"},
      {"blk.{L}.attn_kv_a_norm.weight", "model.layers.{L}.self_attn.kv_a_layernorm.weight"},
      {"blk.{L}.attn_kv_b.weight", "model.layers.{L}.self_attn.kv_b_proj.weight"},
      {"blk.{L}.ffn_gate_inp.weight", "model.layers.{L}.mlp.gate.weight"},
      {"blk.{L}.exp_probs_b.bias", "model.layers.{L}.mlp.gate.e_score_correction_bias"},
      {"blk.{L}.ffn_gate_exps.weight", "model.layers.{L}.mlp.experts.{E}.gate_proj.weight"},
      {"blk.{L}.ffn_up_exps.weight", "model.layers.{L}.mlp.experts.{E}.up_proj.weight"},
      {"blk.{L}.ffn_down_exps.weight", "model.layers.{L}.mlp.experts.{E}.down_proj.weight"},
      {"blk.{L}.ffn_gate_shexp.weight", "model.layers.{L}.mlp.shared_experts.gate_proj.weight"},
      {"blk.{L}.ffn_up_shexp.weight", "model.layers.{L}.mlp.shared_experts.up_proj.weight"},
      {"blk.{L}.ffn_down_shexp.weight", "model.layers.{L}.mlp.shared_experts.down_proj.weight"},
  });
  return n;
}

Status read_gguf(const ModelSource& src, ModelConfig& c) {
  MOECAT_RETURN_IF_ERROR(read_llama_like_gguf(src, "deepseek2", c));
  GgufMeta m(*src.gguf(), "deepseek2");
  c.q_lora_rank = m.opt_int("attention.q_lora_rank", 0);
  MOECAT_ASSIGN_OR_RETURN(c.kv_lora_rank, m.req_int("attention.kv_lora_rank"));
  c.qk_rope_dim = c.rope.dim;
  // Files split for absorbed MLA carry the per-head sizes in *_mla keys; older ones in key/value_length.
  const int64_t qk = m.opt_int("attention.key_length_mla", m.opt_int("attention.key_length", 0));
  c.v_head_dim = m.opt_int("attention.value_length_mla", m.opt_int("attention.value_length", 0));
  c.qk_nope_dim = qk - c.qk_rope_dim;
  c.n_shared_expert = m.opt_int("expert_shared_count", 0);
  c.routed_scale = static_cast<float>(m.opt_float("expert_weights_scale", 1.0));
  c.norm_topk_prob = m.opt_bool("expert_weights_norm", false);
  const int64_t gating = m.opt_int("expert_gating_func", kGatingSoftmax);
  if (gating != kGatingSoftmax && gating != kGatingSigmoid)
    return Errorf("%s: unsupported deepseek2.expert_gating_func %lld", src.path().c_str(), (long long)gating);
  c.gating = gating == kGatingSigmoid ? MoeGating::kSigmoid : MoeGating::kSoftmax;
  c.n_group = std::max<int64_t>(1, m.opt_int("expert_group_count", 1));
  c.topk_group = std::max<int64_t>(1, m.opt_int("expert_group_used_count", c.n_group));
  const int64_t dense = m.opt_int("leading_dense_block_count", 0);
  c.layer_is_moe.assign(c.n_layer, true);
  for (int64_t il = 0; il < std::min(dense, c.n_layer); ++il) c.layer_is_moe[il] = false;
  c.score_bias = src.find("blk." + std::to_string(std::min(dense, c.n_layer - 1)) + ".exp_probs_b.bias") != nullptr;
  c.rope.neox = false;  // llama.cpp runs deepseek2 with interleaved ("normal") rope
  c.mla_norm_eps = c.norm_eps;  // llama.cpp: every norm uses rms_norm_eps
  if (c.rope.scaling == RopeScaling::kYarn) {
    // llama.cpp's converter stores 0.1 * mscale_all_dim as yarn_log_multiplier; with
    // mscale == mscale_all_dim (every DeepSeek config) the rope itself is unscaled and the
    // softmax scale gains mscale(factor, mscale_all_dim)^2, as in HF.
    c.rope.mscale_all_dim = m.opt_float("rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
    c.rope.attn_factor = 1.0;
  }
  return Status::Ok();
}

Status read_hf(const ModelSource& src, ModelConfig& c) {
  MOECAT_RETURN_IF_ERROR(read_llama_like_hf(src, c));
  const std::string file = src.path() + "/config.json";
  HfMeta m(src.hf_config(), file);
  c.q_lora_rank = m.opt_int("q_lora_rank", 0);  // null in V2-Lite style configs
  MOECAT_ASSIGN_OR_RETURN(c.kv_lora_rank, m.req_int("kv_lora_rank"));
  MOECAT_ASSIGN_OR_RETURN(c.qk_nope_dim, m.req_int("qk_nope_head_dim"));
  MOECAT_ASSIGN_OR_RETURN(c.qk_rope_dim, m.req_int("qk_rope_head_dim"));
  MOECAT_ASSIGN_OR_RETURN(c.v_head_dim, m.req_int("v_head_dim"));
  MOECAT_ASSIGN_OR_RETURN(c.n_expert, m.req_int("n_routed_experts"));
  MOECAT_ASSIGN_OR_RETURN(c.n_expert_used, m.req_int("num_experts_per_tok"));
  MOECAT_ASSIGN_OR_RETURN(c.n_ff_expert, m.req_int("moe_intermediate_size"));
  c.n_shared_expert = m.opt_int("n_shared_experts", 0);
  c.n_group = std::max<int64_t>(1, m.opt_int("n_group", 1));
  c.topk_group = std::max<int64_t>(1, m.opt_int("topk_group", c.n_group));
  c.norm_topk_prob = m.opt_bool("norm_topk_prob", false);
  c.routed_scale = static_cast<float>(m.opt_float("routed_scaling_factor", 1.0));
  const std::string scoring = m.opt_str("scoring_func", "softmax");
  if (scoring != "softmax" && scoring != "sigmoid")
    return Errorf("%s: unsupported scoring_func '%s'", file.c_str(), scoring.c_str());
  c.gating = scoring == "sigmoid" ? MoeGating::kSigmoid : MoeGating::kSoftmax;
  c.score_bias = m.opt_str("topk_method", "") == "noaux_tc";
  const int64_t dense = m.opt_int("first_k_dense_replace", 0);
  c.layer_is_moe.assign(c.n_layer, true);
  for (int64_t il = 0; il < std::min(dense, c.n_layer); ++il) c.layer_is_moe[il] = false;
  // rope_interleave (default on): HF permutes the rope dims to pairs before rotate_half, which
  // is the interleaved rotation on the stored layout.
  c.rope.neox = !m.opt_bool("rope_interleave", true);
  c.rope.dim = c.qk_rope_dim;
  return Status::Ok();
}

Result<std::unique_ptr<Model>> load(std::unique_ptr<ModelSource> src) {
  ModelConfig c;
  c.arch = "deepseek2";
  c.gguf_arch = "deepseek2";
  if (src->kind() == ModelSource::Kind::kGguf) {
    MOECAT_RETURN_IF_ERROR(read_gguf(*src, c));
  } else {
    MOECAT_RETURN_IF_ERROR(read_hf(*src, c));
  }
  if (c.rope.scaling != RopeScaling::kNone && c.rope.scaling != RopeScaling::kYarn)
    return Errorf("deepseek2: only YaRN rope scaling is supported");
  c.head_dim = c.qk_nope_dim + c.qk_rope_dim;
  c.rope.dim = c.qk_rope_dim;
  if (c.rope.scaling == RopeScaling::kYarn && c.rope.mscale_all_dim != 0) {
    // DeepseekV3Attention: with YaRN the softmax scale gains mscale(factor, mscale_all_dim)^2.
    const double ms = yarn_mscale(c.rope.factor, c.rope.mscale_all_dim);
    c.attn_scale = static_cast<float>(ms * ms / std::sqrt(static_cast<double>(c.head_dim)));
  }
  if (c.kv_lora_rank <= 0 || c.qk_nope_dim <= 0 || c.qk_rope_dim <= 0 || c.qk_rope_dim % 2 || c.v_head_dim <= 0)
    return Errorf("deepseek2: bad MLA dimensions (kv_lora_rank %lld, qk_nope %lld, qk_rope %lld, v_head %lld)",
                  (long long)c.kv_lora_rank, (long long)c.qk_nope_dim, (long long)c.qk_rope_dim,
                  (long long)c.v_head_dim);
  if (c.n_expert <= 0 || c.n_expert_used <= 0 || c.n_ff_expert <= 0 || c.n_group > c.n_expert ||
      c.n_expert % c.n_group || c.topk_group > c.n_group ||
      c.n_expert_used > c.topk_group * (c.n_expert / c.n_group))
    return Errorf("deepseek2: bad expert configuration (%lld experts, %lld used, %lld groups, %lld groups used)",
                  (long long)c.n_expert, (long long)c.n_expert_used, (long long)c.n_group, (long long)c.topk_group);
  return DecoderModel::Load(std::move(c), std::move(src), names());
}

void write_meta(const ModelConfig& c, GgufWriter& w) {
  const std::string a = "deepseek2.";
  w.set_str("general.architecture", "deepseek2");
  w.set_u32(a + "context_length", static_cast<uint32_t>(c.n_ctx_train));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.n_embd));
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layer));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_head));
  // Absorbed MLA is multi-query over the latent: one kv head of width kv_lora + rope.
  w.set_u32(a + "attention.head_count_kv", 1);
  w.set_f32(a + "rope.freq_base", static_cast<float>(c.rope.theta));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.norm_eps);
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(c.n_vocab));
  w.set_u32(a + "leading_dense_block_count",
            static_cast<uint32_t>(std::find(c.layer_is_moe.begin(), c.layer_is_moe.end(), true) - c.layer_is_moe.begin()));
  // Written even when 0: llama.cpp requires the key except for the V2-Lite layer counts.
  w.set_u32(a + "attention.q_lora_rank", static_cast<uint32_t>(c.q_lora_rank));
  w.set_u32(a + "attention.kv_lora_rank", static_cast<uint32_t>(c.kv_lora_rank));
  w.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.kv_lora_rank + c.qk_rope_dim));
  w.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.kv_lora_rank));
  w.set_u32(a + "attention.key_length_mla", static_cast<uint32_t>(c.qk_nope_dim + c.qk_rope_dim));
  w.set_u32(a + "attention.value_length_mla", static_cast<uint32_t>(c.v_head_dim));
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.qk_rope_dim));
  w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(c.n_ff_expert));
  w.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_expert));
  w.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_expert_used));
  w.set_u32(a + "expert_shared_count", static_cast<uint32_t>(c.n_shared_expert));
  w.set_f32(a + "expert_weights_scale", c.routed_scale);
  w.set_bool(a + "expert_weights_norm", c.norm_topk_prob);
  w.set_u32(a + "expert_gating_func", static_cast<uint32_t>(c.gating == MoeGating::kSigmoid ? kGatingSigmoid : kGatingSoftmax));
  w.set_u32(a + "expert_group_count", static_cast<uint32_t>(c.n_group));
  w.set_u32(a + "expert_group_used_count", static_cast<uint32_t>(c.topk_group));
  if (c.rope.scaling == RopeScaling::kYarn) {
    w.set_str(a + "rope.scaling.type", "yarn");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(c.rope.factor));
    w.set_u32(a + "rope.scaling.original_context_length", static_cast<uint32_t>(c.rope.orig_ctx));
    w.set_f32(a + "rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * c.rope.mscale_all_dim));
  }
}

}  // namespace

extern const ArchEntry kArchDeepseek2 = {"deepseek2", accepts, load, write_meta};

}  // namespace moecat
