// Expert parallelism (model/expert_parallel.h) without MPI: N ranks as N threads of this process,
// each with its own Engine (only its share of the experts loaded) and an in-process transport.
// Log-probs of every rank must equal the single-process ones (f32 models: max |diff| <= 1e-5)
// and be bit-identical across ranks; a rank that fails to load fails every rank with its error.
#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

#include "model/expert_parallel.h"
#include "runtime/engine.h"
#include "testing.h"

namespace moecat {
namespace {

using testing_util::RunCommand;
using testing_util::SourceDir;
using testing_util::TempDir;

// The shared state of N thread-ranks; every collective is two barrier phases (publish, read).
struct Group {
  explicit Group(int n) : n(n), bar(n), send(n), status(n) {}
  int n;
  std::barrier<> bar;
  std::vector<const float*> send;
  std::vector<Status> status;
  uint64_t value = 0;
  std::string text;
  int64_t gathers = 0;  // all-gathers started (rank 0 counts)
};

class ThreadRequest : public CommRequest {
 public:
  ThreadRequest(Group& g, float* recv, const int64_t* counts, const int64_t* displs)
      : g_(g), recv_(recv), counts_(counts, counts + g.n), displs_(displs, displs + g.n) {}
  void wait() override {
    for (int r = 0; r < g_.n; ++r)
      if (counts_[r] > 0) std::memcpy(recv_ + displs_[r], g_.send[r], counts_[r] * sizeof(float));
    g_.bar.arrive_and_wait();  // nobody reuses `send` before all have read it
  }

 private:
  Group& g_;
  float* recv_;
  std::vector<int64_t> counts_, displs_;
};

class ThreadComm : public ExpertComm {
 public:
  ThreadComm(Group& g, int rank) : g_(g), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_.n; }
  std::unique_ptr<CommRequest> start_allgatherv(const float* send, float* recv, const int64_t* counts,
                                                const int64_t* displs) override {
    g_.send[rank_] = send;
    if (rank_ == 0) ++g_.gathers;
    g_.bar.arrive_and_wait();
    return std::make_unique<ThreadRequest>(g_, recv, counts, displs);
  }
  Status agree(const Status& local) override {
    g_.status[rank_] = local;
    g_.bar.arrive_and_wait();
    Status out = Status::Ok();
    for (int r = 0; r < g_.n; ++r)
      if (!g_.status[r].ok()) {
        out = Errorf("rank %d of %d: %s", r, g_.n, g_.status[r].message().c_str());
        break;
      }
    g_.bar.arrive_and_wait();
    return out;
  }
  std::string broadcast_string(const std::string& s) override {
    if (rank_ == 0) g_.text = s;
    g_.bar.arrive_and_wait();
    std::string r = g_.text;
    g_.bar.arrive_and_wait();
    return r;
  }
  uint64_t broadcast_u64(uint64_t v) override {
    if (rank_ == 0) g_.value = v;
    g_.bar.arrive_and_wait();
    const uint64_t r = g_.value;
    g_.bar.arrive_and_wait();
    return r;
  }

