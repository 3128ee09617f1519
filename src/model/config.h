// ModelConfig: everything that varies between architectures, as data. Arch files fill it from
// GGUF metadata or HF config.json; shared blocks read only this struct (never the arch name).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moecat {

enum class RopeScaling { kNone, kLinear, kLlama3, kYarn };
// How router logits become expert scores: softmax over experts (Mixtral, Qwen3-MoE) or an
// independent sigmoid per expert (DeepSeek-V3).
enum class MoeGating {
  kSoftmax,      // softmax over all experts, then top-k
  kSigmoid,      // sigmoid per expert, then top-k
  kSoftmaxTopK,  // top-k of the logits, softmax over those k (gpt-oss)
};
// The experts' (and MLPs') activation: SwiGLU silu(g) * u, or gpt-oss's clamped variant
// (g = min(g, limit), u = clamp(u, -limit, limit), g * sigmoid(alpha g) * (u + 1)).
enum class FfnAct { kSwiglu, kSwigluOai };
enum class SourceKind { kGguf, kHf };

struct RopeConfig {
  double theta = 10000.0;
  int64_t dim = 0;          // rotated dims per head (<= head_dim)
  bool neox = true;         // pairs (i, i+dim/2) (HF rotate_half); false: adjacent pairs (GGUF llama)
  RopeScaling scaling = RopeScaling::kNone;
  double factor = 1.0;      // linear / llama3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t orig_ctx = 8192;  // llama3 / yarn original_max_position_embeddings
  double beta_fast = 32.0, beta_slow = 1.0;  // yarn: rotation counts bounding the blend
  double attn_factor = 1.0;  // yarn: cos/sin are multiplied by this
  double mscale_all_dim = 0;  // yarn (DeepSeek): softmax temperature mscale(factor, this)^2
  bool yarn_truncate = true;  // yarn: floor/ceil the correction range (HF "truncate"; gpt-oss: false)
  std::vector<float> freq_factors;  // [dim/2] divides each frequency (GGUF rope_freqs.weight); empty = none
};

// LongCat-Flash-Lite's N-gram embedding: each token's embedding is averaged with k*(n-1)
// hashed embeddings of the n-grams (orders 2..n, k hash moduli each) that end at it.
struct NgramEmbedConfig {
  int64_t n = 0;             // emb_neighbor_num; 0: plain embedding
  int64_t k = 0;             // emb_split_num
  int64_t modulus_base = 0;  // m: table i has m + 2i + 1 rows
  int64_t hash_base = 0;     // V of the hash (config vocab_size)
  int32_t reset_token = -1;  // eos: tokens after it do not look back past it
  int64_t table_dim = 0;     // hidden / (k * (n - 1))
  int64_t n_tables() const { return n > 1 ? k * (n - 1) : 0; }
};

struct ModelConfig {
  std::string arch;           // registry name: "llama", "mixtral", "qwen3moe"
  std::string gguf_arch;      // GGUF general.architecture ("llama" for Mixtral too)
  SourceKind source = SourceKind::kGguf;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;       // explicit (Qwen3 decouples it from n_embd / n_head)
  int64_t n_ff = 0;           // dense MLP hidden size
  int64_t n_ctx_train = 4096;
  float norm_eps = 1e-5f;
  RopeConfig rope;
  bool qk_norm = false;
  // GGUF stores q/k rows permuted so ggml's interleaved rope matches HF's rotate-half (llama.cpp's
  // converter does this for `llama`). HF folders of such archs run neox rope on unpermuted rows.
  bool gguf_rope_permuted = false;       // per-head RMSNorm on q and k before RoPE (Qwen3)
  bool tie_embeddings = false;
  bool attn_bias = false;               // q/k/v/o biases (gpt-oss)
  bool attn_sinks = false;              // per-head sink logit in the softmax (gpt-oss)
  std::vector<int64_t> layer_window;    // [n_layer] sliding window per layer, 0 = full (empty: all full)
  std::string ffn_norm_tensor = "ffn_norm";  // GGUF name of the pre-FFN norm (gpt-oss: attn_post_norm)

  // Mixture of experts (n_expert == 0: dense).
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_expert = 0;
  MoeGating gating = MoeGating::kSoftmax;
  bool norm_topk_prob = true;  // renormalise the chosen experts' weights to sum to 1
  std::vector<bool> layer_is_moe;  // [n_layer]
  bool score_bias = false;        // per-expert bias added to scores for selection only (DeepSeek-V3)
  int64_t n_group = 1;            // group-limited routing: experts in n_group groups,
  int64_t topk_group = 1;         //   only the best topk_group groups (by top-2 score sum) compete
  float routed_scale = 1.0f;      // routed experts' weights are multiplied by this
  int64_t n_shared_expert = 0;    // always-on shared experts: one SwiGLU of n_ff_expert * n_shared
  bool router_bias = false;       // router logits + bias (gpt-oss)
  bool expert_bias = false;       // gate/up/down biases per expert (gpt-oss)
  FfnAct ffn_act = FfnAct::kSwiglu;
  float swiglu_alpha = 1.702f, swiglu_limit = 7.0f;
  // Zero-computation experts (LongCat): router ids n_expert .. n_expert + n_zero_expert - 1 are
  // identities; a slot routed to one adds weight * input and never touches expert weights.
  int64_t n_zero_expert = 0;

  // Multi-head latent attention (DeepSeek-V2/V3, LongCat): kv_lora_rank > 0 turns it on.
  // The cache holds the normed latent (kv_lora_rank) + the roped key part (qk_rope_dim) per token.
  int64_t q_lora_rank = 0;        // 0: q = x W_q directly
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_dim = 0, qk_rope_dim = 0, v_head_dim = 0;
  float attn_scale = 0;           // softmax scale of q.k; 0: 1/sqrt(qk head size)
  // eps of the q_a / kv_a RMSNorms: HF builds them with the RMSNorm default (1e-6), not
  // rms_norm_eps; llama.cpp's deepseek2 uses rms_norm_eps (1e-6 in every DeepSeek config).
  float mla_norm_eps = 1e-6f;
  NgramEmbedConfig ngram;
  int64_t n_mtp_layers = 0;       // multi-token-prediction layers the file must carry (LongCat: 0 or 1)
  float mla_q_scale = 1.0f;       // LongCat: q *= sqrt(hidden / q_lora_rank)
  float mla_kv_scale = 1.0f;      // LongCat: latent *= sqrt(hidden / kv_lora_rank)

  std::string summary() const;  // one line per field group, for `moecat info`
};

}  // namespace moecat
