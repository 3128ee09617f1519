// Sampler tests. Expected values come from hand-computed distributions or from a literal,
// full-sort re-implementation of each filter's definition here in the test, never from the
// sampler itself.
#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

namespace moecat {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Everything off: temperature 1, plain softmax draw.
SamplingParams Plain(uint64_t seed = 1234) {
  SamplingParams p;
  p.temperature = 1.f;
  p.top_k = 0;
  p.top_p = 1.f;
  p.min_p = 0.f;
  p.repeat_penalty = 1.f;
  p.seed = seed;
  return p;
}

std::vector<double> Softmax(const std::vector<double>& l, double t = 1.0) {
  double mx = *std::max_element(l.begin(), l.end());
  std::vector<double> p(l.size());
  double s = 0;
  for (size_t i = 0; i < l.size(); ++i) s += (p[i] = std::exp((l[i] - mx) / t));
  for (double& x : p) x /= s;
  return p;
}

std::vector<int64_t> Draw(Sampler& s, const std::vector<float>& logits, int n,
                          const std::vector<int32_t>& hist = {}) {
  std::vector<int64_t> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    int32_t id = s.sample(logits.data(), hist);
    EXPECT_GE(id, 0);
    EXPECT_LT(id, static_cast<int32_t>(logits.size()));
    if (id >= 0 && id < static_cast<int32_t>(logits.size())) counts[id]++;
  }
  return counts;
}

// Pearson chi-square of counts against expected probabilities. Bins with expected
// probability 0 must be empty (checked here, excluded from the statistic).
double ChiSquare(const std::vector<int64_t>& counts, const std::vector<double>& probs) {
  int64_t n = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  double chi = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (probs[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has zero expected probability";
      continue;
    }
    double e = probs[i] * static_cast<double>(n);
    chi += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi;
}

// Threshold for every chi-square check below: all have <= 5 degrees of freedom, and the
// chi-square(5) upper tail at 30 is ~1.5e-5 (df<5 tails are smaller still). The seeds are
// fixed, so the tests are deterministic; a wrong distribution (e.g. a penalty applied twice)
// gives statistics in the hundreds or thousands at these sample sizes.
constexpr double kChiBound = 30.0;

std::vector<int32_t> Support(const std::vector<int64_t>& counts) {
  std::vector<int32_t> s;
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i] > 0) s.push_back(static_cast<int32_t>(i));
  return s;
}

// Ids sorted by (logit desc, id asc): the reference order for the prefix filters.
std::vector<int32_t> OrderDesc(const std::vector<float>& l) {
  std::vector<int32_t> ids(l.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  return ids;
}

TEST(Sampler, GreedyPicksArgmaxTiesToLowestId) {
  SamplingParams p = Plain();
  p.temperature = 0.f;
  Sampler s(p, 6);
  std::vector<float> l = {1.f, 5.f, 3.f, 5.f, -2.f, 4.9f};
  EXPECT_EQ(s.sample(l.data(), {}), 1);
  p.temperature = -1.f;
  Sampler s2(p, 6);
  EXPECT_EQ(s2.sample(l.data(), {}), 1);
  std::vector<float> l2 = {kNaN, -3.f, 7.f, kNaN, 7.f, 2.f};
  EXPECT_EQ(s.sample(l2.data(), {}), 2);
  std::vector<float> l3 = {-1.f, -1.f, -1.f, -1.f, -1.f, -0.5f};
  EXPECT_EQ(s.sample(l3.data(), {}), 5);
}

TEST(Sampler, FixedSeedReproducibleDifferentSeedsDiffer) {
  std::vector<float> l(50);
  for (int i = 0; i < 50; ++i) l[i] = std::sin(i * 0.7f) * 2.f;
  SamplingParams p = Plain(42);
  p.top_k = 20;
  p.top_p = 0.95f;
  p.min_p = 0.01f;
  Sampler a(p, 50), b(p, 50);
  p.seed = 43;
  Sampler c(p, 50);
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 500; ++i) {
    sa.push_back(a.sample(l.data(), {}));
    sb.push_back(b.sample(l.data(), {}));
    sc.push_back(c.sample(l.data(), {}));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  // reset() restarts the stream.
  a.reset(42);
  std::vector<int32_t> again;
  for (int i = 0; i < 500; ++i) again.push_back(a.sample(l.data(), {}));
  EXPECT_EQ(sa, again);
}

TEST(Sampler, TopK1EqualsGreedy) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> q(-20, 20);  // coarse values => many ties
  SamplingParams p = Plain(99);
  p.top_k = 1;
  p.temperature = 1.7f;
  p.top_p = 0.5f;
  p.min_p = 0.2f;
  Sampler s(p, 300);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> l(300);
    for (float& x : l) x = q(gen) * 0.5f;
    // std::max_element returns the first maximum => lowest id.
    int32_t want = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    ASSERT_EQ(s.sample(l.data(), {}), want) << "trial " << trial;
  }
}

