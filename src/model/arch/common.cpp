#include "model/arch/common.h"

#include "model/blocks/rope.h"

namespace moecat {

std::string gguf_arch_of(const ModelSource& src) {
  if (src.kind() != ModelSource::Kind::kGguf) return "";
  return src.gguf()->get_string("general.architecture").value_or("");
}

std::string hf_arch_of(const ModelSource& src) {
  if (src.kind() != ModelSource::Kind::kHfFolder) return "";
  const auto& j = src.hf_config();
  auto it = j.find("architectures");
  if (it == j.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) return "";
  return (*it)[0].get<std::string>();
}

static Status check_dims(const ModelConfig& c, const std::string& file) {
  if (c.n_embd <= 0 || c.n_layer <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.head_dim <= 0)
    return Errorf("%s: non-positive model dimensions", file.c_str());
  if (c.n_head % c.n_head_kv != 0)
    return Errorf("%s: n_head %lld is not a multiple of n_head_kv %lld", file.c_str(),
                  (long long)c.n_head, (long long)c.n_head_kv);
  if (c.rope.dim <= 0 || c.rope.dim > c.head_dim || c.rope.dim % 2)
    return Errorf("%s: bad rope dimension %lld", file.c_str(), (long long)c.rope.dim);
  if (c.n_layer > 4096 || c.n_head > 4096 || c.n_embd > (1 << 20))
    return Errorf("%s: implausible model dimensions", file.c_str());
  return Status::Ok();
}

Status read_llama_like_gguf(const ModelSource& src, const std::string& arch, ModelConfig& c) {
  const GgufFile& f = *src.gguf();
  GgufMeta m(f, arch);
  c.source = SourceKind::kGguf;
  c.gguf_arch = arch;
  const TensorView* emb = f.tensor("token_embd.weight");
  if (!emb || emb->shape.ndim != 2) return Errorf("%s: missing 2-D tensor 'token_embd.weight'", f.path().c_str());
  c.n_vocab = emb->shape[0];
  MOECAT_ASSIGN_OR_RETURN(c.n_embd, m.req_int("embedding_length"));
  MOECAT_ASSIGN_OR_RETURN(c.n_layer, m.req_int("block_count"));
  MOECAT_ASSIGN_OR_RETURN(c.n_head, m.req_int("attention.head_count"));
  c.n_head_kv = m.opt_int("attention.head_count_kv", c.n_head);
  c.n_ff = m.opt_int("feed_forward_length", 0);
  c.head_dim = m.opt_int("attention.key_length", c.n_head ? c.n_embd / c.n_head : 0);
  c.n_ctx_train = m.opt_int("context_length", 4096);
  c.norm_eps = static_cast<float>(m.opt_float("attention.layer_norm_rms_epsilon", 1e-5));
  c.rope.theta = m.opt_float("rope.freq_base", 10000.0);
  c.rope.dim = m.opt_int("rope.dimension_count", c.head_dim);
  const std::string st = m.opt_str("rope.scaling.type", "none");
  if (st == "linear") {
    c.rope.scaling = RopeScaling::kLinear;
    c.rope.factor = m.opt_float("rope.scaling.factor", 1.0);
  } else if (st == "yarn") {
    c.rope.scaling = RopeScaling::kYarn;
    c.rope.factor = m.opt_float("rope.scaling.factor", 1.0);
    c.rope.orig_ctx = m.opt_int("rope.scaling.original_context_length", c.n_ctx_train);
    c.rope.beta_fast = m.opt_float("rope.scaling.yarn_beta_fast", 32.0);
    c.rope.beta_slow = m.opt_float("rope.scaling.yarn_beta_slow", 1.0);
    // Archs with their own YaRN temperature rules (deepseek2) override this.
    c.rope.attn_factor = yarn_mscale(c.rope.factor);
  } else if (st != "none") {
    return Errorf("%s: unsupported rope scaling type '%s'", f.path().c_str(), st.c_str());
  }
  c.n_expert = m.opt_int("expert_count", 0);
  c.n_expert_used = m.opt_int("expert_used_count", 0);
  c.n_ff_expert = m.opt_int("expert_feed_forward_length", c.n_ff);
  return check_dims(c, f.path());
}

static Status read_hf_rope_scaling(const nlohmann::json& rs, const std::string& file, int64_t n_ctx_train,
                            RopeConfig& rope) {
  HfMeta r(rs, file);
  const std::string type = r.opt_str("rope_type", r.opt_str("type", "default"));
  if (type == "llama3") {
    rope.scaling = RopeScaling::kLlama3;
    rope.factor = r.opt_float("factor", 8.0);
    rope.low_freq_factor = r.opt_float("low_freq_factor", 1.0);
    rope.high_freq_factor = r.opt_float("high_freq_factor", 4.0);
    rope.orig_ctx = r.opt_int("original_max_position_embeddings", 8192);
  } else if (type == "linear") {
    rope.scaling = RopeScaling::kLinear;
    rope.factor = r.opt_float("factor", 1.0);
  } else if (type == "yarn") {
    rope.scaling = RopeScaling::kYarn;
    rope.factor = r.opt_float("factor", 1.0);
    rope.orig_ctx = r.opt_int("original_max_position_embeddings", n_ctx_train);
    rope.beta_fast = r.opt_float("beta_fast", 32.0);
    rope.beta_slow = r.opt_float("beta_slow", 1.0);
    rope.yarn_truncate = r.opt_bool("truncate", true);
    // HF _compute_yarn_parameters: explicit attention_factor, else the mscale ratio, else
    // the default temperature.
    const double mscale = r.opt_float("mscale", 0), mscale_all = r.opt_float("mscale_all_dim", 0);
    rope.mscale_all_dim = mscale_all;
    if (rs.contains("attention_factor") && rs["attention_factor"].is_number())
      rope.attn_factor = rs["attention_factor"].get<double>();
    else if (mscale != 0 && mscale_all != 0)
      rope.attn_factor = yarn_mscale(rope.factor, mscale) / yarn_mscale(rope.factor, mscale_all);
    else
      rope.attn_factor = yarn_mscale(rope.factor);
  } else if (type != "default") {
    return Errorf("%s: unsupported rope scaling type '%s'", file.c_str(), type.c_str());
  }
  if (rs.contains("rope_theta") && rs["rope_theta"].is_number()) rope.theta = rs["rope_theta"].get<double>();
  return Status::Ok();
}

Status read_hf_rope(const HfMeta& m, const std::string& file, int64_t n_ctx_train, RopeConfig& rope) {
  // transformers < 4.56 writes "rope_scaling"; newer configs "rope_parameters" (type "default"
  // when unscaled, rope_theta inside).
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    auto rs = m.json().find(key);
    if (rs != m.json().end() && rs->is_object())
      MOECAT_RETURN_IF_ERROR(read_hf_rope_scaling(*rs, file + " " + key, n_ctx_train, rope));
  }
  return Status::Ok();
}

