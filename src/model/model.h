// Model: an architecture's loaded weights plus its forward pass. Immutable after load, so one
// Model can serve many sequences; per-sequence state (the KV cache) is passed in.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "kernels/threadpool.h"
#include "model/config.h"
#include "model/weights.h"

namespace moecat {

// Element type of a KV cache. f16 halves the memory per position (llama.cpp's default); f32 is
// exact and what the reference comparisons use.
enum class KvType : uint8_t { kF32, kF16 };
const char* kv_type_name(KvType t);
size_t kv_type_bytes(KvType t);

// One layer's cache for one sequence: position-major, so a paged cache can later hand out
// blocks of positions. k: [capacity][k_width] elements of `type`, v: [capacity][v_width].
struct LayerKv {
  void* k = nullptr;
  void* v = nullptr;
  KvType type = KvType::kF32;
  int64_t k_width = 0, v_width = 0;
  int64_t ring = 0;  // >0: sliding-window layer; position p lives in row p % ring
  // Paged (runtime/paged_kv.h): k/v point at the layer's block pool and position p lives in
  // row blocks[p / block_rows] * block_rows + p % block_rows. The table is the sequence's.
  const int32_t* blocks = nullptr;
  int64_t block_rows = 0;
  int64_t row(int64_t pos) const {
    if (blocks) return int64_t(blocks[pos / block_rows]) * block_rows + pos % block_rows;
    return ring > 0 ? pos % ring : pos;
  }
  // Writes src[0, n) into position pos's K (V) row from column col on, converted to `type`.
  void store_k(int64_t pos, int64_t col, const float* src, int64_t n) const;
  void store_v(int64_t pos, int64_t col, const float* src, int64_t n) const;
};

struct SequenceKv {
  std::vector<LayerKv> layers;
  int64_t capacity = 0;  // positions
  // The token at each position written so far, for models whose input looks back at ids
  // (LongCat-Flash-Lite's n-gram embedding). [capacity]
  std::vector<int32_t> tokens;
};

// What the cache must hold per layer (elements per position).
struct KvShape {
  int64_t n_layer = 0, k_width = 0, v_width = 0;
  // Per layer: the attention window (0 = full context). A windowed layer's cache only keeps
  // window + batch - 1 rows, reused as a ring.
  std::vector<int64_t> window;
  KvType type = KvType::kF32;  // the runtime's choice (models report kF32)
};

// Counters a forward pass adds to when asked (moecat run --stats, server metrics).
struct ForwardStats {
  int64_t moe_token_layers = 0;  // tokens x MoE layers routed
  int64_t ffn_expert_slots = 0;  // expert slots that ran an FFN (zero experts excluded)
  int64_t zero_expert_slots = 0; // slots routed to zero-computation experts
};

// One sequence's run of tokens inside a batch: tokens [begin, begin + n) use kv.
struct SeqSpan {
  int64_t begin = 0, n = 0;
  SequenceKv* kv = nullptr;
  // Rows at the end of the span that get logits (unless all_logits): 1 for generation, more to
  // verify draft tokens (speculative decoding in the server's batch).
  int64_t n_logits = 1;
};

// A batch of tokens at consecutive or arbitrary positions: of one sequence (the kv passed to
// forward), or of several (spans; continuous batching runs every active sequence's next
// tokens through the weights once).
struct Batch {
  const int32_t* tokens = nullptr;  // [n]
  const int32_t* pos = nullptr;     // [n] absolute positions (< kv capacity)
  int64_t n = 0;
  // Rows to produce logits for: all (logprobs) or only the last (generation).
  bool all_logits = false;
  ForwardStats* stats = nullptr;  // optional
  // Optional [n][n_embd]: each token's final hidden state (after the output norm), which a
  // multi-token-prediction head consumes.
  float* hidden_out = nullptr;  // every row of the batch, also with spans (models with an MTP head)
  // Several sequences: in order, covering [0, n). Null: all tokens belong to forward()'s kv.
  // Logits then come for the last n_logits tokens of each span ([sum of n_logits][n_vocab])
  // unless all_logits.
  const SeqSpan* spans = nullptr;
  int64_t n_spans = 0;
};

// The batch's sequences: b.spans, or one span of every token over kv.
std::vector<SeqSpan> batch_spans(const Batch& b, SequenceKv& kv);
// The token rows that get logits, in output order: all rows, or each span's last one.
std::vector<int64_t> logit_rows(const Batch& b, const std::vector<SeqSpan>& spans);
// The part of b that belongs to one span (a single-sequence batch).
Batch span_batch(const Batch& b, const SeqSpan& s);

class Model {
 public:
  virtual ~Model() = default;
  const ModelConfig& config() const { return cfg_; }
  virtual KvShape kv_shape() const = 0;
  // logits: [rows of logit_rows()][n_vocab]. Writes this batch's keys/values into kv (or
  // into each span's kv).
  virtual void forward(const Batch& b, SequenceKv& kv, float* logits, ThreadPool* pool) const = 0;
  // Multi-token prediction (LongCat-Flash's MTP layer): from the main model's final hidden state
  // h_i at position i and the token t_{i+1}, predict t_{i+2}. b.tokens[j] = t_{i+1} at
  // b.pos[j] = i (the slot keeps the position of h), h: [n][n_embd]. Writes its own one-layer cache; logits as in forward();
  // hidden_out (optional) gets the head's own final hidden state, to chain further drafts.
  virtual bool has_mtp() const { return false; }
  virtual KvShape mtp_kv_shape() const { return KvShape{}; }
  virtual void forward_mtp(const Batch& b, const float* h, SequenceKv& kv, float* logits,
                           ThreadPool* pool) const {
    MOECAT_CHECK_MSG(false, "this model has no MTP head");
  }

  // Every tensor the model loaded (for convert and `info`).
  const Weights& weights() const { return *weights_; }

 protected:
  ModelConfig cfg_;
  std::unique_ptr<ModelSource> source_;
  std::unique_ptr<Weights> weights_;
};

}  // namespace moecat
