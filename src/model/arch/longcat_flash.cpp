// LongCat-Flash (Meituan): every layer has two MLA sublayers and two dense MLPs, plus one
// shortcut-connected MoE that reads the hidden state after the first attention and is added at
// the end of the layer; its router scores n_routed + zero experts (softmax, fp32), picks top-k on
// scores + e_score_correction_bias, and weighs the choices by score x routed_scaling_factor.
// Zero experts are identities and cost no FFN work. Semantics: transformers'
// modeling_longcat_flash.py. GGUF arch `longcat_flash` (names and keys: docs/longcat-flash.md).
// LongCat-Flash-Lite (`LongcatFlashNgramForCausalLM`, GGUF arch `longcat_flash_ngram`) is the same
// network with an N-gram embedding in front (blocks/ngram_embed; docs/longcat-flash-lite.md).
#include <algorithm>
#include <cmath>

#include "base/trace.h"
#include "kernels/ops.h"
#include "model/arch/common.h"
#include "model/arch/longcat_gguf_layouts.h"
#include "model/blocks/ffn.h"
#include "model/blocks/mla.h"
#include "model/blocks/ngram_embed.h"
#include "model/blocks/rope.h"
#include "model/decoder.h"
#include "model/registry.h"

namespace moecat {

namespace {

constexpr const char* kArch = "longcat_flash";
constexpr const char* kArchNgram = "longcat_flash_ngram";

// The community layout of a GGUF source (longcat_gguf_layouts.h), or nullptr.
const longcat::GgufLayout* layout_of(const ModelSource& src) {
  return src.kind() == ModelSource::Kind::kGguf ? longcat::community_layout(gguf_arch_of(src)) : nullptr;
}

bool accepts(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf) {
    const longcat::GgufLayout* l = layout_of(src);
    return gguf_arch_of(src) == kArch || (l && !l->ngram);
  }
  return hf_arch_of(src) == "LongcatFlashForCausalLM";
}

bool accepts_ngram(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf) {
    const longcat::GgufLayout* l = layout_of(src);
    return gguf_arch_of(src) == kArchNgram || (l && l->ngram);
  }
  return hf_arch_of(src) == "LongcatFlashNgramForCausalLM";
}

