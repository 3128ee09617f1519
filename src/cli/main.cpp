// moecat: run Mixture-of-Experts language models on the CPU.
#include <malloc.h>

#include <cstdio>
#include <map>
#include <string>

#include "base/trace.h"
#include "cli/commands.h"
#include "kernels/ops.h"
#include "runtime/mpi_expert_parallel.h"

int main(int argc, char** argv) {
  using namespace moecat::cli;
  // A forward pass allocates its activation buffers (a 512-token prompt: a few MB each, ~170 MB
  // in all) and frees them; glibc would hand each one back to the kernel (mmap'd chunks, heap
  // trimming), so every prompt chunk page-faulted and zeroed them afresh (~5 % of a pp512). Keep
  // freed memory in the heap for reuse instead: RSS stays at the largest pass's peak.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum; larger blocks are still mmap'd
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"moecat: run Mixture-of-Experts language models fast on ordinary machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moecat 0.1.0");
  std::map<CLI::App*, Runner> runners;
  std::string trace_path;
  auto add = [&](const char* name, const char* help, Runner (*fn)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    runners[sub] = fn(*sub);
    const std::string n = name;
    if (n == "run" || n == "logprobs" || n == "bench")
      sub->add_option("--trace", trace_path,
                      "write a Chrome trace (chrome://tracing, ui.perfetto.dev) of each layer's compute and, "
                      "under mpirun, of the expert combine; rank R of N > 1 writes FILE with .rankR before "
                      "its extension");
  };
  add("run", "chat with a model (default: the built-in support assistant), or complete a prompt with -p", add_run);
  add("logprobs", "print next-token log-probs for a token sequence as JSON", add_logprobs);
  add("tokenize", "print the token ids of a text", add_tokenize);
  add("info", "describe a model file or folder", add_info);
  add("convert", "convert a Hugging Face folder (or GGUF) to GGUF", add_convert);
  add("bench", "measure prompt-processing and generation speed", add_bench);
  add("serve", "OpenAI-compatible HTTP server (chat, completions, tools, JSON output)", add_serve);
  // Under mpirun: routed experts split over the ranks (model/expert_parallel.h); every rank runs
  // the same command, rank 0 prints.
  const int ranks = moecat::mpi_start(&argc, &argv);
  struct Stop { ~Stop() { moecat::mpi_stop(); } } stop;
  if (ranks > 1) moecat::mpi_quiet_other_ranks();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, run] : runners) {
    if (!sub->parsed()) continue;
    const std::string name = sub->get_name();
    if (ranks > 1 && name != "run" && name != "logprobs" && name != "bench" && name != "serve") {
      fprintf(stderr, "moecat %s: not available under mpirun with %d ranks (expert parallelism covers run, "
              "logprobs, bench and serve)\n", name.c_str(), ranks);
      return 2;
    }
    if (!trace_path.empty()) {
      if (ranks > 1) {
        const size_t dot = trace_path.rfind('.');
        const size_t cut = dot == std::string::npos || trace_path.find('/', dot) != std::string::npos ? trace_path.size() : dot;
        trace_path.insert(cut, ".rank" + std::to_string(moecat::mpi_rank()));
      }
      moecat::trace::enable(moecat::mpi_rank());
    }
    const int rc = run();
    if (!trace_path.empty())
      if (moecat::Status s = moecat::trace::write(trace_path); !s.ok()) {
        fprintf(stderr, "moecat: %s\n", s.message().c_str());
        return rc == 0 ? 1 : rc;
      }
    return rc;
  }
  return 1;
}
