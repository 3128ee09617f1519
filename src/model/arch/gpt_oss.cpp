// gpt-oss (OpenAI): GQA attention with q/k/v/o biases, per-head sink logits and sliding-window
// layers (even layers, window 128) over ring caches; YaRN; MoE in every layer with a biased
// router, softmax over the top-k logits, per-expert biases and the clamped SwiGLU
// (alpha 1.702, limit 7: g = min(g, 7), u = clamp(u, -7, 7), g sigmoid(1.702 g) (u + 1)).
// HF GptOssForCausalLM (experts fused as gate_up_proj [E, in, 2F] with gate/up interleaved,
// re-laid at load); GGUF arch `gpt-oss` as llama.cpp's converter writes it (docs/gguf-gpt-oss.md).
#include <cstring>

#include "kernels/ops.h"
#include "model/arch/common.h"
#include "model/decoder.h"
#include "model/expert_parallel.h"
#include "model/registry.h"

namespace moecat {

namespace {

constexpr const char* kArch = "gpt-oss";

bool accepts(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf) return gguf_arch_of(src) == kArch;
  return hf_arch_of(src) == "GptOssForCausalLM";
}

std::vector<NamePair> names() {
  std::vector<NamePair> n = {
      {"blk.{L}.post_attention_norm.weight", "model.layers.{L}.post_attention_layernorm.weight"},
      {"blk.{L}.attn_q.bias", "model.layers.{L}.self_attn.q_proj.bias"},
      {"blk.{L}.attn_k.bias", "model.layers.{L}.self_attn.k_proj.bias"},
      {"blk.{L}.attn_v.bias", "model.layers.{L}.self_attn.v_proj.bias"},
      {"blk.{L}.attn_output.bias", "model.layers.{L}.self_attn.o_proj.bias"},
      {"blk.{L}.attn_sinks.weight", "model.layers.{L}.self_attn.sinks"},
      {"blk.{L}.ffn_gate_inp.weight", "model.layers.{L}.mlp.router.weight"},
      {"blk.{L}.ffn_gate_inp.bias", "model.layers.{L}.mlp.router.bias"},
      {"blk.{L}.ffn_down_exps.bias", "model.layers.{L}.mlp.experts.down_proj_bias"},
  };
  std::vector<NamePair> common = llama_like_names();
  n.insert(n.end(), common.begin(), common.end());
  return n;
}

// gate_up_proj_bias [E, 2F] (interleaved) -> ffn_gate_exps.bias / ffn_up_exps.bias [E, F] f32.
Status provide_expert_biases(Weights& w, const ModelConfig& c, const std::string& gp, const TensorView& gub) {
  const int64_t E = c.n_expert, F = c.n_ff_expert;
  std::vector<float> b(E * 2 * F);
  kernels::dequantize_row(gub.dtype, gub.data, b.data(), E * 2 * F);
  std::vector<uint8_t> gb(E * F * 4), ub(E * F * 4);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t f = 0; f < F; ++f) {
      memcpy(&gb[(e * F + f) * 4], &b[e * 2 * F + 2 * f], 4);
      memcpy(&ub[(e * F + f) * 4], &b[e * 2 * F + 2 * f + 1], 4);
    }
  w.provide(gp + "ffn_gate_exps.bias", DType::F32, {E, F}, std::move(gb));
  w.provide(gp + "ffn_up_exps.bias", DType::F32, {E, F}, std::move(ub));
  return Status::Ok();
}

// Element size of the plain float types HF checkpoints use.
Result<size_t> elem_size(const TensorView& t) {
  switch (t.dtype) {
    case DType::F32: return size_t{4};
    case DType::F16:
    case DType::BF16: return size_t{2};
    default: return Errorf("tensor '%s' has type %s; expected f32, f16 or bf16", t.name.c_str(), dtype_name(t.dtype));
  }
}