std::vector<NamePair> names() {
  // Sublayer i of layer L: GGUF "blk.L.<name>.i.weight" <-> HF "...<module>.i.<param>".
  static const std::vector<std::string> storage = [] {
    std::vector<std::string> s;
    const char* per_sub[][2] = {
        {"attn_norm", "input_layernorm.{i}.weight"},
        {"ffn_norm", "post_attention_layernorm.{i}.weight"},
        {"attn_q_a", "self_attn.{i}.q_a_proj.weight"},
        {"attn_q_a_norm", "self_attn.{i}.q_a_layernorm.weight"},
        {"attn_q_b", "self_attn.{i}.q_b_proj.weight"},
        {"attn_q", "self_attn.{i}.q_proj.weight"},
        {"attn_kv_a_mqa", "self_attn.{i}.kv_a_proj_with_mqa.weight"},
        {"attn_kv_a_norm", "self_attn.{i}.kv_a_layernorm.weight"},
        {"attn_kv_b", "self_attn.{i}.kv_b_proj.weight"},
        {"attn_output", "self_attn.{i}.o_proj.weight"},
        {"ffn_gate", "mlps.{i}.gate_proj.weight"},
        {"ffn_up", "mlps.{i}.up_proj.weight"},
        {"ffn_down", "mlps.{i}.down_proj.weight"},
    };
    for (int i = 0; i < 2; ++i)
      for (auto& p : per_sub) {
        const std::string mod = p[1];
        const size_t at = mod.find("{i}");
        const std::string hf = "model.layers.{L}." + mod.substr(0, at) + std::to_string(i) + mod.substr(at + 3);
        s.push_back(std::string("blk.{L}.") + p[0] + "." + std::to_string(i) + ".weight");
        s.push_back(hf);
      }
    return s;
  }();
  std::vector<NamePair> n = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.{L}.ffn_gate_inp.weight", "model.layers.{L}.mlp.router.classifier.weight"},
      {"blk.{L}.exp_probs_b.bias", "model.layers.{L}.mlp.router.e_score_correction_bias"},
      {"blk.{L}.ffn_gate_exps.weight", "model.layers.{L}.mlp.experts.{E}.gate_proj.weight"},
      {"blk.{L}.ffn_up_exps.weight", "model.layers.{L}.mlp.experts.{E}.up_proj.weight"},
      {"blk.{L}.ffn_down_exps.weight", "model.layers.{L}.mlp.experts.{E}.down_proj.weight"},
  };
  for (size_t i = 0; i < storage.size(); i += 2) n.push_back({storage[i].c_str(), storage[i + 1].c_str()});
  // LongCat-Flash-Lite's n-gram tables and their projections (12 in the release).
  static const std::vector<std::string> ngram = [] {
    std::vector<std::string> s;
    for (int i = 0; i < 64; ++i) {
      const std::string k = std::to_string(i);
      s.insert(s.end(), {"token_embd_ngram." + k + ".weight", "model.ngram_embeddings.embedders." + k + ".weight",
                         "ngram_proj." + k + ".weight", "model.ngram_embeddings.post_projs." + k + ".weight"});
    }
    return s;
  }();
  for (size_t i = 0; i < ngram.size(); i += 2) n.push_back({ngram[i].c_str(), ngram[i + 1].c_str()});
  // The MTP layer (vLLM / SGLang checkpoint layout; its own embed_tokens copy is unused: the MTP
  // layer runs on the main model's embedding and lm_head).
  n.insert(n.end(), {
      {"mtp.enorm.weight", "model.mtp.layers.0.enorm.m.weight"},
      {"mtp.hnorm.weight", "model.mtp.layers.0.hnorm.m.weight"},
      {"mtp.eh_proj.weight", "model.mtp.layers.0.eh_proj.weight"},
      {"mtp.attn_norm.weight", "model.mtp.layers.0.input_layernorm.weight"},
      {"mtp.ffn_norm.weight", "model.mtp.layers.0.post_attention_layernorm.weight"},
      {"mtp.attn_q_a.weight", "model.mtp.layers.0.self_attn.q_a_proj.weight"},
      {"mtp.attn_q_a_norm.weight", "model.mtp.layers.0.self_attn.q_a_layernorm.weight"},
      {"mtp.attn_q_b.weight", "model.mtp.layers.0.self_attn.q_b_proj.weight"},
      {"mtp.attn_q.weight", "model.mtp.layers.0.self_attn.q_proj.weight"},
      {"mtp.attn_kv_a_mqa.weight", "model.mtp.layers.0.self_attn.kv_a_proj_with_mqa.weight"},
      {"mtp.attn_kv_a_norm.weight", "model.mtp.layers.0.self_attn.kv_a_layernorm.weight"},
      {"mtp.attn_kv_b.weight", "model.mtp.layers.0.self_attn.kv_b_proj.weight"},
      {"mtp.attn_output.weight", "model.mtp.layers.0.self_attn.o_proj.weight"},
      {"mtp.ffn_gate.weight", "model.mtp.layers.0.transformer_layer.mlp.gate_proj.weight"},
      {"mtp.ffn_up.weight", "model.mtp.layers.0.transformer_layer.mlp.up_proj.weight"},
      {"mtp.ffn_down.weight", "model.mtp.layers.0.transformer_layer.mlp.down_proj.weight"},
      {"mtp.output_norm.weight", "model.mtp.norm.weight"},
  });
  return n;
}

class LongcatFlashModel : public Model {
 public:
  static Result<std::unique_ptr<Model>> Load(ModelConfig cfg, std::unique_ptr<ModelSource> src) {
    std::unique_ptr<LongcatFlashModel> m(new LongcatFlashModel());
    m->cfg_ = std::move(cfg);
    m->source_ = std::move(src);
    m->weights_ = std::make_unique<Weights>(*m->source_, names());
    if (const longcat::GgufLayout* l = layout_of(*m->source_)) {  // llama.cpp's / the fork's blocks
      MOECAT_ASSIGN_OR_RETURN(auto aliases, longcat::layout_aliases(*m->source_->gguf(), *l, m->cfg_));
      m->weights_->set_gguf_aliases(std::move(aliases));
    }
    MOECAT_RETURN_IF_ERROR(m->load_weights());
    m->rope_ = std::make_unique<Rope>(m->cfg_.rope);
    return std::unique_ptr<Model>(std::move(m));
  }

