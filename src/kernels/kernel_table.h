// Internal: the per-ISA function table that dispatch.cpp selects once.
//
// This header is included by the *_avx2.cpp / *_avx512.cpp files, which are compiled with
// -mavx2 / -mavx512*. It deliberately includes nothing with inline or template code (no STL,
// no tensor.h, no half.h): any inline function instantiated in an ISA file could be picked by
// the linker for a baseline caller and execute AVX instructions on a CPU without them. The ISA
// files keep to intrinsics, plain pointers and their own `static` helpers for the same reason.
#pragma once
#include <cstdint>

#include "kernels/quant/span.h"

namespace moecat::kernels {

// Row-range matmul kernels: y[i][r] for i in [0, n), r in [r0, r1), y row stride ldy.
// `w` points at row 0 of the weight matrix (rows of `in` elements, contiguous).
// Each output element is computed by the same instruction sequence whatever r0/r1/n are,
// so results do not depend on how rows are split across threads or how x rows are tiled.
using FMatmulFn = void (*)(const void* w, int64_t in, const float* x, int64_t n, float* y,
                           int64_t ldy, int64_t r0, int64_t r1);
// Q8_0: activations are first quantized into an ISA-private layout ("act").
using Q8ActBytesFn = int64_t (*)(int64_t n, int64_t in);
using Q8PrepareFn = void (*)(const float* x, int64_t in, int64_t n, int64_t row0, int64_t row1,
                             void* act);  // quantizes x rows [row0, row1) of n into act
using Q8MatmulFn = void (*)(const void* w, int64_t in, const void* act, int64_t n, float* y,
                            int64_t ldy, int64_t r0, int64_t r1);
// FP8 e4m3 weights read in place (one byte each, rows of `in` bytes) and their block scales:
// weight[r][c] = e4m3(w[r * in + c]) * s[(r / br) * ld + c / bc]; `in` and `bc` multiples of 32.
struct Fp8Scales {
  const float* s;
  int64_t br, bc, ld;
};
using Fp8MatmulFn = void (*)(const uint8_t* w, const Fp8Scales* sc, int64_t in, const float* x, int64_t n,
                             float* y, int64_t ldy, int64_t r0, int64_t r1);
// The same weights against activations rounded to bf16 once per matrix, in an ISA-private order
// ("act", fp8_bf16_act_bytes(n, in) bytes, rows [row0, row1) written by fp8_bf16_prepare); `in`
// and `bc` multiples of 64.
using Fp8Bf16MatmulFn = void (*)(const uint8_t* w, const Fp8Scales* sc, int64_t in, const void* act, int64_t n,
                                 float* y, int64_t ldy, int64_t r0, int64_t r1);

struct KernelTable {
  const char* name;
  FMatmulFn matmul_f32, matmul_f16, matmul_bf16;
  Q8ActBytesFn q8_act_bytes;  // bytes of act (the buffer must be 64-byte aligned)
  Q8PrepareFn q8_prepare;
  Q8MatmulFn matmul_q8_0;
  // Bit-identical to ref quantize_row_q8_0 (the scalar reference rounding).
  void (*quantize_q8_0)(const float* x, void* dst, int64_t n);

  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  void (*rmsnorm)(const float* x, const float* w, float eps, int64_t n, float* y);
  void (*softmax)(float* x, int64_t n);
  void (*swiglu)(const float* g, const float* u, int64_t n, float* y);
  void (*rope)(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, const float* cos,
               const float* sin, bool neox);
  void (*exp)(const float* x, float* y, int64_t n);
  // Attention helpers. out[j] = scale * (q · k[j*stride .. +dim]) for j < rows.
  void (*dot_rows)(const float* q, const float* k, int64_t stride, int64_t rows, int64_t dim,
                   float scale, float* out);
  // x[j] = exp(x[j] - shift); returns the sum (float).
  float (*exp_shift_sum)(float* x, int64_t n, float shift);
  // out[d] += sum_j p[j] * v[j*stride + d] for d < dim.
  void (*wsum_rows)(const float* p, const float* v, int64_t stride, int64_t rows, int64_t dim,
                    float* out);
  // MXFP4 weights (17-byte blocks) against the same q8 activations as matmul_q8_0.
  Q8MatmulFn matmul_mxfp4;
  // dot_rows / wsum_rows over an f16 (IEEE half) KV cache: rows of uint16_t, widened exactly.
  void (*dot_rows_f16)(const float* q, const uint16_t* k, int64_t stride, int64_t rows, int64_t dim,
                       float scale, float* out);
  void (*wsum_rows_f16)(const float* p, const uint16_t* v, int64_t stride, int64_t rows, int64_t dim,
                        float* out);