// HF MXFP4 blocks [rows, in/32, 16] (element 2i in the low, 2i+1 in the high nibble of byte i)
// + scales [rows, in/32] -> ggml block_mxfp4 rows {e, qs[16]} (element j low, j+16 high nibble
// of qs[j]), taking rows first, first + step, ... (gate/up are interleaved rows).
std::vector<uint8_t> mxfp4_rows(const uint8_t* blocks, const uint8_t* scales, int64_t n_rows_out, int64_t first,
                                int64_t step, int64_t nblk) {
  std::vector<uint8_t> out(n_rows_out * nblk * 17);
  uint8_t* o = out.data();
  for (int64_t r = 0; r < n_rows_out; ++r) {
    const int64_t src_row = first + r * step;
    for (int64_t b = 0; b < nblk; ++b, o += 17) {
      const uint8_t* hb = blocks + (src_row * nblk + b) * 16;
      o[0] = scales[src_row * nblk + b];
      auto code = [hb](int k) { return (hb[k / 2] >> (4 * (k % 2))) & 0xF; };
      for (int j = 0; j < 16; ++j) o[1 + j] = static_cast<uint8_t>(code(j) | (code(j + 16) << 4));
    }
  }
  return out;
}

Status provide_mxfp4_experts(Weights& w, const ModelConfig& c, const std::string& hp, const std::string& gp) {
  const ModelSource& src = w.source();
  const int64_t E = c.n_expert, D = c.n_embd, F = c.n_ff_expert;
  if (D % 32 || F % 32) return Errorf("gpt-oss: MXFP4 experts need hidden and expert sizes divisible by 32");
  MOECAT_ASSIGN_OR_RETURN(TensorView gub, src.get(hp + "gate_up_proj_blocks", {E, 2 * F, D / 32, 16}, {DType::I8}));
  MOECAT_ASSIGN_OR_RETURN(TensorView gus, src.get(hp + "gate_up_proj_scales", {E, 2 * F, D / 32}, {DType::I8}));
  MOECAT_ASSIGN_OR_RETURN(TensorView dnb, src.get(hp + "down_proj_blocks", {E, D, F / 32, 16}, {DType::I8}));
  MOECAT_ASSIGN_OR_RETURN(TensorView dns, src.get(hp + "down_proj_scales", {E, D, F / 32}, {DType::I8}));
  MOECAT_ASSIGN_OR_RETURN(TensorView bias, src.get(hp + "gate_up_proj_bias", {E, 2 * F}, {DType::F32, DType::F16, DType::BF16}));
  std::vector<uint8_t> gate, up, down;
  const auto [lo, hi] = local_expert_share(E);  // expert parallelism: only this rank's experts
  for (int64_t e = lo; e < hi; ++e) {
    const uint8_t* b = static_cast<const uint8_t*>(gub.data) + e * 2 * F * (D / 32) * 16;
    const uint8_t* s = static_cast<const uint8_t*>(gus.data) + e * 2 * F * (D / 32);
    auto g = mxfp4_rows(b, s, F, 0, 2, D / 32), u = mxfp4_rows(b, s, F, 1, 2, D / 32);
    gate.insert(gate.end(), g.begin(), g.end());
    up.insert(up.end(), u.begin(), u.end());
    auto d = mxfp4_rows(static_cast<const uint8_t*>(dnb.data) + e * D * (F / 32) * 16,
                        static_cast<const uint8_t*>(dns.data) + e * D * (F / 32), D, 0, 1, F / 32);
    down.insert(down.end(), d.begin(), d.end());
  }
  w.provide_experts(gp + "ffn_gate_exps.weight", DType::MXFP4, {E, F, D}, std::move(gate));
  w.provide_experts(gp + "ffn_up_exps.weight", DType::MXFP4, {E, F, D}, std::move(up));
  w.provide_experts(gp + "ffn_down_exps.weight", DType::MXFP4, {E, D, F}, std::move(down));
  return provide_expert_biases(w, c, gp, bias);
}