  // Two MLA caches per layer (sublayer i of layer L is cache layer 2L + i).
  KvShape kv_shape() const override {
    KvShape s = mla_kv_shape(cfg_);
    s.n_layer = 2 * cfg_.n_layer;
    return s;
  }

  void forward(const Batch& b, SequenceKv& kv, float* logits, ThreadPool* pool) const override {
    const ModelConfig& c = cfg_;
    const int64_t n = b.n, D = c.n_embd;
    const std::vector<SeqSpan> seqs = batch_spans(b, kv);
    for (const SeqSpan& s : seqs) MOECAT_CHECK(n > 0 && (int64_t)s.kv->layers.size() == 2 * c.n_layer);
    std::vector<float> x(n * D), xn(n * D), tmp(n * D), shortcut(n * D);  // [n][n_embd]
    if (c.ngram.n_tables() > 0)
      for (const SeqSpan& s : seqs)
        ngram_embed(c, ngram_, tok_embd_, span_batch(b, s), *s.kv, x.data() + s.begin * D, pool);
    else
      embed_tokens(tok_embd_, b.tokens, n, x.data());
    auto add = [&](const std::vector<float>& v) { for (int64_t i = 0; i < n * D; ++i) x[i] += v[i]; };
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const Layer& L = layers_[il];
      MoeCombine combine;
      trace::set_layer(il);
      for (int i = 0; i < 2; ++i) {
        rmsnorm_rows(x.data(), L.attn_norm[i], n, xn.data());
        {
          trace::Scope ts(i == 0 ? "MLA 1" : "MLA 2");
          mla_forward(c, *rope_, L.attn[i], xn.data(), b, seqs, 2 * il + i, tmp.data(), pool);
        }
        combine.progress();
        add(tmp);
        rmsnorm_rows(x.data(), L.ffn_norm[i], n, xn.data());
        if (i == 0) {  // the shortcut MoE reads the state after the first attention
          Routing r = moe_route(c, L.moe, xn.data(), n, pool);
          // With expert parallelism the combine travels while the dense path below runs.
          combine = moe_experts_start(c, L.moe, r, xn.data(), n, shortcut.data(), pool, b.stats);
        }
        {
          trace::Scope ts(i == 0 ? "dense MLP 1" : "dense MLP 2");
          mlp_forward(L.mlp[i], xn.data(), n, tmp.data(), pool);
        }
        combine.progress();
        add(tmp);
      }
      combine.finish();
      add(shortcut);  // ... and lands at the end of the layer
    }
    finish(x.data(), output_norm_, b, seqs, xn.data(), logits, pool);
  }

  bool has_mtp() const override { return has_mtp_; }
  KvShape mtp_kv_shape() const override {
    KvShape s = mla_kv_shape(cfg_);
    s.n_layer = 1;
    return s;
  }

  // x = eh_proj([rms(embed(t)) * enorm, rms(h) * hnorm]); one pre-norm MLA + dense MLP layer;
  // logits = lm_head(rms(x) * mtp.output_norm).
  void forward_mtp(const Batch& b, const float* h, SequenceKv& kv, float* logits,
                   ThreadPool* pool) const override {
    const ModelConfig& c = cfg_;
    const int64_t n = b.n, D = c.n_embd;
    MOECAT_CHECK(has_mtp_ && n > 0);
    const std::vector<SeqSpan> seqs = batch_spans(b, kv);  // one MTP cache per span
    for (const SeqSpan& s : seqs) MOECAT_CHECK(s.kv->layers.size() == 1);
    std::vector<float> eh(n * 2 * D), x(n * D), xn(n * D), tmp(n * D);
    std::vector<float> emb(n * D);
    embed_tokens(tok_embd_, b.tokens, n, emb.data());
    for (int64_t t = 0; t < n; ++t) {
      kernels::rmsnorm(emb.data() + t * D, f32(mtp_.enorm), c.norm_eps, D, eh.data() + t * 2 * D);
      kernels::rmsnorm(h + t * D, f32(mtp_.hnorm), c.norm_eps, D, eh.data() + t * 2 * D + D);
    }
    kernels::matmul(mtp_.eh_proj, eh.data(), n, x.data(), pool);
    rmsnorm_rows(x.data(), mtp_.attn_norm, n, xn.data());
    mla_forward(c, *rope_, mtp_.attn, xn.data(), b, seqs, 0, tmp.data(), pool);
    for (int64_t i = 0; i < n * D; ++i) x[i] += tmp[i];
    rmsnorm_rows(x.data(), mtp_.ffn_norm, n, xn.data());
    mlp_forward(mtp_.mlp, xn.data(), n, tmp.data(), pool);
    for (int64_t i = 0; i < n * D; ++i) x[i] += tmp[i];
    finish(x.data(), mtp_.output_norm, b, seqs, xn.data(), logits, pool);
  }

 private:
  struct Layer {
    TensorView attn_norm[2], ffn_norm[2];  // [n_embd] f32
    MlaWeights attn[2];
    MlpWeights mlp[2];
    MoeWeights moe;
  };
  struct Mtp {
    TensorView enorm, hnorm;    // [n_embd] f32
    TensorView eh_proj;         // [n_embd, 2*n_embd]
    TensorView attn_norm, ffn_norm, output_norm;  // [n_embd] f32
    MlaWeights attn;
    MlpWeights mlp;             // dense, n_ff
  };

  static const float* f32(const TensorView& t) { return static_cast<const float*>(t.data); }

  // Final norm of the rows that need it, hidden_out, logits.
  void finish(const float* x, const TensorView& norm, const Batch& b, const std::vector<SeqSpan>& seqs,
              float* xn, float* logits, ThreadPool* pool) const {
    const int64_t n = b.n, D = cfg_.n_embd;
    if (b.hidden_out) {  // every row normed into hidden_out; logits from the logit rows
      rmsnorm_rows(x, norm, n, b.hidden_out);
      const std::vector<int64_t> rows = logit_rows(b, seqs);
      for (size_t i = 0; i < rows.size(); ++i)
        std::copy(b.hidden_out + rows[i] * D, b.hidden_out + (rows[i] + 1) * D, xn + i * D);
      kernels::matmul(output_, xn, (int64_t)rows.size(), logits, pool);
      return;
    }
    output_logits(x, b, seqs, norm, cfg_.norm_eps, D, output_, xn, logits, pool);
  }

  void rmsnorm_rows(const float* x, const TensorView& w, int64_t n, float* y) const {
    moecat::rmsnorm_rows(x, w, cfg_.norm_eps, n, cfg_.n_embd, y);
  }

  Status load_weights() {
    Weights& w = *weights_;
    const ModelConfig& c = cfg_;
    MOECAT_ASSIGN_OR_RETURN(tok_embd_, w.get("token_embd.weight", {c.n_vocab, c.n_embd}, MOECAT_MATRIX_TYPES));
    MOECAT_ASSIGN_OR_RETURN(output_norm_, w.get_f32("output_norm.weight", {c.n_embd}));
    if (!c.tie_embeddings && w.has("output.weight")) {
      MOECAT_ASSIGN_OR_RETURN(output_, w.get("output.weight", {c.n_vocab, c.n_embd}, MOECAT_MATRIX_TYPES));
    } else {
      output_ = tok_embd_;
    }
    layers_.resize(c.n_layer);
    for (int64_t il = 0; il < c.n_layer; ++il) {
      Layer& L = layers_[il];
      const std::string p = "blk." + std::to_string(il) + ".";
      for (int i = 0; i < 2; ++i) {
        const std::string tag = "." + std::to_string(i);
        MOECAT_ASSIGN_OR_RETURN(L.attn_norm[i], w.get_f32(p + "attn_norm" + tag + ".weight", {c.n_embd}));
        MOECAT_ASSIGN_OR_RETURN(L.attn[i], load_mla(w, c, p, tag));
        MOECAT_ASSIGN_OR_RETURN(L.ffn_norm[i], w.get_f32(p + "ffn_norm" + tag + ".weight", {c.n_embd}));
        MOECAT_ASSIGN_OR_RETURN(L.mlp[i], load_mlp(w, c, p, tag));
      }
      MOECAT_ASSIGN_OR_RETURN(L.moe, load_moe(w, c, il));
    }
    if (c.ngram.n_tables() > 0) {
      MOECAT_ASSIGN_OR_RETURN(ngram_, load_ngram_embed(w, c));
    }
    // The config says whether the MTP layer is there (num_nextn_predict_layers); then every MTP
    // tensor is required. Lite's MTP input embedding (plain or n-gram) is not pinned down by any
    // public runner, so moecat neither loads nor requires it there.
    if (c.n_mtp_layers > 1) return Errorf("longcat_flash: %lld MTP layers; moecat runs at most 1", (long long)c.n_mtp_layers);
    has_mtp_ = c.ngram.n_tables() == 0 && c.n_mtp_layers == 1;
    if (has_mtp_) {
      const int64_t D = c.n_embd;
      MOECAT_ASSIGN_OR_RETURN(mtp_.enorm, w.get_f32("mtp.enorm.weight", {D}));
      MOECAT_ASSIGN_OR_RETURN(mtp_.hnorm, w.get_f32("mtp.hnorm.weight", {D}));
      MOECAT_ASSIGN_OR_RETURN(mtp_.eh_proj, w.get("mtp.eh_proj.weight", {D, 2 * D}, MOECAT_MATRIX_TYPES));
      MOECAT_ASSIGN_OR_RETURN(mtp_.attn_norm, w.get_f32("mtp.attn_norm.weight", {D}));
      MOECAT_ASSIGN_OR_RETURN(mtp_.attn, load_mla(w, c, "mtp."));
      MOECAT_ASSIGN_OR_RETURN(mtp_.ffn_norm, w.get_f32("mtp.ffn_norm.weight", {D}));
      MOECAT_ASSIGN_OR_RETURN(mtp_.mlp, load_mlp(w, c, "mtp."));
      MOECAT_ASSIGN_OR_RETURN(mtp_.output_norm, w.get_f32("mtp.output_norm.weight", {D}));
    }
    return Status::Ok();
  }

  TensorView tok_embd_, output_norm_, output_;
  std::vector<Layer> layers_;
  bool has_mtp_ = false;
  Mtp mtp_;
  NgramEmbedWeights ngram_;
  std::unique_ptr<Rope> rope_;
};

