#include "model/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>

#include "kernels/ops.h"
#include "model/expert_parallel.h"

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
  if (!is_hf()) {
    if (aliases_.empty()) return gguf_name;
    auto it = aliases_.find(gguf_name);
    return it == aliases_.end() ? "" : it->second.file_name;
  }
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

void Weights::provide_experts(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes) {
  const auto [lo, hi] = local_expert_share(shape[0]);
  Shape share = shape;
  share.d[0] = hi - lo;
  MOECAT_CHECK(static_cast<int64_t>(bytes.size()) ==
               dtype_row_bytes(dtype, share[share.ndim - 1]) * (share.numel() / share[share.ndim - 1]));
  std::vector<uint8_t>& b = derived_.emplace_back(std::move(bytes));
  provided_experts_[name] = {TensorView{name, dtype, share, b.empty() ? nullptr : b.data(), b.size()}, shape};
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

Status Weights::no_source(const std::string& name) const {
  if (is_hf()) return Errorf("no Hugging Face name known for tensor '%s'", name.c_str());
  return Errorf("%s: no tensor of this file's layout holds '%s'", src_.path().c_str(), name.c_str());
}

bool Weights::has(const std::string& name) const {
  if (provided_.count(name) || provided_experts_.count(name)) return true;
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
  if (sname.empty()) return no_source(name);
  MOECAT_ASSIGN_OR_RETURN(TensorView v, source_matrix(sname, shape, allowed));
  loaded_.push_back(LoadedWeight{name, shape, {v}, 0, false});
  return v;
}

Result<TensorView> Weights::get_rows(const std::string& name, const Shape& shape,
                                     std::initializer_list<DType> allowed) {
  if (auto p = find_provided(name, shape, allowed)) {
    if (!p->ok()) return p->status();
    loaded_.push_back(LoadedWeight{name, shape, {p->value()}, 0, false});
    return p->value();
  }
  std::string sname = source_name(name);
  if (sname.empty()) return no_source(name);
  MOECAT_ASSIGN_OR_RETURN(TensorView v, source_matrix(sname, shape, allowed, /*repack_it=*/false));
  loaded_.push_back(LoadedWeight{name, shape, {v}, 0, false});
  return v;
}

Result<TensorView> Weights::source_matrix(const std::string& sname, const Shape& shape,
                                          std::initializer_list<DType> allowed, bool repack_it) {
  const TensorView* raw = src_.find(sname);
  if (is_hf() && raw && raw->dtype == DType::F8_E4M3) return load_fp8(sname, shape, allowed);
  MOECAT_ASSIGN_OR_RETURN(TensorView v, src_.get(sname, shape, allowed));
  return repack_it ? repack(v) : v;
}

Result<std::pair<int64_t, int64_t>> Weights::fp8_block() {
  if (fp8_block_) return *fp8_block_;
  auto check = [&]() -> Result<std::pair<int64_t, int64_t>> {
    const nlohmann::json& cfg = src_.hf_config();
    const std::string where = src_.path() + "/config.json";
    if (!cfg.contains("quantization_config") || !cfg["quantization_config"].is_object())
      return Errorf("%s: F8_E4M3 tensors but no quantization_config", where.c_str());
    const nlohmann::json& q = cfg["quantization_config"];
    auto str = [&](const char* k) {
      return q.contains(k) && q[k].is_string() ? q[k].get<std::string>() : std::string();
    };
    if (str("quant_method") != "fp8")
      return Errorf("%s: quantization_config.quant_method is '%s'; FP8 weights need 'fp8'", where.c_str(),
                    str("quant_method").c_str());
    if (q.contains("fmt") && str("fmt") != "e4m3")
      return Errorf("%s: quantization_config.fmt '%s' is not supported (only e4m3)", where.c_str(), str("fmt").c_str());
    if (q.contains("activation_scheme") && str("activation_scheme") != "dynamic")
      return Errorf("%s: quantization_config.activation_scheme '%s' is not supported (only dynamic)",
                    where.c_str(), str("activation_scheme").c_str());
    const nlohmann::json* bs = q.contains("weight_block_size") ? &q["weight_block_size"] : nullptr;
    if (!bs || !bs->is_array() || bs->size() != 2 || !(*bs)[0].is_number_integer() || !(*bs)[1].is_number_integer())
      return Errorf("%s: quantization_config.weight_block_size must be [rows, cols] (per-tensor FP8 scales are "
                    "not supported)", where.c_str());
    const int64_t br = (*bs)[0].get<int64_t>(), bc = (*bs)[1].get<int64_t>();
    // Columns: whole 32-value kernel blocks inside each scale block.
    if (br < 1 || bc < 32 || bc % 32 != 0 || br > (int64_t(1) << 20) || bc > (int64_t(1) << 20))
      return Errorf("%s: quantization_config.weight_block_size [%lld, %lld] is not supported (rows >= 1, "
                    "columns a multiple of 32; the checkpoints use [128, 128])",
                    where.c_str(), (long long)br, (long long)bc);
    // Modules left unquantized (bf16 in the file): DeepSeek / LongCat write ignored_layers,
    // transformers' FP8 config modules_to_not_convert; both lists of module names.
    for (const char* key : {"ignored_layers", "modules_to_not_convert"}) {
      if (!q.contains(key) || q[key].is_null()) continue;
      if (!q[key].is_array())
        return Errorf("%s: quantization_config.%s must be a list of module names", where.c_str(), key);
      for (const auto& e : q[key]) {
        if (!e.is_string())
          return Errorf("%s: quantization_config.%s must be a list of module names (found %s)", where.c_str(), key,
                        e.dump().c_str());
        fp8_ignored_.push_back(e.get<std::string>());
      }
      if (fp8_ignored_key_.empty()) fp8_ignored_key_ = key;
    }
    return std::make_pair(br, bc);
  };
  fp8_block_ = check();
  return *fp8_block_;
}

// An FP8 matrix: weight[r][c] = e4m3(q[r][c]) * scale_inv[r / br][c / bc] (DeepSeek-V3's
// inference/kernel.py weight_dequant; `scale_inv` is the multiplier despite its name). Rows of
// whole 32-value blocks are used in place: the view points into the mmapped file (one byte per
// weight, the only copy) and the scales go to a small f32 side table (4 bytes per block: 1/4096
// of the weight at 128x128). Other row lengths (toy models only) are decoded to f32 (exact).
Result<TensorView> Weights::load_fp8(const std::string& sname, const Shape& shape,
                                     std::initializer_list<DType> allowed) {
  bool want_fp8 = false, want_f32 = false;
  for (DType d : allowed) {
    want_fp8 |= d == DType::F8_E4M3;
    want_f32 |= d == DType::F32;
  }
  const std::string file = src_.file_of(sname);
  if (!want_fp8 && !want_f32)
    return Errorf("tensor '%s' in %s is FP8 (F8_E4M3); this weight must be a float type", sname.c_str(), file.c_str());
  MOECAT_ASSIGN_OR_RETURN(TensorView q, src_.get(sname, shape, {DType::F8_E4M3}));
  if (shape.ndim != 2)
    return Errorf("tensor '%s' in %s: FP8 weights must be matrices, this one has shape %s", sname.c_str(),
                  file.c_str(), shape.str().c_str());
  MOECAT_ASSIGN_OR_RETURN(auto blk, fp8_block());
  const auto [br, bc] = blk;
  const std::string scale_name = sname + "_scale_inv";
  const TensorView* sv = src_.find(scale_name);
  // A module the config says is not quantized must not be FP8 in the file: the checkpoint
  // contradicts itself (transformers would load the raw bytes as if they were bf16).
  const std::string module = sname.size() > 7 && sname.compare(sname.size() - 7, 7, ".weight") == 0
                                 ? sname.substr(0, sname.size() - 7)
                                 : sname;
  if (const std::string* e = fp8_ignored(module))
    return Errorf("FP8 tensor '%s' in %s: its module is listed in quantization_config.%s ('%s'), so it must be "
                  "stored unquantized (bf16, f16 or f32), but it is F8_E4M3 %s",
                  sname.c_str(), file.c_str(), fp8_ignored_key_.c_str(), e->c_str(),
                  sv ? "(with block scales)" : ("and has no block scales ('" + scale_name + "' is missing)").c_str());
  const int64_t rows = shape[0], cols = shape[1];
  const Shape sshape{(rows + br - 1) / br, (cols + bc - 1) / bc};
  if (!sv)
    return Errorf("FP8 tensor '%s' in %s has no block scales: '%s' is missing", sname.c_str(), file.c_str(),
                  scale_name.c_str());
  if (sv->shape != sshape)
    return Errorf("FP8 block scales '%s' in %s have shape %s; expected %s (weight %s in %lldx%lld blocks)",
                  scale_name.c_str(), src_.file_of(scale_name).c_str(), sv->shape.str().c_str(),
                  sshape.str().c_str(), shape.str().c_str(), (long long)br, (long long)bc);
  if (sv->dtype != DType::F32 && sv->dtype != DType::BF16 && sv->dtype != DType::F16)
    return Errorf("FP8 block scales '%s' in %s have type %s; expected f32", scale_name.c_str(),
                  src_.file_of(scale_name).c_str(), dtype_name(sv->dtype));
  std::vector<float>& scale = owned_.emplace_back(static_cast<size_t>(sshape.numel()));
  kernels::dequantize_row(sv->dtype, sv->data, scale.data(), sshape.numel());
  for (int64_t i = 0; i < sshape.numel(); ++i)
    if (!std::isfinite(scale[i]) || scale[i] < 0.0f)
      return Errorf("FP8 block scales '%s' in %s: block [%lld, %lld] has scale %g (must be finite and >= 0)",
                    scale_name.c_str(), src_.file_of(scale_name).c_str(), (long long)(i / sshape[1]),
                    (long long)(i % sshape[1]), double(scale[i]));
  // NaN codes (0x7F / 0xFF): one branch-free pass (vectorized) over the bytes, which also pages
  // them in; the position only when there is one.
  const auto* src = static_cast<const uint8_t*>(q.data);
  const int64_t numel = rows * cols;
  uint8_t any_nan = 0;
  for (int64_t i = 0; i < numel; ++i) any_nan |= uint8_t((src[i] & 0x7f) == 0x7f);
  if (any_nan)
    for (int64_t i = 0; i < numel; ++i)
      if ((src[i] & 0x7f) == 0x7f)
        return Errorf("FP8 tensor '%s' in %s: element [%lld, %lld] is NaN (byte 0x%02x)", sname.c_str(),
                      file.c_str(), (long long)(i / cols), (long long)(i % cols), src[i]);
  TensorView v = q;
  v.fp8_scales = scale.data();
  v.fp8_br = br;
  v.fp8_bc = bc;
  v.fp8_ld = sshape[1];
  if (cols % kernels::kF8Block == 0 && want_fp8) return v;  // in place
  if (!want_f32)
    return Errorf("FP8 tensor '%s' in %s: rows of %lld values are not whole 32-value blocks", sname.c_str(),
                  file.c_str(), (long long)cols);
  std::vector<float>& buf = owned_.emplace_back(static_cast<size_t>(numel));
  for (int64_t r = 0; r < rows; ++r) kernels::dequantize_view_row(v, r, &buf[r * cols]);
  TensorView f = q;
  f.dtype = DType::F32;
  f.data = buf.data();
  f.nbytes = buf.size() * sizeof(float);
  // The file's pages of this tensor are not read again.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(q.data) + page - 1) & ~(page - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(q.data) + q.nbytes) & ~(page - 1);
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  return f;
}

// The ignored_layers / modules_to_not_convert entry that names `module` (equal, or a whole
// dotted part of it: "o_proj" names "model.layers.0.self_attn.o_proj", "model.layers.0" names
// its submodules), or null.
const std::string* Weights::fp8_ignored(const std::string& module) const {
  for (const std::string& e : fp8_ignored_) {
    if (e.empty()) continue;
    const size_t n = e.size(), m = module.size();
    if (module == e) return &e;
    if (m > n && module.compare(m - n, n, e) == 0 && module[m - n - 1] == '.') return &e;
    if (m > n && module.compare(0, n, e) == 0 && module[n] == '.') return &e;
    if (module.find("." + e + ".") != std::string::npos) return &e;
  }
  return nullptr;
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
  if (sname.empty()) return no_source(name);
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
  // Expert parallelism (model/expert_parallel.h): only this rank's experts [lo, hi) are read,
  // repacked or converted; the others stay empty views and their file pages are never touched.
  const auto [lo, hi] = local_expert_share(n_expert);
  auto mine = [&, lo = lo, hi = hi](int64_t e) { return e >= lo && e < hi; };
  // One tensor per expert: HF folders, and GGUFs from older llama.cpp converters
  // (blk.N.ffn_gate.E.weight instead of the stacked blk.N.ffn_gate_exps.weight).
  auto per_expert = [&](const std::function<std::string(int64_t)>& name_of) -> Status {
    bool first = true;
    for (int64_t e = 0; e < n_expert; ++e) {
      const std::string sname = name_of(e);
      if (sname.empty()) return no_source(name);
      if (!mine(e)) {
        parts.push_back(TensorView{});
        continue;
      }
      MOECAT_ASSIGN_OR_RETURN(TensorView v, source_matrix(sname, es, allowed));
      if (!first && v.dtype != parts[lo].dtype)
        return Errorf("experts of '%s' have mixed types (%s and %s)", name.c_str(),
                      dtype_name(parts[lo].dtype), dtype_name(v.dtype));
      parts.push_back(v);
      first = false;
    }
    return Status::Ok();
  };
  // The stacked tensor all (outermost dimension >= n_expert): this rank's experts as views of
  // one repacked range.
  auto stacked_share = [&](TensorView all) {
    const size_t per = all.nbytes / static_cast<size_t>(all.shape.d[0]);
    TensorView sub = all;
    sub.shape = stacked;
    sub.shape.d[0] = hi - lo;
    sub.data = static_cast<const uint8_t*>(all.data) + per * static_cast<size_t>(lo);
    sub.nbytes = per * static_cast<size_t>(hi - lo);
    if (hi > lo) sub = repack(sub);
    for (int64_t e = 0; e < n_expert; ++e) parts.push_back(mine(e) ? sub.slice0(e - lo) : TensorView{});
  };
  const std::string suffix = "_exps.weight";
  const bool legacy_split = !is_hf() && aliases_.empty() && !src_.find(name) && name.size() > suffix.size() &&
                            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (auto it = provided_experts_.find(name); it != provided_experts_.end()) {  // built at load: the share
    const TensorView& v = it->second.first;
    if (it->second.second != stacked)
      return Errorf("tensor '%s' (built from %s) has shape %s, expected %s", name.c_str(), src_.path().c_str(),
                    it->second.second.str().c_str(), stacked.str().c_str());
    if (std::find(allowed.begin(), allowed.end(), v.dtype) == allowed.end())
      return Errorf("tensor '%s' (built from %s) has type %s", name.c_str(), src_.path().c_str(), dtype_name(v.dtype));
    MOECAT_CHECK(v.shape[0] == hi - lo);
    for (int64_t e = 0; e < n_expert; ++e) parts.push_back(mine(e) ? v.slice0(e - lo) : TensorView{});
  } else if (auto p = find_provided(name, stacked, allowed)) {
    if (!p->ok()) return p->status();
    for (int64_t e = 0; e < n_expert; ++e) parts.push_back(mine(e) ? p->value().slice0(e) : TensorView{});
  } else if (is_hf()) {
    MOECAT_RETURN_IF_ERROR(per_expert([&](int64_t e) { return source_name(name, e); }));
  } else if (legacy_split) {
    const std::string stem = name.substr(0, name.size() - suffix.size());
    MOECAT_RETURN_IF_ERROR(per_expert([&](int64_t e) { return stem + "." + std::to_string(e) + ".weight"; }));
  } else if (!aliases_.empty()) {
    const std::string sname = source_name(name);
    if (sname.empty()) return no_source(name);
    const GgufAlias& a = aliases_.at(name);
    Shape file_shape = stacked;
    if (a.outer > 0) {
      if (a.outer < n_expert) return Errorf("tensor '%s': layout has %lld experts, %lld asked for", sname.c_str(),
                                            (long long)a.outer, (long long)n_expert);
      file_shape.d[0] = a.outer;
    }
    // Only the first n_expert experts: a view of the mapped file (the rest is never touched).
    MOECAT_ASSIGN_OR_RETURN(TensorView all, src_.get(sname, file_shape, allowed));
    stacked_share(all);
  } else {
    MOECAT_ASSIGN_OR_RETURN(TensorView all, src_.get(name, stacked, allowed));
    stacked_share(all);
  }
  loaded_.push_back(LoadedWeight{name, stacked, parts, 0, false});
  return parts;
}

}  // namespace moecat