  // Block-quantized weights through the Span form (kernels/quant/span.h). Activations are
  // quantized once per matrix into n rows of ceil(in/256) ActSpans, in a byte order private to
  // the ISA (its lane order), by span_act(x, in, row0, row1, act, f16) for rows [row0, row1).
  // f16: each 32-value scale is rounded to an IEEE half after the codes are computed with the
  // exact one, as llama.cpp's q8_0 activations are (the q8_0 weights' products then match
  // llama.cpp's block for block); otherwise the scales stay f32.
  void (*span_act)(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16);
  // y[i*ldy + r] for i < n, r in [r0, r1): weight row r (row_bytes apart from w) times
  // activation row rows[i] (i when rows is null). `unpack` is the type's natural-order unpack;
  // `fast`, if not null, an unpack of this ISA that writes the ISA's lane order directly;
  // `offset` the type's QuantType::offset (folded into the integer sums where not 0).
  void (*span_matmul)(quant::UnpackFn unpack, quant::UnpackFn fast, int offset, const uint8_t* w,
                      int64_t row_bytes, int64_t in, const void* act, const int32_t* rows,
                      int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1);
  // The ISA's lane-order unpack for a ggml type id, or null (then `unpack` is used). Those of
  // 32-value block types handle spans that end early (nv < 256) themselves.
  quant::UnpackFn (*span_fast_unpack)(uint32_t ggml_type);