Status read_hf(const ModelSource& src, ModelConfig& c) {
  const std::string file = src.path() + "/config.json";
  HfMeta m(src.hf_config(), file);
  c.source = SourceKind::kHf;
  MOECAT_ASSIGN_OR_RETURN(c.n_vocab, m.req_int("vocab_size"));
  MOECAT_ASSIGN_OR_RETURN(c.n_embd, m.req_int("hidden_size"));
  MOECAT_ASSIGN_OR_RETURN(c.n_layer, m.req_int("num_layers"));
  MOECAT_ASSIGN_OR_RETURN(c.n_head, m.req_int("num_attention_heads"));
  c.n_head_kv = c.n_head;
  MOECAT_ASSIGN_OR_RETURN(c.n_ff, m.req_int("ffn_hidden_size"));
  MOECAT_ASSIGN_OR_RETURN(c.n_ff_expert, m.req_int("expert_ffn_hidden_size"));
  MOECAT_ASSIGN_OR_RETURN(c.n_expert, m.req_int("n_routed_experts"));
  c.n_zero_expert = m.opt_int("zero_expert_num", 0);
  MOECAT_ASSIGN_OR_RETURN(c.n_expert_used, m.req_int("moe_topk"));
  c.routed_scale = static_cast<float>(m.opt_float("routed_scaling_factor", 1.0));
  c.q_lora_rank = m.opt_int("q_lora_rank", 0);
  MOECAT_ASSIGN_OR_RETURN(c.kv_lora_rank, m.req_int("kv_lora_rank"));
  MOECAT_ASSIGN_OR_RETURN(c.qk_nope_dim, m.req_int("qk_nope_head_dim"));
  MOECAT_ASSIGN_OR_RETURN(c.qk_rope_dim, m.req_int("qk_rope_head_dim"));
  MOECAT_ASSIGN_OR_RETURN(c.v_head_dim, m.req_int("v_head_dim"));
  c.n_ctx_train = m.opt_int("max_position_embeddings", 4096);
  c.norm_eps = static_cast<float>(m.opt_float("rms_norm_eps", 1e-5));
  c.tie_embeddings = m.opt_bool("tie_word_embeddings", false);
  // The rope covers head_dim (== qk_rope_head_dim in LongCat) dims.
  const int64_t rope_dim = m.opt_int("head_dim", c.qk_rope_dim);
  if (rope_dim != c.qk_rope_dim)
    return Errorf("%s: head_dim %lld differs from qk_rope_head_dim %lld", file.c_str(), (long long)rope_dim,
                  (long long)c.qk_rope_dim);
  // rope_theta at the top level (checkpoints) or inside rope_parameters (newer transformers);
  // scaling (YaRN for LongCat-Flash-Lite) in rope_scaling or rope_parameters.
  c.rope.theta = m.opt_float("rope_theta", 1e7);
  c.rope.dim = c.qk_rope_dim;
  MOECAT_RETURN_IF_ERROR(read_hf_rope(m, file, c.n_ctx_train, c.rope));
  c.n_mtp_layers = m.opt_int("num_nextn_predict_layers", 0);
  if (m.json().contains("emb_neighbor_num")) {
    NgramEmbedConfig& g = c.ngram;
    MOECAT_ASSIGN_OR_RETURN(g.n, m.req_int("emb_neighbor_num"));
    MOECAT_ASSIGN_OR_RETURN(g.k, m.req_int("emb_split_num"));
    const double ratio = m.opt_float("ngram_vocab_size_ratio", 0);
    g.hash_base = c.n_vocab;
    g.modulus_base = static_cast<int64_t>(ratio * static_cast<double>(c.n_vocab));
    MOECAT_ASSIGN_OR_RETURN(int64_t eos, m.req_int("eos_token_id"));
    g.reset_token = static_cast<int32_t>(eos);
  }
  // transformers always applies the MLA LoRA scales; original configs carry them as flags.
  if (m.opt_bool("mla_scale_q_lora", true) && c.q_lora_rank > 0)
    c.mla_q_scale = static_cast<float>(std::sqrt(static_cast<double>(c.n_embd) / c.q_lora_rank));
  if (m.opt_bool("mla_scale_kv_lora", true))
    c.mla_kv_scale = static_cast<float>(std::sqrt(static_cast<double>(c.n_embd) / c.kv_lora_rank));
  return Status::Ok();
}

