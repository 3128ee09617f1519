// Sliding-window attention over a ring cache (position q in slot q % ring) must equal the same
// attention over a full, position-indexed cache — for every ISA, with GQA, sinks, and batches of
// queries whose windows wrap around the ring.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace moecat::kernels {
namespace {

TEST(AttentionRing, MatchesFullCache) {
  const int64_t H = 8, HKV = 2, D = 16, W = 5;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (int64_t ring : {5, 7, 12}) {
    for (int64_t n_tok : {1, 3, 7}) {
      const int64_t pos0 = 19;  // queries at pos0 .. pos0 + n_tok - 1
      const int64_t npos = pos0 + n_tok;
      const int64_t stride = HKV * D;
      std::vector<float> kfull(npos * stride), vfull(npos * stride);
      for (auto& x : kfull) x = nd(rng);
      for (auto& x : vfull) x = nd(rng);
      // The ring holds what a sliding cache would after writing every position in order, except
      // that a batch's own keys are all written before any of its queries run.
      std::vector<float> kr(ring * stride), vr(ring * stride);
      for (int64_t p = 0; p < npos; ++p) {
        std::copy(kfull.begin() + p * stride, kfull.begin() + (p + 1) * stride, kr.begin() + (p % ring) * stride);
        std::copy(vfull.begin() + p * stride, vfull.begin() + (p + 1) * stride, vr.begin() + (p % ring) * stride);
      }
      if (ring < W + n_tok - 1) continue;  // too small for this batch: the engine never does this
      std::vector<float> q(n_tok * H * D), sinks(H);
      for (auto& x : q) x = nd(rng);
      for (auto& x : sinks) x = nd(rng);
      std::vector<int32_t> qpos(n_tok);
      for (int64_t t = 0; t < n_tok; ++t) qpos[t] = static_cast<int32_t>(pos0 + t);
      AttentionParams p;
      p.n_head = H;
      p.n_head_kv = HKV;
      p.head_dim_k = p.head_dim_v = D;
      p.scale = 0.25f;
      p.k_pos_stride = p.v_pos_stride = stride;
      p.window = W;
      p.sinks = sinks.data();
      std::vector<float> want(n_tok * H * D), got(n_tok * H * D);
      ref::attention(q.data(), qpos.data(), n_tok, kfull.data(), vfull.data(), p, want.data());
      AttentionParams pr = p;
      pr.ring = ring;
      for (int isa = 0; isa <= static_cast<int>(detected_isa()); ++isa) {
        set_isa(static_cast<Isa>(isa));
        ThreadPool pool(2);
        attention(q.data(), qpos.data(), n_tok, kr.data(), vr.data(), pr, got.data(), &pool);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-5f * (1 + std::fabs(want[i])))
              << "ring " << ring << " n_tok " << n_tok << " isa " << isa << " i " << i;
      }
      set_isa(detected_isa());
    }
  }
}

}  // namespace
}  // namespace moecat::kernels
