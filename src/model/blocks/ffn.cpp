#include "model/blocks/ffn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/ops.h"

namespace moecat {

Result<MlpWeights> load_mlp(Weights& w, const ModelConfig& c, int64_t il) {
  MlpWeights m;
  const std::string p = "blk." + std::to_string(il) + ".";
  MOECAT_ASSIGN_OR_RETURN(m.gate, w.get(p + "ffn_gate.weight", {c.n_ff, c.n_embd}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.up, w.get(p + "ffn_up.weight", {c.n_ff, c.n_embd}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.down, w.get(p + "ffn_down.weight", {c.n_embd, c.n_ff}, MOECAT_MATRIX_TYPES));
  return m;
}

Result<MoeWeights> load_moe(Weights& w, const ModelConfig& c, int64_t il) {
  MoeWeights m;
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t E = c.n_expert, F = c.n_ff_expert, D = c.n_embd;
  MOECAT_ASSIGN_OR_RETURN(m.router, w.get(p + "ffn_gate_inp.weight", {E, D}, MOECAT_MATRIX_TYPES));
  w.mark_keep_f32();  // routing decisions are sensitive; llama.cpp's converter keeps it f32 too
  MOECAT_ASSIGN_OR_RETURN(m.gate, w.get_experts(p + "ffn_gate_exps.weight", E, {F, D}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.up, w.get_experts(p + "ffn_up_exps.weight", E, {F, D}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.down, w.get_experts(p + "ffn_down_exps.weight", E, {D, F}, MOECAT_MATRIX_TYPES));
  return m;
}

static void swiglu_ffn(const TensorView& gate, const TensorView& up, const TensorView& down,
                       const float* x, int64_t n, float* out, ThreadPool* pool) {
  const int64_t F = gate.shape[0];
  std::vector<float> g(n * F), u(n * F);  // [n][F]
  kernels::matmul(gate, x, n, g.data(), pool);
  kernels::matmul(up, x, n, u.data(), pool);
  kernels::swiglu(g.data(), u.data(), n * F, g.data());
  kernels::matmul(down, g.data(), n, out, pool);
}

void mlp_forward(const MlpWeights& w, const float* x, int64_t n, float* out, ThreadPool* pool) {
  swiglu_ffn(w.gate, w.up, w.down, x, n, out, pool);
}

Routing moe_route(const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n,
                  ThreadPool* pool) {
  const int64_t E = c.n_expert, K = c.n_expert_used;
  std::vector<float> logits(n * E);  // [n][E]
  kernels::matmul(w.router, x, n, logits.data(), pool);
  Routing r;
  r.k = K;
  r.experts.resize(n * K);
  r.weights.resize(n * K);
  std::vector<int32_t> idx(E);
  for (int64_t t = 0; t < n; ++t) {
    float* p = logits.data() + t * E;
    kernels::softmax(p, E);
    std::iota(idx.begin(), idx.end(), 0);
    // Highest probability first; ties to the lower expert id (deterministic).
    std::partial_sort(idx.begin(), idx.begin() + K, idx.end(), [p](int32_t a, int32_t b) {
      return p[a] > p[b] || (p[a] == p[b] && a < b);
    });
    float sum = 0;
    for (int64_t j = 0; j < K; ++j) sum += p[idx[j]];
    for (int64_t j = 0; j < K; ++j) {
      r.experts[t * K + j] = idx[j];
      r.weights[t * K + j] = c.norm_topk_prob ? p[idx[j]] / sum : p[idx[j]];
    }
  }
  return r;
}

void moe_experts(const ModelConfig& c, const MoeWeights& w, const Routing& r, const float* x,
                 int64_t n, float* out, ThreadPool* pool) {
  const int64_t D = c.n_embd, E = c.n_expert, K = r.k;
  std::memset(out, 0, n * D * sizeof(float));
  // Group token slots by expert: each expert's weights are read once for all its tokens.
  std::vector<std::vector<int64_t>> slots(E);
  for (int64_t s = 0; s < n * K; ++s) slots[r.experts[s]].push_back(s);
  std::vector<float> xe, ye;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t m = static_cast<int64_t>(slots[e].size());
    if (m == 0) continue;
    xe.resize(m * D);
    ye.resize(m * D);
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(xe.data() + i * D, x + (slots[e][i] / K) * D, D * sizeof(float));
    swiglu_ffn(w.gate[e], w.up[e], w.down[e], xe.data(), m, ye.data(), pool);
    for (int64_t i = 0; i < m; ++i) {
      const int64_t s = slots[e][i];
      kernels::axpy(r.weights[s], ye.data() + i * D, out + (s / K) * D, D);
    }
  }
}

}  // namespace moecat
