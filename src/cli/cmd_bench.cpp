// `moecat bench`: prompt processing (ppN: N tokens in one batch) and generation (tgN: N tokens
// one at a time) throughput, as llama-bench reports them: mean ± stddev over repetitions, after
// one warm-up run.
#include <chrono>
#include <cmath>
#include <random>

#include "base/memstats.h"
#include "cli/commands.h"
#include "kernels/ops.h"
#include "runtime/engine.h"

namespace moecat::cli {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Measure { std::string test; double mean = 0, sd = 0; };

Measure summarize(const std::string& test, const std::vector<double>& tps) {
  Measure m{test};
  for (double v : tps) m.mean += v;
  m.mean /= tps.size();
  for (double v : tps) m.sd += (v - m.mean) * (v - m.mean);
  m.sd = tps.size() > 1 ? std::sqrt(m.sd / (tps.size() - 1)) : 0;
  return m;
}

}  // namespace

Runner add_bench(CLI::App& app) {
  struct Opts {
    std::string model;
    int64_t p = 512, n = 128;
    int threads = 0, reps = 3;
    bool json = false;
    KvType kv_type = KvType::kF16;  // llama-bench's default
  };
  auto o = std::make_shared<Opts>();
  app.add_option("-m,--model", o->model, "GGUF file or Hugging Face folder")->required();
  app.add_option("-p,--n-prompt", o->p, "prompt tokens (0 = skip)")->check(CLI::Range(0, 1 << 16));
  app.add_option("-n,--n-gen", o->n, "generated tokens (0 = skip)")->check(CLI::Range(0, 1 << 16));
  app.add_option("-t,--threads", o->threads, "threads (default: all cores)");
  app.add_option("-r,--repetitions", o->reps, "repetitions")->check(CLI::Range(1, 1000));
  add_cache_type_option(app, &o->kv_type);
  app.add_flag("--json", o->json, "print JSON instead of a table");
  return [o]() -> int {
    EngineOptions eo;
    eo.threads = o->threads;
    eo.kv_type = o->kv_type;
    eo.need_tokenizer = false;
    eo.n_ctx = std::max<int64_t>(o->p, o->n) + 1;
    auto eng = Engine::Load(o->model, eo);
    if (!eng.ok()) return fail(eng.status());
    Engine& e = **eng;
    const ModelConfig& c = e.model().config();
    if (std::max(o->p, o->n) > e.options().n_ctx)
      return fail(Errorf("test length exceeds the model's context (%lld)", (long long)e.options().n_ctx));
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> tokdist(0, static_cast<int32_t>(c.n_vocab - 1));
    std::vector<float> logits(c.n_vocab);
    std::vector<Measure> results;
    if (o->p > 0) {
      std::vector<int32_t> toks(o->p);
      std::vector<double> tps;
      for (int r = -1; r < o->reps; ++r) {  // r = -1: warm-up
        for (auto& t : toks) t = tokdist(rng);
        KvCache kv(e.kv_shape(), o->p, e.options().n_batch);
        const double t0 = now_s();
        e.eval(kv, toks.data(), o->p, 0, false, logits.data());
        if (r >= 0) tps.push_back(o->p / (now_s() - t0));
      }
      results.push_back(summarize("pp" + std::to_string(o->p), tps));
    }
    if (o->n > 0) {
      std::vector<double> tps;
      for (int r = -1; r < o->reps; ++r) {
        KvCache kv(e.kv_shape(), o->n, e.options().n_batch);
        const double t0 = now_s();
        for (int64_t i = 0; i < o->n; ++i) {
          int32_t t = tokdist(rng);
          e.eval(kv, &t, 1, i, false, logits.data());
        }
        if (r >= 0) tps.push_back(o->n / (now_s() - t0));
      }
      results.push_back(summarize("tg" + std::to_string(o->n), tps));
    }
    const size_t bytes = e.model().weights().source().total_bytes();
    const MemStats mem = read_mem_stats();
    if (o->json) {
      nlohmann::json j = nlohmann::json::array();
      for (auto& m : results)
        j.push_back({{"model", o->model}, {"arch", c.arch}, {"size", bytes}, {"t", e.options().threads},
                     {"isa", kernels::isa_name(kernels::active_isa())}, {"test", m.test}, {"tps", m.mean},
                     {"stddev", m.sd}, {"reps", o->reps}, {"peak_rss", mem.peak_rss},
                     {"rss_anon", mem.rss_anon}, {"rss_file", mem.rss_file}});
      printf("%s\n", j.dump(2).c_str());
    } else {
      printf("| %-10s | %10s | %-10s | %7s | %8s | %20s |\n", "arch", "size", "backend", "threads", "test", "t/s");
      printf("| ---------- | ---------: | ---------- | ------: | -------: | -------------------: |\n");
      for (auto& m : results)
        printf("| %-10s | %6.2f GiB | cpu-%-6s | %7d | %8s | %12.2f ± %5.2f |\n", c.arch.c_str(),
               bytes / 1073741824.0, kernels::isa_name(kernels::active_isa()), e.options().threads,
               m.test.c_str(), m.mean, m.sd);
      printf("\nmemory: peak RSS %.2f GiB = %.2f GiB mapped model pages + %.1f MiB anonymous (weights %.2f GiB, mmapped)\n",
             mem.peak_rss / 1073741824.0, mem.rss_file / 1073741824.0, mem.rss_anon / 1048576.0,
             bytes / 1073741824.0);
    }
    return 0;
  };
}

}  // namespace moecat::cli
