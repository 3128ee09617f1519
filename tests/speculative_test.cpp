// Speculative decoding on a toy model whose behaviour is known exactly: drafting (MTP or
// n-gram) must never change the output, accepted drafts must be counted, and rejected drafts
// must not leave stale state behind (the toy model's next token reads the KV cache).
#include <gtest/gtest.h>

#include "runtime/engine.h"
#include "runtime/ngram_draft.h"

namespace moecat {
namespace {

constexpr int64_t kV = 17;

// Main model: next token is (t[p] + t[p-1]) mod V, read from the cache, with a softer second
// choice so sampling has something to choose. Its hidden state is [t[p], 0, 0, 0].
// MTP head: slot (h_i, t_{i+1}) at position i predicts t_{i+2} = (t_{i+1} + t_i) mod V exactly,
// except at positions that are multiples of `wrong_every`, where it is off by one.
class ToyModel : public Model {
 public:
  explicit ToyModel(int wrong_every) : wrong_every_(wrong_every) {
    cfg_.arch = "toy";
    cfg_.n_vocab = kV;
    cfg_.n_embd = 4;
    cfg_.n_layer = 1;
  }
  KvShape kv_shape() const override { return KvShape{1, 1, 0}; }
  KvShape mtp_kv_shape() const override { return KvShape{1, 1, 0}; }
  bool has_mtp() const override { return true; }

  void forward(const Batch& b, SequenceKv& kv, float* logits, ThreadPool*) const override {
    for (int64_t t = 0; t < b.n; ++t) {
      const int32_t p = b.pos[t];
      float* k0 = static_cast<float*>(kv.layers[0].k);
      k0[p] = static_cast<float>(b.tokens[t]);
      const int32_t prev = p > 0 ? static_cast<int32_t>(k0[p - 1]) : 0;
      const int32_t next = (b.tokens[t] + prev) % kV;
      if (b.all_logits || t == b.n - 1) {
        float* row = logits + (b.all_logits ? t : 0) * kV;
        for (int64_t v = 0; v < kV; ++v) row[v] = 0;
        row[next] = 3;
        row[(next + 1) % kV] = 2;
      }
      if (b.hidden_out) {
        float* h = b.hidden_out + t * 4;
        h[0] = static_cast<float>(b.tokens[t]);
        h[1] = h[2] = h[3] = 0;
      }
    }
  }

  void forward_mtp(const Batch& b, const float* h, SequenceKv& kv, float* logits, ThreadPool*) const override {
    for (int64_t t = 0; t < b.n; ++t) {
      int32_t guess = (b.tokens[t] + static_cast<int32_t>(h[t * 4])) % kV;
      if (wrong_every_ > 0 && b.pos[t] % wrong_every_ == 0) guess = (guess + 1) % kV;
      if (b.all_logits || t == b.n - 1) {
        float* row = logits + (b.all_logits ? t : 0) * kV;
        for (int64_t v = 0; v < kV; ++v) row[v] = v == guess ? 1.0f : 0.0f;
      }
      if (b.hidden_out) {  // the head's own state carries its input token, so drafts chain
        float* g = b.hidden_out + t * 4;
        g[0] = static_cast<float>(b.tokens[t]);
        g[1] = g[2] = g[3] = 0;
      }
    }
  }

