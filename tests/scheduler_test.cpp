// The scheduler under KV-block pressure: many concurrent requests on a pool that holds only a
// few of them. None may fail; the youngest running ones are preempted and resumed, and every
// output (greedy and seeded sampling) must equal the same request run alone on an ample pool.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "runtime/engine.h"
#include "serve/scheduler.h"
#include "scheduler_testing.h"
#include "testing.h"

namespace moecat {
namespace {

using testing_util::Collect;
using Out = testing_util::StreamOut;
std::string MakeModel(const std::string& kind) { return testing_util::MakeSchedulerModel(kind, 4); }

GenRequest Request(const std::vector<int32_t>& prompt, int64_t max_tokens, int i) {
  GenRequest g;
  g.prompt = prompt;
  g.max_tokens = max_tokens;
  if (i % 2 == 0) {
    g.sampling.temperature = 0;  // greedy
  } else {
    g.sampling.temperature = 0.9f;  // seeded sampling: the sampler's state must survive preemption
    g.sampling.seed = 100 + i;
  }
  return g;
}

class SchedulerPressure : public ::testing::TestWithParam<std::string> {};

TEST_P(SchedulerPressure, PreemptedRequestsFinishWithTheirSoloOutput) {
  const std::string dir = MakeModel(GetParam());
  if (dir.empty()) {
    if (testing_util::RequireRef()) FAIL() << "cannot generate the test model (python3 + numpy)";
    GTEST_SKIP() << "python3 with numpy unavailable";
  }
  EngineOptions eo;
  eo.threads = 2;
  eo.n_ctx = 96;
  auto er = Engine::Load(dir, eo);
  ASSERT_TRUE(er.ok()) << er.status().message();
  Engine& e = **er;
  const int32_t V = static_cast<int32_t>(e.model().config().n_vocab);

  // 12 requests: 20..41 prompt tokens (half share a 16-token prefix), 40 tokens each.
  std::mt19937 rng(7);
  std::vector<int32_t> common(16);
  for (auto& t : common) t = static_cast<int32_t>(rng() % V);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 12; ++i) {
    std::vector<int32_t> p = i % 2 ? common : std::vector<int32_t>{};
    const size_t n = 20 + (i * 7) % 22;
    while (p.size() < n) p.push_back(static_cast<int32_t>(rng() % V));
    prompts.push_back(p);
  }
  const int64_t kMax = 40;

  std::vector<Out> solo;
  {
    SchedulerOptions so;
    so.parallel = 1;
    so.n_ctx = 96;
    Scheduler s(e, so);  // default pool: two full contexts, never short
    for (int i = 0; i < 12; ++i) solo.push_back(Collect(s.submit(Request(prompts[i], kMax, i)).stream));
    EXPECT_EQ(s.metrics().preemptions, 0);
  }

  SchedulerOptions so;
  so.parallel = 8;
  so.n_ctx = 96;
  so.kv_blocks = 6;  // 96 positions: one full context, a small part of what 8 running requests want
  so.n_batch = 32;
  Scheduler s(e, so);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 12; ++i) {
    auto sub = s.submit(Request(prompts[i], kMax, i));
    ASSERT_TRUE(sub.stream) << sub.message;
    streams.push_back(sub.stream);
  }
  for (int i = 0; i < 12; ++i) {
    Out o = Collect(streams[i]);
    EXPECT_NE(o.reason, FinishReason::kError) << "request " << i << ": " << o.error;
    EXPECT_EQ(o.error, "") << "request " << i;
    EXPECT_EQ(o.tokens, solo[i].tokens) << "request " << i << " differs from its solo run";
    EXPECT_EQ(o.reason, solo[i].reason) << "request " << i;
    EXPECT_EQ(o.n_prompt, (int64_t)prompts[i].size()) << "usage counts the prompt once";
    EXPECT_EQ(o.n_gen, (int64_t)solo[i].tokens.size());
  }
  SchedulerMetrics m = s.metrics();
  for (int i = 0; i < 100 && m.requests_finished < 12; ++i) {  // the counters follow the streams' ends
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    m = s.metrics();
  }
  EXPECT_GT(m.preemptions, 0) << "the pool was meant to be too small";
  EXPECT_EQ(m.requests_started, 12);
  EXPECT_EQ(m.requests_finished, 12);
  EXPECT_EQ(m.kv.blocks_in_use, 0);
}

