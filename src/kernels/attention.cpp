// Attention over a KV cache: one (token, head) pair at a time, pairs split across the pool.
// Per pair: scores = scale * q·k for the visible positions (causal, optional sliding window),
// softmax with an optional sink logit (it joins the max and the denominator but has no value
// vector), then out = sum_p softmax_p * v_p. The vector work goes through the active ISA
// table (dot_rows, exp_shift_sum, wsum_rows; their _f16 forms over a half-precision cache).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/ops.h"

namespace moecat::kernels {

namespace {
struct AttnJob {
  const float* q;
  const int32_t* q_pos;
  const void* k;  // float or uint16_t (p->kv_f16)
  const void* v;
  const AttentionParams* p;
  float* out;
  const KernelTable* t;
};

// The visible positions [first, first + cnt) as runs of contiguous cache slots: one run
// (contiguous cache), at most two (ring), or one per block (paged): fn(slot, i, len).
template <typename Fn>
void for_each_run(const AttentionParams& p, int64_t first, int64_t cnt, Fn&& fn) {
  for (int64_t i = 0; i < cnt;) {
    const int64_t pos = first + i, slot = attention_slot(p, pos);
    int64_t len = cnt - i;
    if (p.blocks) len = std::min(len, p.block_rows - pos % p.block_rows);
    else if (p.ring > 0) len = std::min(len, p.ring - slot);
    fn(slot, i, len);
    i += len;
  }
}

// Pairs begin, begin+step, ... < end.
void attend_range(const AttnJob& j, int64_t begin, int64_t end, int64_t step) {
  const AttentionParams& p = *j.p;
  const int64_t group = p.n_head / p.n_head_kv;
  thread_local std::vector<float> scores;  // [visible positions]
  for (int64_t idx = begin; idx < end; idx += step) {
    const int64_t tok = idx / p.n_head, h = idx % p.n_head, kvh = h / group;
    const int64_t pos = j.q_pos[tok];
    const int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
    const int64_t cnt = pos >= first ? pos - first + 1 : 0;
    float* o = j.out + idx * p.head_dim_v;
    std::fill(o, o + p.head_dim_v, 0.0f);
    const float sink = p.sinks ? p.sinks[h] : -INFINITY;
    if (cnt == 0) continue;  // nothing visible: the sink alone (or nothing) gives zeros
    if (static_cast<int64_t>(scores.size()) < cnt) scores.resize(cnt);
    float* s = scores.data();
    auto runs = [&](auto&& fn) { for_each_run(p, first, cnt, fn); };
    runs([&](int64_t slot, int64_t i, int64_t len) {
      const int64_t off = slot * p.k_pos_stride + kvh * p.head_dim_k;
      if (p.kv_f16)
        j.t->dot_rows_f16(j.q + idx * p.head_dim_k, static_cast<const uint16_t*>(j.k) + off, p.k_pos_stride,
                          len, p.head_dim_k, p.scale, s + i);
      else
        j.t->dot_rows(j.q + idx * p.head_dim_k, static_cast<const float*>(j.k) + off, p.k_pos_stride, len,
                      p.head_dim_k, p.scale, s + i);
    });
    float mx = sink;
    for (int64_t i = 0; i < cnt; ++i) mx = std::max(mx, s[i]);
    float denom = j.t->exp_shift_sum(s, cnt, mx);
    if (p.sinks) denom += std::exp(sink - mx);
    runs([&](int64_t slot, int64_t i, int64_t len) {
      const int64_t off = slot * p.v_pos_stride + kvh * p.head_dim_v;
      if (p.kv_f16)
        j.t->wsum_rows_f16(s + i, static_cast<const uint16_t*>(j.v) + off, p.v_pos_stride, len, p.head_dim_v, o);
      else
        j.t->wsum_rows(s + i, static_cast<const float*>(j.v) + off, p.v_pos_stride, len, p.head_dim_v, o);
    });
    const float inv = 1.0f / denom;
    for (int64_t c = 0; c < p.head_dim_v; ++c) o[c] *= inv;
  }
}
// Grouped-query form (f16 cache, an ISA with the grouped kernels): units are (token, KV head,
// chunk of its query heads); the heads of a unit read each cache row once (kernel_table.h).
// Many heads per KV head (MLA: all 128 share the latent) are cut into chunks of <= 16 so that
// one token still spreads over the threads.
int64_t grouped_chunks(const AttentionParams& p) {
  const int64_t G = p.n_head / p.n_head_kv;
  return G <= 16 ? 1 : (G + 15) / 16;
}

void attend_grouped(const AttnJob& j, int64_t begin, int64_t end, int64_t step) {
  const AttentionParams& p = *j.p;
  const int64_t GA = p.n_head / p.n_head_kv, sub = grouped_chunks(p);
  const int64_t GC = (GA + sub - 1) / sub;  // heads per unit
  thread_local std::vector<float> scores;  // [G][visible positions]
  for (int64_t unit = begin; unit < end; unit += step) {
    const int64_t tok = unit / (p.n_head_kv * sub), kvh = unit / sub % p.n_head_kv, c = unit % sub;
    const int64_t h0 = kvh * GA + c * GC, G = std::min(GC, GA - c * GC);
    const int64_t pos = j.q_pos[tok];
    const int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
    const int64_t cnt = pos >= first ? pos - first + 1 : 0;
    const int64_t idx0 = tok * p.n_head + h0;
    float* o = j.out + idx0 * p.head_dim_v;  // [G][head_dim_v]
    std::fill(o, o + G * p.head_dim_v, 0.0f);
    if (cnt == 0) continue;
    if (static_cast<int64_t>(scores.size()) < G * cnt) scores.resize(G * cnt);
    float* s = scores.data();
    auto runs = [&](auto&& fn) { for_each_run(p, first, cnt, fn); };
    const auto* kc = static_cast<const uint16_t*>(j.k);
    const auto* vc = static_cast<const uint16_t*>(j.v);
    runs([&](int64_t slot, int64_t i, int64_t len) {
      j.t->dot_rows_f16_g(j.q + idx0 * p.head_dim_k, p.head_dim_k, G, kc + slot * p.k_pos_stride + kvh * p.head_dim_k,
                          p.k_pos_stride, len, p.head_dim_k, p.scale, s + i, cnt);
    });
    float inv[16];
    for (int64_t g = 0; g < G; ++g) {
      float* sg = s + g * cnt;
      const float sink = p.sinks ? p.sinks[h0 + g] : -INFINITY;
      // Eight partial maxima: one max chain over 8k scores is latency-bound (the maximum is
      // the same in any order; the scores are finite).
      float m8[8] = {sink, sink, sink, sink, sink, sink, sink, sink};
      int64_t i = 0;
      for (; i + 8 <= cnt; i += 8)
        for (int k = 0; k < 8; ++k) m8[k] = std::max(m8[k], sg[i + k]);
      for (; i < cnt; ++i) m8[0] = std::max(m8[0], sg[i]);
      float mx = m8[0];
      for (int k = 1; k < 8; ++k) mx = std::max(mx, m8[k]);
      float denom = j.t->exp_shift_sum(sg, cnt, mx);
      if (p.sinks) denom += std::exp(sink - mx);
      inv[g] = 1.0f / denom;
    }
    runs([&](int64_t slot, int64_t i, int64_t len) {
      j.t->wsum_rows_f16_g(s + i, cnt, G, vc + slot * p.v_pos_stride + kvh * p.head_dim_v, p.v_pos_stride, len,
                           p.head_dim_v, o, p.head_dim_v);
    });
    for (int64_t g = 0; g < G; ++g)
      for (int64_t c = 0; c < p.head_dim_v; ++c) o[g * p.head_dim_v + c] *= inv[g];
  }
}
}  // namespace

void attention(const float* q, const int32_t* q_pos, int64_t n_tok, const void* k_cache,
               const void* v_cache, const AttentionParams& p, float* out, ThreadPool* pool) {
  MOECAT_CHECK(p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0);
  MOECAT_CHECK(p.head_dim_k > 0 && p.head_dim_v > 0 && p.window >= 0 && n_tok >= 0);
  MOECAT_CHECK(p.ring == 0 || (p.window > 0 && p.ring >= p.window));
  MOECAT_CHECK(!p.blocks || p.block_rows > 0);
  const AttnJob job{q, q_pos, k_cache, v_cache, &p, out, &active_table()};
  // Grouped-query kernels when the ISA has them (f16 cache; up to 256 heads per KV head).
  const bool grouped = p.kv_f16 && job.t->dot_rows_f16_g != nullptr;
  const int64_t pairs = n_tok * (grouped ? p.n_head_kv * grouped_chunks(p) : p.n_head);
  // Work per pair ~ visible positions * head dims; thread only when there is enough of it.
  int64_t max_pos = 0;
  for (int64_t t = 0; t < n_tok; ++t) max_pos = std::max<int64_t>(max_pos, q_pos[t] + 1);
  const int64_t visible = p.window > 0 ? std::min(max_pos, p.window) : max_pos;
  const int64_t work = pairs * visible * (p.head_dim_k + p.head_dim_v);
  auto range = grouped ? attend_grouped : attend_range;
  if (!pool || pool->size() == 1 || pairs < 2 || work < (int64_t(1) << 15)) {
    range(job, 0, pairs, 1);
    return;
  }
  // Strided rather than contiguous split: in causal prefill later tokens see more positions,
  // so contiguous chunks would leave the first threads idle.
  const AttnJob* jp = &job;
  const int64_t np = pairs;
  pool->run([jp, np, range](int t, int nt) { range(*jp, t, np, nt); });
}

}  // namespace moecat::kernels