  // Grouped-query attention over an f16 cache (null where the ISA has none: attention then
  // calls dot_rows_f16 / wsum_rows_f16 per head). G heads sharing one KV head:
  //   out[h*ld + j] = scale * q[h*qstride ..] . k[j*stride ..]           (j < rows, h < G)
  //   out[h*ostride + d] += sum_j p[h*ld + j] * v[j*stride + d]          (d < dim)
  void (*dot_rows_f16_g)(const float* q, int64_t qstride, int64_t G, const uint16_t* k,
                         int64_t stride, int64_t rows, int64_t dim, float scale, float* out,
                         int64_t ld);
  void (*wsum_rows_f16_g)(const float* p, int64_t ld, int64_t G, const uint16_t* v,
                          int64_t stride, int64_t rows, int64_t dim, float* out, int64_t ostride);
  // A few activation rows times weight rows with the unpack in registers, for a type id
  // (AVX-512 VNNI: the repacked layouts; AVX2: Q2_K, Q3_K, Q6_K, every row count), or null:
  // generation's products and the few tokens of an expert in a batch (span.h FusedDotFn). Null
  // where the ISA has none.
  quant::FusedDotFn (*span_fused)(uint32_t type) = nullptr;
  // The repacking at load of n blocks of a file type (repack.h), vectorized; false (nothing
  // done) for types it does not handle. Null where the ISA has none.
  bool (*span_repack)(uint32_t type, const uint8_t* src, uint8_t* dst, int64_t n_blocks) = nullptr;
  // FP8 weights in place against f32 activations (Fp8Scales).
  Fp8MatmulFn matmul_fp8 = nullptr;
  // FP8 weights against bf16 activations (Fp8Bf16MatmulFn), or null: only the AVX-512 table has
  // them, used where the CPU also has AVX-512 BF16 and VBMI (dispatch.cpp fp8_bf16_active).
  int64_t (*fp8_bf16_act_bytes)(int64_t n, int64_t in) = nullptr;
  void (*fp8_bf16_prepare)(const float* x, int64_t in, int64_t row0, int64_t row1, void* act) = nullptr;
  Fp8Bf16MatmulFn matmul_fp8_bf16 = nullptr;
  // The pair form (span.h ActPair) for the types that have it, or nulls. pair_type: 0 none, 1
  // with f32 activation scales, 2 with f16-rounded ones (span_act's f16). pair_act: rows [row0,
  // row1) into ceil(ceil(in/256)/2) ActPairs each; pair_matmul: the row tiles (span_matmul's
  // contract); pair_fused: the fused kernel (repacked types only, else null).
  int (*pair_type)(uint32_t type) = nullptr;
  void (*pair_act)(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16) = nullptr;
  void (*pair_matmul)(uint32_t type, int offset, const uint8_t* w, int64_t row_bytes, int64_t in, const void* act,
                      const int32_t* rows, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1) = nullptr;
  quant::FusedPairFn (*pair_fused)(uint32_t type) = nullptr;
  // Whether span_fused serves every activation-row count (AVX2's Q6_K kernel: its arithmetic is
  // its own, so the Span row tiles would give other bits), not only up to a few rows.
  bool span_fused_all_rows = false;
  // The types whose Span activations take ONE scale per 256 values (span_act_unit: llama.cpp's
  // Q8_K for the K-quants; every group's dg equal), or null: AVX2's Q2_K, Q3_K, Q6_K, whose
  // integer scales per 16 values then apply exactly in vpmaddwd (span_kquant16_avx2.cpp).
  bool (*span_unit_type)(uint32_t type) = nullptr;
  void (*span_act_unit)(const float* x, int64_t in, int64_t row0, int64_t row1, void* act) = nullptr;
  // Whether the pair kernels read repacked rows that end in a partial unit (Q8_0_R, MXFP4_R;
  // repack.h repack_tail). Where not (AVX2), such rows take the Span path.
  bool pair_partial_units = false;
};

// MXFP4's e8m0 scale halved, 2^(e - 128) (convert.cpp; also declared in ops.h).
float e8m0_to_f32_half(uint8_t e);

// Per-thread 64-byte-aligned scratch of n Spans for the span kernels (dispatch.cpp; grows, never
// shrinks).
quant::Span* span_scratch(int64_t n);

// The table chosen by dispatch.cpp (CPUID, MOECAT_ISA, set_isa).
const KernelTable& active_table();

// Functions each ISA provides (defined in its *_avx2.cpp / *_avx512.cpp files). Only reached
// through a table that dispatch.cpp selected for a CPU that has the ISA.
#define MOECAT_DECLARE_ISA_KERNELS(ns)                                                          \
  namespace ns {                                                                               \
  void matmul_f32(const void*, int64_t, const float*, int64_t, float*, int64_t, int64_t, int64_t); \
  void matmul_f16(const void*, int64_t, const float*, int64_t, float*, int64_t, int64_t, int64_t); \
  void matmul_bf16(const void*, int64_t, const float*, int64_t, float*, int64_t, int64_t, int64_t); \
  int64_t q8_act_bytes(int64_t n, int64_t in);                                                 \
  void q8_prepare(const float*, int64_t, int64_t, int64_t, int64_t, void*);                    \
  void matmul_q8_0(const void*, int64_t, const void*, int64_t, float*, int64_t, int64_t, int64_t); \
  void quantize_q8_0(const float*, void*, int64_t);                                            \
  float dot(const float*, const float*, int64_t);                                              \
  void axpy(float, const float*, float*, int64_t);                                             \
  void rmsnorm(const float*, const float*, float, int64_t, float*);                            \
  void softmax(float*, int64_t);                                                               \
  void swiglu(const float*, const float*, int64_t, float*);                                    \
  void rope(float*, int64_t, int64_t, int64_t, const float*, const float*, bool);              \
  void vexp(const float*, float*, int64_t);                                                    \
  void dot_rows(const float*, const float*, int64_t, int64_t, int64_t, float, float*);         \
  float exp_shift_sum(float*, int64_t, float);                                                 \
  void wsum_rows(const float*, const float*, int64_t, int64_t, int64_t, float*);               \
  void matmul_mxfp4(const void*, int64_t, const void*, int64_t, float*, int64_t, int64_t, int64_t); \
  void dot_rows_f16(const float*, const uint16_t*, int64_t, int64_t, int64_t, float, float*);  \
  void wsum_rows_f16(const float*, const uint16_t*, int64_t, int64_t, int64_t, float*);        \
  void span_act(const float*, int64_t, int64_t, int64_t, void*, bool);                         \
  void span_matmul(quant::UnpackFn, quant::UnpackFn, int, const uint8_t*, int64_t, int64_t, const void*, \
                   const int32_t*, int64_t, float*, int64_t, int64_t, int64_t);                \
  quant::UnpackFn span_fast_unpack(uint32_t);                                                  \
  }
MOECAT_DECLARE_ISA_KERNELS(avx2)
MOECAT_DECLARE_ISA_KERNELS(avx512)
MOECAT_DECLARE_ISA_KERNELS(scalar)
#undef MOECAT_DECLARE_ISA_KERNELS
namespace avx2 {
// Grouped-query attention over an f16 cache (attention_avx2.cpp; KernelTable::dot_rows_f16_g).
void dot_rows_f16_g(const float*, int64_t, int64_t, const uint16_t*, int64_t, int64_t, int64_t, float, float*,
                    int64_t);
void wsum_rows_f16_g(const float*, int64_t, int64_t, const uint16_t*, int64_t, int64_t, int64_t, float*, int64_t);
void matmul_fp8(const uint8_t*, const Fp8Scales*, int64_t, const float*, int64_t, float*, int64_t, int64_t, int64_t);
// The pair form (span_pair_avx2.cpp): the per-32-scale types in both layouts.
int pair_type(uint32_t type);
void pair_act(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16);
void pair_matmul(uint32_t type, int offset, const uint8_t* w, int64_t row_bytes, int64_t in, const void* act,
                 const int32_t* rows, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1);
quant::FusedPairFn pair_fused(uint32_t type);
// The repacking at load of the types above that AVX2 repacks (KernelTable::span_repack).
bool span_repack(uint32_t type, const uint8_t* src, uint8_t* dst, int64_t n_units);
// The kernels of Q2_K, Q3_K and Q6_K (file types 10, 11, 14; span_kquant16_avx2.cpp), else null;
// they read activations with one scale per unit (span_unit_type, span_act_unit in span_avx2.cpp).
quant::FusedDotFn span_fused(uint32_t type);
bool span_unit_type(uint32_t type);
void span_act_unit(const float* x, int64_t in, int64_t row0, int64_t row1, void* act);
// The natural-order unpacks of the grid i-quants (span_iq_avx2.cpp), or null.
quant::UnpackFn span_fast_unpack_iq(uint32_t ggml_type);
}
namespace avx512 {
void matmul_fp8(const uint8_t*, const Fp8Scales*, int64_t, const float*, int64_t, float*, int64_t, int64_t, int64_t);
int64_t fp8_bf16_act_bytes(int64_t n, int64_t in);
void fp8_bf16_prepare(const float* x, int64_t in, int64_t row0, int64_t row1, void* act);
void matmul_fp8_bf16(const uint8_t*, const Fp8Scales*, int64_t, const void*, int64_t, float*, int64_t, int64_t,
                     int64_t);
}

namespace avx512 {
void dot_rows_f16_g(const float*, int64_t, int64_t, const uint16_t*, int64_t, int64_t, int64_t, float,
                    float*, int64_t);
void wsum_rows_f16_g(const float*, int64_t, int64_t, const uint16_t*, int64_t, int64_t, int64_t, float*,
                     int64_t);
}  // namespace avx512

// The AVX-512 lane-order unpacks of the grid i-quants (span_iq_avx512.cpp), or null.
namespace avx512 {
quant::UnpackFn span_fast_unpack_iq(uint32_t ggml_type);
// The repacked layouts (span_repacked_avx512.cpp): unpack for the row tiles, fused dot.
quant::UnpackFn span_fast_unpack_repacked(uint32_t type);
quant::FusedDotFn span_fused(uint32_t type);
bool span_repack(uint32_t type, const uint8_t* src, uint8_t* dst, int64_t n_blocks);
// The pair form (span_pair_avx512.cpp).
int pair_type(uint32_t type);
void pair_act(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16);
void pair_matmul(uint32_t type, int offset, const uint8_t* w, int64_t row_bytes, int64_t in, const void* act,
                 const int32_t* rows, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1);
quant::FusedPairFn pair_fused(uint32_t type);
}

extern const KernelTable kScalarTable;  // kernels_scalar.cpp; the ISA tables live in dispatch.cpp

}  // namespace moecat::kernels
