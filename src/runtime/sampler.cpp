#include "runtime/sampler.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "base/check.h"

namespace moecat {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Candidate order: higher logit first, equal logits -> lower id first. A strict weak order
// (no NaN ever reaches it), so nth_element/sort are deterministic across runs.
struct ByLogitDesc {
  template <class C>
  bool operator()(const C& a, const C& b) const {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
};

}  // namespace

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!std::isfinite(p.temperature))
    return Errorf("sampling: temperature must be a finite number (got %g)", p.temperature);
  if (!std::isfinite(p.top_p)) return Errorf("sampling: top_p must be a finite number (got %g)", p.top_p);
  if (!std::isfinite(p.min_p)) return Errorf("sampling: min_p must be a finite number (got %g)", p.min_p);
  if (!std::isfinite(p.repeat_penalty) || p.repeat_penalty <= 0.f)
    return Errorf("sampling: repeat_penalty must be > 0 (got %g; 1 disables it)", p.repeat_penalty);
  if (p.repeat_last_n < -1)
    return Errorf("sampling: repeat_last_n must be >= -1 (got %d; -1 = whole history, 0 = off)",
                  p.repeat_last_n);
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& p, int32_t n_vocab) : p_(p), n_vocab_(n_vocab), rng_(p.seed) {
  MOECAT_CHECK_MSG(n_vocab > 0, "Sampler needs a positive vocabulary size");
  cands_.reserve(static_cast<size_t>(n_vocab));
}

void Sampler::reset(uint64_t seed) { rng_.seed(seed); }

// 53 random bits -> [0, 1). Done by hand (not std::uniform_real_distribution) so the
// token stream for a seed is identical across standard libraries.
double Sampler::uniform01() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::collect_penalized(const std::vector<int32_t>& history) {
  pen_ids_.clear();
  const float rp = p_.repeat_penalty;
  // NaN / <= 0 / inf penalties would poison logits: treat as off (ValidateSamplingParams reports them).
  if (!(rp > 0.f) || rp == 1.f || !std::isfinite(rp) || p_.repeat_last_n == 0) return;
  const size_t n = history.size();
  const size_t start =
      p_.repeat_last_n < 0 ? 0 : n - std::min(n, static_cast<size_t>(p_.repeat_last_n));
  for (size_t i = start; i < n; ++i) {
    const int32_t id = history[i];
    if (id >= 0 && id < n_vocab_) pen_ids_.push_back(id);
  }
  // Once per distinct token, however often it repeats in the window.
  std::sort(pen_ids_.begin(), pen_ids_.end());
  pen_ids_.erase(std::unique(pen_ids_.begin(), pen_ids_.end()), pen_ids_.end());
}

float Sampler::penalize(float logit) const {
  const float rp = p_.repeat_penalty;
  return logit > 0.f ? logit / rp : logit * rp;
}

int32_t Sampler::sample_greedy(const float* logits) {
  // Plain scan; penalised ids are met in increasing order, so walk pen_ids_ alongside.
  // NaN never compares greater, so it acts as -inf; all -inf/NaN -> id 0.
  float best = kNegInf;
  int32_t best_id = 0;
  size_t j = 0;
  for (int32_t i = 0; i < n_vocab_; ++i) {
    float v = logits[i];
    if (j < pen_ids_.size() && pen_ids_[j] == i) {
      v = penalize(v);
      ++j;
    }
    if (v > best) {
      best = v;
      best_id = i;
    }
  }
  return best_id;
}

int32_t Sampler::sample(const float* logits, const std::vector<int32_t>& history) {
  MOECAT_CHECK(logits != nullptr);
  if (!constraint_) return sample_unconstrained(logits, history);
  if (constraint_->masks()) {
    constraint_->allowed(mask_);
    MOECAT_CHECK(mask_.size() >= static_cast<size_t>(n_vocab_));
    masked_.assign(logits, logits + n_vocab_);
    for (int32_t i = 0; i < n_vocab_; ++i)
      if (!mask_[i]) masked_[i] = kNegInf;
    logits = masked_.data();
  }
  const int32_t tok = sample_unconstrained(logits, history);
  constraint_->accept(tok);
  return tok;
}

