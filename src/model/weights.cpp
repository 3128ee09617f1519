#include "model/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <functional>

#include "kernels/ops.h"

namespace moecat {

namespace {

// "blk.12.attn_q.weight" -> ("blk.{L}.attn_q.weight", "12"); names without a layer unchanged.
std::pair<std::string, std::string> split_layer(const std::string& name) {
  const std::string pre = "blk.";
  if (name.rfind(pre, 0) != 0) return {name, ""};
  size_t i = pre.size(), j = i;
  while (j < name.size() && isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (j == i) return {name, ""};
  return {pre + "{L}" + name.substr(j), name.substr(i, j - i)};
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

}  // namespace

Weights::Weights(const ModelSource& src, std::vector<NamePair> hf_names)
    : src_(src), hf_names_(std::move(hf_names)) {}

std::string Weights::source_name(const std::string& gguf_name, int64_t expert) const {
  if (!is_hf()) return gguf_name;
  auto [pattern, layer] = split_layer(gguf_name);
  for (const NamePair& p : hf_names_) {
    if (pattern != p.gguf) continue;
    std::string hf = replace_all(p.hf, "{L}", layer);
    if (expert >= 0) hf = replace_all(hf, "{E}", std::to_string(expert));
    return hf;
  }
  return "";  // no HF equivalent known
}

void Weights::provide(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes) {
  MOECAT_CHECK(static_cast<int64_t>(bytes.size()) ==
               dtype_row_bytes(dtype, shape[shape.ndim - 1]) * (shape.numel() / shape[shape.ndim - 1]));
  std::vector<uint8_t>& b = derived_.emplace_back(std::move(bytes));
  provided_[name] = TensorView{name, dtype, shape, b.data(), b.size()};
}

std::optional<Result<TensorView>> Weights::find_provided(const std::string& name, const Shape& shape,
                                                         std::initializer_list<DType> allowed) const {
  auto it = provided_.find(name);
  if (it == provided_.end()) return std::nullopt;
  const TensorView& v = it->second;
  if (v.shape != shape)
    return Result<TensorView>(Errorf("tensor '%s' (built from %s) has shape %s, expected %s", name.c_str(),
                                     src_.path().c_str(), v.shape.str().c_str(), shape.str().c_str()));
  for (DType d : allowed)
    if (d == v.dtype) return Result<TensorView>(v);
  return Result<TensorView>(Errorf("tensor '%s' (built from %s) has type %s", name.c_str(), src_.path().c_str(),
                                   dtype_name(v.dtype)));
}

bool Weights::has(const std::string& name) const {
  if (provided_.count(name)) return true;
  std::string n = source_name(name, 0);
  return !n.empty() && src_.find(n) != nullptr;
}

Result<TensorView> Weights::get(const std::string& name, const Shape& shape,
                                std::initializer_list<DType> allowed) {
  if (auto p = find_provided(name, shape, allowed)) {
    if (!p->ok()) return p->status();
    loaded_.push_back(LoadedWeight{name, shape, {p->value()}, 0, false});
    return p->value();
  }
  std::string sname = source_name(name);
  if (sname.empty()) return Errorf("no Hugging Face name known for tensor '%s'", name.c_str());
  MOECAT_ASSIGN_OR_RETURN(TensorView v, src_.get(sname, shape, allowed));
  v = repack(v);
  loaded_.push_back(LoadedWeight{name, shape, {v}, 0, false});
  return v;
}

TensorView Weights::repack(TensorView v) {
  const DType r = v.shape.ndim >= 2 ? kernels::repack_type(v.dtype, v.shape[v.shape.ndim - 1]) : v.dtype;
  if (r == v.dtype || v.nbytes == 0) return v;
  void* p = mmap(nullptr, v.nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return v;  // no memory for a copy: the file layout works too, slower
  madvise(p, v.nbytes, MADV_HUGEPAGE);  // fewer page faults and TLB misses; advisory
  const size_t n = v.nbytes;
  repacked_.emplace_back(p, [n](void* q) { munmap(q, n); });
  kernels::repack_rows(v.dtype, r, v.data, p, v.shape.numel() / v.shape[v.shape.ndim - 1], v.shape[v.shape.ndim - 1]);
  // The file's pages of this tensor are not read again: drop them from this process (they stay
  // in the page cache, shared, reclaimable), so RSS stays about the file size, not twice it.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t a = (reinterpret_cast<uintptr_t>(v.data) + page - 1) & ~(page - 1);
  const uintptr_t b = (reinterpret_cast<uintptr_t>(v.data) + v.nbytes) & ~(page - 1);
  if (b > a) madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
  v.dtype = r;
  v.data = p;
  return v;
}

TensorView Weights::add_derived(const std::string& name, DType dtype, const Shape& shape,
                                std::vector<uint8_t> bytes) {
  MOECAT_CHECK(static_cast<int64_t>(bytes.size()) ==
               dtype_row_bytes(dtype, shape[shape.ndim - 1]) * (shape.numel() / shape[shape.ndim - 1]));
  std::vector<uint8_t>& b = derived_.emplace_back(std::move(bytes));
  TensorView v{name, dtype, shape, b.data(), b.size()};
  loaded_.push_back(LoadedWeight{name, shape, {v}, 0, false});
  return v;
}

Result<TensorView> Weights::get_f32(const std::string& name, const Shape& shape) {
  if (auto p = find_provided(name, shape, {DType::F32})) {
    if (!p->ok()) return p->status();
    loaded_.push_back(LoadedWeight{name, shape, {p->value()}, 0, true});
    return p->value();
  }
  std::string sname = source_name(name);
  if (sname.empty()) return Errorf("no Hugging Face name known for tensor '%s'", name.c_str());
  MOECAT_ASSIGN_OR_RETURN(TensorView v, src_.get(sname, shape, {DType::F32, DType::F16, DType::BF16}));
  if (v.dtype != DType::F32) {
    std::vector<float>& buf = owned_.emplace_back(static_cast<size_t>(shape.numel()));
    kernels::dequantize_row(v.dtype, v.data, buf.data(), shape.numel());
    v.dtype = DType::F32;
    v.data = buf.data();
    v.nbytes = buf.size() * sizeof(float);
  }
  loaded_.push_back(LoadedWeight{name, shape, {v}, 0, true});
  return v;
}

Result<std::vector<TensorView>> Weights::get_experts(const std::string& name, int64_t n_expert,
                                                     const Shape& es,
                                                     std::initializer_list<DType> allowed) {
  std::vector<TensorView> parts;
  Shape stacked;
  stacked.ndim = es.ndim + 1;
  stacked.d[0] = n_expert;
  for (int i = 0; i < es.ndim; ++i) stacked.d[i + 1] = es.d[i];
  // One tensor per expert: HF folders, and GGUFs from older llama.cpp converters
  // (blk.N.ffn_gate.E.weight instead of the stacked blk.N.ffn_gate_exps.weight).
  auto per_expert = [&](const std::function<std::string(int64_t)>& name_of) -> Status {
    for (int64_t e = 0; e < n_expert; ++e) {
      const std::string sname = name_of(e);
      if (sname.empty()) return Errorf("no Hugging Face name known for tensor '%s'", name.c_str());
      MOECAT_ASSIGN_OR_RETURN(TensorView v, src_.get(sname, es, allowed));
      v = repack(v);
      if (e > 0 && v.dtype != parts[0].dtype)
        return Errorf("experts of '%s' have mixed types (%s and %s)", name.c_str(),
                      dtype_name(parts[0].dtype), dtype_name(v.dtype));
      parts.push_back(v);
    }
    return Status::Ok();
  };
  const std::string suffix = "_exps.weight";
  const bool legacy_split = !is_hf() && !src_.find(name) && name.size() > suffix.size() &&
                            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (auto p = find_provided(name, stacked, allowed)) {
    if (!p->ok()) return p->status();
    for (int64_t e = 0; e < n_expert; ++e) parts.push_back(p->value().slice0(e));
  } else if (is_hf()) {
    MOECAT_RETURN_IF_ERROR(per_expert([&](int64_t e) { return source_name(name, e); }));
  } else if (legacy_split) {
    const std::string stem = name.substr(0, name.size() - suffix.size());
    MOECAT_RETURN_IF_ERROR(per_expert([&](int64_t e) { return stem + "." + std::to_string(e) + ".weight"; }));
  } else {
    MOECAT_ASSIGN_OR_RETURN(TensorView all, src_.get(name, stacked, allowed));
    all = repack(all);
    for (int64_t e = 0; e < n_expert; ++e) parts.push_back(all.slice0(e));
  }
  loaded_.push_back(LoadedWeight{name, stacked, parts, 0, false});
  return parts;
}

}  // namespace moecat