TEST(Sampler, PlainSoftmaxFrequenciesChiSquare) {
  // Known distribution, shifted logits (softmax is shift-invariant).
  std::vector<double> probs = {0.4, 0.25, 0.15, 0.1, 0.06, 0.04};
  std::vector<float> l;
  for (double x : probs) l.push_back(static_cast<float>(std::log(x) + 3.0));
  Sampler s(Plain(2024), 6);
  auto counts = Draw(s, l, 200000);
  double chi = ChiSquare(counts, probs);
  EXPECT_LT(chi, kChiBound) << "df=5";
  // Sanity that the test can fail: the same counts against a slightly wrong distribution.
  std::vector<double> wrong = {0.38, 0.27, 0.15, 0.1, 0.06, 0.04};
  EXPECT_GT(ChiSquare(counts, wrong), 100.0);
}

TEST(Sampler, TopKRestrictsSupportToKLargest) {
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> l(1000);
  for (float& x : l) x = u(gen);
  SamplingParams p = Plain(5);
  p.top_k = 5;
  Sampler s(p, 1000);
  auto counts = Draw(s, l, 20000);
  auto order = OrderDesc(l);
  std::vector<int32_t> want(order.begin(), order.begin() + 5);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Support(counts), want);
  // Within the top 5, frequencies follow the renormalised softmax.
  std::vector<double> ref(1000, 0.0);
  std::vector<double> top;
  for (int32_t id : want) top.push_back(l[id]);
  auto tp = Softmax(top);
  for (size_t i = 0; i < want.size(); ++i) ref[want[i]] = tp[i];
  EXPECT_LT(ChiSquare(counts, ref), kChiBound) << "df=4";
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
  // probs by id: id3=0.5, id0=0.3, id2=0.15, id1=0.05
  std::vector<double> probs = {0.3, 0.05, 0.15, 0.5};
  std::vector<float> l;
  for (double x : probs) l.push_back(static_cast<float>(std::log(x)));
  struct Case {
    float top_p;
    std::vector<int32_t> support;
  };
  std::vector<Case> cases = {
      {0.4f, {3}},            // 0.5 >= 0.4
      {0.75f, {0, 3}},        // 0.5 < 0.75 <= 0.8
      {0.85f, {0, 2, 3}},     // 0.8 < 0.85 <= 0.95
      {0.97f, {0, 1, 2, 3}},  // needs everything
      {0.0f, {3}},            // degenerate: the top token always survives
  };
  for (const Case& c : cases) {
    SamplingParams p = Plain(77);
    p.top_p = c.top_p;
    Sampler s(p, 4);
    auto counts = Draw(s, l, 20000);
    EXPECT_EQ(Support(counts), c.support) << "top_p=" << c.top_p;
  }
}

TEST(Sampler, TopPLargeVocabIncrementalSort) {
  // A flat-ish distribution so the kept prefix (~hundreds) spans several sort chunks.
  const int n = 1500;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(0.f, 2.f);
  std::vector<float> l(n);
  for (float& x : l) x = u(gen);
  const double top_p = 0.3;
  // Reference: full sort, probabilities at temperature 1, smallest prefix with cum >= p.
  std::vector<double> ld(l.begin(), l.end());
  auto pr = Softmax(ld);
  auto order = OrderDesc(l);
  std::vector<int32_t> want;
  double cum = 0;
  for (int32_t id : order) {
    want.push_back(id);
    cum += pr[id];
    if (cum >= top_p) break;
  }
  ASSERT_GT(want.size(), 200u);  // really exercises more than one chunk
  std::sort(want.begin(), want.end());
  SamplingParams p = Plain(8);
  p.top_p = static_cast<float>(top_p);
  Sampler s(p, n);
  auto counts = Draw(s, l, 40000);
  EXPECT_EQ(Support(counts), want) << "kept " << want.size();
}