 private:
  Group& g_;
  int rank_;
};

using Logprobs = std::vector<std::vector<float>>;

struct RankResult {
  Status status = Status::Ok();
  Logprobs lp;
  int64_t experts_loaded = 0, experts_total = 0;  // expert matrices with data / in all
  int64_t n_expert = 0;
};

// Runs `path` on n thread-ranks; paths[r] overrides the model of rank r when given.
std::vector<RankResult> RunRanks(int n, const std::string& path, const std::vector<int32_t>& tokens,
                                 std::vector<std::string> paths = {},
                                 std::vector<std::vector<int32_t>> rank_tokens = {}) {
  Group g(n);
  std::vector<RankResult> res(n);
  std::vector<std::thread> th;
  for (int r = 0; r < n; ++r)
    th.emplace_back([&, r] {
      ThreadComm comm(g, r);
      set_expert_comm(&comm);
      EngineOptions eo;
      eo.threads = 1;
      eo.need_tokenizer = false;
      auto e = Engine::Load(paths.empty() ? path : paths[r], eo);
      if (!e.ok()) {
        res[r].status = e.status();
      } else {
        res[r].n_expert = (*e)->model().config().n_expert;
        for (const LoadedWeight& lw : (*e)->model().weights().loaded())
          if (lw.name.find("_exps.weight") != std::string::npos)
            for (const TensorView& v : lw.parts) {
              ++res[r].experts_total;
              res[r].experts_loaded += v.valid();
            }
        auto lp = (*e)->logprobs(rank_tokens.empty() ? tokens : rank_tokens[r]);
        if (lp.ok()) res[r].lp = std::move(*lp); else res[r].status = lp.status();
      }
      set_expert_comm(nullptr);
    });
  for (auto& t : th) t.join();
  return res;
}

double MaxDiff(const Logprobs& a, const Logprobs& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return INFINITY;
    for (size_t j = 0; j < a[i].size(); ++j) m = std::max(m, std::fabs(double(a[i][j]) - double(b[i][j])));
  }
  return m;
}

// A random f32 model of `kind` (tools/*_test_model.py), as an HF folder or converted to GGUF.
std::string MakeModel(const std::string& kind, bool gguf) {
  const std::string dir = TempDir() + "/" + kind;
  if (!std::filesystem::exists(dir)) {
    std::string tool = "tools/make_test_model.py " + kind;
    if (kind == "longcat_flash") tool = "tools/longcat_test_model.py";
    if (kind == "longcat_flash_lite") tool = "tools/longcat_lite_test_model.py";
    const std::string extra = kind == "longcat_flash" || kind == "longcat_flash_lite" ? "" : " --dtype f32";
    int rc = 0;
    RunCommand("/usr/bin/python3 " + SourceDir() + "/" + tool + " " + dir + extra + " 2>&1", &rc);
    if (rc != 0) return "";
  }
  if (!gguf) return dir;
  const std::string out = dir + ".gguf";
  if (!std::filesystem::exists(out)) {
    const char* bin = std::getenv("MOECAT_BIN");
    if (!bin) return "";
    int rc = 0;
    RunCommand(std::string(bin) + " convert " + dir + " -o " + out + " --type f32 2>&1", &rc);
    if (rc != 0) return "";
  }
  return out;
}

struct Case {
  std::string kind;
  bool gguf;
};

class ExpertParallel : public ::testing::TestWithParam<Case> {};

