#include "model/meta.h"

namespace moecat {

Result<int64_t> GgufMeta::req_int(const std::string& key) const {
  auto v = f_.get_int(arch_ + "." + key);
  if (!v) return Errorf("%s: missing or non-integer metadata key '%s.%s'", f_.path().c_str(), arch_.c_str(), key.c_str());
  if (*v < 0) return Errorf("%s: metadata key '%s.%s' is negative", f_.path().c_str(), arch_.c_str(), key.c_str());
  return *v;
}
int64_t GgufMeta::opt_int(const std::string& key, int64_t def) const {
  return f_.get_int(arch_ + "." + key).value_or(def);
}
double GgufMeta::opt_float(const std::string& key, double def) const {
  return f_.get_float(arch_ + "." + key).value_or(def);
}
bool GgufMeta::opt_bool(const std::string& key, bool def) const {
  return f_.get_bool(arch_ + "." + key).value_or(def);
}
std::string GgufMeta::opt_str(const std::string& key, const std::string& def) const {
  return f_.get_string(arch_ + "." + key).value_or(def);
}

Result<int64_t> HfMeta::req_int(const std::string& key) const {
  auto it = j_.find(key);
  if (it == j_.end() || !it->is_number_integer())
    return Errorf("%s: missing or non-integer key '%s'", file_.c_str(), key.c_str());
  int64_t v = it->get<int64_t>();
  if (v < 0) return Errorf("%s: key '%s' is negative", file_.c_str(), key.c_str());
  return v;
}
int64_t HfMeta::opt_int(const std::string& key, int64_t def) const {
  auto it = j_.find(key);
  return it != j_.end() && it->is_number_integer() ? it->get<int64_t>() : def;
}
double HfMeta::opt_float(const std::string& key, double def) const {
  auto it = j_.find(key);
  return it != j_.end() && it->is_number() ? it->get<double>() : def;
}
bool HfMeta::opt_bool(const std::string& key, bool def) const {
  auto it = j_.find(key);
  return it != j_.end() && it->is_boolean() ? it->get<bool>() : def;
}
std::string HfMeta::opt_str(const std::string& key, const std::string& def) const {
  auto it = j_.find(key);
  return it != j_.end() && it->is_string() ? it->get<std::string>() : def;
}

}  // namespace moecat
