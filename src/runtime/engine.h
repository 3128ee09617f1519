// Engine: a loaded model + tokenizer + thread pool, and the single-sequence operations the CLI
// needs: log-probs over a sequence, prompt prefill in batches, and token-by-token generation.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "kernels/threadpool.h"
#include "model/model.h"
#include "runtime/kv_cache.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace moecat {

struct EngineOptions {
  int threads = 0;          // 0: all cores
  int64_t n_ctx = 4096;     // KV capacity per sequence (clamped to the model's training context)
  int64_t n_batch = 512;    // prefill chunk
  bool need_tokenizer = true;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Load(const std::string& path, const EngineOptions& opt);

  const Model& model() const { return *model_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  ThreadPool* pool() { return pool_.get(); }
  const EngineOptions& options() const { return opt_; }

  // log-softmax of the next-token distribution after each position: [n][n_vocab].
  Result<std::vector<std::vector<float>>> logprobs(const std::vector<int32_t>& tokens);

  // Generation on one sequence. on_token returns false to stop early.
  struct GenStats { int64_t n_prompt = 0, n_gen = 0; double prefill_s = 0, gen_s = 0; };
  Result<GenStats> generate(const std::vector<int32_t>& prompt, int64_t n_predict, Sampler& sampler,
                            const std::function<bool(int32_t)>& on_token, bool stop_at_eog = true);

  // Runs tokens [0, n) through the model starting at position pos0 in kv; logits of the last
  // (or every, when all_logits) token go to logits.
  void eval(KvCache& kv, const int32_t* tokens, int64_t n, int64_t pos0, bool all_logits,
            float* logits);

  // Counters summed over every forward pass this engine ran (MoE expert work, for --stats).
  const ForwardStats& stats() const { return stats_; }

 private:
  EngineOptions opt_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  ForwardStats stats_;
};

}  // namespace moecat
