// Multi-head attention with grouped KV heads (GQA), optional per-head q/k RMSNorm (Qwen3),
// RoPE, and a position-major KV cache. Shared by Llama, Mixtral, Qwen3-MoE.
#pragma once
#include "base/status.h"
#include "kernels/threadpool.h"
#include "model/blocks/rope.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weights.h"

namespace moecat {

struct AttentionWeights {
  TensorView wq;      // [n_head*head_dim, n_embd]
  TensorView wk;      // [n_head_kv*head_dim, n_embd]
  TensorView wv;      // [n_head_kv*head_dim, n_embd]
  TensorView wo;      // [n_embd, n_head*head_dim]
  TensorView q_norm;  // [head_dim] f32 (qk_norm only)
  TensorView k_norm;  // [head_dim] f32 (qk_norm only)
  TensorView bq, bk, bv, bo;  // f32 biases (attn_bias only): [rows of wq / wk / wv / wo]
  TensorView sinks;           // [n_head] f32 per-head sink logits (attn_sinks only)
};

Result<AttentionWeights> load_attention(Weights& w, const ModelConfig& c, int64_t layer);

// x: [n][n_embd] (already normed); out: [n][n_embd]. Appends each token's k/v to cache layer
// `layer` of its sequence (seqs = batch_spans()). window: this layer's sliding window (0 = full).
void attention_forward(const ModelConfig& c, const Rope& rope, const AttentionWeights& w,
                       const float* x, const Batch& b, const std::vector<SeqSpan>& seqs, int64_t layer,
                       float* out, ThreadPool* pool, int64_t window = 0);

// KV floats per position for this attention, and each layer's window.
inline KvShape attention_kv_shape(const ModelConfig& c) {
  return KvShape{c.n_layer, c.n_head_kv * c.head_dim, c.n_head_kv * c.head_dim, c.layer_window};
}

}  // namespace moecat
