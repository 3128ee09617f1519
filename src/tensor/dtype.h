// Weight / activation element types. Values equal ggml's type ids so GGUF tensors map 1:1.
// Block-quantised types store `block` elements in `block_bytes` bytes, llama.cpp's layout.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace moecat {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  MXFP4 = 39,
  // Repacked layouts (kernels/quant/repack.h): 256 + the file type's id. Made at load, never
  // read from or written to a file (dtype_info, which readers and writers use, does not know
  // them); same bytes per row as the file type.
  Q4_0_R = 256 + 2,
  Q4_1_R = 256 + 3,
  Q5_0_R = 256 + 6,
  Q5_1_R = 256 + 7,
  Q8_0_R = 256 + 8,
  Q2_K_R = 256 + 10,
  Q3_K_R = 256 + 11,
  Q4_K_R = 256 + 12,
  Q5_K_R = 256 + 13,
  Q6_K_R = 256 + 14,
  IQ4_NL_R = 256 + 20,
  IQ4_XS_R = 256 + 23,
  MXFP4_R = 256 + 39,
  // Types of Hugging Face checkpoints that moecat turns into a layout of its own at load
  // (ids 512+, no ggml equivalent; dtype_info does not know them, so no GGUF holds them).
  // F8_E4M3: safetensors "F8_E4M3" bytes as in the file (one OCP e4m3 value each); its
  // block scales live in a separate tensor, which model/weights.cpp copies into a side table
  // (TensorView::fp8_scales) for the kernels, which read the bytes in place.
  F8_E4M3 = 512,
};
constexpr uint32_t kRepackedBase = 256;
constexpr uint32_t kInternalBase = 512;

struct DTypeInfo {
  const char* name;
  int64_t block;        // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
};

// Info for a ggml type id; nullopt for ids moecat does not know (callers report the id).
std::optional<DTypeInfo> dtype_info(uint32_t ggml_type);
// Block layout of any DType, the internal one (F8_E4M3) included.
DTypeInfo dtype_layout(DType t);
const char* dtype_name(DType t);
// Parse a type name as used on the command line: the ggml name in any case ("q4_k", "Q4_K",
// "iq4_xs"); only types moecat can compute with.
std::optional<DType> dtype_from_name(const std::string& s);

// The file type whose block layout t has (t itself, or the type a repacked type came from).
inline uint32_t dtype_layout_id(DType t) {
  const uint32_t id = static_cast<uint32_t>(t);
  return id >= kRepackedBase && id < kInternalBase ? id - kRepackedBase : id;
}
inline int64_t dtype_block(DType t) { return dtype_layout(t).block; }
// Bytes of a row of n elements; n must be a multiple of the block size (checked by callers).
inline int64_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo i = dtype_layout(t);
  return n / i.block * i.block_bytes;
}

// q8_0: 32 int8 values sharing one f16 scale (llama.cpp block_q8_0).
constexpr int kQ8Block = 32;
struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[kQ8Block];
};
static_assert(sizeof(BlockQ8_0) == 34, "q8_0 block must be 34 bytes");

}  // namespace moecat
