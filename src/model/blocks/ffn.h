// Feed-forward blocks: the dense SwiGLU MLP and the mixture-of-experts block (router + SwiGLU
// experts). The MoE groups a batch's tokens by expert so each chosen expert's weights are
// streamed once per batch, not once per token.
#pragma once
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/threadpool.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weights.h"

namespace moecat {

struct MlpWeights {
  TensorView gate;  // [n_ff, n_embd]
  TensorView up;    // [n_ff, n_embd]
  TensorView down;  // [n_embd, n_ff]
};

struct MoeWeights {
  TensorView router;              // [n_expert + n_zero_expert, n_embd]
  TensorView score_bias;          // [n_expert + n_zero_expert] f32, selection-only (config.score_bias)
  bool has_shared = false;
  MlpWeights shared;              // shared experts as one SwiGLU of n_ff_expert * n_shared_expert
  std::vector<TensorView> gate;   // n_expert x [n_ff_expert, n_embd]
  std::vector<TensorView> up;     // n_expert x [n_ff_expert, n_embd]
  std::vector<TensorView> down;   // n_expert x [n_embd, n_ff_expert]
  TensorView router_b;            // [n_expert] f32 (config.router_bias)
  std::vector<TensorView> gate_b, up_b, down_b;  // per expert [n_ff_expert] / [n_embd] f32 (expert_bias)
};

// Names prefix + "ffn_gate" + tag + ".weight": prefix "blk.3." or "mtp.", tag a sublayer
// suffix for archs with several MLPs per layer (".1").
Result<MlpWeights> load_mlp(Weights& w, const ModelConfig& c, const std::string& prefix,
                            const std::string& tag = "");
Result<MoeWeights> load_moe(Weights& w, const ModelConfig& c, int64_t layer);

// x: [n][n_embd] (normed) -> out: [n][n_embd] (overwritten).
void mlp_forward(const MlpWeights& w, const float* x, int64_t n, float* out, ThreadPool* pool);

// Router decisions for a batch: for token t, experts[t*k + j] with weight weights[t*k + j].
// Ids >= n_expert are zero-computation (identity) experts.
struct Routing {
  int64_t k = 0;
  std::vector<int32_t> experts;
  std::vector<float> weights;
};
Routing moe_route(const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n,
                  ThreadPool* pool);
// Runs the routed experts, grouped by expert, plus the shared experts; out is overwritten.
// Zero-expert slots add weight * x without any FFN work; stats (optional) counts both kinds.
void moe_experts(const ModelConfig& c, const MoeWeights& w, const Routing& r, const float* x,
                 int64_t n, float* out, ThreadPool* pool, ForwardStats* stats = nullptr);

// The same in two halves, for archs that can compute something else while the expert-parallel
// combine (model/expert_parallel.h) is on the wire (LongCat's shortcut MoE: the dense path of
// the layer). start() runs this rank's experts and starts the combine; out is complete only
// after finish(). Without expert parallelism start() does everything and finish() nothing.
// out must stay valid until finish() (the destructor finishes the transfer, not out).
class MoeCombine {
 public:
  struct State;
  MoeCombine();
  explicit MoeCombine(std::unique_ptr<State> s);
  MoeCombine(MoeCombine&&) noexcept;
  MoeCombine& operator=(MoeCombine&&) noexcept;
  ~MoeCombine();
  void progress();  // lets the transport move data (cheap; call between pieces of other work)
  void finish();

 private:
  std::unique_ptr<State> s_;
};
MoeCombine moe_experts_start(const ModelConfig& c, const MoeWeights& w, const Routing& r, const float* x,
                             int64_t n, float* out, ThreadPool* pool, ForwardStats* stats = nullptr);

}  // namespace moecat
