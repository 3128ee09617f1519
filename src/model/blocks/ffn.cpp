#include "model/blocks/ffn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "base/trace.h"
#include "kernels/ops.h"
#include "model/blocks/bias.h"
#include "model/expert_parallel.h"

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

// Routed experts [lo, hi) of routing r: each slot routed to one of them adds weight * FFN(x) to
// dest row row_of[token] (in expert order, then slot order; rows of tokens without such a slot
// are left alone). Zero experts and shared experts are not handled here.
static void run_experts(const ModelConfig& c, const MoeWeights& w, const Routing& r, const float* x,
                        int64_t n, int64_t lo, int64_t hi, const int32_t* row_of, float* dest,
                        ThreadPool* pool) {
  const int64_t D = c.n_embd, K = r.k;
  // Group token slots by expert: each expert's weights are read once for all its tokens.
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(hi - lo));
  for (int64_t s = 0; s < n * K; ++s) {
    const int32_t e = r.experts[s];
    if (e >= lo && e < hi) slots[e - lo].push_back(s);
  }
  // All experts in two parallel regions (gate+up of every active expert, then every down),
  // each expert reading its tokens' rows of x through an index list: x is quantized once.
  const int64_t F = c.n_ff_expert, NE = hi - lo;
  std::vector<int32_t> tok;              // [slots] token of each slot, grouped by expert
  std::vector<int64_t> off(NE + 1, 0);   // expert lo+e's slots: tok[off[e] .. off[e+1])
  std::vector<int32_t> slot_of;          // [slots] the routing slot of each grouped row
  for (int64_t e = 0; e < NE; ++e) {
    off[e] = static_cast<int64_t>(tok.size());
    for (int64_t s : slots[e]) {
      tok.push_back(static_cast<int32_t>(s / K));
      slot_of.push_back(static_cast<int32_t>(s));
    }
  }
  off[NE] = static_cast<int64_t>(tok.size());
  const int64_t M = off[NE];
  if (M == 0) return;
  std::vector<int32_t> iota(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) iota[i] = static_cast<int32_t>(i);
  // [M][F], [M][F], [M][D], kept per thread from call to call (every row used is written before
  // it is read): fresh ones were zeroed and, past glibc's 32 MB mmap threshold (ye of a 512-token
  // prompt chunk on Qwen3-30B-A3B: 4,096 slots x 2,048 = 33.5 MB), page-faulted in each layer.
  thread_local std::vector<float> g, u, ye;
  for (auto* v : {&g, &u}) if (static_cast<int64_t>(v->size()) < M * F) v->resize(M * F);
  if (static_cast<int64_t>(ye.size()) < M * D) ye.resize(M * D);
  std::vector<kernels::MatJob> jobs;
  std::vector<GluCtx> ctx(static_cast<size_t>(NE));  // per expert: its biases
  for (int64_t e = 0; e < NE; ++e) {
    const int64_t m = off[e + 1] - off[e], ge = lo + e;
    if (m == 0) continue;
    MOECAT_CHECK_MSG(w.gate[ge].valid() && w.up[ge].valid() && w.down[ge].valid(),
                     "expert not loaded on this rank");
    ctx[e] = {&c, c.expert_bias ? &w.gate_b[ge] : nullptr, c.expert_bias ? &w.up_b[ge] : nullptr};
    jobs.push_back({&w.gate[ge], x, n, tok.data() + off[e], m, g.data() + off[e] * F, F, &w.up[ge],
                    u.data() + off[e] * F, glu_cols, &ctx[e]});
  }
  kernels::matmul_many(jobs.data(), static_cast<int>(jobs.size()), pool);
  jobs.clear();
  for (int64_t e = 0; e < NE; ++e) {
    const int64_t m = off[e + 1] - off[e];
    if (m == 0) continue;
    jobs.push_back({&w.down[lo + e], g.data(), M, iota.data() + off[e], m, ye.data() + off[e] * D, D});
  }
  kernels::matmul_many(jobs.data(), static_cast<int>(jobs.size()), pool);
  for (int64_t e = 0; e < NE; ++e) {
    for (int64_t i = off[e]; i < off[e + 1]; ++i) {
      if (c.expert_bias) add_row_bias(ye.data() + i * D, 1, &w.down_b[lo + e]);
      const int64_t s = slot_of[i];
      kernels::axpy(r.weights[s], ye.data() + i * D, dest + row_of[s / K] * D, D);
    }
  }
}

