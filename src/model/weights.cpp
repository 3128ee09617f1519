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
    // Columns: whole 32-value F8B blocks inside each scale block.
    if (br < 1 || bc < 32 || bc % 32 != 0 || br > (int64_t(1) << 20) || bc > (int64_t(1) << 20))
      return Errorf("%s: quantization_config.weight_block_size [%lld, %lld] is not supported (rows >= 1, "
                    "columns a multiple of 32; the checkpoints use [128, 128])",
                    where.c_str(), (long long)br, (long long)bc);
    return std::make_pair(br, bc);
  };
  fp8_block_ = check();
  return *fp8_block_;
}

// An FP8 matrix: weight[r][c] = e4m3(q[r][c]) * scale_inv[r / br][c / bc] (DeepSeek-V3's
// inference/kernel.py weight_dequant; `scale_inv` is the multiplier despite its name). Rows of
// whole 32-value blocks become F8B (each block with its scale: 36 bytes per 32 weights, 1.125x
// the FP8 bytes, in an anonymous map; the file's pages are dropped after); other row lengths are
// decoded to f32 (exact).
Result<TensorView> Weights::load_fp8(const std::string& sname, const Shape& shape,
                                     std::initializer_list<DType> allowed) {
  bool want_f8b = false, want_f32 = false;
  for (DType d : allowed) {
    want_f8b |= d == DType::F8B;
    want_f32 |= d == DType::F32;
  }
  const std::string file = src_.file_of(sname);
  if (!want_f8b && !want_f32)
    return Errorf("tensor '%s' in %s is FP8 (F8_E4M3); this weight must be a float type", sname.c_str(), file.c_str());
  MOECAT_ASSIGN_OR_RETURN(TensorView q, src_.get(sname, shape, {DType::F8_E4M3}));
  if (shape.ndim != 2)
    return Errorf("tensor '%s' in %s: FP8 weights must be matrices, this one has shape %s", sname.c_str(),
                  file.c_str(), shape.str().c_str());
  MOECAT_ASSIGN_OR_RETURN(auto blk, fp8_block());
  const auto [br, bc] = blk;
  const int64_t rows = shape[0], cols = shape[1];
  const Shape sshape{(rows + br - 1) / br, (cols + bc - 1) / bc};
  const std::string scale_name = sname + "_scale_inv";
  const TensorView* sv = src_.find(scale_name);
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
  std::vector<float> scale(static_cast<size_t>(sshape.numel()));
  kernels::dequantize_row(sv->dtype, sv->data, scale.data(), sshape.numel());
  for (int64_t i = 0; i < sshape.numel(); ++i)
    if (!std::isfinite(scale[i]) || scale[i] < 0.0f)
      return Errorf("FP8 block scales '%s' in %s: block [%lld, %lld] has scale %g (must be finite and >= 0)",
                    scale_name.c_str(), src_.file_of(scale_name).c_str(), (long long)(i / sshape[1]),
                    (long long)(i % sshape[1]), double(scale[i]));
  const auto* src = static_cast<const uint8_t*>(q.data);
  for (int64_t i = 0; i < rows * cols; ++i)
    if ((src[i] & 0x7f) == 0x7f)
      return Errorf("FP8 tensor '%s' in %s: element [%lld, %lld] is NaN (byte 0x%02x)", sname.c_str(), file.c_str(),
                    (long long)(i / cols), (long long)(i % cols), src[i]);
  auto scale_of = [&](int64_t r, int64_t c) { return scale[(r / br) * sshape[1] + c / bc]; };
  TensorView v = q;
  if (cols % kernels::kF8Block == 0 && want_f8b) {
    const int64_t nb = cols / kernels::kF8Block;
    const size_t n = static_cast<size_t>(rows * nb) * sizeof(kernels::BlockF8B);
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return Errorf("no memory for FP8 tensor '%s' (%zu bytes)", sname.c_str(), n);
    madvise(p, n, MADV_HUGEPAGE);
    repacked_.emplace_back(p, [n](void* m) { munmap(m, n); });
    auto* out = static_cast<uint8_t*>(p);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        kernels::BlockF8B blk;
        blk.d = scale_of(r, b * kernels::kF8Block);
        std::memcpy(blk.qs, src + r * cols + b * kernels::kF8Block, kernels::kF8Block);
        std::memcpy(out + (r * nb + b) * sizeof blk, &blk, sizeof blk);
      }
    v.dtype = DType::F8B;
    v.data = p;
    v.nbytes = n;
  } else {
    if (!want_f32)
      return Errorf("FP8 tensor '%s' in %s: rows of %lld values are not whole 32-value blocks", sname.c_str(),
                    file.c_str(), (long long)cols);
    std::vector<float>& buf = owned_.emplace_back(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) buf[r * cols + c] = kernels::fp8_e4m3_to_f32(src[r * cols + c]) * scale_of(r, c);
    v.dtype = DType::F32;
    v.data = buf.data();
    v.nbytes = buf.size() * sizeof(float);
  }
  // The file's pages of this tensor are not read again (as in repack).
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t a = (reinterpret_cast<uintptr_t>(q.data) + page - 1) & ~(page - 1);
  const uintptr_t b = (reinterpret_cast<uintptr_t>(q.data) + q.nbytes) & ~(page - 1);
  if (b > a) madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
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
