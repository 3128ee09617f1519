// Multi-head latent attention (DeepSeek-V2/V3; LongCat-Flash builds on it), always in the
// absorbed form: the cache holds per token only the normed latent c (kv_lora_rank floats) and the
// roped shared key part k_pe (qk_rope_dim floats). Keys and values are never re-expanded:
//   score_h(t, s) = (W_kb_h^T q_nope_h) . c_s + q_pe_h . k_pe_s
//   out_h(t)      = W_vb_h (sum_s p_s c_s)
// which is multi-query attention with one kv head of width kv_lora_rank + qk_rope_dim whose
// "value" is the first kv_lora_rank floats of the same cache row.
#pragma once
#include <vector>

#include "base/status.h"
#include "kernels/threadpool.h"
#include "model/blocks/rope.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weights.h"

namespace moecat {

struct MlaWeights {
  TensorView wq_a;       // [q_lora_rank, n_embd]              (q_lora_rank > 0)
  TensorView q_a_norm;   // [q_lora_rank] f32
  TensorView wq_b;       // [n_head*(nope+rope), q_lora_rank]
  TensorView wq;         // [n_head*(nope+rope), n_embd]        (q_lora_rank == 0)
  TensorView wkv_a;      // [kv_lora_rank + rope, n_embd]
  TensorView kv_a_norm;  // [kv_lora_rank] f32
  std::vector<TensorView> k_b;  // n_head x [kv_lora_rank, nope]  (W_kb_h transposed)
  std::vector<TensorView> v_b;  // n_head x [v_head_dim, kv_lora_rank]
  TensorView wo;         // [n_embd, n_head*v_head_dim]
  // Norm weights actually used: LongCat's mla_q_scale / mla_kv_scale are folded in at load
  // (the norms are the last linear step before q_b and before the cache).
  std::vector<float> q_norm_eff;   // [q_lora_rank]
  std::vector<float> kv_norm_eff;  // [kv_lora_rank]
};

// Tensor names are prefix + base + tag + ".weight": prefix "blk.3." (or "mtp." for a LongCat MTP
// layer), tag a sublayer suffix for archs with several attentions per layer (".1").
Result<MlaWeights> load_mla(Weights& w, const ModelConfig& c, const std::string& prefix,
                            const std::string& tag = "");

// x: [n][n_embd] (normed) -> out: [n][n_embd]. Appends latent + k_pe rows to cache layer
// `layer` of each token's sequence (seqs = batch_spans()).
void mla_forward(const ModelConfig& c, const Rope& rope, const MlaWeights& w, const float* x,
                 const Batch& b, const std::vector<SeqSpan>& seqs, int64_t layer, float* out,
                 ThreadPool* pool);

inline KvShape mla_kv_shape(const ModelConfig& c) {
  // v_width 0: values are read from the key rows (the latent), nothing separate is stored.
  return KvShape{c.n_layer, c.kv_lora_rank + c.qk_rope_dim, 0};
}

}  // namespace moecat
