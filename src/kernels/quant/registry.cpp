// The one table of block-quantized weight types (see quant.h for the Span contract).
#include "kernels/quant/quant.h"

#include "base/check.h"
#include "kernels/quant/repack.h"

namespace moecat::kernels::quant {

namespace {

// Repacked layouts (repack.h) decode through their file type: unrepack a unit of 256 values
// (or a row's partial last unit), then decode it.
constexpr int kMaxUnitBytes = 272;
const QuantType* natural_entry(DType r);

// n values: whole units, or one row whose last unit is partial (n % 256 values).
template <DType kR>
void dequant_r(const void* src, float* dst, int64_t n) {
  const QuantType* nat = natural_entry(kR);
  const int64_t ub = repack_unit_bytes(kR), units = n / kSpan;
  const auto* s = static_cast<const uint8_t*>(src);
  uint8_t tmp[kMaxUnitBytes];
  for (int64_t i = 0; i < units; ++i) {
    repack_units(kR, nat->type, s + i * ub, tmp, 1);
    nat->dequant_ref(tmp, dst + i * kSpan, kSpan);
  }
  if (const int tail = static_cast<int>(n % kSpan)) {
    repack_tail(kR, nat->type, s + units * ub, tmp, tail);
    nat->dequant_ref(tmp, dst + units * kSpan, tail);
  }
}

// Span s of a row; nv < 256 only for a row's partial last unit.
template <DType kR>
void unpack_r(const uint8_t* row, int64_t s, int nv, Span* out) {
  const QuantType* nat = natural_entry(kR);
  uint8_t tmp[kMaxUnitBytes];
  if (nv < kSpan) {
    repack_tail(kR, nat->type, row + s * repack_unit_bytes(kR), tmp, nv);
  } else {
    repack_units(kR, nat->type, row + s * repack_unit_bytes(kR), tmp, 1);
  }
  nat->unpack_ref(tmp, 0, nv, out);
}

#define ENTRY(T, ENUM, BLOCK, BYTES, QUANT, FAMILY, OFFSET) \
  QuantType{DType::ENUM, BLOCK, BYTES, dequant_##T, unpack_##T, QUANT, FAMILY, OFFSET}

const QuantType kTypes[] = {
    ENTRY(q4_0, Q4_0, 32, 18, quantize_q4_0, "legacy", 8),
    ENTRY(q4_1, Q4_1, 32, 20, quantize_q4_1, "legacy", 0),
    ENTRY(q5_0, Q5_0, 32, 22, quantize_q5_0, "legacy", 16),
    ENTRY(q5_1, Q5_1, 32, 24, quantize_q5_1, "legacy", 0),
    ENTRY(q8_0, Q8_0, 32, 34, nullptr, "legacy", 128),  // encoded by kernels::quantize_row_q8_0
    ENTRY(mxfp4, MXFP4, 32, 17, nullptr, "mxfp4", 128),  // encoded by kernels::quantize_row_mxfp4
    ENTRY(q2_k, Q2_K, 256, 84, quantize_q2_k, "k", 0),
    ENTRY(q3_k, Q3_K, 256, 110, quantize_q3_k, "k", 4),
    ENTRY(q4_k, Q4_K, 256, 144, quantize_q4_k, "k", 0),
    ENTRY(q5_k, Q5_K, 256, 176, quantize_q5_k, "k", 0),
    ENTRY(q6_k, Q6_K, 256, 210, quantize_q6_k, "k", 32),
    ENTRY(iq1_s, IQ1_S, 256, 50, nullptr, "i", 128),
    ENTRY(iq1_m, IQ1_M, 256, 56, nullptr, "i", 128),
    ENTRY(iq2_xxs, IQ2_XXS, 256, 66, nullptr, "i", 128),
    ENTRY(iq2_xs, IQ2_XS, 256, 74, nullptr, "i", 128),
    ENTRY(iq2_s, IQ2_S, 256, 82, nullptr, "i", 128),
    ENTRY(iq3_xxs, IQ3_XXS, 256, 98, nullptr, "i", 128),
    ENTRY(iq3_s, IQ3_S, 256, 110, nullptr, "i", 128),
    ENTRY(iq4_nl, IQ4_NL, 32, 18, quantize_iq4_nl, "i", 128),
    ENTRY(iq4_xs, IQ4_XS, 256, 136, quantize_iq4_xs, "i", 128),
};
#undef ENTRY

// Block and block bytes of the file type (Q8_0_R: 32 and 34, MXFP4_R: 32 and 17; their decoders
// take whole units and a row's partial last one; the other 32-value types' rows are whole units).
#define REPACKED(ENUM, BLOCK, BYTES, FAMILY, OFFSET)                                                    \
  QuantType{DType::ENUM##_R, BLOCK, BYTES, dequant_r<DType::ENUM##_R>, unpack_r<DType::ENUM##_R>, nullptr, \
            FAMILY, OFFSET}
const QuantType kRepacked[] = {
    REPACKED(Q2_K, 256, 84, "k", 0),    REPACKED(Q3_K, 256, 110, "k", 4), REPACKED(Q4_K, 256, 144, "k", 0),
    REPACKED(Q5_K, 256, 176, "k", 0),   REPACKED(Q6_K, 256, 210, "k", 32), REPACKED(IQ4_XS, 256, 136, "i", 128),
    REPACKED(Q8_0, 32, 34, "legacy", 128),    REPACKED(MXFP4, 32, 17, "mxfp4", 128),
    REPACKED(Q4_0, 32, 18, "legacy", 8),      REPACKED(Q4_1, 32, 20, "legacy", 0),
    REPACKED(Q5_0, 32, 22, "legacy", 16),     REPACKED(Q5_1, 32, 24, "legacy", 0),
    REPACKED(IQ4_NL, 32, 18, "i", 128),
};
#undef REPACKED

const QuantType* natural_entry(DType r) { return find(natural_of(r)); }

}  // namespace

const QuantType* find(DType t) {
  for (const QuantType& q : kTypes)
    if (q.type == t) return &q;
  for (const QuantType& q : kRepacked)
    if (q.type == t) return &q;
  return nullptr;
}

const QuantType* all_repacked(int* count) {
  *count = static_cast<int>(sizeof(kRepacked) / sizeof(kRepacked[0]));
  return kRepacked;
}

const QuantType* all(int* count) {
  *count = static_cast<int>(sizeof(kTypes) / sizeof(kTypes[0]));
  return kTypes;
}

}  // namespace moecat::kernels::quant
