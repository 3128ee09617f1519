#include "model/decoder.h"

#include <cstring>

#include "base/trace.h"
#include "kernels/ops.h"

namespace moecat {

void embed_tokens(const TensorView& tok_embd, const int32_t* tokens, int64_t n, float* x) {
  const int64_t D = tok_embd.cols();
  for (int64_t t = 0; t < n; ++t) {
    MOECAT_CHECK(tokens[t] >= 0 && tokens[t] < tok_embd.rows());
    kernels::dequantize_view_row(tok_embd, tokens[t], x + t * D);  // FP8 too (with its scales)
  }
}

Result<std::unique_ptr<Model>> DecoderModel::Load(ModelConfig cfg, std::unique_ptr<ModelSource> src,
                                                  std::vector<NamePair> hf_names, const Prepare& prepare) {
  std::unique_ptr<DecoderModel> m(new DecoderModel());
  m->cfg_ = std::move(cfg);
  m->source_ = std::move(src);
  m->weights_ = std::make_unique<Weights>(*m->source_, std::move(hf_names));
  if (prepare) MOECAT_RETURN_IF_ERROR(prepare(*m->weights_, m->cfg_));
  MOECAT_RETURN_IF_ERROR(m->load_weights());
  m->rope_ = std::make_unique<Rope>(m->cfg_.rope);
  return std::unique_ptr<Model>(std::move(m));
}

Status DecoderModel::load_weights() {
  Weights& w = *weights_;
  const ModelConfig& c = cfg_;
  MOECAT_ASSIGN_OR_RETURN(tok_embd_, w.get("token_embd.weight", {c.n_vocab, c.n_embd}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(output_norm_, w.get_f32("output_norm.weight", {c.n_embd}));
  if (!c.tie_embeddings && w.has("output.weight")) {
    MOECAT_ASSIGN_OR_RETURN(output_, w.get("output.weight", {c.n_vocab, c.n_embd}, MOECAT_MATRIX_TYPES));
  } else {
    output_ = tok_embd_;
  }
  if (w.has("rope_freqs.weight")) {
    MOECAT_ASSIGN_OR_RETURN(TensorView rf, w.get_f32("rope_freqs.weight", {c.rope.dim / 2}));
    const float* f = static_cast<const float*>(rf.data);
    cfg_.rope.freq_factors.assign(f, f + c.rope.dim / 2);
  }
  layers_.resize(c.n_layer);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    Layer& L = layers_[il];
    const std::string p = "blk." + std::to_string(il) + ".";
    MOECAT_ASSIGN_OR_RETURN(L.attn_norm, w.get_f32(p + "attn_norm.weight", {c.n_embd}));
    if (c.kv_lora_rank > 0) {
      MOECAT_ASSIGN_OR_RETURN(L.mla, load_mla(w, c, p));
    } else {
      MOECAT_ASSIGN_OR_RETURN(L.attn, load_attention(w, c, il));
    }
    MOECAT_ASSIGN_OR_RETURN(L.ffn_norm, w.get_f32(p + c.ffn_norm_tensor + ".weight", {c.n_embd}));
    L.is_moe = c.layer_is_moe.empty() ? c.n_expert > 0 : bool(c.layer_is_moe[il]);
    if (L.is_moe) {
      MOECAT_ASSIGN_OR_RETURN(L.moe, load_moe(w, c, il));
    } else {
      MOECAT_ASSIGN_OR_RETURN(L.mlp, load_mlp(w, c, p));
    }
  }
  return Status::Ok();
}

void rmsnorm_rows(const float* x, const TensorView& w, float eps, int64_t n, int64_t D,
                         float* y) {
  const float* wt = static_cast<const float*>(w.data);
  for (int64_t t = 0; t < n; ++t) kernels::rmsnorm(x + t * D, wt, eps, D, y + t * D);
}

void DecoderModel::forward(const Batch& b, SequenceKv& kv, float* logits, ThreadPool* pool) const {
  const ModelConfig& c = cfg_;
  const int64_t n = b.n, D = c.n_embd;
  const std::vector<SeqSpan> seqs = batch_spans(b, kv);
  for (const SeqSpan& s : seqs) MOECAT_CHECK(n > 0 && (int64_t)s.kv->layers.size() == c.n_layer);
  std::vector<float> x(n * D), xn(n * D), tmp(n * D);  // [n][n_embd]
  embed_tokens(tok_embd_, b.tokens, n, x.data());
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const Layer& L = layers_[il];
    trace::set_layer(il);
    rmsnorm_rows(x.data(), L.attn_norm, c.norm_eps, n, D, xn.data());
    {
      trace::Scope ts("attention");
      if (c.kv_lora_rank > 0)
        mla_forward(c, *rope_, L.mla, xn.data(), b, seqs, il, tmp.data(), pool);
      else
        attention_forward(c, *rope_, L.attn, xn.data(), b, seqs, il, tmp.data(), pool,
                          c.layer_window.empty() ? 0 : c.layer_window[il]);
    }
    for (int64_t i = 0; i < n * D; ++i) x[i] += tmp[i];
    rmsnorm_rows(x.data(), L.ffn_norm, c.norm_eps, n, D, xn.data());
    if (L.is_moe) {
      Routing r = moe_route(c, L.moe, xn.data(), n, pool);
      moe_experts(c, L.moe, r, xn.data(), n, tmp.data(), pool, b.stats);
    } else {
      trace::Scope ts("dense MLP");
      mlp_forward(L.mlp, xn.data(), n, tmp.data(), pool);
    }
    for (int64_t i = 0; i < n * D; ++i) x[i] += tmp[i];
  }
  output_logits(x.data(), b, seqs, output_norm_, c.norm_eps, D, output_, xn.data(), logits, pool);
}

void output_logits(const float* x, const Batch& b, const std::vector<SeqSpan>& seqs, const TensorView& norm,
                   float eps, int64_t D, const TensorView& output, float* xn, float* logits, ThreadPool* pool) {
  const std::vector<int64_t> rows = logit_rows(b, seqs);
  for (size_t i = 0; i < rows.size(); ++i) rmsnorm_rows(x + rows[i] * D, norm, eps, 1, D, xn + i * D);
  kernels::matmul(output, xn, (int64_t)rows.size(), logits, pool);
}

}  // namespace moecat
