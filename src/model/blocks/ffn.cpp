#include "model/blocks/ffn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/ops.h"
#include "model/blocks/bias.h"

namespace moecat {

Result<MlpWeights> load_mlp(Weights& w, const ModelConfig& c, const std::string& p, const std::string& tag) {
  MlpWeights m;
  MOECAT_ASSIGN_OR_RETURN(m.gate, w.get(p + "ffn_gate" + tag + ".weight", {c.n_ff, c.n_embd}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.up, w.get(p + "ffn_up" + tag + ".weight", {c.n_ff, c.n_embd}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.down, w.get(p + "ffn_down" + tag + ".weight", {c.n_embd, c.n_ff}, MOECAT_MATRIX_TYPES));
  return m;
}

Result<MoeWeights> load_moe(Weights& w, const ModelConfig& c, int64_t il) {
  MoeWeights m;
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t E = c.n_expert, F = c.n_ff_expert, D = c.n_embd, ET = E + c.n_zero_expert;
  MOECAT_ASSIGN_OR_RETURN(m.router, w.get(p + "ffn_gate_inp.weight", {ET, D}, MOECAT_MATRIX_TYPES));
  w.mark_keep_f32();  // routing decisions are sensitive; llama.cpp's converter keeps it f32 too
  if (c.router_bias) {
    MOECAT_ASSIGN_OR_RETURN(m.router_b, w.get_f32(p + "ffn_gate_inp.bias", {ET}));
  }
  if (c.expert_bias) {
    MOECAT_ASSIGN_OR_RETURN(TensorView gb, w.get_f32(p + "ffn_gate_exps.bias", {E, F}));
    MOECAT_ASSIGN_OR_RETURN(TensorView ub, w.get_f32(p + "ffn_up_exps.bias", {E, F}));
    MOECAT_ASSIGN_OR_RETURN(TensorView db, w.get_f32(p + "ffn_down_exps.bias", {E, D}));
    for (int64_t e = 0; e < E; ++e) {
      m.gate_b.push_back(gb.slice0(e));
      m.up_b.push_back(ub.slice0(e));
      m.down_b.push_back(db.slice0(e));
    }
  }
  if (c.score_bias) {
    MOECAT_ASSIGN_OR_RETURN(m.score_bias, w.get_f32(p + "exp_probs_b.bias", {ET}));
  }
  if (c.n_shared_expert > 0) {
    const int64_t S = F * c.n_shared_expert;
    m.has_shared = true;
    MOECAT_ASSIGN_OR_RETURN(m.shared.gate, w.get(p + "ffn_gate_shexp.weight", {S, D}, MOECAT_MATRIX_TYPES));
    MOECAT_ASSIGN_OR_RETURN(m.shared.up, w.get(p + "ffn_up_shexp.weight", {S, D}, MOECAT_MATRIX_TYPES));
    MOECAT_ASSIGN_OR_RETURN(m.shared.down, w.get(p + "ffn_down_shexp.weight", {D, S}, MOECAT_MATRIX_TYPES));
  }
  MOECAT_ASSIGN_OR_RETURN(m.gate, w.get_experts(p + "ffn_gate_exps.weight", E, {F, D}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.up, w.get_experts(p + "ffn_up_exps.weight", E, {F, D}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.down, w.get_experts(p + "ffn_down_exps.weight", E, {D, F}, MOECAT_MATRIX_TYPES));
  return m;
}

// gpt-oss: g = min(g, limit); u = clamp(u, -limit, limit); y = g * sigmoid(alpha * g) * (u + 1).
static void swiglu_oai(const float* g, const float* u, int64_t n, float alpha, float limit, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = std::min(g[i], limit);
    const float ui = std::max(-limit, std::min(u[i], limit));
    y[i] = gi / (1.0f + std::exp(-alpha * gi)) * (ui + 1.0f);
  }
}

struct FfnBias { const TensorView *gate = nullptr, *up = nullptr, *down = nullptr; };

// The activation between up/gate and down: h = act(g, u) written over g.
static void ffn_act(const ModelConfig* c, float* g, const float* u, int64_t n) {
  if (c && c->ffn_act == FfnAct::kSwigluOai)
    swiglu_oai(g, u, n, c->swiglu_alpha, c->swiglu_limit, g);
  else
    kernels::swiglu(g, u, n, g);
}

// The GLU of a gated pair (kernels::MatJob::glu), for output columns [r0, r1) of m rows:
// biases (gpt-oss experts), then the activation, into g. Per element as ffn_act over the whole.
struct GluCtx {
  const ModelConfig* c = nullptr;
  const TensorView *gate_b = nullptr, *up_b = nullptr;
};
static void glu_cols(const void* ctx, float* g, float* u, int64_t m, int64_t ld, int64_t r0, int64_t r1) {
  const GluCtx& k = *static_cast<const GluCtx*>(ctx);
  const bool bias = k.gate_b && k.gate_b->valid();
  const float* bg = bias ? static_cast<const float*>(k.gate_b->data) : nullptr;
  const float* bu = bias ? static_cast<const float*>(k.up_b->data) : nullptr;
  for (int64_t i = 0; i < m; ++i) {
    float* gi = g + i * ld;
    float* ui = u + i * ld;
    if (bias)
      for (int64_t r = r0; r < r1; ++r) {
        gi[r] += bg[r];
        ui[r] += bu[r];
      }
    ffn_act(k.c, gi + r0, ui + r0, r1 - r0);
  }
}

static void swiglu_ffn(const ModelConfig* c, const TensorView& gate, const TensorView& up,
                       const TensorView& down, const FfnBias& bias, const float* x, int64_t n,
                       float* out, ThreadPool* pool) {
  const int64_t F = gate.shape[0];
  std::vector<float> g(n * F), u(n * F);  // [n][F]
  // gate and up as one gated pair: one parallel region, one activation quantization, the
  // activation applied by the unit that computed the rows
  const GluCtx ctx{c, bias.gate, bias.up};
  const kernels::MatJob gu{&gate, x, n, nullptr, n, g.data(), F, &up, u.data(), glu_cols, &ctx};
  kernels::matmul_many(&gu, 1, pool);
  kernels::matmul(down, g.data(), n, out, pool);
  add_row_bias(out, n, bias.down);
}

void mlp_forward(const MlpWeights& w, const float* x, int64_t n, float* out, ThreadPool* pool) {
  swiglu_ffn(nullptr, w.gate, w.up, w.down, FfnBias{}, x, n, out, pool);
}

// Picks the top-k of `sel` among experts whose group is allowed, highest first, ties to the
// lower id (deterministic).
static void top_k(const float* sel, int64_t E, int64_t K, const std::vector<char>& allowed,
                  std::vector<int32_t>& idx) {
  idx.clear();
  for (int32_t e = 0; e < E; ++e)
    if (allowed.empty() || allowed[e]) idx.push_back(e);
  std::partial_sort(idx.begin(), idx.begin() + K, idx.end(), [sel](int32_t a, int32_t b) {
    return sel[a] > sel[b] || (sel[a] == sel[b] && a < b);
  });
}

// Group-limited routing (DeepSeek-V3): a group's strength is the sum of its two best selection
// scores; only experts of the topk_group strongest groups stay eligible.
static void allowed_groups(const ModelConfig& c, const float* sel, std::vector<char>& allowed) {
  const int64_t E = c.n_expert, G = c.n_group, per = E / G;
  std::vector<std::pair<float, int64_t>> gs(G);
  for (int64_t g = 0; g < G; ++g) {
    float b1 = -INFINITY, b2 = -INFINITY;
    for (int64_t e = g * per; e < (g + 1) * per; ++e) {
      if (sel[e] > b1) { b2 = b1; b1 = sel[e]; } else if (sel[e] > b2) { b2 = sel[e]; }
    }
    gs[g] = {per > 1 ? b1 + b2 : b1, g};
  }
  std::partial_sort(gs.begin(), gs.begin() + c.topk_group, gs.end(), [](auto& a, auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  allowed.assign(E, 0);
  for (int64_t i = 0; i < c.topk_group; ++i)
    for (int64_t e = gs[i].second * per; e < (gs[i].second + 1) * per; ++e) allowed[e] = 1;
}

Routing moe_route(const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n,
                  ThreadPool* pool) {
  const int64_t E = c.n_expert + c.n_zero_expert, K = c.n_expert_used;  // router outputs
  std::vector<float> logits(n * E);  // [n][E]
  kernels::matmul(w.router, x, n, logits.data(), pool);
  Routing r;
  r.k = K;
  r.experts.resize(n * K);
  r.weights.resize(n * K);
  std::vector<int32_t> idx;
  std::vector<float> sel(E);
  std::vector<char> allowed;
  const float* bias = c.score_bias ? static_cast<const float*>(w.score_bias.data) : nullptr;
  for (int64_t t = 0; t < n; ++t) {
    float* p = logits.data() + t * E;  // becomes the expert scores
    if (c.router_bias) {
      const float* rb = static_cast<const float*>(w.router_b.data);
      for (int64_t e = 0; e < E; ++e) p[e] += rb[e];
    }
    if (c.gating == MoeGating::kSoftmax) {
      kernels::softmax(p, E);
    } else if (c.gating == MoeGating::kSigmoid) {
      for (int64_t e = 0; e < E; ++e) p[e] = 1.0f / (1.0f + std::exp(-p[e]));
    }  // kSoftmaxTopK: choose on the logits, normalise the chosen ones below
    // The bias steers which experts are chosen, not how much they weigh.
    for (int64_t e = 0; e < E; ++e) sel[e] = bias ? p[e] + bias[e] : p[e];
    if (c.n_group > 1) allowed_groups(c, sel.data(), allowed);
    top_k(sel.data(), E, K, allowed, idx);
    if (c.gating == MoeGating::kSoftmaxTopK) {  // softmax over the k chosen logits
      float mx = -INFINITY, z = 0;
      for (int64_t j = 0; j < K; ++j) mx = std::max(mx, p[idx[j]]);
      std::vector<float> ex(K);
      for (int64_t j = 0; j < K; ++j) z += ex[j] = std::exp(p[idx[j]] - mx);
      for (int64_t j = 0; j < K; ++j) {
        r.experts[t * K + j] = idx[j];
        r.weights[t * K + j] = ex[j] / z * c.routed_scale;
      }
      continue;
    }
    float sum = 0;
    for (int64_t j = 0; j < K; ++j) sum += p[idx[j]];
    for (int64_t j = 0; j < K; ++j) {
      r.experts[t * K + j] = idx[j];
      r.weights[t * K + j] = (c.norm_topk_prob ? p[idx[j]] / sum : p[idx[j]]) * c.routed_scale;
    }
  }
  return r;
}

void moe_experts(const ModelConfig& c, const MoeWeights& w, const Routing& r, const float* x,
                 int64_t n, float* out, ThreadPool* pool, ForwardStats* stats) {
  const int64_t D = c.n_embd, E = c.n_expert, K = r.k;
  std::memset(out, 0, n * D * sizeof(float));
  // Group token slots by expert: each expert's weights are read once for all its tokens.
  // Zero-computation experts are identities: weight * x, no weights touched.
  std::vector<std::vector<int64_t>> slots(E);
  int64_t zero_slots = 0;
  for (int64_t s = 0; s < n * K; ++s) {
    const int32_t e = r.experts[s];
    if (e < E) {
      slots[e].push_back(s);
    } else {
      kernels::axpy(r.weights[s], x + (s / K) * D, out + (s / K) * D, D);
      ++zero_slots;
    }
  }
  if (stats) {
    stats->moe_token_layers += n;
    stats->zero_expert_slots += zero_slots;
    stats->ffn_expert_slots += n * K - zero_slots;
  }
  // All experts in two parallel regions (gate+up of every active expert, then every down),
  // each expert reading its tokens' rows of x through an index list: x is quantized once.
  const int64_t F = c.n_ff_expert;
  std::vector<int32_t> tok;             // [slots] token of each slot, grouped by expert
  std::vector<int64_t> off(E + 1, 0);   // expert e's slots: tok[off[e] .. off[e+1])
  std::vector<int32_t> slot_of;         // [slots] the routing slot of each grouped row
  for (int64_t e = 0; e < E; ++e) {
    off[e] = static_cast<int64_t>(tok.size());
    for (int64_t s : slots[e]) {
      tok.push_back(static_cast<int32_t>(s / K));
      slot_of.push_back(static_cast<int32_t>(s));
    }
  }
  off[E] = static_cast<int64_t>(tok.size());
  const int64_t M = off[E];
  std::vector<int32_t> iota(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) iota[i] = static_cast<int32_t>(i);
  std::vector<float> g(M * F), u(M * F), ye(M * D);  // [M][F], [M][F], [M][D]
  std::vector<kernels::MatJob> jobs;
  std::vector<GluCtx> ctx(static_cast<size_t>(E));  // per expert: its biases
  for (int64_t e = 0; e < E; ++e) {
    const int64_t m = off[e + 1] - off[e];
    if (m == 0) continue;
    ctx[e] = {&c, c.expert_bias ? &w.gate_b[e] : nullptr, c.expert_bias ? &w.up_b[e] : nullptr};
    jobs.push_back({&w.gate[e], x, n, tok.data() + off[e], m, g.data() + off[e] * F, F, &w.up[e],
                    u.data() + off[e] * F, glu_cols, &ctx[e]});
  }
  kernels::matmul_many(jobs.data(), static_cast<int>(jobs.size()), pool);
  jobs.clear();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t m = off[e + 1] - off[e];
    if (m == 0) continue;
    jobs.push_back({&w.down[e], g.data(), M, iota.data() + off[e], m, ye.data() + off[e] * D, D});
  }
  kernels::matmul_many(jobs.data(), static_cast<int>(jobs.size()), pool);
  for (int64_t e = 0; e < E; ++e) {
    for (int64_t i = off[e]; i < off[e + 1]; ++i) {
      if (c.expert_bias) add_row_bias(ye.data() + i * D, 1, &w.down_b[e]);
      const int64_t s = slot_of[i];
      kernels::axpy(r.weights[s], ye.data() + i * D, out + (s / K) * D, D);
    }
  }
  if (w.has_shared) {
    std::vector<float> sh(n * D);  // [n][D]
    swiglu_ffn(&c, w.shared.gate, w.shared.up, w.shared.down, FfnBias{}, x, n, sh.data(), pool);
    for (int64_t i = 0; i < n * D; ++i) out[i] += sh[i];
  }
}

}  // namespace moecat
