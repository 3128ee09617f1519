#include "model/blocks/attention.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "model/blocks/bias.h"

namespace moecat {

Result<AttentionWeights> load_attention(Weights& w, const ModelConfig& c, int64_t il) {
  AttentionWeights a;
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t qd = c.n_head * c.head_dim, kd = c.n_head_kv * c.head_dim;
  // GGUF llama stores q/k rows permuted for interleaved rope; HF keeps rotate-half order.
  const bool hf_rope_order = w.is_hf() && c.gguf_rope_permuted;
  MOECAT_ASSIGN_OR_RETURN(a.wq, w.get(p + "attn_q.weight", {qd, c.n_embd}, MOECAT_MATRIX_TYPES));
  if (hf_rope_order) w.mark_rope_permute(c.n_head);
  MOECAT_ASSIGN_OR_RETURN(a.wk, w.get(p + "attn_k.weight", {kd, c.n_embd}, MOECAT_MATRIX_TYPES));
  if (hf_rope_order) w.mark_rope_permute(c.n_head_kv);
  MOECAT_ASSIGN_OR_RETURN(a.wv, w.get(p + "attn_v.weight", {kd, c.n_embd}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(a.wo, w.get(p + "attn_output.weight", {c.n_embd, qd}, MOECAT_MATRIX_TYPES));
  if (c.qk_norm) {
    MOECAT_ASSIGN_OR_RETURN(a.q_norm, w.get_f32(p + "attn_q_norm.weight", {c.head_dim}));
    MOECAT_ASSIGN_OR_RETURN(a.k_norm, w.get_f32(p + "attn_k_norm.weight", {c.head_dim}));
  }
  if (c.attn_bias) {
    MOECAT_ASSIGN_OR_RETURN(a.bq, w.get_f32(p + "attn_q.bias", {qd}));
    MOECAT_ASSIGN_OR_RETURN(a.bk, w.get_f32(p + "attn_k.bias", {kd}));
    MOECAT_ASSIGN_OR_RETURN(a.bv, w.get_f32(p + "attn_v.bias", {kd}));
    MOECAT_ASSIGN_OR_RETURN(a.bo, w.get_f32(p + "attn_output.bias", {c.n_embd}));
  }
  if (c.attn_sinks) {
    MOECAT_ASSIGN_OR_RETURN(a.sinks, w.get_f32(p + "attn_sinks.weight", {c.n_head}));
  }
  return a;
}

void attention_forward(const ModelConfig& c, const Rope& rope, const AttentionWeights& w,
                       const float* x, const Batch& b, const std::vector<SeqSpan>& seqs, int64_t layer,
                       float* out, ThreadPool* pool, int64_t window) {
  const int64_t n = b.n, hd = c.head_dim;
  const int64_t qd = c.n_head * hd, kd = c.n_head_kv * hd;
  std::vector<float> q(n * qd), k(n * kd), v(n * kd), att(n * qd);  // [n][heads*head_dim]
  // q, k and v in one parallel region, x quantized once (same results as three matmuls).
  const kernels::MatJob qkv[3] = {{&w.wq, x, n, nullptr, n, q.data(), qd},
                                  {&w.wk, x, n, nullptr, n, k.data(), kd},
                                  {&w.wv, x, n, nullptr, n, v.data(), kd}};
  kernels::matmul_many(qkv, 3, pool);
  add_row_bias(q.data(), n, &w.bq);
  add_row_bias(k.data(), n, &w.bk);
  add_row_bias(v.data(), n, &w.bv);

  std::vector<float> cs(rope.config().dim / 2), sn(rope.config().dim / 2);
  for (const SeqSpan& sp : seqs) {
  LayerKv& kv = sp.kv->layers[layer];
  for (int64_t t = sp.begin; t < sp.begin + sp.n; ++t) {
    float* qt = q.data() + t * qd;
    float* kt = k.data() + t * kd;
    if (c.qk_norm) {
      const float* qn = static_cast<const float*>(w.q_norm.data);
      const float* kn = static_cast<const float*>(w.k_norm.data);
      for (int64_t h = 0; h < c.n_head; ++h) kernels::rmsnorm(qt + h * hd, qn, c.norm_eps, hd, qt + h * hd);
      for (int64_t h = 0; h < c.n_head_kv; ++h) kernels::rmsnorm(kt + h * hd, kn, c.norm_eps, hd, kt + h * hd);
    }
    rope.angles(b.pos[t], cs.data(), sn.data());
    kernels::rope(qt, c.n_head, hd, rope.config().dim, cs.data(), sn.data(), rope.config().neox);
    kernels::rope(kt, c.n_head_kv, hd, rope.config().dim, cs.data(), sn.data(), rope.config().neox);
    kv.store_k(b.pos[t], 0, kt, kd);
    kv.store_v(b.pos[t], 0, v.data() + t * kd, kd);
  }
  }

  for (const SeqSpan& sp : seqs) {
    const LayerKv& kv = sp.kv->layers[layer];
    kernels::AttentionParams ap;
    ap.n_head = c.n_head;
    ap.n_head_kv = c.n_head_kv;
    ap.head_dim_k = hd;
    ap.head_dim_v = hd;
    ap.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    ap.k_pos_stride = kv.k_width;
    ap.v_pos_stride = kv.v_width;
    ap.kv_f16 = kv.type == KvType::kF16;
    ap.window = window;
    ap.ring = kv.ring;
    ap.blocks = kv.blocks;
    ap.block_rows = kv.block_rows;
    ap.sinks = w.sinks.valid() ? static_cast<const float*>(w.sinks.data) : nullptr;
    kernels::attention(q.data() + sp.begin * qd, b.pos + sp.begin, sp.n, kv.k, kv.v, ap,
                       att.data() + sp.begin * qd, pool);
  }
  kernels::matmul(w.wo, att.data(), n, out, pool);
  add_row_bias(out, n, &w.bo);
}

}  // namespace moecat
