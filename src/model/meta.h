// Reading hyperparameters: GGUF metadata (keys "<arch>.<name>") and HF config.json, with the
// missing / wrong-type cases reported as errors that name the key and the file.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "io/gguf.h"

namespace moecat {

class GgufMeta {
 public:
  GgufMeta(const GgufFile& f, std::string arch) : f_(f), arch_(std::move(arch)) {}
  // "<arch>.<key>": required integer / float, or optional with default.
  Result<int64_t> req_int(const std::string& key) const;
  int64_t opt_int(const std::string& key, int64_t def) const;
  double opt_float(const std::string& key, double def) const;
  bool opt_bool(const std::string& key, bool def) const;
  std::string opt_str(const std::string& key, const std::string& def) const;

 private:
  const GgufFile& f_;
  std::string arch_;
};

class HfMeta {
 public:
  HfMeta(const nlohmann::json& j, std::string file) : j_(j), file_(std::move(file)) {}
  Result<int64_t> req_int(const std::string& key) const;
  int64_t opt_int(const std::string& key, int64_t def) const;
  double opt_float(const std::string& key, double def) const;
  bool opt_bool(const std::string& key, bool def) const;
  std::string opt_str(const std::string& key, const std::string& def) const;
  const nlohmann::json& json() const { return j_; }

 private:
  const nlohmann::json& j_;
  std::string file_;
};

}  // namespace moecat