 private:
  int wrong_every_;
};

std::vector<int32_t> generate(Engine& e, const SamplingParams& sp, Engine::Draft d, int n_draft,
                              Engine::GenStats* st = nullptr) {
  Sampler s(sp, kV);
  std::vector<int32_t> out;
  auto r = e.generate({1, 2}, 40, s, [&](int32_t t) { out.push_back(t); return true; }, false, d, n_draft);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (st && r.ok()) *st = *r;
  return out;
}

std::unique_ptr<Engine> toy(int wrong_every) {
  EngineOptions o;
  o.threads = 1;
  o.n_ctx = 256;
  return Engine::FromModel(std::make_unique<ToyModel>(wrong_every), nullptr, o);
}

TEST(Speculative, GreedyOutputIsUnchangedAndDraftsAreCounted) {
  SamplingParams greedy;
  greedy.temperature = 0;
  auto e = toy(5);
  const auto plain = generate(*e, greedy, Engine::Draft::kNone, 1);
  ASSERT_EQ(plain.size(), 40u);
  // The toy's greedy sequence is a Fibonacci walk mod 17 from (1, 2).
  int32_t a = 1, b = 2;
  for (int32_t t : plain) {
    const int32_t c = (a + b) % kV;
    ASSERT_EQ(t, c);
    a = b;
    b = c;
  }
  for (int nd : {1, 2, 3}) {
    Engine::GenStats st;
    EXPECT_EQ(generate(*e, greedy, Engine::Draft::kMtp, nd, &st), plain) << "n_draft " << nd;
    // The head is right except at every 5th position: most drafts land, some do not.
    EXPECT_GT(st.accepted, st.drafted / 2) << "n_draft " << nd;
    EXPECT_LT(st.accepted, st.drafted) << "n_draft " << nd;
    EXPECT_EQ(st.n_gen, 40);
  }
}

TEST(Speculative, PerfectHeadAcceptsEverything) {
  SamplingParams greedy;
  greedy.temperature = 0;
  auto e = toy(0);
  Engine::GenStats st;
  const auto plain = generate(*e, greedy, Engine::Draft::kNone, 1);
  EXPECT_EQ(generate(*e, greedy, Engine::Draft::kMtp, 2, &st), plain);
  EXPECT_EQ(st.accepted, st.drafted);
  // 40 tokens: the first from the prefill, then steps of 1 + 2 drafts.
  EXPECT_EQ(st.drafted, 26);
}

TEST(Speculative, SeededSamplingIsUnchanged) {
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_k = 0;
  sp.top_p = 1.0f;
  sp.min_p = 0;
  sp.seed = 1234;
  auto e = toy(3);
  const auto plain = generate(*e, sp, Engine::Draft::kNone, 1);
  Engine::GenStats st;
  EXPECT_EQ(generate(*e, sp, Engine::Draft::kMtp, 2, &st), plain);
  EXPECT_GT(st.accepted, 0);
  EXPECT_EQ(generate(*e, sp, Engine::Draft::kNgram, 3), plain);
}

TEST(Speculative, NgramDraftsFromRepeats) {
  SamplingParams greedy;
  greedy.temperature = 0;
  auto e = toy(0);
  Engine::GenStats st;
  const auto plain = generate(*e, greedy, Engine::Draft::kNone, 1);
  // Fibonacci mod 17 is periodic (Pisano period 36), so lookup drafts start landing once it repeats.
  EXPECT_EQ(generate(*e, greedy, Engine::Draft::kNgram, 4, &st), plain);
  EXPECT_GT(st.accepted, 0);
}

// The lookup itself: the longest recent suffix match, its continuation read on into the draft
// (a repeating stretch drafts its period, not just the tokens before the end).
TEST(Speculative, NgramLookupContinuesThroughItsOwnDraft) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(ngram_draft({1, 2, 3, 9, 1, 2, 3}, 3), (V{9, 1, 2}));  // 3-gram, continuation within h
  EXPECT_EQ(ngram_draft({1, 2, 3, 9, 1, 2, 3}, 6), (V{9, 1, 2, 3, 9, 1}));  // on past the end
  EXPECT_EQ(ngram_draft({5, 5, 5, 5}, 4), (V{5, 5, 5, 5}));  // period 1
  EXPECT_EQ(ngram_draft({7, 1, 2, 1, 2}, 5), (V{1, 2, 1, 2, 1}));  // period 2
  EXPECT_EQ(ngram_draft({4, 8, 6, 9, 8, 6}, 2), (V{9, 8}));  // the 2-gram "8 6"
  EXPECT_TRUE(ngram_draft({4, 8, 6, 8}, 2).empty());  // only the 1-gram "8" occurred before: too weak
  EXPECT_TRUE(ngram_draft({1, 2, 3}, 4).empty());  // no earlier occurrence
  EXPECT_TRUE(ngram_draft({3}, 2).empty());
  EXPECT_TRUE(ngram_draft({}, 2).empty());
  EXPECT_TRUE(ngram_draft({5, 5}, 0).empty());
}

}  // namespace
}  // namespace moecat
