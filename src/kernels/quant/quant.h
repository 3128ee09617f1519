// Block-quantized weight types (llama.cpp's formats, as llama-quantize writes them): one entry
// per type in one table (registry.cpp), the only place that lists them.
//
// Every quantized type reaches the int8 kernels through one common form, the Span: 256 values
// of a weight row (fewer at the tail of a row of a 32-block type) as unsigned bytes plus one
// float scale and one float offset per group of 16 values:
//
//   value_i = fsc[i / 16] * q[i] - fmin[i / 16]
//
// Every format fits it exactly: Q4_K is q = nibble, fsc = d*scale_j, fmin = dmin*min_j; Q6_K is
// q = 6-bit code, fsc = d*scale_g, fmin = 32*fsc; a signed grid (i-quants, Q8_0) is stored +128
// with fmin = 128*fsc. The kernels then need only u8 x s8 dot products per group (exact in
// int32) and one float multiply-add per group (span_*.cpp).
//
// Each type provides:
//   dequant_ref  the scalar reference decoder, written straight from the format (not through the
//                Span), checked on hand-built blocks in tests/quant_test.cpp;
//   unpack_ref   the scalar unpack into a Span, checked against dequant_ref;
//   quantize     an encoder for `moecat convert --type` (null where moecat writes no such files).
// SIMD unpacks for the hot types live per ISA in unpack_<isa>.cpp and are chosen in dispatch.
#pragma once
#include <cstdint>

#include "kernels/quant/span.h"
#include "tensor/dtype.h"

namespace moecat::kernels::quant {

using DequantFn = void (*)(const void* src, float* dst, int64_t n);   // n values, whole blocks
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);  // n values, whole blocks

struct QuantType {
  DType type;
  int block;          // values per block (32 or 256)
  int block_bytes;
  DequantFn dequant_ref;
  UnpackFn unpack_ref;
  QuantizeFn quantize;  // null: moecat does not write this type
  const char* family;   // "legacy", "k", "i": for messages and docs
  // m where the Span offset is fmin = m * fsc for every group (codes stored + m: the signed
  // formats), so kernels may fold it into the integer sum (span.h); 0 where the format has
  // mins of its own (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K).
  int offset;
};

// The entry for t, or null when t is not a block-quantized type moecat computes with.
const QuantType* find(DType t);
// Every file type's entry (for tests and `moecat info`).
const QuantType* all(int* count);
// The repacked layouts' entries (repack.h; found by find() too): decoders through unrepack.
const QuantType* all_repacked(int* count);

// ---- per-family functions (legacy.cpp, kquants.cpp, iquants.cpp); reached through find() ----
// Each family file defines, for each of its types T (lower-case ggml name):
//   void dequant_T(const void* src, float* dst, int64_t n);
//   void unpack_T(const uint8_t* row, int64_t s, int nv, Span* out);
//   void quantize_T(const float* src, void* dst, int64_t n);   (where an encoder exists)
#define MOECAT_QUANT_DECL(T)                                   \
  void dequant_##T(const void* src, float* dst, int64_t n);    \
  void unpack_##T(const uint8_t* row, int64_t s, int nv, Span* out);
MOECAT_QUANT_DECL(q4_0)
MOECAT_QUANT_DECL(q4_1)
MOECAT_QUANT_DECL(q5_0)
MOECAT_QUANT_DECL(q5_1)
MOECAT_QUANT_DECL(q8_0)
MOECAT_QUANT_DECL(q2_k)
MOECAT_QUANT_DECL(q3_k)
MOECAT_QUANT_DECL(q4_k)
MOECAT_QUANT_DECL(q5_k)
MOECAT_QUANT_DECL(q6_k)
MOECAT_QUANT_DECL(iq1_s)
MOECAT_QUANT_DECL(iq1_m)
MOECAT_QUANT_DECL(iq2_xxs)
MOECAT_QUANT_DECL(iq2_xs)
MOECAT_QUANT_DECL(iq2_s)
MOECAT_QUANT_DECL(iq3_xxs)
MOECAT_QUANT_DECL(iq3_s)
MOECAT_QUANT_DECL(iq4_nl)
MOECAT_QUANT_DECL(iq4_xs)
MOECAT_QUANT_DECL(mxfp4)
#undef MOECAT_QUANT_DECL
void quantize_q4_0(const float* src, void* dst, int64_t n);
void quantize_q4_1(const float* src, void* dst, int64_t n);
void quantize_q5_0(const float* src, void* dst, int64_t n);
void quantize_q5_1(const float* src, void* dst, int64_t n);
void quantize_q2_k(const float* src, void* dst, int64_t n);
void quantize_q3_k(const float* src, void* dst, int64_t n);
void quantize_q4_k(const float* src, void* dst, int64_t n);
void quantize_q5_k(const float* src, void* dst, int64_t n);
void quantize_q6_k(const float* src, void* dst, int64_t n);
void quantize_iq4_nl(const float* src, void* dst, int64_t n);
void quantize_iq4_xs(const float* src, void* dst, int64_t n);


}  // namespace moecat::kernels::quant