int32_t Sampler::sample_unconstrained(const float* logits, const std::vector<int32_t>& history) {
  collect_penalized(history);
  if (!(p_.temperature > 0.f)) return sample_greedy(logits);

  // ---- penalties on a copy of the logits ----
  cands_.resize(static_cast<size_t>(n_vocab_));
  for (int32_t i = 0; i < n_vocab_; ++i) {
    const float v = logits[i];
    cands_[i] = {std::isnan(v) ? kNegInf : v, i};
  }
  for (int32_t id : pen_ids_) cands_[id].logit = penalize(cands_[id].logit);

  // ---- drop zero-probability tokens; +inf logits take all the mass, uniformly ----
  size_t n_posinf = 0;
  for (const Cand& c : cands_) n_posinf += (c.logit == -kNegInf);
  size_t w = 0;
  for (const Cand& c : cands_) {
    if (n_posinf ? c.logit == -kNegInf : c.logit != kNegInf) cands_[w++] = {n_posinf ? 0.f : c.logit, c.id};
  }
  cands_.resize(w);
  if (cands_.empty()) return 0;  // every logit NaN/-inf: same answer greedy gives
  bool sorted = false;

  // ---- top_k: selection, not a full sort of the vocabulary ----
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < cands_.size()) {
    const auto k = static_cast<size_t>(p_.top_k);
    std::nth_element(cands_.begin(), cands_.begin() + k, cands_.end(), ByLogitDesc());
    cands_.resize(k);
    std::sort(cands_.begin(), cands_.end(), ByLogitDesc());
    sorted = true;
  }
  if (p_.top_p < 1.f) apply_top_p(&sorted);
  apply_min_p();
  return draw(p_.temperature);
}

void Sampler::sort_prefix(size_t from, size_t to) {
  auto b = cands_.begin();
  if (to < cands_.size()) std::nth_element(b + from, b + to, cands_.end(), ByLogitDesc());
  std::sort(b + from, b + to, ByLogitDesc());
}

// Keeps only tokens with p >= min_p * p_max (at temperature 1). Order-preserving, so a sorted
// candidate list stays sorted. The max always survives (ratio 1, threshold clamped to <= 1).
// Idempotent, so running it again after apply_top_p's early call is harmless.
void Sampler::apply_min_p() {
  if (!(p_.min_p > 0.f) || cands_.size() <= 1) return;
  float mx = kNegInf;
  for (const Cand& c : cands_) mx = std::max(mx, c.logit);
  // p_i / p_max = exp(l_i - mx) >= min_p  <=>  l_i - mx >= log(min_p)
  const float log_thr = std::log(std::min(p_.min_p, 1.f));
  cands_.erase(std::remove_if(cands_.begin(), cands_.end(),
                              [&](const Cand& c) { return c.logit - mx < log_thr; }),
               cands_.end());
}

// Keeps the smallest prefix (in ByLogitDesc order) whose temperature-1 probability mass
// reaches top_p. Sorts lazily in doubling chunks so a peaked distribution over a 200k vocab
// only sorts a few hundred entries.
void Sampler::apply_top_p(bool* sorted) {
  const size_t n0 = cands_.size();
  if (n0 <= 1) return;
  float mx = kNegInf;
  for (const Cand& c : cands_) mx = std::max(mx, c.logit);
  double z = 0.0;  // normaliser over ALL current candidates: top_p sees the full distribution
  for (const Cand& c : cands_) z += std::exp(c.logit - mx);  // float exp: 200k of them per token

  // min_p runs after top_p and both keep a prefix of the same order (min_p's ratio test is
  // unchanged by top_p's renormalisation), so the chain keeps the shorter of the two prefixes.
  // Applying min_p first (with z computed above) gives the same set and shrinks the sort.
  apply_min_p();

  const size_t n = cands_.size();
  size_t sorted_n = *sorted ? n : 0;
  size_t chunk = 64;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (i == sorted_n) {
      const size_t to = std::min(n, sorted_n + chunk);
      sort_prefix(sorted_n, to);
      sorted_n = to;
      chunk *= 2;
    }
    cum += std::exp(cands_[i].logit - mx) / z;
    if (cum >= static_cast<double>(p_.top_p)) {
      cands_.resize(i + 1);
      break;
    }
  }
  *sorted = true;  // whatever is left is fully sorted
}

int32_t Sampler::draw(float temperature) {
  const size_t n = cands_.size();
  if (n == 1) return cands_[0].id;
  // An infinite temperature would turn (-x)/inf into NaN paths; the largest float already means "flat".
  const double t = std::min(temperature, FLT_MAX);
  float mx = kNegInf;
  for (const Cand& c : cands_) mx = std::max(mx, c.logit);
  probs_.resize(n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    probs_[i] = std::exp(static_cast<double>(cands_[i].logit - mx) / t);
    sum += probs_[i];
  }
  const double u = uniform01() * sum;
  double cum = 0.0;
  size_t last_pos = 0;
  for (size_t i = 0; i < n; ++i) {
    if (probs_[i] <= 0.0) continue;
    last_pos = i;
    cum += probs_[i];
    if (u < cum) return cands_[i].id;
  }
  return cands_[last_pos].id;  // u landed past the end by rounding
}

}  // namespace moecat
