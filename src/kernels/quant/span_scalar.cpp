// Scalar reference of the Span kernels (span.h): activations quantized per 32 values, weights
// unpacked by the type's reference unpack, per-group int32 sums, then the float formula in a
// fixed order. The AVX2 / AVX-512 versions are tested against this one.
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "kernels/kernel_table.h"

namespace moecat::kernels::scalar {

using quant::ActSpan;
using quant::kGroup;
using quant::kGroups;
using quant::kSpan;
using quant::Span;

void span_act(const float* x, int64_t in, int64_t row0, int64_t row1, void* act, bool f16) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  for (int64_t r = row0; r < row1; ++r) {
    ActSpan* a = static_cast<ActSpan*>(act) + r * nsp;
    const float* xr = x + r * in;
    for (int64_t s = 0; s < nsp; ++s) {
      std::memset(&a[s], 0, sizeof(ActSpan));
      const int64_t nv = in - s * kSpan < kSpan ? in - s * kSpan : kSpan;
      for (int64_t b = 0; b < nv / 32; ++b) {
        const float* v = xr + s * kSpan + 32 * b;
        float amax = 0.0f;
        for (int l = 0; l < 32; ++l) amax = std::fmax(amax, std::fabs(v[l]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const float ds = f16 ? f16_to_f32(f32_to_f16(d)) : d;  // the scale the dot uses
        for (int h = 0; h < 2; ++h) {
          int32_t sum = 0;
          for (int l = 16 * h; l < 16 * h + 16; ++l) {
            const int q = static_cast<int>(std::round(v[l] * id));
            a[s].q[32 * b + l] = static_cast<int8_t>(q);
            sum += q;
          }
          a[s].dg[2 * b + h] = ds;
          a[s].bs[2 * b + h] = ds * static_cast<float>(sum);
          a[s].qs[2 * b + h] = sum;
        }
      }
    }
  }
}

void span_matmul(quant::UnpackFn unpack, quant::UnpackFn, int offset, const uint8_t* w, int64_t row_bytes,
                 int64_t in, const void* act, const int32_t* rows, int64_t n, float* y,
                 int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nsp = (in + kSpan - 1) / kSpan;
  Span sp;
  for (int64_t r = r0; r < r1; ++r) {
    float acc[64] = {};  // one partial per activation row, up to 64 rows at a time
    for (int64_t i0 = 0; i0 < n; i0 += 64) {
      const int64_t ni = n - i0 < 64 ? n - i0 : 64;
      for (int64_t i = 0; i < ni; ++i) acc[i] = 0.0f;
      for (int64_t s = 0; s < nsp; ++s) {
        const int nv = static_cast<int>(in - s * kSpan < kSpan ? in - s * kSpan : kSpan);
        std::memset(&sp, 0, sizeof sp);
        unpack(w + r * row_bytes, s, nv, &sp);
        for (int g = nv / kGroup; g < kGroups; ++g) sp.fsc[g] = sp.fmin[g] = 0.0f;
        for (int64_t i = 0; i < ni; ++i) {
          const int64_t ar = rows ? rows[i0 + i] : i0 + i;
          const ActSpan& a = static_cast<const ActSpan*>(act)[ar * nsp + s];
          float sum = 0.0f;
          for (int g = 0; g < nv / kGroup; ++g) {
            int32_t S = 0;
            for (int l = kGroup * g; l < kGroup * g + kGroup; ++l) S += int32_t(sp.q[l]) * a.q[l];
            if (offset) {  // fmin = offset * fsc: in the integer sum
              sum += sp.fsc[g] * a.dg[g] * static_cast<float>(S - offset * a.qs[g]);
            } else {
              sum += sp.fsc[g] * a.dg[g] * static_cast<float>(S) - sp.fmin[g] * a.bs[g];
            }
          }
          acc[i] += sum;
        }
      }
      for (int64_t i = 0; i < ni; ++i) y[(i0 + i) * ldy + r] = acc[i];
    }
  }
}

quant::UnpackFn span_fast_unpack(uint32_t) { return nullptr; }

}  // namespace moecat::kernels::scalar
