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
  KvType kv_type = KvType::kF32;  // KV cache element type (the CLI picks f16 but for `logprobs`)
};

// In place: x -= log(sum(exp(x))), the sum in double (log-probs for `logprobs` output).
void log_softmax(float* x, int64_t n);

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Load(const std::string& path, const EngineOptions& opt);
  // Around an already loaded model (tests; programs that build models themselves). tok may be null.
  static std::unique_ptr<Engine> FromModel(std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tok,
                                           const EngineOptions& opt);

  const Model& model() const { return *model_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  ThreadPool* pool() { return pool_.get(); }
  const EngineOptions& options() const { return opt_; }
  // The model's cache shapes with this engine's cache element type.
  KvShape kv_shape() const { return with_type(model_->kv_shape()); }
  KvShape mtp_kv_shape() const { return with_type(model_->mtp_kv_shape()); }

  // log-softmax of the next-token distribution after each position: [n][n_vocab].
  Result<std::vector<std::vector<float>>> logprobs(const std::vector<int32_t>& tokens);

  // The MTP head's log-softmax over the sequence: row i predicts token i+2 from the main model's
  // hidden state at i and token i+1: [n-1][n_vocab].
  Result<std::vector<std::vector<float>>> mtp_logprobs(const std::vector<int32_t>& tokens);

  // Generation on one sequence. on_token returns false to stop early. n_draft > 0 drafts that
  // many tokens per step (with the model's MTP head, or by n-gram lookup in the text so far) and
  // verifies them in one batched forward: every emitted token is still sampled from the main
  // model's distribution in order, so the output (greedy or seeded sampling) is identical to
  // generation without drafting.
  enum class Draft { kNone, kMtp, kNgram };
  struct GenStats {
    int64_t n_prompt = 0, n_gen = 0;
    double prefill_s = 0, gen_s = 0;
    int64_t drafted = 0, accepted = 0;  // draft tokens proposed / accepted
  };
  Result<GenStats> generate(const std::vector<int32_t>& prompt, int64_t n_predict, Sampler& sampler,
                            const std::function<bool(int32_t)>& on_token, bool stop_at_eog = true,
                            Draft draft = Draft::kNone, int n_draft = 1);

  // Runs tokens [0, n) through the model starting at position pos0 in kv; logits of the last
  // (or every, when all_logits) token go to logits; hidden (optional) [n][n_embd] gets the final
  // hidden states (for the MTP head).
  void eval(KvCache& kv, const int32_t* tokens, int64_t n, int64_t pos0, bool all_logits,
            float* logits, float* hidden = nullptr);

  // Counters summed over every forward pass this engine ran (MoE expert work, for --stats).
  const ForwardStats& stats() const { return stats_; }

 private:
  KvShape with_type(KvShape s) const { s.type = opt_.kv_type; return s; }
  Status check_tokens(const std::vector<int32_t>& tokens) const;
  Result<GenStats> generate_drafted(const std::vector<int32_t>& prompt, int64_t n_predict, Sampler& sampler,
                                    const std::function<bool(int32_t)>& on_token, bool stop_at_eog,
                                    Draft draft, int n_draft);
  EngineOptions opt_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  ForwardStats stats_;
};

}  // namespace moecat