// HF experts -> GGUF layout, provided under the GGUF names:
//   gate_up_proj [E, D, 2F] (x @ W, columns gate0, up0, gate1, ...) -> ffn_gate_exps / ffn_up_exps [E, F, D]
//   gate_up_proj_bias [E, 2F] -> ffn_gate_exps.bias / ffn_up_exps.bias [E, F] (f32)
//   down_proj [E, F, D] (x @ W) -> ffn_down_exps [E, D, F]
Status prepare_hf_experts(Weights& w, const ModelConfig& c) {
  if (!w.is_hf()) return Status::Ok();
  const ModelSource& src = w.source();
  const int64_t E = c.n_expert, D = c.n_embd, F = c.n_ff_expert;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string hp = "model.layers." + std::to_string(il) + ".mlp.experts.";
    const std::string gp = "blk." + std::to_string(il) + ".";
    if (src.find(hp + "gate_up_proj_blocks")) {  // the released checkpoints: MXFP4 experts
      MOECAT_RETURN_IF_ERROR(provide_mxfp4_experts(w, c, hp, gp));
      continue;
    }
    MOECAT_ASSIGN_OR_RETURN(TensorView gu, src.get(hp + "gate_up_proj", {E, D, 2 * F}, {DType::F32, DType::F16, DType::BF16}));
    MOECAT_ASSIGN_OR_RETURN(TensorView dn, src.get(hp + "down_proj", {E, F, D}, {DType::F32, DType::F16, DType::BF16}));
    MOECAT_ASSIGN_OR_RETURN(TensorView gub, src.get(hp + "gate_up_proj_bias", {E, 2 * F}, {DType::F32, DType::F16, DType::BF16}));
    MOECAT_ASSIGN_OR_RETURN(size_t es, elem_size(gu));
    MOECAT_ASSIGN_OR_RETURN(size_t ed, elem_size(dn));
    const uint8_t* g = static_cast<const uint8_t*>(gu.data);
    const auto [lo, hi] = local_expert_share(E);  // expert parallelism: only this rank's experts
    const int64_t NE = hi - lo;
    std::vector<uint8_t> gate(NE * F * D * es), up(NE * F * D * es), down(NE * D * F * ed);
    for (int64_t e = 0; e < NE; ++e)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t f = 0; f < F; ++f) {
          const uint8_t* row = g + (((lo + e) * D + d) * 2 * F) * es;
          memcpy(&gate[((e * F + f) * D + d) * es], row + (2 * f) * es, es);
          memcpy(&up[((e * F + f) * D + d) * es], row + (2 * f + 1) * es, es);
        }
    const uint8_t* dd = static_cast<const uint8_t*>(dn.data);
    for (int64_t e = 0; e < NE; ++e)
      for (int64_t f = 0; f < F; ++f)
        for (int64_t d = 0; d < D; ++d)
          memcpy(&down[((e * D + d) * F + f) * ed], dd + (((lo + e) * F + f) * D + d) * ed, ed);
    w.provide_experts(gp + "ffn_gate_exps.weight", gu.dtype, {E, F, D}, std::move(gate));
    w.provide_experts(gp + "ffn_up_exps.weight", gu.dtype, {E, F, D}, std::move(up));
    w.provide_experts(gp + "ffn_down_exps.weight", dn.dtype, {E, D, F}, std::move(down));
    MOECAT_RETURN_IF_ERROR(provide_expert_biases(w, c, gp, gub));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Model>> load(std::unique_ptr<ModelSource> src) {
  ModelConfig c;
  c.arch = kArch;
  c.gguf_arch = kArch;
  int64_t window = 0;
  std::vector<bool> sliding;
  if (src->kind() == ModelSource::Kind::kGguf) {
    MOECAT_RETURN_IF_ERROR(read_llama_like_gguf(*src, kArch, c));
    GgufMeta m(*src->gguf(), kArch);
    MOECAT_ASSIGN_OR_RETURN(window, m.req_int("attention.sliding_window"));
    // llama.cpp: layer il slides iff il % pattern < pattern - 1 (default pattern 2: even layers).
    const int64_t pattern = std::max<int64_t>(1, m.opt_int("attention.sliding_window_pattern", 2));
    for (int64_t il = 0; il < c.n_layer; ++il) sliding.push_back(il % pattern < pattern - 1);
  } else {
    MOECAT_RETURN_IF_ERROR(read_llama_like_hf(*src, c));
    const std::string file = src->path() + "/config.json";
    HfMeta m(src->hf_config(), file);
    MOECAT_ASSIGN_OR_RETURN(c.n_expert, m.req_int("num_local_experts"));
    c.n_expert_used = m.opt_int("num_experts_per_tok", m.opt_int("experts_per_token", 0));
    c.n_ff_expert = c.n_ff;
    c.swiglu_limit = static_cast<float>(m.opt_float("swiglu_limit", 7.0));
    window = m.opt_int("sliding_window", 0);
    auto lt = m.json().find("layer_types");
    if (lt != m.json().end() && lt->is_array()) {
      if (static_cast<int64_t>(lt->size()) != c.n_layer)
        return Errorf("%s: layer_types has %zu entries for %lld layers", file.c_str(), lt->size(), (long long)c.n_layer);
      for (const auto& t : *lt) sliding.push_back(t.is_string() && t.get<std::string>() == "sliding_attention");
    } else {
      for (int64_t il = 0; il < c.n_layer; ++il) sliding.push_back(il % 2 == 0);
    }
  }
  c.rope.neox = true;
  c.attn_bias = true;
  c.attn_sinks = true;
  c.router_bias = true;
  c.expert_bias = true;
  c.gating = MoeGating::kSoftmaxTopK;
  c.norm_topk_prob = false;
  c.ffn_act = FfnAct::kSwigluOai;
  c.ffn_norm_tensor = "post_attention_norm";
  c.layer_is_moe.assign(c.n_layer, true);
  c.n_ff = 0;  // no dense MLPs
  if (window < 0) return Errorf("gpt-oss: negative sliding window");
  c.layer_window.assign(c.n_layer, 0);
  for (int64_t il = 0; il < c.n_layer; ++il) c.layer_window[il] = sliding[il] ? window : 0;
  if (c.n_expert <= 0 || c.n_expert_used <= 0 || c.n_expert_used > c.n_expert || c.n_ff_expert <= 0)
    return Errorf("gpt-oss: bad expert configuration (%lld experts, %lld used, width %lld)", (long long)c.n_expert,
                  (long long)c.n_expert_used, (long long)c.n_ff_expert);
  return DecoderModel::Load(std::move(c), std::move(src), names(), prepare_hf_experts);
}