INSTANTIATE_TEST_SUITE_P(Archs, SchedulerPressure, ::testing::Values("qwen3moe", "deepseek_v3"));

// Speculative decoding inside the batch (n-gram drafts): every output equals the run without
// drafting, on an ample pool and on one so small that drafts compete with preemption; the
// accept path must really run (random models fall into loops the n-gram drafts predict).
// (model, drafter): n-gram drafts on any model, the MTP head's on LongCat-Flash.
class SchedulerDrafting : public ::testing::TestWithParam<std::pair<std::string, bool>> {};

TEST_P(SchedulerDrafting, DraftedOutputEqualsPlainOutput) {
  const auto [kind, mtp] = GetParam();
  const std::string dir = MakeModel(kind);
  if (dir.empty()) {
    if (testing_util::RequireRef()) FAIL() << "cannot generate the test model (python3 + numpy)";
    GTEST_SKIP() << "python3 with numpy unavailable";
  }
  EngineOptions eo;
  eo.threads = 2;
  eo.n_ctx = 128;
  auto er = Engine::Load(dir, eo);
  ASSERT_TRUE(er.ok()) << er.status().message();
  Engine& e = **er;
  const int32_t V = static_cast<int32_t>(e.model().config().n_vocab);
  std::mt19937 rng(9);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> unit(3 + i % 4);  // a repeated phrase: n-gram drafts find it
    for (auto& t : unit) t = static_cast<int32_t>(rng() % V);
    std::vector<int32_t> p;
    while (p.size() < 18 + (size_t)i * 3) p.insert(p.end(), unit.begin(), unit.end());
    prompts.push_back(p);
  }
  auto run_all = [&](int n_draft, int64_t kv_blocks, SchedulerMetrics* out) {
    SchedulerOptions so;
    so.parallel = 4;
    so.n_ctx = 128;
    so.n_batch = 48;
    so.kv_blocks = kv_blocks;
    so.n_draft = n_draft;
    so.draft_mtp = mtp && n_draft > 0;
    Scheduler s(e, so);
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (int i = 0; i < 8; ++i) streams.push_back(s.submit(Request(prompts[i], 48, i)).stream);
    std::vector<Out> outs;
    for (auto& st : streams) outs.push_back(Collect(st));
    SchedulerMetrics m = s.metrics();
    for (int i = 0; i < 100 && m.requests_finished < 8; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      m = s.metrics();
    }
    *out = m;
    return outs;
  };
  SchedulerMetrics m0, m1, m2;
  const auto plain = run_all(0, 0, &m0);
  const auto drafted = run_all(3, 0, &m1);
  const auto tight = run_all(4, 9, &m2);  // 144 positions: one full context and a little
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(plain[i].error, "") << i;
    EXPECT_EQ(drafted[i].tokens, plain[i].tokens) << "request " << i << " (" << (i % 2 ? "seeded" : "greedy") << ")";
    EXPECT_EQ(drafted[i].reason, plain[i].reason) << i;
    EXPECT_EQ(drafted[i].n_gen, plain[i].n_gen) << i;
    EXPECT_EQ(tight[i].tokens, plain[i].tokens) << "request " << i << " on the small pool";
    EXPECT_EQ(tight[i].error, "") << i;
  }
  EXPECT_EQ(m0.draft_tokens, 0);
  EXPECT_GT(m1.draft_tokens, 0);
  if (!mtp) {  // a random MTP head rarely agrees with its random model (the shipped model's does: e2e)
    EXPECT_GT(m1.draft_accepted, 0) << "the accept path never ran";
    EXPECT_LT(m1.steps, m0.steps) << "accepted drafts must save steps";
  }
  EXPECT_EQ(m1.generated_tokens, m0.generated_tokens);
  // Each verified span emits its confirmed drafts and one more token, fewer only when it ends.
  EXPECT_LE(m1.verify_emitted, m1.verify_spans + m1.draft_accepted);
  EXPECT_EQ(m2.kv.blocks_in_use, 0);
}

INSTANTIATE_TEST_SUITE_P(Archs, SchedulerDrafting,
                         ::testing::Values(std::make_pair(std::string("qwen3moe"), false),
                                           std::make_pair(std::string("deepseek_v3"), false),
                                           std::make_pair(std::string("longcat_flash"), false),
                                           std::make_pair(std::string("longcat_flash"), true)));

}  // namespace
}  // namespace moecat
