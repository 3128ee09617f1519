// Rotary position embedding tables: per-pair inverse frequencies with llama3 / linear scaling
// and GGUF freq factors folded in at load; cos/sin for a position on demand.
#pragma once
#include <vector>

#include "model/config.h"

namespace moecat {

// YaRN's attention temperature: 0.1 * mscale * ln(scale) + 1 (1 when scale <= 1).
double yarn_mscale(double scale, double mscale = 1.0);

class Rope {
 public:
  explicit Rope(const RopeConfig& cfg);
  const RopeConfig& config() const { return cfg_; }
  // cos/sin: [dim/2] for position pos.
  void angles(int64_t pos, float* cos, float* sin) const;
  // HF llama3 rope_scaling expressed as GGUF rope_freqs factors (what llama.cpp's converter writes).
  static std::vector<float> llama3_factors(const RopeConfig& cfg);

 private:
  RopeConfig cfg_;
  std::vector<double> inv_freq_;  // [dim/2]
};

}  // namespace moecat