void write_meta(const ModelConfig& c, GgufWriter& w) {
  const std::string a = std::string(kArch) + ".";
  w.set_str("general.architecture", kArch);
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layer));
  w.set_u32(a + "context_length", static_cast<uint32_t>(c.n_ctx_train));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.n_embd));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.n_ff_expert));
  w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(c.n_ff_expert));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_head_kv));
  w.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.norm_eps);
  w.set_f32(a + "rope.freq_base", static_cast<float>(c.rope.theta));
  w.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_expert));
  w.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_expert_used));
  int64_t window = 0;
  for (int64_t v : c.layer_window) window = std::max(window, v);
  w.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(window));
  if (c.rope.scaling == RopeScaling::kYarn) {
    // A GGUF cannot say "truncate: false"; llama.cpp always floors/ceils the yarn range.
    w.set_str(a + "rope.scaling.type", "yarn");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(c.rope.factor));
    w.set_u32(a + "rope.scaling.original_context_length", static_cast<uint32_t>(c.rope.orig_ctx));
    w.set_f32(a + "rope.scaling.yarn_beta_fast", static_cast<float>(c.rope.beta_fast));
    w.set_f32(a + "rope.scaling.yarn_beta_slow", static_cast<float>(c.rope.beta_slow));
  }
}

}  // namespace

extern const ArchEntry kArchGptOss = {"gpt-oss", accepts, load, write_meta};

}  // namespace moecat