TEST(Sampler, TopPThenMinPMatchesChainDefinition) {
  const int n = 2000;
  std::mt19937 gen(21);
  std::normal_distribution<float> g(0.f, 1.5f);
  std::vector<float> l(n);
  for (float& x : l) x = g(gen);
  for (float min_p : {0.05f, 0.3f}) {
    const float top_p = 0.6f;
    std::vector<double> ld(l.begin(), l.end());
    auto pr = Softmax(ld);
    auto order = OrderDesc(l);
    std::vector<int32_t> kept;  // step 1: top_p over the full distribution
    double cum = 0;
    for (int32_t id : order) {
      kept.push_back(id);
      cum += pr[id];
      if (cum >= top_p) break;
    }
    // step 2: min_p over the renormalised survivors (the max is kept[0])
    double z = 0;
    for (int32_t id : kept) z += pr[id];
    std::vector<int32_t> want;
    for (int32_t id : kept)
      if (pr[id] / z >= min_p * (pr[kept[0]] / z)) want.push_back(id);
    std::sort(want.begin(), want.end());
    SamplingParams p = Plain(31);
    p.top_p = top_p;
    p.min_p = min_p;
    Sampler s(p, n);
    auto counts = Draw(s, l, 30000);
    EXPECT_EQ(Support(counts), want) << "min_p=" << min_p << " kept by top_p=" << kept.size();
  }
}

TEST(Sampler, MinPRemovesTokensBelowFractionOfMax) {
  // p_max = 0.5, min_p = 0.1 -> keep p >= 0.05.
  std::vector<double> probs = {0.04, 0.5, 0.2, 0.06, 0.1, 0.03, 0.07};
  std::vector<float> l;
  for (double x : probs) l.push_back(static_cast<float>(std::log(x)));
  SamplingParams p = Plain(55);
  p.min_p = 0.1f;
  Sampler s(p, 7);
  auto counts = Draw(s, l, 100000);
  std::vector<int32_t> want = {1, 2, 3, 4, 6};
  EXPECT_EQ(Support(counts), want);
  std::vector<double> ref(7, 0.0);
  double z = 0.5 + 0.2 + 0.06 + 0.1 + 0.07;
  for (int32_t id : want) ref[id] = probs[id] / z;
  EXPECT_LT(ChiSquare(counts, ref), kChiBound) << "df=4";
}

TEST(Sampler, RepeatPenaltyOncePerDistinctTokenWithSignRule) {
  std::vector<float> l = {2.0f, -1.0f, 0.5f, 1.0f, 0.0f};
  SamplingParams p = Plain(66);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 4;
  // Window = last 4 = {0, 1, 0, 0}: id3 (outside the window) and id2 are untouched.
  std::vector<int32_t> hist = {3, 3, 0, 1, 0, 0};
  // Hand-computed: id0 2/2 = 1 (once, though it occurs 3x), id1 -1*2 = -2.
  std::vector<double> want_logits = {1.0, -2.0, 0.5, 1.0, 0.0};
  Sampler s(p, 5);
  auto counts = Draw(s, l, 200000, hist);
  auto ref = Softmax(want_logits);
  EXPECT_LT(ChiSquare(counts, ref), kChiBound) << "df=4";
  // Can fail: per-occurrence application (id0 -> 2/8) is far off.
  std::vector<double> per_occurrence = {0.25, -2.0, 0.5, 1.0, 0.0};
  EXPECT_GT(ChiSquare(counts, Softmax(per_occurrence)), 1000.0);
}

