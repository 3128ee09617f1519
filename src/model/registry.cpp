#include "model/registry.h"

namespace moecat {

extern const ArchEntry kArchLlama;
extern const ArchEntry kArchMixtral;
extern const ArchEntry kArchQwen3Moe;
extern const ArchEntry kArchDeepseek2;
extern const ArchEntry kArchLongcatFlash;
extern const ArchEntry kArchLongcatFlashNgram;
extern const ArchEntry kArchGptOss;

const std::vector<const ArchEntry*>& arch_registry() {
  static const std::vector<const ArchEntry*> r = {&kArchLlama, &kArchMixtral, &kArchQwen3Moe, &kArchDeepseek2,
                                                       &kArchLongcatFlash, &kArchLongcatFlashNgram,
                                                       &kArchGptOss};
  return r;
}

const ArchEntry* find_arch(const std::string& name) {
  for (const ArchEntry* e : arch_registry())
    if (name == e->name) return e;
  return nullptr;
}

static std::string describe_arch(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf)
    return "general.architecture '" + src.gguf()->get_string("general.architecture").value_or("?") + "'";
  const auto& j = src.hf_config();
  std::string s = "model_type '";
  s += j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "?";
  return s + "'";
}

Result<std::unique_ptr<Model>> load_model(const std::string& path) {
  MOECAT_ASSIGN_OR_RETURN(std::unique_ptr<ModelSource> src, ModelSource::Open(path));
  for (const ArchEntry* e : arch_registry()) {
    if (!e->accepts(*src)) continue;
    auto m = e->load(std::move(src));
    if (!m.ok()) return Status(m.status()).prefix("loading " + path);
    return m;
  }
  std::string names;
  for (const ArchEntry* e : arch_registry()) names += std::string(names.empty() ? "" : ", ") + e->name;
  return Errorf("%s: unsupported architecture (%s); moecat supports: %s", path.c_str(),
                describe_arch(*src).c_str(), names.c_str());
}

}  // namespace moecat
