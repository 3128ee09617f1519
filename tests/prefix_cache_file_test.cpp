// The prefix cache on disk (runtime/prefix_cache_file.h): a saved pool comes back with the same
// blocks, tokens and rows; files that are truncated, damaged, foreign or made for another model /
// cache type are refused whole (the pool stays empty); a scheduler restarted on the file serves a
// repeated prompt from the cache with the output of a cold run.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "runtime/engine.h"
#include "runtime/prefix_cache_file.h"
#include "serve/scheduler.h"
#include "scheduler_testing.h"
#include "testing.h"

namespace moecat {
namespace {

KvShape Shape3() {
  KvShape s;
  s.n_layer = 3;
  s.k_width = 8;
  s.v_width = 5;  // odd: K and V rows of a block differ in size
  s.window.assign(3, 0);
  s.type = KvType::kF16;
  return s;
}

// Fills positions [0, n) of a sequence's blocks with a pattern derived from (token, layer, K/V).
void FillRows(PagedKvCache& c, PagedSeq& s, const std::vector<int32_t>& toks, int64_t n) {
  const KvShape& sh = c.shape();
  for (int64_t p = 0; p < n; ++p) {
    const int32_t b = s.kv().layers[0].blocks[p / c.block_rows()];
    const int64_t r = p % c.block_rows();
    for (int64_t il = 0; il < sh.n_layer; ++il)
      for (int v = 0; v < 2; ++v) {
        const int64_t w = v ? sh.v_width : sh.k_width;
        uint16_t* row = reinterpret_cast<uint16_t*>(c.block_data(b, il, v)) + r * w;
        for (int64_t j = 0; j < w; ++j) row[j] = static_cast<uint16_t>(toks[p] * 131 + il * 17 + v * 7 + j);
      }
  }
}

bool RowsMatch(const PagedKvCache& c, int32_t b, const int32_t* toks) {
  const KvShape& sh = c.shape();
  for (int64_t r = 0; r < c.block_rows(); ++r)
    for (int64_t il = 0; il < sh.n_layer; ++il)
      for (int v = 0; v < 2; ++v) {
        const int64_t w = v ? sh.v_width : sh.k_width;
        const uint16_t* row = reinterpret_cast<const uint16_t*>(c.block_data(b, il, v)) + r * w;
        for (int64_t j = 0; j < w; ++j)
          if (row[j] != static_cast<uint16_t>(toks[r] * 131 + il * 17 + v * 7 + j)) return false;
      }
  return true;
}

// Two prompts sharing their first two blocks, each run through the pool and closed.
void Populate(PagedKvCache& c, std::vector<std::vector<int32_t>>& prompts) {
  std::mt19937 rng(3);
  std::vector<int32_t> common(32);
  for (auto& t : common) t = static_cast<int32_t>(rng() % 1000);
  for (int i = 0; i < 2; ++i) {
    std::vector<int32_t> p = common;
    while (p.size() < 70) p.push_back(static_cast<int32_t>(rng() % 1000));
    auto s = c.open(p);
    ASSERT_TRUE(c.reserve(*s, (int64_t)p.size()));
    FillRows(c, *s, p, (int64_t)p.size());
    c.commit(*s, p, (int64_t)p.size());
    c.close(*s);
    prompts.push_back(p);
  }
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), (std::streamsize)bytes.size());
}