TEST(Sampler, RepeatPenaltyGreedyWindow) {
  SamplingParams p = Plain();
  p.temperature = 0.f;
  p.repeat_penalty = 2.0f;
  std::vector<float> pos = {4.0f, 1.5f};   // once: 2.0 > 1.5 -> 0; twice would give 1.0 -> 1
  std::vector<float> pos2 = {3.0f, 2.0f};  // 1.5 < 2 -> 1
  std::vector<float> neg = {-1.0f, -1.5f}; // -2 < -1.5 -> 1 (dividing a negative would raise it)
  p.repeat_last_n = 64;
  Sampler s(p, 2);
  EXPECT_EQ(s.sample(pos.data(), {0, 0, 0}), 0);
  EXPECT_EQ(s.sample(pos2.data(), {0}), 1);
  EXPECT_EQ(s.sample(neg.data(), {0}), 1);
  EXPECT_EQ(s.sample(neg.data(), {}), 0);
  p.repeat_last_n = 0;  // off
  Sampler off(p, 2);
  EXPECT_EQ(off.sample(pos2.data(), {0}), 0);
  p.repeat_last_n = 1;  // only the last token counts
  Sampler last1(p, 2);
  EXPECT_EQ(last1.sample(pos2.data(), {0, 1}), 0);
  EXPECT_EQ(last1.sample(pos2.data(), {1, 0}), 1);
  // Whole history: id0 sits 999 tokens back. 3.0 -> 1.5 < 2.0 -> 1; with a 64 window -> 0.
  std::vector<float> three = {3.0f, 2.0f, 0.0f};
  std::vector<int32_t> long_hist(1000, 2);
  long_hist[0] = 0;
  p.repeat_last_n = -1;
  Sampler all(p, 3);
  EXPECT_EQ(all.sample(three.data(), long_hist), 1);
  p.repeat_last_n = 64;
  Sampler w64(p, 3);
  EXPECT_EQ(w64.sample(three.data(), long_hist), 0);
  // Hostile ids in the history are ignored.
  EXPECT_EQ(all.sample(three.data(), {-5, 3, 1 << 30}), 0);
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  std::vector<double> ld = {0.0, 1.0, 2.0, 0.5};
  std::vector<float> l(ld.begin(), ld.end());
  std::vector<double> top_freq;
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplingParams p = Plain(100 + static_cast<uint64_t>(t * 10));
    p.temperature = t;
    Sampler s(p, 4);
    auto counts = Draw(s, l, 100000);
    EXPECT_LT(ChiSquare(counts, Softmax(ld, t)), kChiBound) << "T=" << t << " df=3";
    top_freq.push_back(counts[2] / 100000.0);
  }
  EXPECT_GT(top_freq[0], top_freq[1] + 0.1);  // sharper: 0.80 vs 0.57
  EXPECT_GT(top_freq[1], top_freq[2] + 0.1);  // flatter: 0.57 vs 0.41
}

TEST(Sampler, NaNAndInfLogitsDoNotCrash) {
  // NaN and -inf are never drawn.
  std::vector<float> l = {kNaN, 1.0f, -kInf, 1.0f, kNaN};
  for (int k : {0, 2, 10}) {
    SamplingParams p = Plain(9);
    p.top_k = k;
    p.top_p = 0.99f;
    p.min_p = 0.01f;
    Sampler s(p, 5);
    auto counts = Draw(s, l, 4000);
    EXPECT_EQ(Support(counts), (std::vector<int32_t>{1, 3})) << "top_k=" << k;
  }
  // All NaN / -inf: a valid id, no crash, greedy and sampling agree on 0.
  std::vector<float> bad = {kNaN, -kInf, kNaN};
  Sampler s(Plain(), 3);
  EXPECT_EQ(s.sample(bad.data(), {}), 0);
  SamplingParams g = Plain();
  g.temperature = 0.f;
  Sampler sg(g, 3);
  EXPECT_EQ(sg.sample(bad.data(), {}), 0);
  Sampler sg4(g, 4);
  // +inf logits share all the mass.
  std::vector<float> pinf = {0.f, kInf, 5.f, kInf};
  Sampler s4(Plain(), 4);
  auto counts = Draw(s4, pinf, 20000);
  EXPECT_EQ(Support(counts), (std::vector<int32_t>{1, 3}));
  EXPECT_NEAR(counts[1] / 20000.0, 0.5, 0.03);
  EXPECT_EQ(sg4.sample(pinf.data(), {}), 1);
  // Penalties over NaN/inf, weird params (NaN temperature -> greedy, inf temperature -> flat).
  SamplingParams w = Plain();
  w.repeat_penalty = 1.3f;
  w.temperature = kNaN;
  w.top_p = kNaN;
  w.min_p = kNaN;
  Sampler sw(w, 4);
  EXPECT_EQ(sw.sample(pinf.data(), {1, 3, 0}), 1);
  w.temperature = kInf;
  Sampler si(w, 4);
  auto c2 = Draw(si, std::vector<float>{1.f, 2.f, kNaN, 3.f}, 3000, {0, 1});
  EXPECT_EQ(c2[2], 0);
  EXPECT_GT(c2[0], 0);
}