Status read_llama_like_hf(const ModelSource& src, ModelConfig& c) {
  const std::string file = src.path() + "/config.json";
  HfMeta m(src.hf_config(), file);
  c.source = SourceKind::kHf;
  MOECAT_ASSIGN_OR_RETURN(c.n_vocab, m.req_int("vocab_size"));
  MOECAT_ASSIGN_OR_RETURN(c.n_embd, m.req_int("hidden_size"));
  MOECAT_ASSIGN_OR_RETURN(c.n_layer, m.req_int("num_hidden_layers"));
  MOECAT_ASSIGN_OR_RETURN(c.n_head, m.req_int("num_attention_heads"));
  c.n_head_kv = m.opt_int("num_key_value_heads", c.n_head);
  c.n_ff = m.opt_int("intermediate_size", 0);
  c.head_dim = m.opt_int("head_dim", c.n_head ? c.n_embd / c.n_head : 0);
  c.n_ctx_train = m.opt_int("max_position_embeddings", 4096);
  c.norm_eps = static_cast<float>(m.opt_float("rms_norm_eps", 1e-5));
  c.tie_embeddings = m.opt_bool("tie_word_embeddings", false);
  c.rope.theta = m.opt_float("rope_theta", 10000.0);
  c.rope.dim = c.head_dim;
  c.rope.neox = true;  // HF rotate_half
  MOECAT_RETURN_IF_ERROR(read_hf_rope(m, file, c.n_ctx_train, c.rope));
  return check_dims(c, file);
}

std::vector<NamePair> llama_like_names() {
  return {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.{L}.attn_norm.weight", "model.layers.{L}.input_layernorm.weight"},
      {"blk.{L}.attn_q.weight", "model.layers.{L}.self_attn.q_proj.weight"},
      {"blk.{L}.attn_k.weight", "model.layers.{L}.self_attn.k_proj.weight"},
      {"blk.{L}.attn_v.weight", "model.layers.{L}.self_attn.v_proj.weight"},
      {"blk.{L}.attn_output.weight", "model.layers.{L}.self_attn.o_proj.weight"},
      {"blk.{L}.attn_q_norm.weight", "model.layers.{L}.self_attn.q_norm.weight"},
      {"blk.{L}.attn_k_norm.weight", "model.layers.{L}.self_attn.k_norm.weight"},
      {"blk.{L}.ffn_norm.weight", "model.layers.{L}.post_attention_layernorm.weight"},
      {"blk.{L}.ffn_gate.weight", "model.layers.{L}.mlp.gate_proj.weight"},
      {"blk.{L}.ffn_up.weight", "model.layers.{L}.mlp.up_proj.weight"},
      {"blk.{L}.ffn_down.weight", "model.layers.{L}.mlp.down_proj.weight"},
  };
}

void write_llama_like_meta(const ModelConfig& c, GgufWriter& w) {
  const std::string a = c.gguf_arch + ".";
  w.set_str("general.architecture", c.gguf_arch);
  w.set_u32(a + "context_length", static_cast<uint32_t>(c.n_ctx_train));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.n_embd));
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layer));
  if (c.n_ff) w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_head_kv));
  w.set_f32(a + "rope.freq_base", static_cast<float>(c.rope.theta));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.norm_eps);
  w.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.rope.dim));
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(c.n_vocab));
  if (c.rope.scaling == RopeScaling::kLinear) {
    w.set_str(a + "rope.scaling.type", "linear");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(c.rope.factor));
  }
  if (c.n_expert) {
    w.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_expert));
    w.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_expert_used));
  }
}

}  // namespace moecat