TEST_P(ExpertParallel, RanksMatchOneProcess) {
  const Case& c = GetParam();
  const std::string path = MakeModel(c.kind, c.gguf);
  if (path.empty()) GTEST_SKIP() << "could not make the " << c.kind << " test model (python3 + numpy, MOECAT_BIN)";
  std::vector<int32_t> tokens;
  for (int i = 0; i < 24; ++i) tokens.push_back((i * 37 + 11) % 97 + 3);
  EngineOptions eo;
  eo.threads = 1;
  eo.need_tokenizer = false;
  auto one = Engine::Load(path, eo);
  ASSERT_TRUE(one.ok()) << one.status().message();
  auto ref = (*one)->logprobs(tokens);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  for (int n : {1, 2, 3, 4}) {
    const std::vector<RankResult> res = RunRanks(n, path, tokens);
    for (int r = 0; r < n; ++r) {
      ASSERT_TRUE(res[r].status.ok()) << "rank " << r << ": " << res[r].status.message();
      // f32 weights: only the order of the expert sums differs from one process
      EXPECT_LE(MaxDiff(res[r].lp, *ref), 1e-5) << c.kind << " N=" << n << " rank " << r;
      EXPECT_EQ(MaxDiff(res[r].lp, res[0].lp), 0.0) << "ranks disagree, N=" << n;
      // each rank holds about 1/N of the experts, and together all of them exactly once
      const int64_t E = res[r].n_expert;
      ASSERT_GT(E, 0);
      ASSERT_EQ(res[r].experts_total % E, 0);
      const auto [lo, hi] = expert_share(E, r, n);
      EXPECT_EQ(res[r].experts_loaded, res[r].experts_total / E * (hi - lo)) << "rank " << r << " of " << n;
    }
    std::printf("  %s N=%d: max |dlog p| vs one process %.3g\n", c.kind.c_str(), n, MaxDiff(res[0].lp, *ref));
    int64_t loaded = 0;
    for (const RankResult& rr : res) loaded += rr.experts_loaded;
    EXPECT_EQ(loaded, res[0].experts_total) << "N=" << n;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Archs, ExpertParallel,
    ::testing::Values(Case{"mixtral", false}, Case{"mixtral", true}, Case{"qwen3moe", false}, Case{"qwen3moe", true},
                      Case{"deepseek_v3", false}, Case{"deepseek_v3", true}, Case{"gpt_oss", false},
                      Case{"gpt_oss", true}, Case{"longcat_flash", false}, Case{"longcat_flash", true},
                      Case{"longcat_flash_lite", false}, Case{"longcat_flash_lite", true}),
    [](const auto& info) { return info.param.kind + (info.param.gguf ? "_gguf" : "_hf"); });

TEST(ExpertParallelFailure, RankThatCannotLoadFailsEveryRank) {
  const std::string path = MakeModel("qwen3moe", false);
  if (path.empty()) GTEST_SKIP() << "could not make the test model";
  const std::vector<RankResult> res =
      RunRanks(3, path, {1, 2, 3}, {path, path, TempDir() + "/no_such_model"});
  for (int r = 0; r < 3; ++r) {
    ASSERT_FALSE(res[r].status.ok()) << "rank " << r;
    EXPECT_NE(res[r].status.message().find("rank 2 of 3"), std::string::npos) << res[r].status.message();
    EXPECT_NE(res[r].status.message().find("no_such_model"), std::string::npos) << res[r].status.message();
  }
}

TEST(ExpertParallelFailure, RanksWithDifferentModelsAreRefused) {
  const std::string a = MakeModel("qwen3moe", false), b = MakeModel("mixtral", false);
  if (a.empty() || b.empty()) GTEST_SKIP() << "could not make the test models";
  const std::vector<RankResult> res = RunRanks(2, a, {1, 2, 3}, {a, b});
  for (int r = 0; r < 2; ++r) {
    ASSERT_FALSE(res[r].status.ok()) << "rank " << r;
    EXPECT_NE(res[r].status.message().find("another shape"), std::string::npos) << res[r].status.message();
  }
}

TEST(ExpertParallelFailure, RanksWithOtherInputStopTogether) {
  const std::string path = MakeModel("qwen3moe", false);
  if (path.empty()) GTEST_SKIP() << "could not make the test model";
  const std::vector<RankResult> res = RunRanks(2, path, {}, {}, {{1, 2, 3}, {1, 2, 4}});
  for (int r = 0; r < 2; ++r) {
    ASSERT_FALSE(res[r].status.ok()) << "rank " << r;
    EXPECT_NE(res[r].status.message().find("rank 1 of 2: its input tokens differ"), std::string::npos)
        << res[r].status.message();
  }
}

TEST(ExpertShare, CoversEveryExpertOnce) {
  for (int64_t E : {1, 4, 7, 64, 512})
    for (int n = 1; n <= 8; ++n) {
      int64_t next = 0;
      for (int r = 0; r < n; ++r) {
        const auto [lo, hi] = expert_share(E, r, n);
        EXPECT_EQ(lo, next);
        EXPECT_GE(hi, lo);
        EXPECT_LE(hi - lo, (E + n - 1) / n);
        next = hi;
      }
      EXPECT_EQ(next, E);
    }
}

}  // namespace
}  // namespace moecat
