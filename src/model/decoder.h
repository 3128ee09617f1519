// DecoderModel: the pre-norm transformer shared by Llama, Mixtral, Qwen3-MoE and DeepSeek-V3:
//   x = embed(tokens)
//   each layer: x += attention(rmsnorm(x)); x += ffn(rmsnorm(x))
//   (attention: GQA or MLA; ffn: dense MLP or MoE with optional shared experts)
//   logits = output(rmsnorm(x))
// Which variant (qk-norm, MoE layers, rope style) is data in ModelConfig; arch files only
// read hyperparameters and name tensors.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "model/blocks/attention.h"
#include "model/blocks/ffn.h"
#include "model/blocks/mla.h"
#include "model/blocks/rope.h"
#include "model/model.h"

namespace moecat {

class DecoderModel : public Model {
 public:
  // prepare (optional) runs before the weights are loaded, to provide tensors the arch builds
  // from others (Weights::provide).
  using Prepare = std::function<Status(Weights&, const ModelConfig&)>;
  static Result<std::unique_ptr<Model>> Load(ModelConfig cfg, std::unique_ptr<ModelSource> src,
                                             std::vector<NamePair> hf_names, const Prepare& prepare = nullptr);
  KvShape kv_shape() const override {
    return cfg_.kv_lora_rank > 0 ? mla_kv_shape(cfg_) : attention_kv_shape(cfg_);
  }
  void forward(const Batch& b, SequenceKv& kv, float* logits, ThreadPool* pool) const override;

 private:
  struct Layer {
    TensorView attn_norm;  // [n_embd] f32
    TensorView ffn_norm;   // [n_embd] f32
    AttentionWeights attn;  // kv_lora_rank == 0
    MlaWeights mla;         // kv_lora_rank > 0
    bool is_moe = false;
    MlpWeights mlp;
    MoeWeights moe;
  };
  Status load_weights();
  TensorView tok_embd_;     // [n_vocab, n_embd]
  TensorView output_norm_;  // [n_embd] f32
  TensorView output_;       // [n_vocab, n_embd] (tok_embd when tied)
  std::vector<Layer> layers_;
  std::unique_ptr<Rope> rope_;
};

// y[t] = rmsnorm(x[t]) * w for each of n rows of width D (w: [D] f32).
void rmsnorm_rows(const float* x, const TensorView& w, float eps, int64_t n, int64_t D, float* y);

// Logits of the batch rows that need them (logit_rows): each row of x [n][D] is normed with
// norm into xn (scratch, [rows][D]) and projected by output: logits [rows][n_vocab].
void output_logits(const float* x, const Batch& b, const std::vector<SeqSpan>& seqs, const TensorView& norm,
                   float eps, int64_t D, const TensorView& output, float* xn, float* logits, ThreadPool* pool);

// Embedding rows for a batch: x [n][n_embd].
void embed_tokens(const TensorView& tok_embd, const int32_t* tokens, int64_t n, float* x);

}  // namespace moecat