TEST(Sampler, ValidateParams) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}).ok());
  SamplingParams p;
  p.temperature = kNaN;
  EXPECT_FALSE(ValidateSamplingParams(p).ok());
  p = SamplingParams{};
  p.repeat_penalty = 0.f;
  Status st = ValidateSamplingParams(p);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("repeat_penalty"), std::string::npos);
  p = SamplingParams{};
  p.repeat_last_n = -2;
  EXPECT_FALSE(ValidateSamplingParams(p).ok());
  p = SamplingParams{};
  p.top_p = kInf;
  EXPECT_FALSE(ValidateSamplingParams(p).ok());
}

// A TokenConstraint masks what may be drawn (greedy and sampled) only when it says it masks,
// and sees every sampled token; the caller's logits stay untouched.
TEST(Sampler, ConstraintMasksAndSeesEveryToken) {
  struct Only : TokenConstraint {
    std::vector<int32_t> seen;
    bool on = true;
    bool masks() const override { return on; }
    void allowed(std::vector<uint8_t>& m) override {
      m.assign(8, 0);
      m[5] = m[6] = 1;
    }
    void accept(int32_t t) override { seen.push_back(t); }
  };
  std::vector<float> l = {9, 8, 7, 0, 0, 1, 2, 0};  // token 0 would win unmasked
  const std::vector<float> before = l;
  for (float temp : {0.f, 1.f}) {
    SamplingParams p;
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    Sampler s(p, 8);
    Only c;
    s.set_constraint(&c);
    for (int i = 0; i < 40; ++i) {
      const int32_t t = s.sample(l.data(), {});
      EXPECT_TRUE(t == 5 || t == 6) << t;
      if (temp == 0.f) {
        EXPECT_EQ(t, 6);
      }
    }
    c.on = false;  // not masking: the unconstrained choice, still reported
    const int32_t t = s.sample(l.data(), {});
    if (temp == 0.f) {
      EXPECT_EQ(t, 0);
    }
    ASSERT_EQ(c.seen.size(), 41u);
    EXPECT_EQ(c.seen.back(), t);
    EXPECT_EQ(l, before);
  }
}

TEST(Sampler, LargeVocabDefaultsAreFast) {
  // Smoke/perf check on a 200k vocab with the default chain; the bound is deliberately
  // loose (a full sort per token would still pass, a quadratic bug would not).
  const int n = 200000;
  std::mt19937 gen(1);
  std::normal_distribution<float> g(0.f, 3.f);
  std::vector<float> l(n);
  for (float& x : l) x = g(gen);
  SamplingParams def;  // defaults: top_k 40, top_p .95, min_p .05, T .8
  def.repeat_penalty = 1.1f;
  SamplingParams nok = def;
  nok.top_k = 0;  // top_p path without top_k
  std::vector<int32_t> hist(200);
  for (int i = 0; i < 200; ++i) hist[i] = i * 997 % n;
  for (const SamplingParams& p : {def, nok}) {
    Sampler s(p, n);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) {
      int32_t id = s.sample(l.data(), hist);
      ASSERT_GE(id, 0);
      ASSERT_LT(id, n);
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 50;
    EXPECT_LT(ms, 50.0);
    std::printf("vocab %d top_k %d: %.3f ms/token\n", n, p.top_k, ms);
  }
}

}  // namespace
}  // namespace moecat
