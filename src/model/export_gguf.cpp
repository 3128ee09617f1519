#include "model/export_gguf.h"

#include <cstring>
#include <vector>

#include "io/gguf.h"
#include "kernels/ops.h"
#include "kernels/quant/repack.h"
#include "model/blocks/rope.h"
#include "model/registry.h"
#include "model/tokenizer_load.h"

namespace moecat {

namespace {

// llama.cpp's llama_ftype for the file's main type.
uint32_t file_type_of(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    case DType::MXFP4: return 38;  // LLAMA_FTYPE_MOSTLY_MXFP4_MOE
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 11;   // MOSTLY_Q3_K_S
    case DType::IQ4_NL: return 25;
    case DType::IQ4_XS: return 30;
    case DType::Q4_K: return 14;   // MOSTLY_Q4_K_S (one k-quant type throughout)
    case DType::Q5_K: return 16;   // MOSTLY_Q5_K_S
    case DType::Q6_K: return 18;   // MOSTLY_Q6_K
    default: return 0;
  }
}

// Row of the GGUF (interleaved-rope) layout that HF row `r` moves to: within each head the
// rotate-half halves [0, hd/2) and [hd/2, hd) become even and odd rows.
int64_t permuted_row(int64_t r, int64_t rows, int64_t n_heads) {
  const int64_t hd = rows / n_heads, h = r / hd, k = r % hd;
  const int64_t half = hd / 2;
  return h * hd + (k < half ? 2 * k : 2 * (k - half) + 1);
}

}  // namespace

Status export_gguf(const Model& model, const Tokenizer& tok, DType type, const std::string& out_path,
                   const std::function<void(size_t, size_t)>& progress) {
  const ModelConfig& c = model.config();
  const ArchEntry* arch = find_arch(c.arch);
  if (!arch) return Errorf("architecture '%s' cannot be exported", c.arch.c_str());
  GgufWriter w;
  arch->write_gguf_meta(c, w);
  w.set_str("general.name", c.arch);
  w.set_u32("general.file_type", file_type_of(type));
  if (type != DType::F32 && type != DType::F16 && type != DType::BF16) w.set_u32("general.quantization_version", 2);
  write_tokenizer_meta(tok.data(), w);

  const bool from_hf = c.source == SourceKind::kHf;
  if (from_hf && c.rope.scaling == RopeScaling::kLlama3) {
    // llama.cpp reads llama3 scaling as per-frequency divisors in a tensor.
    auto factors = std::make_shared<std::vector<float>>(Rope::llama3_factors(c.rope));
    w.add_tensor("rope_freqs.weight", DType::F32, {static_cast<int64_t>(factors->size())},
                 [factors](uint8_t* dst) { std::memcpy(dst, factors->data(), factors->size() * 4); });
  }

  for (const LoadedWeight& lw : model.weights().loaded()) {
    const int64_t cols = lw.shape[lw.shape.ndim - 1];
    DType t = lw.keep_f32 || lw.shape.ndim == 1 ? DType::F32 : type;
    // --type mxfp4 means MXFP4 experts (llama.cpp's MOSTLY_MXFP4_MOE); other matrices get q8_0.
    if (t == DType::MXFP4 && lw.name.find("_exps.") == std::string::npos) t = DType::Q8_0;
    // Rows must hold whole blocks: k-quants (256) fall back to q8_0 (32) as llama-quantize does,
    // then f16.
    if (cols % dtype_block(t) != 0 && dtype_block(t) == 256) t = DType::Q8_0;
    if (cols % dtype_block(t) != 0) t = DType::F16;
    if (lw.name == "rope_freqs.weight") t = DType::F32;
    // MXFP4 stays MXFP4 (as llama.cpp's converter keeps gpt-oss experts): widening 4-bit
    // weights only costs space.
    if (lw.parts[0].dtype == DType::MXFP4 && !lw.keep_f32) t = DType::MXFP4;
    const LoadedWeight* src = &lw;
    // Only HF rows need the rope permutation (GGUF sources are already in GGUF order).
    const int64_t perm_heads = from_hf ? lw.permute_rope_heads : 0;
    w.add_tensor(lw.name, t, lw.shape, [src, t, cols, perm_heads](uint8_t* dst) {
      const int64_t out_row_bytes = dtype_row_bytes(t, cols);
      std::vector<float> row(cols);
      for (const TensorView& part : src->parts) {
        const int64_t rows = part.rows();
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t to = perm_heads ? permuted_row(r, rows, perm_heads) : r;
          if (part.dtype == t) {  // same type: copy the row as is (lossless)
            std::memcpy(dst + to * out_row_bytes, part.row(r), out_row_bytes);
            continue;
          }
          if (kernels::quant::natural_of(part.dtype) == t) {  // repacked at load: back, lossless
            kernels::repack_rows(part.dtype, t, part.row(r), dst + to * out_row_bytes, 1, cols);
            continue;
          }
          kernels::dequantize_view_row(part, r, row.data());  // FP8: with its block scales
          kernels::convert_row(row.data(), t, dst + to * out_row_bytes, cols);
        }
        dst += rows * out_row_bytes;
      }
    });
  }
  return w.write(out_path, progress);
}

}  // namespace moecat