Status read_gguf(const ModelSource& src, ModelConfig& c) {
  const GgufFile& f = *src.gguf();
  const longcat::GgufLayout* layout = layout_of(src);
  GgufMeta m(f, layout ? std::string(layout->arch) : c.gguf_arch);
  c.source = SourceKind::kGguf;
  const TensorView* emb = f.tensor("token_embd.weight");
  if (!emb || emb->shape.ndim != 2) return Errorf("%s: missing 2-D tensor 'token_embd.weight'", f.path().c_str());
  c.n_vocab = emb->shape[0];
  MOECAT_ASSIGN_OR_RETURN(c.n_embd, m.req_int("embedding_length"));
  if (!layout) {  // the community layouts count two blocks per layer (read_layout_meta)
    MOECAT_ASSIGN_OR_RETURN(c.n_layer, m.req_int("block_count"));
  }
  MOECAT_ASSIGN_OR_RETURN(c.n_head, m.req_int("attention.head_count"));
  c.n_head_kv = c.n_head;
  MOECAT_ASSIGN_OR_RETURN(c.n_ff, m.req_int("feed_forward_length"));
  MOECAT_ASSIGN_OR_RETURN(c.n_ff_expert, m.req_int("expert_feed_forward_length"));
  MOECAT_ASSIGN_OR_RETURN(c.n_expert, m.req_int("expert_count"));
  c.n_zero_expert = m.opt_int("expert_zero_count", 0);
  MOECAT_ASSIGN_OR_RETURN(c.n_expert_used, m.req_int("expert_used_count"));
  c.routed_scale = static_cast<float>(m.opt_float("expert_weights_scale", 1.0));
  c.q_lora_rank = m.opt_int("attention.q_lora_rank", 0);
  MOECAT_ASSIGN_OR_RETURN(c.kv_lora_rank, m.req_int("attention.kv_lora_rank"));
  MOECAT_ASSIGN_OR_RETURN(int64_t qk, m.req_int("attention.key_length_mla"));
  MOECAT_ASSIGN_OR_RETURN(c.v_head_dim, m.req_int("attention.value_length_mla"));
  MOECAT_ASSIGN_OR_RETURN(c.qk_rope_dim, m.req_int("rope.dimension_count"));
  c.qk_nope_dim = qk - c.qk_rope_dim;
  c.n_ctx_train = m.opt_int("context_length", 4096);
  c.norm_eps = static_cast<float>(m.opt_float("attention.layer_norm_rms_epsilon", 1e-5));
  c.rope.theta = m.opt_float("rope.freq_base", 1e7);
  c.mla_q_scale = static_cast<float>(m.opt_float("attention.mla_scale_q_lora", 1.0));
  c.mla_kv_scale = static_cast<float>(m.opt_float("attention.mla_scale_kv_lora", 1.0));
  c.mla_norm_eps = static_cast<float>(m.opt_float("attention.latent_norm_rms_epsilon", 1e-6));
  // Files written before the key existed: the MTP layer is there if its tensors are.
  c.n_mtp_layers = m.opt_int("nextn_predict_layers", f.tensor("mtp.eh_proj.weight") ? 1 : 0);
  if (!layout && m.opt_int("ngram.neighbor_num", 0) > 0) {
    NgramEmbedConfig& g = c.ngram;
    g.n = m.opt_int("ngram.neighbor_num", 0);
    g.k = m.opt_int("ngram.split_num", 0);
    MOECAT_ASSIGN_OR_RETURN(g.modulus_base, m.req_int("ngram.modulus_base"));
    MOECAT_ASSIGN_OR_RETURN(g.hash_base, m.req_int("ngram.hash_base"));
    MOECAT_ASSIGN_OR_RETURN(int64_t reset, m.req_int("ngram.reset_token_id"));
    g.reset_token = static_cast<int32_t>(reset);
  }
  if (m.opt_str("rope.scaling.type", "none") == "yarn") {
    c.rope.scaling = RopeScaling::kYarn;
    c.rope.factor = m.opt_float("rope.scaling.factor", 1.0);
    c.rope.orig_ctx = m.opt_int("rope.scaling.original_context_length", c.n_ctx_train);
    c.rope.beta_fast = m.opt_float("rope.scaling.yarn_beta_fast", 32.0);
    c.rope.beta_slow = m.opt_float("rope.scaling.yarn_beta_slow", 1.0);
    c.rope.attn_factor = m.opt_float("rope.scaling.attn_factor", 1.0);
    c.rope.mscale_all_dim = m.opt_float("rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
  }
  if (layout) {  // the keys the community layouts name differently
    c.ngram = NgramEmbedConfig{};
    MOECAT_RETURN_IF_ERROR(longcat::read_layout_meta(f, *layout, c));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Model>> load_as(std::unique_ptr<ModelSource> src, const char* arch) {
  ModelConfig c;
  c.arch = arch;
  c.gguf_arch = arch;
  if (src->kind() == ModelSource::Kind::kGguf) {
    MOECAT_RETURN_IF_ERROR(read_gguf(*src, c));
  } else {
    MOECAT_RETURN_IF_ERROR(read_hf(*src, c));
  }
  c.head_dim = c.qk_nope_dim + c.qk_rope_dim;
  c.rope.dim = c.qk_rope_dim;
  if (c.rope.scaling != RopeScaling::kNone && c.rope.scaling != RopeScaling::kYarn)
    return Errorf("longcat_flash: only YaRN rope scaling is supported");
  if (std::string(arch) == kArchNgram) {
    NgramEmbedConfig& g = c.ngram;
    if (g.n < 2 || g.n > 16 || g.k < 1 || g.modulus_base < 1 || g.hash_base < 1 ||
        c.n_embd % (g.k * (g.n - 1)) != 0)
      return Errorf("longcat_flash_ngram: bad n-gram embedding configuration (n %lld, k %lld, m %lld, hidden %lld)",
                    (long long)g.n, (long long)g.k, (long long)g.modulus_base, (long long)c.n_embd);
    g.table_dim = c.n_embd / (g.k * (g.n - 1));
  } else {
    c.ngram = NgramEmbedConfig{};
  }
  if (c.rope.scaling == RopeScaling::kYarn && c.rope.mscale_all_dim != 0) {
    // yarn_apply_mscale: the softmax scale gains mscale(factor, mscale_all_dim)^2.
    const double ms = yarn_mscale(c.rope.factor, c.rope.mscale_all_dim);
    c.attn_scale = static_cast<float>(ms * ms / std::sqrt(static_cast<double>(c.head_dim)));
  }
  c.rope.neox = false;  // interleaved pairs on the rope part (apply_rotary_pos_emb_interleave)
  c.gating = MoeGating::kSoftmax;
  c.score_bias = true;
  c.norm_topk_prob = false;
  c.layer_is_moe.assign(c.n_layer, true);
  if (c.n_embd <= 0 || c.n_layer <= 0 || c.n_layer > 4096 || c.n_head <= 0 || c.kv_lora_rank <= 0 ||
      c.qk_nope_dim <= 0 || c.qk_rope_dim <= 0 || c.qk_rope_dim % 2 || c.v_head_dim <= 0)
    return Errorf("longcat_flash: bad model dimensions");
  if (c.n_expert <= 0 || c.n_zero_expert < 0 || c.n_expert_used <= 0 ||
      c.n_expert_used > c.n_expert + c.n_zero_expert || c.n_ff_expert <= 0)
    return Errorf("longcat_flash: bad expert configuration (%lld experts + %lld zero experts, top-%lld)",
                  (long long)c.n_expert, (long long)c.n_zero_expert, (long long)c.n_expert_used);
  return LongcatFlashModel::Load(std::move(c), std::move(src));
}

void write_meta(const ModelConfig& c, GgufWriter& w) {
  const std::string a = c.gguf_arch + ".";
  w.set_str("general.architecture", c.gguf_arch);
  w.set_u32(a + "context_length", static_cast<uint32_t>(c.n_ctx_train));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.n_embd));
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layer));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.n_ff));
  w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(c.n_ff_expert));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_head));
  w.set_u32(a + "attention.head_count_kv", 1);
  w.set_u32(a + "attention.q_lora_rank", static_cast<uint32_t>(c.q_lora_rank));
  w.set_u32(a + "attention.kv_lora_rank", static_cast<uint32_t>(c.kv_lora_rank));
  w.set_u32(a + "attention.key_length_mla", static_cast<uint32_t>(c.qk_nope_dim + c.qk_rope_dim));
  w.set_u32(a + "attention.value_length_mla", static_cast<uint32_t>(c.v_head_dim));
  w.set_f32(a + "attention.mla_scale_q_lora", c.mla_q_scale);
  w.set_f32(a + "attention.mla_scale_kv_lora", c.mla_kv_scale);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.norm_eps);
  w.set_f32(a + "attention.latent_norm_rms_epsilon", c.mla_norm_eps);
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.qk_rope_dim));
  w.set_f32(a + "rope.freq_base", static_cast<float>(c.rope.theta));
  w.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_expert));
  w.set_u32(a + "expert_zero_count", static_cast<uint32_t>(c.n_zero_expert));
  w.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_expert_used));
  w.set_f32(a + "expert_weights_scale", c.routed_scale);
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(c.n_vocab));
  // MTP tensors are exported only when loaded (never for Lite).
  w.set_u32(a + "nextn_predict_layers", c.ngram.n_tables() == 0 ? static_cast<uint32_t>(c.n_mtp_layers) : 0);
  if (c.ngram.n_tables() > 0) {
    w.set_u32(a + "ngram.neighbor_num", static_cast<uint32_t>(c.ngram.n));
    w.set_u32(a + "ngram.split_num", static_cast<uint32_t>(c.ngram.k));
    w.set_u32(a + "ngram.modulus_base", static_cast<uint32_t>(c.ngram.modulus_base));
    w.set_u32(a + "ngram.hash_base", static_cast<uint32_t>(c.ngram.hash_base));
    w.set_u32(a + "ngram.reset_token_id", static_cast<uint32_t>(c.ngram.reset_token));
  }
  if (c.rope.scaling == RopeScaling::kYarn) {
    w.set_str(a + "rope.scaling.type", "yarn");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(c.rope.factor));
    w.set_u32(a + "rope.scaling.original_context_length", static_cast<uint32_t>(c.rope.orig_ctx));
    w.set_f32(a + "rope.scaling.yarn_beta_fast", static_cast<float>(c.rope.beta_fast));
    w.set_f32(a + "rope.scaling.yarn_beta_slow", static_cast<float>(c.rope.beta_slow));
    w.set_f32(a + "rope.scaling.attn_factor", static_cast<float>(c.rope.attn_factor));
    w.set_f32(a + "rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * c.rope.mscale_all_dim));
  }
}

}  // namespace

Result<std::unique_ptr<Model>> load(std::unique_ptr<ModelSource> src) { return load_as(std::move(src), kArch); }
Result<std::unique_ptr<Model>> load_ngram(std::unique_ptr<ModelSource> src) {
  return load_as(std::move(src), kArchNgram);
}

extern const ArchEntry kArchLongcatFlash = {kArch, accepts, load, write_meta};
extern const ArchEntry kArchLongcatFlashNgram = {kArchNgram, accepts_ngram, load_ngram, write_meta};

}  // namespace moecat
