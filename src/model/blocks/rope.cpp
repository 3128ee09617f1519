#include "model/blocks/rope.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace moecat {

std::vector<float> Rope::llama3_factors(const RopeConfig& c) {
  // Meta's llama3 scaling: long wavelengths are slowed by `factor`, short ones kept, with a
  // smooth blend between; stored as the divisor of each frequency.
  std::vector<float> f(c.dim / 2);
  const double low_wavelen = c.orig_ctx / c.low_freq_factor;
  const double high_wavelen = c.orig_ctx / c.high_freq_factor;
  for (int64_t i = 0; i < c.dim / 2; ++i) {
    const double freq = 1.0 / std::pow(c.theta, 2.0 * i / c.dim);
    const double wavelen = 2 * M_PI / freq;
    double div;
    if (wavelen < high_wavelen) {
      div = 1.0;
    } else if (wavelen > low_wavelen) {
      div = c.factor;
    } else {
      const double smooth =
          (c.orig_ctx / wavelen - c.low_freq_factor) / (c.high_freq_factor - c.low_freq_factor);
      div = 1.0 / ((1 - smooth) / c.factor + smooth);
    }
    f[i] = static_cast<float>(div);
  }
  return f;
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// YaRN (Peng et al.; HF _compute_yarn_parameters): frequencies that turn fewer than beta_slow
// times over the original context are interpolated (divided by factor), those turning more than
// beta_fast times are kept, with a linear blend between.
static void yarn_inv_freq(const RopeConfig& c, std::vector<double>& inv) {
  const int64_t half = c.dim / 2;
  auto corr_dim = [&](double rotations) {
    return c.dim * std::log(c.orig_ctx / (rotations * 2 * M_PI)) / (2 * std::log(c.theta));
  };
  double lo = corr_dim(c.beta_fast), hi = corr_dim(c.beta_slow);
  if (c.yarn_truncate) {
    lo = std::floor(lo);
    hi = std::ceil(hi);
  }
  lo = std::max(0.0, lo);
  hi = std::min(static_cast<double>(c.dim - 1), hi);
  if (lo == hi) hi += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    const double extrap = std::pow(c.theta, -2.0 * i / c.dim);
    const double ramp = std::clamp((i - lo) / (hi - lo), 0.0, 1.0);
    const double keep = 1.0 - ramp;  // 1: extrapolate (keep), 0: interpolate
    inv[i] = extrap / c.factor * (1.0 - keep) + extrap * keep;
  }
}

Rope::Rope(const RopeConfig& cfg) : cfg_(cfg) {
  MOECAT_CHECK(cfg.dim > 0 && cfg.dim % 2 == 0);
  std::vector<float> factors = cfg.freq_factors;
  if (factors.empty() && cfg.scaling == RopeScaling::kLlama3) factors = llama3_factors(cfg);
  MOECAT_CHECK(factors.empty() || (int64_t)factors.size() == cfg.dim / 2);
  inv_freq_.resize(cfg.dim / 2);
  if (cfg.scaling == RopeScaling::kYarn) {
    yarn_inv_freq(cfg, inv_freq_);
    return;
  }
  for (int64_t i = 0; i < cfg.dim / 2; ++i) {
    double f = std::pow(cfg.theta, -2.0 * i / cfg.dim);
    if (!factors.empty()) f /= factors[i];
    if (cfg.scaling == RopeScaling::kLinear) f /= cfg.factor;
    inv_freq_[i] = f;
  }
}

void Rope::angles(int64_t pos, float* cos, float* sin) const {
  for (size_t i = 0; i < inv_freq_.size(); ++i) {
    const double a = pos * inv_freq_[i];
    cos[i] = static_cast<float>(std::cos(a) * cfg_.attn_factor);
    sin[i] = static_cast<float>(std::sin(a) * cfg_.attn_factor);
  }
}

}  // namespace moecat
