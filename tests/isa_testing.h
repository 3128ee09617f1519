// Test helpers for kernels: every ISA this CPU supports, and a scope that restores the active one.
#pragma once
#include <vector>

#include "kernels/ops.h"

namespace moecat::kernels {

inline std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (int i = 0; i <= static_cast<int>(detected_isa()); ++i) v.push_back(static_cast<Isa>(i));
  return v;
}

// Restores the ISA active before the test.
struct IsaScope {
  Isa saved = active_isa();
  ~IsaScope() { set_isa(saved); }
};

}  // namespace moecat::kernels
