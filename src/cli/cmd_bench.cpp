// `moecat bench`: prompt processing (ppN: N tokens in one batch) and generation (tgN: N tokens
// one at a time) throughput, as llama-bench reports them: comma lists of prompt lengths (-p),
// generation lengths (-n), thread counts (-t) and context depths (-d: the test runs after that
// many tokens are already in the KV cache, "pp512 @ d8192"), mean ± stddev over -r repetitions
// after one warm-up run. --membw also measures the streaming read bandwidth at each thread
// count and prints every tg figure against the memory roofline: the bytes a generated token
// reads (weights from the real routing + the KV cache at that depth) divided by the bandwidth.
//
// The depth context is random tokens prefilled once per depth (untimed) and reused by every
// test, repetition and thread count: a test only writes positions >= depth, so the prefix stays
// intact (llama-bench restores a saved state instead; same effect). Models with sliding-window
// layers keep those in rings that a test overwrites, so the last window of the context is
// prefilled again (untimed) before each run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <thread>

#include "base/memstats.h"
#include "cli/bench_util.h"
#include "cli/commands.h"
#include "kernels/ops.h"
#include "runtime/engine.h"

namespace moecat::cli {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct TestResult {
  bool pp = true;
  int64_t len = 0, depth = 0;
  int threads = 0;
  std::vector<double> samples_ts;
  std::vector<int64_t> samples_ns;
  double mean = 0, sd = 0;
  // tg only: bytes read per generated token and their parts; membw (0: not measured)
  double experts_per_layer = 0, weight_bytes = 0, kv_bytes = 0, membw_gbs = 0;
  std::string time;

  std::string name() const {
    std::string s = (pp ? "pp" : "tg") + std::to_string(len);
    if (depth > 0) s += " @ d" + std::to_string(depth);
    return s;
  }
  double bytes() const { return weight_bytes + kv_bytes; }
  double roofline_ts() const { return membw_gbs > 0 && bytes() > 0 ? membw_gbs * 1e9 / bytes() : 0; }
  double roofline_frac() const { return roofline_ts() > 0 ? mean / roofline_ts() : 0; }
  int64_t avg_ns() const {
    double m = 0;
    for (int64_t v : samples_ns) m += double(v);
    return std::llround(m / std::max<size_t>(1, samples_ns.size()));
  }
  int64_t stddev_ns() const {
    if (samples_ns.size() < 2) return 0;
    const double m = double(avg_ns());
    double v = 0;
    for (int64_t x : samples_ns) v += (double(x) - m) * (double(x) - m);
    return std::llround(std::sqrt(v / double(samples_ns.size() - 1)));
  }
  void summarize() {
    mean = sd = 0;
    for (double v : samples_ts) mean += v;
    mean /= std::max<size_t>(1, samples_ts.size());
    for (double v : samples_ts) sd += (v - mean) * (v - mean);
    sd = samples_ts.size() > 1 ? std::sqrt(sd / (samples_ts.size() - 1)) : 0;
  }
};

std::string iso_time() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1e9) snprintf(buf, sizeof buf, "%.3f GB", b / 1e9);
  else if (b >= 1e6) snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
  else snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  return buf;
}

std::string human_params(int64_t n) {
  char buf[32];
  if (n >= 1000000000) snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  return buf;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return s;
}

// Resets VmHWM (peak RSS) so the bandwidth probe's buffer does not count as the engine's memory.
void reset_peak_rss() {
  if (FILE* f = fopen("/proc/self/clear_refs", "w")) {
    fputs("5", f);
    fclose(f);
  }
}

// One depth's cache: the context tokens and the KV rows they left, shared by every test.
struct DepthCtx {
  std::vector<int32_t> tokens;
  std::unique_ptr<KvCache> kv;
};

}  // namespace

