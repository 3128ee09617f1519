// ModelSource: resolves a path to a GGUF file or a Hugging Face folder and indexes its tensors.
#include "io/model_source.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace moecat {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

Result<nlohmann::json> read_json(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Errorf("cannot open '%s'", p.c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    return Errorf("'%s' is not valid JSON: %s", p.c_str(), e.what());
  }
}

// A shard name from index.json must be a plain file name inside the folder.
bool plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

std::string dtype_list(std::initializer_list<DType> allowed) {
  std::string s;
  for (DType t : allowed) {
    if (!s.empty()) s += ", ";
    s += dtype_name(t);
  }
  return s;
}

}  // namespace

Result<std::unique_ptr<ModelSource>> ModelSource::Open(const std::string& path) {
  std::unique_ptr<ModelSource> m(new ModelSource());
  m->path_ = path;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Errorf("cannot open '%s': %s", path.c_str(), strerror(errno));
    char magic[4] = {};
    size_t got = std::fread(magic, 1, 4, f);
    std::fclose(f);
    if (got != 4 || std::memcmp(magic, "GGUF", 4) != 0)
      return Errorf("'%s': not a GGUF file or model folder", path.c_str());
    MOECAT_ASSIGN_OR_RETURN(m->gguf_, GgufFile::Open(path));
    m->kind_ = Kind::kGguf;
    for (const auto& t : m->gguf_->tensors()) {
      m->index_[t.name] = {&t, 0};
      m->order_.push_back(t.name);
    }
    return m;
  }

  m->kind_ = Kind::kHfFolder;
  const fs::path dir(path);
  if (!is_file(dir / "config.json"))
    return Errorf("model folder '%s' has no config.json", path.c_str());
  MOECAT_ASSIGN_OR_RETURN(m->hf_config_, read_json(dir / "config.json"));
  if (!m->hf_config_.is_object())
    return Errorf("'%s': config.json must be a JSON object", path.c_str());
  if (is_file(dir / "tokenizer.json")) m->tok_json_ = (dir / "tokenizer.json").string();
  if (is_file(dir / "tokenizer_config.json"))
    m->tok_config_ = (dir / "tokenizer_config.json").string();

  // Which shard files to open, and (with an index) which tensor each must contain.
  std::vector<std::string> shard_names;
  nlohmann::json weight_map;
  if (is_file(dir / "model.safetensors")) {
    shard_names.push_back("model.safetensors");
  } else if (is_file(dir / "model.safetensors.index.json")) {
    const fs::path ip = dir / "model.safetensors.index.json";
    MOECAT_ASSIGN_OR_RETURN(nlohmann::json index, read_json(ip));
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      return Errorf("'%s': must be an object with a \"weight_map\" object", ip.c_str());
    weight_map = index["weight_map"];
    for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
      if (!it.value().is_string() || !plain_file_name(it.value().get<std::string>()))
        return Errorf("'%s': weight_map entry for tensor '%s' must be a file name in the folder",
                      ip.c_str(), it.key().c_str());
      const std::string shard = it.value().get<std::string>();
      if (std::find(shard_names.begin(), shard_names.end(), shard) == shard_names.end())
        shard_names.push_back(shard);
    }
    std::sort(shard_names.begin(), shard_names.end());
    for (const auto& s : shard_names)
      if (!is_file(dir / s))
        return Errorf("'%s': shard '%s' named in model.safetensors.index.json is missing",
                      path.c_str(), s.c_str());
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".safetensors" && is_file(e.path()))
        shard_names.push_back(e.path().filename().string());
    std::sort(shard_names.begin(), shard_names.end());
  }
  if (shard_names.empty())
    return Errorf("model folder '%s' has no *.safetensors files", path.c_str());

  for (const auto& s : shard_names) {
    MOECAT_ASSIGN_OR_RETURN(auto shard, SafetensorsFile::Open((dir / s).string()));
    const size_t idx = m->shards_.size();
    for (const auto& t : shard->tensors()) {
      if (!m->index_.emplace(t.name, std::make_pair(&t, idx)).second)
        return Errorf("'%s': duplicate tensor '%s' in '%s' and '%s'", path.c_str(), t.name.c_str(),
                      m->shards_[m->index_[t.name].second]->path().c_str(), shard->path().c_str());
      m->order_.push_back(t.name);
    }
    m->shards_.push_back(std::move(shard));
  }
  for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
    const std::string shard_path = (dir / it.value().get<std::string>()).string();
    auto found = m->index_.find(it.key());
    if (found == m->index_.end() || m->shards_[found->second.second]->path() != shard_path)
      return Errorf("'%s': tensor '%s' listed in the index is not found in shard '%s'", path.c_str(),
                    it.key().c_str(), shard_path.c_str());
  }
  return m;
}

const TensorView* ModelSource::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second.first;
}

std::vector<std::string> ModelSource::tensor_names() const { return order_; }

std::string ModelSource::file_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return "";
  return kind_ == Kind::kGguf ? path_ : shards_[it->second.second]->path();
}

size_t ModelSource::total_bytes() const {
  size_t n = 0;
  for (const auto& [name, v] : index_) n += v.first->nbytes;
  return n;
}

Result<TensorView> ModelSource::get(const std::string& name, const Shape& shape,
                                    std::initializer_list<DType> allowed) const {
  const TensorView* t = find(name);
  if (!t) return Errorf("tensor '%s' not found in %s", name.c_str(), path_.c_str());
  const std::string file = file_of(name);
  if (t->shape != shape)
    return Errorf("tensor '%s' in %s has shape %s, expected %s", name.c_str(), file.c_str(),
                  t->shape.str().c_str(), shape.str().c_str());
  if (std::find(allowed.begin(), allowed.end(), t->dtype) == allowed.end())
    return Errorf("tensor '%s' in %s has type %s, expected %s%s", name.c_str(), file.c_str(),
                  dtype_name(t->dtype), allowed.size() > 1 ? "one of " : "",
                  dtype_list(allowed).c_str());
  return *t;
}

}  // namespace moecat
