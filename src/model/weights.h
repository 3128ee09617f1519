// Weights: the one checked accessor every weight goes through. Arch files ask for tensors by
// their GGUF (llama.cpp) names; for a Hugging Face folder the arch's name table maps them to HF
// names ("blk.{L}.attn_q.weight" <-> "model.layers.{L}.self_attn.q_proj.weight"). Each access is
// recorded, so `moecat convert` writes exactly what the model loads.
#pragma once
#include <deque>
#include <map>
#include <optional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/model_source.h"
#include "tensor/tensor.h"

namespace moecat {

// {L} = layer index, {E} = expert index. An HF pattern with {E} means the GGUF tensor is the
// stack of per-expert HF tensors along a new outermost dimension.
struct NamePair {
  const char* gguf;
  const char* hf;
};

// One loaded weight, as convert will write it.
struct LoadedWeight {
  std::string name;                // GGUF name
  Shape shape;                     // GGUF shape, outermost-first
  std::vector<TensorView> parts;   // 1 view, or one per expert (stacked on export)
  int64_t permute_rope_heads = 0;  // >0: rows are HF rotate-half order; export permutes for n heads
  bool keep_f32 = false;           // norms, router, rope factors: never quantized on export
};

class Weights {
 public:
  Weights(const ModelSource& src, std::vector<NamePair> hf_names);

  bool is_hf() const { return src_.kind() == ModelSource::Kind::kHfFolder; }
  const ModelSource& source() const { return src_; }

  // Matrices: used in place (any of the allowed dtypes).
  Result<TensorView> get(const std::string& name, const Shape& shape,
                         std::initializer_list<DType> allowed);
  // Tables read one row at a time (n-gram embeddings): as get(), but never repacked, so loading
  // does not read them and only the rows a token looks up become resident.
  Result<TensorView> get_rows(const std::string& name, const Shape& shape,
                              std::initializer_list<DType> allowed);
  // Small vectors (norm weights, biases): always float32, converted at load when needed.
  Result<TensorView> get_f32(const std::string& name, const Shape& shape);
  // Stacked experts [n_expert, out, in] (GGUF) or per-expert tensors (HF): one view per expert.
  Result<std::vector<TensorView>> get_experts(const std::string& name, int64_t n_expert,
                                              const Shape& expert_shape,
                                              std::initializer_list<DType> allowed);
  bool has(const std::string& name) const;

  // A GGUF written in another layout (e.g. llama.cpp's LongCat blocks blk.{2L}/blk.{2L+1}): each
  // name the arch asks for is read from the file's tensor `file_name`. With this table set, names
  // it lacks are absent (never read under their own name). `outer` > 0: the file's tensor has
  // `outer` entries in its outermost dimension and only the first ones the arch asks for are
  // used, as a view (a trailing dummy expert is never read).
  struct GgufAlias {
    std::string file_name;
    int64_t outer = 0;
  };
  void set_gguf_aliases(std::map<std::string, GgufAlias> a) { aliases_ = std::move(a); }

  // A tensor computed at load from others (e.g. DeepSeek's kv_b_proj split and transposed into
  // attn_k_b / attn_v_b): Weights owns the bytes and records it for export under `name`.
  TensorView add_derived(const std::string& name, DType dtype, const Shape& shape,
                         std::vector<uint8_t> bytes);
  // A tensor the arch builds at load under its GGUF name (gpt-oss: HF's fused, interleaved and
  // transposed gate_up_proj re-laid as ffn_gate_exps / ffn_up_exps): get / get_f32 /
  // get_experts find it before looking in the file, and export writes it like any other.
  void provide(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes);
  // The same for stacked experts [E, ...] built at load, when only this rank's experts
  // [local_expert_share(E)] are built (model/expert_parallel.h): bytes hold experts lo..hi-1.
  void provide_experts(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes);
  // The last loaded tensor is only a source for derived ones: do not export it.
  void forget_last() { loaded_.pop_back(); }
  std::string source_name(const std::string& gguf_name, int64_t expert = -1) const;

  // Mark the last loaded weight (for export): rows are HF rotate-half ordered for n heads.
  void mark_rope_permute(int64_t n_heads) { loaded_.back().permute_rope_heads = n_heads; }
  // Mark the last loaded weight as precision-critical: export keeps it f32 (MoE routers).
  void mark_keep_f32() { loaded_.back().keep_f32 = true; }
  const std::vector<LoadedWeight>& loaded() const { return loaded_; }

 private:
  const ModelSource& src_;
  std::vector<NamePair> hf_names_;
  std::vector<LoadedWeight> loaded_;
  std::deque<std::vector<float>> owned_;  // converted copies (stable addresses)
  std::deque<std::vector<uint8_t>> derived_;
  std::deque<std::shared_ptr<void>> repacked_;  // anonymous maps of repacked matrices
  // A matrix read from the file, rewritten into kernels::repack_type's layout when the active
  // kernels have one (see kernels/quant/repack.h); otherwise v as it is.
  TensorView repack(TensorView v);
  // A matrix of the file by its source name: checked (src_.get), then repacked unless
  // !repack_it; FP8 tensors (safetensors F8_E4M3 with `<name>_scale_inv` block scales) are used
  // in place with their scales in a side table (load_fp8).
  Result<TensorView> source_matrix(const std::string& sname, const Shape& shape,
                                   std::initializer_list<DType> allowed, bool repack_it = true);
  Result<TensorView> load_fp8(const std::string& sname, const Shape& shape,
                              std::initializer_list<DType> allowed);
  // config.json's quantization_config, checked once: the FP8 block size {rows, cols}.
  Result<std::pair<int64_t, int64_t>> fp8_block();
  std::optional<Result<std::pair<int64_t, int64_t>>> fp8_block_;
  // quantization_config.ignored_layers + modules_to_not_convert (read by fp8_block), the first
  // key present (for messages), and the entry naming a module, or null.
  std::vector<std::string> fp8_ignored_;
  std::string fp8_ignored_key_;
  const std::string* fp8_ignored(const std::string& module) const;
  std::map<std::string, TensorView> provided_;
  std::map<std::string, std::pair<TensorView, Shape>> provided_experts_;  // this rank's share, full shape
  std::map<std::string, GgufAlias> aliases_;
  Status no_source(const std::string& name) const;
  // A provided tensor, checked like ModelSource::get; nullopt when none is provided.
  std::optional<Result<TensorView>> find_provided(const std::string& name, const Shape& shape,
                                                  std::initializer_list<DType> allowed) const;
};

// Matrix dtypes the kernels support: the float types, every block type of
// kernels/quant/registry.cpp (llama-quantize's outputs) and F8_E4M3 (FP8 checkpoints, in place
// with their block scales).
#define MOECAT_MATRIX_TYPES                                                                  \
  {DType::F32,    DType::F16,     DType::BF16,   DType::Q8_0,   DType::MXFP4,  DType::Q4_0,  \
   DType::Q4_1,   DType::Q5_0,    DType::Q5_1,   DType::Q2_K,   DType::Q3_K,   DType::Q4_K,  \
   DType::Q5_K,   DType::Q6_K,    DType::IQ1_S,  DType::IQ1_M,  DType::IQ2_XXS, DType::IQ2_XS, \
   DType::IQ2_S,  DType::IQ3_XXS, DType::IQ3_S,  DType::IQ4_NL, DType::IQ4_XS, DType::F8_E4M3}

}  // namespace moecat