TEST(PrefixCacheFile, RoundTripKeepsBlocksTokensAndRows) {
  PagedKvCache a(Shape3(), 32, 128);
  std::vector<std::vector<int32_t>> prompts;
  Populate(a, prompts);
  // 70 tokens = 4 full blocks each; the first two shared: 6 distinct registered blocks.
  ASSERT_EQ(a.cached_blocks().size(), 6u);
  const std::string path = testing_util::TempDir() + "/pc_roundtrip.bin";
  auto n = save_prefix_cache(a, path, "id-1");
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 6);

  PagedKvCache b(Shape3(), 32, 128);
  auto m = load_prefix_cache(b, path, "id-1", 1000);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(*m, 6);
  EXPECT_EQ(b.stats().blocks_cached, 6);
  for (const auto& p : prompts) {
    auto s = b.open(p);
    EXPECT_EQ(s->n_cached(), 64) << "four full blocks come from the file";
    for (int64_t i = 0; i < 4; ++i) EXPECT_TRUE(RowsMatch(b, s->kv().layers[0].blocks[i], p.data() + i * 16));
    b.close(*s);
  }
  // A prompt that shares only the first 20 tokens finds the first block only.
  std::vector<int32_t> other(prompts[0].begin(), prompts[0].begin() + 20);
  other.resize(40, 999);
  auto s = b.open(other);
  EXPECT_EQ(s->n_cached(), 16);
  b.close(*s);
}

TEST(PrefixCacheFile, SmallerPoolTakesParentsFirst) {
  PagedKvCache a(Shape3(), 32, 128);
  std::vector<std::vector<int32_t>> prompts;
  Populate(a, prompts);
  const std::string path = testing_util::TempDir() + "/pc_small.bin";
  ASSERT_TRUE(save_prefix_cache(a, path, "id").ok());
  PagedKvCache b(Shape3(), 3, 48);  // room for three blocks
  auto m = load_prefix_cache(b, path, "id", 1000);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(*m, 3);
  // Whatever came in must be reachable: the chain starts at a first block.
  auto s = b.open(std::vector<int32_t>(prompts[0].begin(), prompts[0].begin() + 49));
  EXPECT_GE(s->n_cached(), 32) << "the shared first two blocks are loaded before any child";
  b.close(*s);
}

TEST(PrefixCacheFile, MismatchedOrDamagedFilesAreRefusedWhole) {
  PagedKvCache a(Shape3(), 32, 128);
  std::vector<std::vector<int32_t>> prompts;
  Populate(a, prompts);
  const std::string dir = testing_util::TempDir();
  const std::string good = dir + "/pc_good.bin";
  ASSERT_TRUE(save_prefix_cache(a, good, "model=A kv=f16").ok());
  const std::string bytes = Slurp(good);
  ASSERT_GT(bytes.size(), 1000u);

  auto refused = [&](const std::string& path, const std::string& id, const KvShape& shape, const char* what) {
    PagedKvCache b(shape, 32, 128);
    auto m = load_prefix_cache(b, path, id, 1000);
    EXPECT_FALSE(m.ok()) << what;
    if (!m.ok()) {
      EXPECT_FALSE(m.status().message().empty());
    }
    EXPECT_EQ(b.stats().blocks_cached, 0) << what << ": nothing may be taken from a refused file";
    EXPECT_EQ(b.available_blocks(), 32) << what;
  };
  refused(good, "model=B kv=f16", Shape3(), "another model");
  KvShape wide = Shape3();
  wide.k_width = 16;
  refused(good, "model=A kv=f16", wide, "another KV geometry");
  refused(dir + "/pc_missing.bin", "model=A kv=f16", Shape3(), "missing file");

  const std::string bad = dir + "/pc_bad.bin";
  for (size_t cut : {size_t(0), size_t(5), size_t(12), size_t(40), bytes.size() / 2, bytes.size() - 9, bytes.size() - 1}) {
    Spit(bad, bytes.substr(0, cut));
    refused(bad, "model=A kv=f16", Shape3(), ("truncated to " + std::to_string(cut)).c_str());
  }
  Spit(bad, bytes + "x");
  refused(bad, "model=A kv=f16", Shape3(), "trailing byte");
  for (size_t at : {bytes.size() / 3, bytes.size() - 20, bytes.size() - 3}) {
    std::string flipped = bytes;
    flipped[at] ^= 0x10;
    Spit(bad, flipped);
    refused(bad, "model=A kv=f16", Shape3(), ("bit flipped at " + std::to_string(at)).c_str());
  }
  Spit(bad, std::string(4096, 'A'));
  refused(bad, "model=A kv=f16", Shape3(), "not a cache file");
  // Token ids the model cannot have: the file is valid but not for this vocabulary.
  PagedKvCache b(Shape3(), 32, 128);
  EXPECT_FALSE(load_prefix_cache(b, good, "model=A kv=f16", 500).ok());
  EXPECT_EQ(b.stats().blocks_cached, 0);
}

