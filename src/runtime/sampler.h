// Token sampler: turns one row of logits into a token id.
// Chain order follows llama.cpp's common default: penalties -> top_k -> top_p -> min_p ->
// temperature -> softmax -> draw. top_p and min_p therefore see the temperature-1
// distribution (after penalties and top_k), exactly like llama.cpp.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "base/status.h"

namespace moecat {

struct SamplingParams {
  float temperature = 0.8f;      // <= 0 (or NaN): greedy (argmax, ties -> lowest id)
  int32_t top_k = 40;            // <= 0: off
  float top_p = 0.95f;           // >= 1 (or NaN): off
  float min_p = 0.05f;           // <= 0 (or NaN): off
  float repeat_penalty = 1.0f;   // 1: off. logit > 0 ? logit / p : logit * p, once per distinct token
  int32_t repeat_last_n = 64;    // history window for the penalty (0 = off, -1 = whole history)
  uint64_t seed = 0xFFFFFFFF;    // always used as-is: same seed => same token stream
};

// Rejects parameter values a user could pass that have no sensible meaning
// (NaN/inf, repeat_penalty <= 0, repeat_last_n < -1). Sampler itself never crashes on them:
// it treats such values as "off", but a CLI/server should report them.
Status ValidateSamplingParams(const SamplingParams& p);

// What may be sampled next (structured output, a tool-call grammar): the sampler masks the
// logits with allowed() whenever masks() says so, and reports every token it samples.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual bool masks() const = 0;                        // false: every token is allowed now
  virtual void allowed(std::vector<uint8_t>& mask) = 0;  // [n_vocab] 1: may come next
  virtual void accept(int32_t token) = 0;                // the token just sampled
};

class Sampler {
 public:
  // n_vocab must be > 0 (programmer invariant: the model loader validates vocab sizes).
  Sampler(const SamplingParams& p, int32_t n_vocab);

  // logits: [n_vocab], not modified. NaN is treated as -inf; +inf logits share all the mass.
  // history: previous prompt/generated ids, oldest first (ids outside [0, n_vocab) are ignored).
  int32_t sample(const float* logits, const std::vector<int32_t>& history);

  // Optional (not owned; nullptr: none). Every sample() from then on is masked by it and
  // reported to it, so it must see every token the generation emits: the engine samples only
  // emitted tokens, drafted or not.
  void set_constraint(TokenConstraint* c) { constraint_ = c; }

  void reset(uint64_t seed);

  const SamplingParams& params() const { return p_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  struct Cand {
    float logit;
    int32_t id;
  };

  void collect_penalized(const std::vector<int32_t>& history);
  float penalize(float logit) const;
  int32_t sample_greedy(const float* logits);
  int32_t sample_unconstrained(const float* logits, const std::vector<int32_t>& history);
  void sort_prefix(size_t from, size_t to);  // make cands_[from, to) the next sorted run
  void apply_top_p(bool* sorted);
  void apply_min_p();
  int32_t draw(float temperature);
  double uniform01();

  SamplingParams p_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  // Scratch reused across calls so a 200k vocab does not allocate per token.
  std::vector<Cand> cands_;        // [<= n_vocab] surviving candidates
  std::vector<int32_t> pen_ids_;   // [distinct ids in the penalty window], sorted
  std::vector<double> probs_;      // [cands_.size()] unnormalised probabilities for the draw
  TokenConstraint* constraint_ = nullptr;
  std::vector<float> masked_;      // [n_vocab] the logits under the constraint's mask
  std::vector<uint8_t> mask_;      // [n_vocab]
};

}  // namespace moecat