// Zero-computation experts are identities: weight * x added to out, no weights touched.
// Counts the routing's slots into stats (optional).
static void zero_experts(const ModelConfig& c, const Routing& r, const float* x, int64_t n, float* out,
                         ForwardStats* stats) {
  const int64_t D = c.n_embd, E = c.n_expert, K = r.k;
  int64_t zero_slots = 0;
  for (int64_t s = 0; s < n * K; ++s) {
    if (r.experts[s] < E) continue;
    kernels::axpy(r.weights[s], x + (s / K) * D, out + (s / K) * D, D);
    ++zero_slots;
  }
  if (stats) {
    stats->moe_token_layers += n;
    stats->zero_expert_slots += zero_slots;
    stats->ffn_expert_slots += n * K - zero_slots;
  }
}

// The expert-parallel combine: this rank's experts' summed output for the tokens routed to them
// is all-gathered; every rank derives every rank's token list from the (replicated) routing.
struct MoeCombine::State {
  ExpertComm* comm = nullptr;
  float* out = nullptr;
  int64_t D = 0;
  std::vector<std::vector<int32_t>> toks;  // per rank: its tokens, ascending
  std::vector<int64_t> counts, displs;     // floats per rank's block, and where it lands
  std::vector<float> send, recv, shared;   // shared: [n][D] shared-expert output (or empty)
  std::unique_ptr<CommRequest> req;
  double posted_us = 0;  // --trace: when the combine was started
  int64_t layer = -1;
};

MoeCombine::MoeCombine() = default;
MoeCombine::MoeCombine(std::unique_ptr<State> s) : s_(std::move(s)) {}
MoeCombine::MoeCombine(MoeCombine&&) noexcept = default;
MoeCombine& MoeCombine::operator=(MoeCombine&&) noexcept = default;
MoeCombine::~MoeCombine() {
  if (s_ && s_->req) s_->req->wait();  // never leave a collective behind with its buffers freed
}

void MoeCombine::progress() {
  if (s_ && s_->req) s_->req->test();
}

void MoeCombine::finish() {
  if (!s_) return;
  State& st = *s_;
  const int64_t D = st.D;
  if (st.req) {
    const double t0 = trace::enabled() ? trace::now_us() : 0;
    st.req->wait();
    st.req.reset();
    if (t0 > 0) {
      const double t1 = trace::now_us();
      const int64_t bytes = static_cast<int64_t>((st.recv.size() - st.counts[st.comm->rank()]) * sizeof(float));
      trace::span("combine wait", t0, t1, st.layer, bytes);
      trace::span("combine (all-gather-v in flight)", st.posted_us, t1, st.layer, bytes, 1);
    }
    for (size_t rk = 0; rk < st.toks.size(); ++rk) {  // rank order: the same sums on every rank
      const float* blk = st.recv.data() + st.displs[rk];
      for (size_t i = 0; i < st.toks[rk].size(); ++i) {
        float* o = st.out + static_cast<int64_t>(st.toks[rk][i]) * D;
        const float* p = blk + static_cast<int64_t>(i) * D;
        for (int64_t d = 0; d < D; ++d) o[d] += p[d];
      }
    }
  }
  if (!st.shared.empty())
    for (size_t i = 0; i < st.shared.size(); ++i) st.out[i] += st.shared[i];
  s_.reset();
}