// ---- with a model: identity, and a scheduler restarted on its saved cache -------------------

std::string MakeModel(const std::string& kind, int seed) { return testing_util::MakeSchedulerModel(kind, seed); }

struct GenRun {
  std::vector<int32_t> tokens;
  int64_t n_cached = -1;
  bool ok = false;
};

GenRun Generate(Scheduler& s, const std::vector<int32_t>& prompt) {
  GenRequest g;
  g.prompt = prompt;
  g.max_tokens = 12;
  g.sampling.temperature = 0;
  auto sub = s.submit(std::move(g));
  if (!sub.stream) return {};
  const testing_util::StreamOut o = testing_util::Collect(sub.stream);
  return {o.tokens, o.n_cached, o.error.empty() && o.reason != FinishReason::kError};
}

class PrefixCacheRestart : public ::testing::TestWithParam<std::string> {};

TEST_P(PrefixCacheRestart, SystemPromptIsWarmAfterRestart) {
  const std::string dir = MakeModel(GetParam(), 5), other = MakeModel(GetParam(), 6);
  if (dir.empty() || other.empty()) {
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
  std::mt19937 rng(11);
  std::vector<int32_t> system(40), q1, q2;
  for (auto& t : system) t = static_cast<int32_t>(rng() % V);
  q1 = q2 = system;
  for (int i = 0; i < 6; ++i) q1.push_back(static_cast<int32_t>(rng() % V)), q2.push_back(static_cast<int32_t>(rng() % V));

  const std::string path = testing_util::TempDir() + "/pc_" + GetParam() + ".bin";
  std::remove(path.c_str());
  SchedulerOptions so;
  so.parallel = 2;
  so.n_ctx = 128;
  so.prefix_cache_file = path;
  GenRun cold;
  {
    Scheduler s(e, so);
    cold = Generate(s, q1);
    ASSERT_TRUE(cold.ok);
    EXPECT_EQ(cold.n_cached, 0) << "nothing cached before the first request";
  }  // stop(): written here
  {
    Scheduler s(e, so);  // a restart: reads the file
    EXPECT_GT(s.metrics().kv.blocks_cached, 0);
    GenRun warm = Generate(s, q1);
    ASSERT_TRUE(warm.ok);
    EXPECT_EQ(warm.n_cached, 32) << "the system prompt's two full blocks come from the file";
    EXPECT_EQ(warm.tokens, cold.tokens) << "cached rows must give the cold run's output";
    GenRun other_q = Generate(s, q2);
    EXPECT_EQ(other_q.n_cached, 32) << "another question after the same system prompt";
  }
  // The same file offered to another model (same shape, other weights) or another cache type.
  for (int variant = 0; variant < 2; ++variant) {
    EngineOptions eo2 = eo;
    if (variant == 1) eo2.kv_type = eo.kv_type == KvType::kF16 ? KvType::kF32 : KvType::kF16;
    auto er2 = Engine::Load(variant == 0 ? other : dir, eo2);
    ASSERT_TRUE(er2.ok()) << er2.status().message();
    const std::string before = Slurp(path);
    SchedulerOptions so2 = so;
    {
      Scheduler s(**er2, so2);
      EXPECT_EQ(s.metrics().kv.blocks_cached, 0) << (variant == 0 ? "another model's cache" : "another cache type");
      GenRun r = Generate(s, q1);
      EXPECT_TRUE(r.ok);
      EXPECT_EQ(r.n_cached, 0);
    }
    std::remove(path.c_str());  // the stop() above rewrote it for the other engine
    Spit(path, before);
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, PrefixCacheRestart, ::testing::Values("qwen3moe", "deepseek_v3"));

}  // namespace
}  // namespace moecat
