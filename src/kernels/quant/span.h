// The common form of a block-quantized weight row that the int8 kernels read (see quant.h), and
// the quantized activations they multiply it with. Plain structs and constants only: the ISA
// files (*_avx2.cpp, *_avx512.cpp) include this, so no inline code (see kernel_table.h).
#pragma once
#include <cstdint>

namespace moecat::kernels::quant {

// Type ids of the repacked layouts (tensor/dtype.h DType::*_R): this + the file type's id. (ISA
// files do not include dtype.h: it has inline code.)
constexpr uint32_t kRepackedId = 256;

constexpr int kSpan = 256;  // values per Span
constexpr int kGroup = 16;  // values per scale group
constexpr int kGroups = kSpan / kGroup;

// 256 weights of a row: value_i = fsc[i / 16] * q[i] - fmin[i / 16].
struct alignas(64) Span {
  uint8_t q[kSpan];     // codes (unsigned; signed formats are stored + 128)
  float fsc[kGroups];   // per group of 16: scale
  float fmin[kGroups];  // per group of 16: offset (subtracted)
};
static_assert(sizeof(Span) == 384, "Span layout");

// 256 activations of a row, quantized per 32 values to int8 (amax / 127, round half away from
// zero, like q8_0 but with an f32 scale):
//   x_i ~= dg[i / 16] * q[i],   qs[g] = sum of q over group g,   bs[g] = dg[g] * qs[g].
// A weight span times an activation span is then
//   sum_g fsc[g] * dg[g] * S_g  -  sum_g fmin[g] * bs[g],   S_g = sum_{i in g} wq_i * aq_i (int32).
// Formats whose offset is a fixed multiple of the scale (fmin = m * fsc: the signed grids stored
// + m, QuantType::offset) fold it into the integer sum instead: sum_g fsc[g] * dg[g] * (S_g - m qs[g]).
// Groups past the end of a row (rows of 32-block types that are not a multiple of 256) have
// q = 0 and dg = bs = 0 on the activation side and are zeroed on the weight side.
struct alignas(64) ActSpan {
  int8_t q[kSpan];
  float dg[kGroups];
  float bs[kGroups];
  int32_t qs[kGroups];
};
static_assert(sizeof(ActSpan) == 448, "ActSpan layout");

// The pair form, for weight types whose scales are per 32 values and whose offset is a fixed
// multiple of the scale (QuantType::offset; Q8_0_R, MXFP4_R, IQ4_XS) or that have a min per 32 values
// (Q4_K, Q5_K and their repacked layouts, through bs): a row's spans are taken in pairs
// (2p, 2p + 1; an odd last span pairs with zeros), each pair in 32-value lanes: chunk K (0..7),
// lane l (32-bit) holds values 4K .. 4K + 3 of 32-value block l of span 2p (l < 8) or block l - 8
// of span 2p + 1. Eight vpdpbusd leave the 16 blocks' integer sums in 16 lanes, so the float work
// (convert, scale, accumulate) is per 32 values, not per 16 as in the Span form: 8 vpdpbusd + 3
// float operations per pair and row pair instead of 8 + 6.
constexpr int kPairGroups = 16;  // 32-value blocks per pair
// 512 activations (two spans) of a row: x_i ~= dg[l] * q[i] for the value i of lane l, qs[l]
// the sum of block l's codes, bs[l] = dg[l] * qs[l]. Blocks past the row's end: all 0.
struct alignas(64) ActPair {
  int8_t q[2 * kSpan];  // chunk K at 64K: lanes of 4 bytes as above
  float dg[kPairGroups];
  int32_t qs[kPairGroups];
  float bs[kPairGroups];
};
static_assert(sizeof(ActPair) == 704, "ActPair layout");

// As FusedDotFn, with the activations in the pair form (ceil(ceil(in / 256) / 2) per row).
using FusedPairFn = void (*)(const uint8_t* w, int64_t row_bytes, int64_t in, const ActPair* acts,
                             const int32_t* rows, int64_t m, float* y, int64_t ldy, int64_t r0, int64_t r1,
                             int offset);

// Unpacks values [kSpan*s, kSpan*s + nv) of one weight row into out (natural order). nv is
// kSpan, except at the tail of a row of a 32-block type, where it is the remaining multiple of
// 32; the caller zeroes the groups past nv.
using UnpackFn = void (*)(const uint8_t* row, int64_t s, int nv, Span* out);

// m activation rows (row i: acts + (rows ? rows[i] : i) * nsp, nsp ActSpans each) times weight
// rows [r0, r1) of a repacked matrix (rows of whole spans; Q8_0_R rows may end in a partial one,
// which row_bytes tells), unpacked in registers (no Span written) once per span for up to eight
// activation rows: y[i * ldy + r]. `offset`: the type's QuantType::offset. Same arithmetic, so
// the same bits, as the row-tile path of span_matmul. For generation (m = 1) and the few
// tokens a batch step routes to one expert, where unpacking a tile costs more than it saves.
using FusedDotFn = void (*)(const uint8_t* w, int64_t row_bytes, int64_t nsp, const ActSpan* acts,
                            const int32_t* rows, int64_t m, float* y, int64_t ldy, int64_t r0, int64_t r1,
                            int offset);

}  // namespace moecat::kernels::quant