static void shared_experts(const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n, float* out,
                           ThreadPool* pool) {
  swiglu_ffn(&c, w.shared.gate, w.shared.up, w.shared.down, FfnBias{}, x, n, out, pool);
}

MoeCombine moe_experts_start(const ModelConfig& c, const MoeWeights& w, const Routing& r, const float* x,
                             int64_t n, float* out, ThreadPool* pool, ForwardStats* stats) {
  const int64_t D = c.n_embd, E = c.n_expert, K = r.k;
  std::memset(out, 0, n * D * sizeof(float));
  zero_experts(c, r, x, n, out, stats);
  ExpertComm* comm = expert_comm();
  if (!comm || comm->size() <= 1) {  // one process: every expert adds straight into out
    std::vector<int32_t> row_of(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) row_of[t] = static_cast<int32_t>(t);
    {
      trace::Scope ts("routed experts");
      run_experts(c, w, r, x, n, 0, E, row_of.data(), out, pool);
    }
    if (w.has_shared) {
      trace::Scope ts("shared experts");
      std::vector<float> sh(n * D);  // [n][D]
      shared_experts(c, w, x, n, sh.data(), pool);
      for (int64_t i = 0; i < n * D; ++i) out[i] += sh[i];
    }
    return MoeCombine();
  }
  auto st = std::make_unique<MoeCombine::State>();
  const int N = comm->size(), me = comm->rank();
  st->comm = comm;
  st->out = out;
  st->D = D;
  st->toks.resize(N);
  std::vector<int> owner(static_cast<size_t>(E));
  for (int rk = 0; rk < N; ++rk) {
    const auto [lo, hi] = expert_share(E, rk, N);
    for (int64_t e = lo; e < hi; ++e) owner[e] = rk;
  }
  std::vector<char> hit(static_cast<size_t>(N));
  for (int64_t t = 0; t < n; ++t) {
    std::fill(hit.begin(), hit.end(), 0);
    for (int64_t j = 0; j < K; ++j) {
      const int32_t e = r.experts[t * K + j];
      if (e < E) hit[owner[e]] = 1;
    }
    for (int rk = 0; rk < N; ++rk)
      if (hit[rk]) st->toks[rk].push_back(static_cast<int32_t>(t));
  }
  st->counts.resize(N);
  st->displs.resize(N);
  int64_t total = 0;
  for (int rk = 0; rk < N; ++rk) {
    st->counts[rk] = static_cast<int64_t>(st->toks[rk].size()) * D;
    st->displs[rk] = total;
    total += st->counts[rk];
  }
  std::vector<int32_t> row_of(static_cast<size_t>(n), -1);
  for (size_t i = 0; i < st->toks[me].size(); ++i) row_of[st->toks[me][i]] = static_cast<int32_t>(i);
  st->send.assign(static_cast<size_t>(st->counts[me]), 0.0f);
  const auto [lo, hi] = expert_share(E, me, N);
  {
    trace::Scope ts("routed experts (this rank's)");
    run_experts(c, w, r, x, n, lo, hi, row_of.data(), st->send.data(), pool);
  }
  st->recv.resize(static_cast<size_t>(total));
  st->layer = trace::layer();
  if (trace::enabled()) st->posted_us = trace::now_us();
  st->req = comm->start_allgatherv(st->send.data(), st->recv.data(), st->counts.data(), st->displs.data());
  if (w.has_shared) {  // computed while the gather is in flight
    trace::Scope ts("shared experts");
    st->shared.resize(static_cast<size_t>(n * D));
    shared_experts(c, w, x, n, st->shared.data(), pool);
    st->req->test();
  }
  MoeCombine pending(std::move(st));
  if (!comm->overlap()) pending.finish();
  return pending;
}

void moe_experts(const ModelConfig& c, const MoeWeights& w, const Routing& r, const float* x,
                 int64_t n, float* out, ThreadPool* pool, ForwardStats* stats) {
  moe_experts_start(c, w, r, x, n, out, pool, stats).finish();
}

}  // namespace moecat