Runner add_bench(CLI::App& app) {
  struct Opts {
    std::string model;
    std::vector<int64_t> p{512}, n{128}, depth{0};
    std::vector<int> threads{0};
    int reps = 3;
    bool json = false, membw = false, no_warmup = false, progress = false;
    std::string output = "md";
    int64_t membw_mib = 1024;
    KvType kv_type = KvType::kF16;  // llama-bench's default
  };
  auto o = std::make_shared<Opts>();
  app.add_option("-m,--model", o->model, "GGUF file or Hugging Face folder")->required();
  app.add_option("-p,--n-prompt", o->p, "prompt lengths, comma-separated (0 = no pp test; default 512)")
      ->delimiter(',')->check(CLI::Range(0, 1 << 20));
  app.add_option("-n,--n-gen", o->n, "generation lengths, comma-separated (0 = no tg test; default 128)")
      ->delimiter(',')->check(CLI::Range(0, 1 << 20));
  app.add_option("-d,--n-depth,--depth", o->depth,
                 "context depths, comma-separated: tokens already in the KV cache before each test (default 0)")
      ->delimiter(',')->check(CLI::Range(0, 1 << 24));
  app.add_option("-t,--threads", o->threads, "thread counts, comma-separated (default: all cores)")
      ->delimiter(',')->check(CLI::Range(0, 4096));
  app.add_option("-r,--repetitions", o->reps, "repetitions per test (default 3)")->check(CLI::Range(1, 1000));
  add_cache_type_option(app, &o->kv_type);
  add_repack_option(app);
  app.add_option("-o,--output", o->output, "output format: md (table, default) or json")
      ->check(CLI::IsMember({"md", "json"}));
  app.add_flag("--json", o->json, "same as -o json");
  app.add_flag("--membw", o->membw,
               "measure streaming read bandwidth per thread count; show tg against the memory roofline");
  app.add_option("--membw-mib", o->membw_mib, "bandwidth probe buffer in MiB (default 1024)")
      ->check(CLI::Range(16, 1 << 20));
  app.add_flag("--no-warmup", o->no_warmup, "skip the warm-up run before each test");
  app.add_flag("--progress", o->progress, "print progress to stderr");
  return [o]() -> int {
    const bool json = o->json || o->output == "json";
    auto uniq = [](auto v) {
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
      return v;
    };
    std::vector<int64_t> ps, ns;
    for (int64_t v : uniq(o->p)) if (v > 0) ps.push_back(v);
    for (int64_t v : uniq(o->n)) if (v > 0) ns.push_back(v);
    const std::vector<int64_t> depths = uniq(o->depth);
    std::vector<int> threads;
    for (int t : o->threads) threads.push_back(t > 0 ? t : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    threads = uniq(threads);
    std::reverse(threads.begin(), threads.end());  // most threads first: they prefill the depths
    if (ps.empty() && ns.empty()) return fail(Errorf("nothing to run: every -p and -n is 0"));
    const int64_t max_test = std::max(ps.empty() ? 0 : ps.back(), ns.empty() ? 0 : ns.back());
    const int64_t need_ctx = depths.back() + max_test;

    auto say = [&](const char* fmt, auto... args) {
      if (!o->progress) return;
      fprintf(stderr, "bench: ");
      fprintf(stderr, fmt, args...);
      fprintf(stderr, "\n");
    };

    std::vector<TestResult> results;
    std::map<int64_t, DepthCtx> ctxs;
    std::map<int, double> membw;  // threads -> GB/s
    TokenWeightBytes wb;
    ModelConfig cfg;
    KvShape kv_shape;
    size_t model_bytes = 0, repacked_bytes = 0;  // repacked: copied at load into anonymous memory
    int64_t n_batch = 0;
    double load_s = 0;  // Engine::Load of the first thread count (the file's pages may be cached)
    std::mt19937 rng(42);
    MemStats mem;
    for (size_t ti = 0; ti < threads.size(); ++ti) {
      const int T = threads[ti];
      EngineOptions eo;
      eo.threads = T;
      eo.kv_type = o->kv_type;
      eo.need_tokenizer = false;
      eo.n_ctx = need_ctx;
      const double load_t0 = now_s();
      auto eng = Engine::Load(o->model, eo);
      if (!eng.ok()) return fail(eng.status());
      Engine& e = **eng;
      if (ti == 0) {
        load_s = now_s() - load_t0;
        cfg = e.model().config();
        kv_shape = e.kv_shape();
        wb = token_weight_bytes(e.model());
        model_bytes = e.model().weights().source().total_bytes();
        for (const LoadedWeight& lw : e.model().weights().loaded())
          for (const TensorView& v : lw.parts)
            if (static_cast<uint32_t>(v.dtype) >= kRepackedBase && static_cast<uint32_t>(v.dtype) < kInternalBase)
              repacked_bytes += v.nbytes;  // not FP8 (internal ids): those are used in place
        n_batch = e.options().n_batch;
        if (need_ctx > e.options().n_ctx)
          return fail(Errorf("depth %lld + test length %lld = %lld positions exceed the model's context (%lld)",
                             (long long)depths.back(), (long long)max_test, (long long)need_ctx,
                             (long long)e.options().n_ctx));
      }
      if (o->membw) {
        say("read bandwidth, %d thread(s)", T);
        membw[T] = measure_read_bandwidth(e.pool(), static_cast<size_t>(o->membw_mib) << 20, 7);
        reset_peak_rss();
      }
      std::uniform_int_distribution<int32_t> tokdist(0, static_cast<int32_t>(cfg.n_vocab - 1));
      std::vector<float> logits(cfg.n_vocab);
      int64_t max_window = 0;
      for (int64_t w : kv_shape.window) max_window = std::max(max_window, w);

      for (int64_t d : depths) {
        DepthCtx& dc = ctxs[d];
        if (!dc.kv) {
          dc.kv = std::make_unique<KvCache>(e.kv_shape(), d + max_test, n_batch);
          dc.tokens.resize(d);
          for (auto& t : dc.tokens) t = tokdist(rng);
          if (d > 0) {
            say("prefilling depth %lld (%d threads)", (long long)d, T);
            const double t0 = now_s();
            e.eval(*dc.kv, dc.tokens.data(), d, 0, false, logits.data());
            say("depth %lld prefilled in %.1f s", (long long)d, now_s() - t0);
          }
        }
        KvCache& kv = *dc.kv;
        // Windowed layers' rings: the test overwrote rows the context's last window needs.
        auto restore = [&]() {
          if (d == 0 || max_window == 0) return;
          const int64_t b = std::max<int64_t>(0, d - max_window);
          e.eval(kv, dc.tokens.data() + b, d - b, b, false, logits.data());
        };
        std::vector<int32_t> toks;
        for (int64_t p : ps) {
          TestResult r;
          r.pp = true, r.len = p, r.depth = d, r.threads = T, r.time = iso_time();
          say("%s, %d thread(s)", r.name().c_str(), T);
          toks.resize(p);
          for (int rep = o->no_warmup ? 0 : -1; rep < o->reps; ++rep) {  // rep -1: warm-up
            for (auto& t : toks) t = tokdist(rng);
            restore();
            const double t0 = now_s();
            e.eval(kv, toks.data(), p, d, false, logits.data());
            const double s = now_s() - t0;
            if (rep >= 0) r.samples_ts.push_back(p / s), r.samples_ns.push_back(std::llround(s * 1e9));
          }
          r.summarize();
          results.push_back(std::move(r));
        }
        for (int64_t n : ns) {
          TestResult r;
          r.pp = false, r.len = n, r.depth = d, r.threads = T, r.time = iso_time();
          say("%s, %d thread(s)", r.name().c_str(), T);
          int64_t token_layers = 0, ffn_slots = 0;  // MoE routing of the timed tokens
          for (int rep = o->no_warmup ? 0 : -1; rep < o->reps; ++rep) {
            restore();
            const ForwardStats before = e.stats();
            const double t0 = now_s();
            for (int64_t i = 0; i < n; ++i) {
              int32_t t = tokdist(rng);
              e.eval(kv, &t, 1, d + i, false, logits.data());
            }
            const double s = now_s() - t0;
            if (rep < 0) continue;
            r.samples_ts.push_back(n / s), r.samples_ns.push_back(std::llround(s * 1e9));
            token_layers += e.stats().moe_token_layers - before.moe_token_layers;
            ffn_slots += e.stats().ffn_expert_slots - before.ffn_expert_slots;
          }
          r.experts_per_layer = token_layers > 0 ? double(ffn_slots) / token_layers : 0;
          r.weight_bytes = wb.bytes(r.experts_per_layer);
          r.kv_bytes = kv_bytes_per_token(kv_shape, d, n);
          r.membw_gbs = o->membw ? membw[T] : 0;
          r.summarize();
          results.push_back(std::move(r));
        }
      }
      mem = read_mem_stats();  // while the model is still mapped
    }
    // llama-bench's order: per thread count, pp tests then tg tests, by length, then depth.
    std::stable_sort(results.begin(), results.end(), [](const TestResult& a, const TestResult& b) {
      if (a.threads != b.threads) return a.threads < b.threads;
      if (a.pp != b.pp) return a.pp;
      if (a.len != b.len) return a.len < b.len;
      return a.depth < b.depth;
    });

    const std::string isa = kernels::isa_name(kernels::active_isa());
    const std::string model_type = cfg.arch + " " + upper(wb.main_type);
    if (json) {
      nlohmann::ordered_json j = nlohmann::ordered_json::array();  // llama-bench's field order
      const std::string cpu = cpu_model_name();
      for (auto& r : results) {
        nlohmann::ordered_json x = {
            // llama-bench's fields
            {"cpu_info", cpu}, {"backends", "CPU"}, {"model_filename", o->model}, {"model_type", model_type},
            {"model_size", model_bytes}, {"model_n_params", wb.n_params}, {"n_batch", n_batch},
            {"n_ubatch", n_batch}, {"n_threads", r.threads}, {"type_k", kv_type_name(o->kv_type)},
            {"type_v", kv_type_name(o->kv_type)}, {"n_prompt", r.pp ? r.len : 0}, {"n_gen", r.pp ? 0 : r.len},
            {"n_depth", r.depth}, {"test_time", r.time}, {"avg_ns", r.avg_ns()}, {"stddev_ns", r.stddev_ns()},
            {"avg_ts", r.mean}, {"stddev_ts", r.sd},
            {"samples_ts", r.samples_ts}, {"samples_ns", r.samples_ns},
            // moecat's
            {"backend", "cpu-" + isa}, {"test", r.name()}, {"membw_gbs", nullptr}, {"bytes_per_token", nullptr},
            {"weight_bytes_per_token", nullptr}, {"kv_bytes_per_token", nullptr},
            {"experts_per_token_layer", nullptr}, {"roofline_ts", nullptr}, {"roofline_frac", nullptr},
            // earlier moecat bench fields (bench/vs_llama.sh, bench/shaped.sh read them)
            {"model", o->model}, {"arch", cfg.arch}, {"size", model_bytes}, {"t", r.threads}, {"isa", isa},
            {"tps", r.mean}, {"stddev", r.sd}, {"reps", o->reps}, {"peak_rss", mem.peak_rss},
            {"rss_anon", mem.rss_anon}, {"rss_file", mem.rss_file}, {"load_s", load_s}};
        if (o->membw) x["membw_gbs"] = membw[r.threads];
        if (!r.pp) {
          x["bytes_per_token"] = r.bytes();
          x["weight_bytes_per_token"] = r.weight_bytes;
          x["kv_bytes_per_token"] = r.kv_bytes;
          x["experts_per_token_layer"] = r.experts_per_layer;
          if (r.roofline_ts() > 0) {
            x["roofline_ts"] = r.roofline_ts();
            x["roofline_frac"] = r.roofline_frac();
          }
        }
        j.push_back(std::move(x));
      }
      printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    const std::string size = [&] {
      char b[32];
      snprintf(b, sizeof b, "%.2f GiB", model_bytes / 1073741824.0);
      return std::string(b);
    }();
    const std::string params = human_params(wb.n_params);
    std::string backend = "cpu-" + isa;
    size_t wm = std::max<size_t>(5, model_type.size()), wt = 4;
    for (auto& r : results) wt = std::max(wt, r.name().size());
    printf("| %-*s | %10s | %10s | %-10s | %7s | %*s | %20s |", (int)wm, "model", "size", "params", "backend",
           "threads", (int)wt, "test", "t/s");
    if (o->membw) printf(" %12s | %9s | %12s | %11s |", "bytes/token", "read GB/s", "roofline t/s", "of roofline");
    printf("\n| %s | ---------: | ---------: | ---------- | ------: | %s: | -------------------: |",
           std::string(wm, '-').c_str(), std::string(wt - 1, '-').c_str());
    if (o->membw) printf(" -----------: | --------: | -----------: | ----------: |");
    printf("\n");
    for (auto& r : results) {
      char tps[64];
      snprintf(tps, sizeof tps, "%.2f ± %.2f", r.mean, r.sd);
      printf("| %-*s | %10s | %10s | %-10s | %7d | %*s | %21s |", (int)wm, model_type.c_str(), size.c_str(),
             params.c_str(), backend.c_str(), r.threads, (int)wt, r.name().c_str(), tps);
      if (o->membw) {
        if (r.pp)
          printf(" %12s | %9.1f | %12s | %11s |", "", membw[r.threads], "", "");
        else
          printf(" %12s | %9.1f | %12.2f | %10.1f%% |", human_bytes(r.bytes()).c_str(), membw[r.threads],
                 r.roofline_ts(), 100 * r.roofline_frac());
      }
      printf("\n");
    }
    if (o->membw) {
      printf("\nbytes/token = weights a generated token reads (%s for all but the routed experts", human_bytes(wb.fixed).c_str());
      if (wb.moe_layers > 0) {
        double k = 0;
        for (auto& r : results) if (!r.pp) { k = r.experts_per_layer; break; }
        printf(", + %.2f routed experts x %s over %lld MoE layers, counted from the routing", k,
               human_bytes(wb.expert_sum).c_str(), (long long)wb.moe_layers);
      }
      printf(") + KV cache read at that depth (%s); read GB/s: %lld MiB streaming read, best of 7, per thread count; "
             "roofline t/s = read GB/s / bytes per token\n", kv_type_name(o->kv_type), (long long)o->membw_mib);
    }
    printf("\nload: %.2f s (first thread count)\n", load_s);
    printf("memory: peak RSS %.2f GiB = %.2f GiB mapped model pages + %.1f MiB anonymous (weights %.2f GiB, "
           "mmapped; %.2f GiB of them repacked at load into anonymous memory, --no-repack keeps them mapped)\n",
           mem.peak_rss / 1073741824.0, mem.rss_file / 1073741824.0, mem.rss_anon / 1048576.0,
           model_bytes / 1073741824.0, repacked_bytes / 1073741824.0);
    return 0;
  };
}

}  // namespace moecat::cli
