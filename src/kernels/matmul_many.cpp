// matmul_many: several matrix products in one parallel region (ops.h). A mixture-of-experts
// layer at one token is 16-24 small products; run one by one, each pays a wake-up and a join
// of the pool (the per-token synchronisation that dominates small models). Here:
//   1. activations are quantized once per distinct input (the Span layout is indexed by row, so
//      every expert reading rows of the same x shares one quantization; q8_0 / MXFP4 / float
//      kernels read contiguous rows, so their gathered rows are prepared once per distinct
//      (x, rows) and shared by gate and up);
//   2. all output rows of all jobs are cut into units of kRowGrain rows, weighted by their cost
//      (rows x in x activation rows), and split into one contiguous range per thread;
//   3. a gated pair (gate and up, MatJob::up) is one job whose units compute both matrices'
//      rows and apply the GLU to them at once (the up product is an internal job of its own
//      for the preparation above, with no units).
// Each output is computed by the same instruction sequence whatever the jobs are grouped with
// or how rows are split, so results do not depend on either (tests/quant_kernels_test.cpp);
// kernels::matmul is a batch of one job.
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kernels/quant/quant.h"
#include "kernels/quant/repack.h"

namespace moecat::kernels {

namespace {

constexpr int64_t kRowGrain = 16;
// Up to this many activation rows, repacked weights take the fused kernel (each weight row read
// once, decoded in registers per group of up to eight activation rows) instead of the row tiles
// (decoded into a Span per weight row, then re-read per activation pair): the experts a batched
// decode step or a short prompt routes a few tokens to. kernels_bench, 12288 x 2048, 1 thread:
// q8_0 at 2 / 4 / 8 rows 1.63 / 1.86 / 2.67 ms tiles -> 0.93 / 0.97 / 1.75 fused, even at 16
// (3.93 / 3.98), tiles ahead from 32 (6.2 / 9.8); Q4_K alike. 16 streams of the
// Qwen3-30B-A3B-shaped q8_0 file in `moecat serve`: 137 -> 148 tok/s.
constexpr int64_t kFusedMaxRows = 12;
constexpr int64_t kMinParallelMacs = int64_t(1) << 16;

// kSpanF16: Span activations with f16-rounded scales, for q8_0 weights in the Span layout
// (repacked), so their products are llama.cpp's q8_0 x q8_0 block for block, as the dedicated
// q8_0 kernels' are.
// kSpanUnit: Span activations with one scale per 256 values (KernelTable::span_unit_type:
// AVX2's Q2_K, Q3_K, Q6_K, in both layouts so that they give the same products).
// kFp8Bf16: FP8 weights against bf16 activations (ops.h fp8_bf16_active).
// kPair / kPairF16: the pair form (span.h ActPair) for the types whose kernels have it
// (KernelTable::pair_type: on AVX-512 VNNI Q4_K, Q4_K_R with f32 scales, Q8_0_R with f16 ones).
enum class ActKind { kFloat, kQ8, kSpan, kSpanF16, kSpanUnit, kFp8Bf16, kPair, kPairF16 };

ActKind act_kind(const KernelTable& t, const TensorView& w) {
  const bool whole_units = w.cols() % quant::kSpan == 0 || quant::repack_tail_block(w.dtype) == 0;
  if (const int pt = t.pair_type ? t.pair_type(static_cast<uint32_t>(w.dtype)) : 0)
    if (whole_units || t.pair_partial_units) return pt == 2 ? ActKind::kPairF16 : ActKind::kPair;
  if (t.span_unit_type && t.span_unit_type(static_cast<uint32_t>(w.dtype))) return ActKind::kSpanUnit;
  if (w.dtype == DType::F8_E4M3 && w.cols() % 64 == 0 && w.fp8_bc % 64 == 0 && fp8_bf16_active())
    return ActKind::kFp8Bf16;
  switch (w.dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::F8_E4M3: return ActKind::kFloat;
    case DType::Q8_0:
    case DType::MXFP4: return ActKind::kQ8;
    case DType::Q8_0_R:
    case DType::MXFP4_R: return ActKind::kSpanF16;
    default: return ActKind::kSpan;
  }
}

bool is_pair(ActKind k) { return k == ActKind::kPair || k == ActKind::kPairF16; }
bool is_span(ActKind k) {
  return k == ActKind::kSpan || k == ActKind::kSpanF16 || k == ActKind::kSpanUnit || is_pair(k);
}

struct Prepared {
  ActKind kind = ActKind::kFloat;
  const float* xf = nullptr;     // kFloat: m contiguous rows
  const uint8_t* act = nullptr;  // kQ8: m rows; kSpan: x_rows rows, indexed by rows
  const int32_t* rows = nullptr;  // Span kinds only
  const quant::QuantType* qt = nullptr;
  quant::UnpackFn fast = nullptr;
  quant::FusedDotFn fused = nullptr;  // kSpan: one activation row, unpack in registers
  quant::FusedPairFn pair_fused = nullptr;  // kPair: the same
};

// kRowGrain output rows of one job: the scheduling unit.
struct Unit {
  int job;
  int64_t r0, r1;
};

// Activation buffers of the driving thread, reused call after call (no allocation per token).
struct Buffers {
  std::vector<std::vector<uint8_t>> bytes;
  size_t used = 0;
  uint8_t* get(size_t n) {
    if (used == bytes.size()) bytes.emplace_back();
    std::vector<uint8_t>& b = bytes[used++];
    if (b.size() < n + 64) b.resize(n + 64);
    const uintptr_t p = reinterpret_cast<uintptr_t>(b.data());
    return reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t(63));
  }
};

// Runs fn(a, b) over [0, n) rows, in parallel when big.
template <typename Fn>
void rows_parallel(ThreadPool* pool, int64_t n, int64_t work, const Fn& fn) {
  if (!pool || pool->size() == 1 || n < 4 || work < (int64_t(1) << 15)) {
    fn(int64_t(0), n);
    return;
  }
  const Fn* f = &fn;
  pool->parallel_for(n, 1, [f](int64_t a, int64_t b) { (*f)(a, b); });
}

void run_rows(const KernelTable& t, const MatJob& j, const Prepared& p, int64_t r0, int64_t r1) {
  const TensorView& w = *j.w;
  const int64_t in = w.cols();
  switch (p.kind) {
    case ActKind::kFloat: {
      if (w.dtype == DType::F8_E4M3) {
        const Fp8Scales sc{w.fp8_scales, w.fp8_br, w.fp8_bc, w.fp8_ld};
        t.matmul_fp8(static_cast<const uint8_t*>(w.data), &sc, in, p.xf, j.m, j.y, j.ldy, r0, r1);
        return;
      }
      FMatmulFn f = w.dtype == DType::F32 ? t.matmul_f32 : w.dtype == DType::F16 ? t.matmul_f16 : t.matmul_bf16;
      f(w.data, in, p.xf, j.m, j.y, j.ldy, r0, r1);
      return;
    }
    case ActKind::kFp8Bf16: {
      const Fp8Scales sc{w.fp8_scales, w.fp8_br, w.fp8_bc, w.fp8_ld};
      t.matmul_fp8_bf16(static_cast<const uint8_t*>(w.data), &sc, in, p.act, j.m, j.y, j.ldy, r0, r1);
      return;
    }
    case ActKind::kQ8: {
      const Q8MatmulFn mm = w.dtype == DType::Q8_0 ? t.matmul_q8_0 : t.matmul_mxfp4;
      mm(w.data, in, p.act, j.m, j.y, j.ldy, r0, r1);
      return;
    }
    case ActKind::kPair:
    case ActKind::kPairF16:
      if (p.pair_fused && j.m <= kFusedMaxRows) {
        p.pair_fused(static_cast<const uint8_t*>(w.data), w.row_bytes(), in, reinterpret_cast<const quant::ActPair*>(p.act),
                     p.rows, j.m, j.y, j.ldy, r0, r1, p.qt->offset);
        return;
      }
      t.pair_matmul(static_cast<uint32_t>(w.dtype), p.qt->offset, static_cast<const uint8_t*>(w.data), w.row_bytes(),
                    in, p.act, p.rows, j.m, j.y, j.ldy, r0, r1);
      return;
    case ActKind::kSpan:
    case ActKind::kSpanF16:
    case ActKind::kSpanUnit:
      // Generation, or the few tokens of one expert in a batch (AVX2's Q6_K: every count).
      if (p.fused && (j.m <= kFusedMaxRows || t.span_fused_all_rows)) {
        const int64_t nsp = (in + quant::kSpan - 1) / quant::kSpan;
        p.fused(static_cast<const uint8_t*>(w.data), w.row_bytes(), nsp, reinterpret_cast<const quant::ActSpan*>(p.act),
                p.rows, j.m, j.y, j.ldy, r0, r1, p.qt->offset);
        return;
      }
      t.span_matmul(p.qt->unpack_ref, p.fast, p.qt->offset, static_cast<const uint8_t*>(w.data), w.row_bytes(), in,
                    p.act, p.rows, j.m, j.y, j.ldy, r0, r1);
      return;
  }
}

}  // namespace

int activation_block(const TensorView& w) {
  switch (act_kind(active_table(), w)) {
    case ActKind::kFloat:
    case ActKind::kFp8Bf16: return 0;
    case ActKind::kSpanUnit: return 256;
    default: return 32;
  }
}

void matmul_many(const MatJob* jobs_in, int n_in, ThreadPool* pool) {
  const KernelTable& t = active_table();
  // Gated pairs: their up products appended as internal jobs; partner[i] is job i's.
  thread_local std::vector<MatJob> ext_tl;
  thread_local std::vector<int> partner_tl;
  std::vector<MatJob>& ext = ext_tl;
  std::vector<int>& partner = partner_tl;
  ext.assign(jobs_in, jobs_in + n_in);
  partner.assign(static_cast<size_t>(n_in), -1);
  for (int i = 0; i < n_in; ++i) {
    const MatJob& j = jobs_in[i];
    if (!j.up) continue;
    MOECAT_CHECK(j.y_up != nullptr && j.glu != nullptr && j.up->rows() == j.w->rows() && j.up->cols() == j.w->cols());
    partner[i] = static_cast<int>(ext.size());
    ext.push_back({j.up, j.x, j.x_rows, j.rows, j.m, j.y_up, j.ldy});
  }
  const MatJob* jobs = ext.data();
  const int n_jobs = static_cast<int>(ext.size());
  // Per driving thread, reused call after call: no allocation per token. Plain references to
  // them below, so the workers' lambdas see the driving thread's objects, not their own.
  thread_local Buffers bufs_tl;
  thread_local std::vector<Prepared> prep_tl;
  thread_local std::vector<Unit> units_tl;
  thread_local std::vector<int64_t> cost_tl;
  Buffers& bufs = bufs_tl;
  std::vector<Prepared>& prep = prep_tl;
  std::vector<Unit>& units = units_tl;
  std::vector<int64_t>& cost_end = cost_tl;  // prefix sums of the units' cost
  bufs.used = 0;
  prep.assign(static_cast<size_t>(n_jobs), Prepared{});
  for (int i = 0; i < n_jobs; ++i) {
    const MatJob& j = jobs[i];
    const TensorView& w = *j.w;
    MOECAT_CHECK(w.valid() && j.x != nullptr && j.y != nullptr && j.m >= 0);
    MOECAT_CHECK(static_cast<int64_t>(w.nbytes) >= w.rows() * w.row_bytes());
    const int64_t in = w.cols();
    Prepared& p = prep[i];
    p.kind = act_kind(t, w);
    if (j.m == 0) continue;
    // Reuse what an earlier job with the same input already prepared.
    bool shared = false;
    for (int k = 0; k < i && !shared; ++k) {
      const MatJob& o = jobs[k];
      if (prep[k].kind != p.kind || o.x != j.x || o.w->cols() != in || o.m == 0) continue;
      if (is_span(p.kind) ? o.x_rows == j.x_rows : (o.rows == j.rows && o.m == j.m)) {
        p.xf = prep[k].xf;
        p.act = prep[k].act;
        shared = true;
      }
    }
    if (is_span(p.kind)) {
      p.qt = quant::find(w.dtype);
      MOECAT_CHECK_MSG(p.qt != nullptr, "matmul: unsupported weight dtype");
      MOECAT_CHECK_MSG(in % 32 == 0, "matmul: block-quantized rows must be a multiple of 32");
      p.fast = t.span_fast_unpack(static_cast<uint32_t>(w.dtype));
      // Fused kernels: the repacked layouts on AVX-512 VNNI (their rows: whole units, Q8_0's
      // maybe with a partial last one), Q6_K's file layout on AVX2.
      p.fused = t.span_fused ? t.span_fused(static_cast<uint32_t>(w.dtype)) : nullptr;
      p.rows = j.rows;
      if (is_pair(p.kind)) {
        p.pair_fused = t.pair_fused(static_cast<uint32_t>(w.dtype));
        if (!shared) {
          const int64_t np = ((in + quant::kSpan - 1) / quant::kSpan + 1) / 2;
          uint8_t* act = bufs.get(static_cast<size_t>(j.x_rows * np) * sizeof(quant::ActPair));
          const bool f16 = p.kind == ActKind::kPairF16;
          rows_parallel(pool, j.x_rows, j.x_rows * in,
                        [&](int64_t a, int64_t b) { t.pair_act(j.x, in, a, b, act, f16); });
          p.act = act;
        }
        continue;
      }
      if (!shared) {
        const int64_t nsp = (in + quant::kSpan - 1) / quant::kSpan;
        uint8_t* act = bufs.get(static_cast<size_t>(j.x_rows * nsp) * sizeof(quant::ActSpan));
        rows_parallel(pool, j.x_rows, j.x_rows * in, [&](int64_t a, int64_t b) {
          if (p.kind == ActKind::kSpanUnit) t.span_act_unit(j.x, in, a, b, act);
          else t.span_act(j.x, in, a, b, act, p.kind == ActKind::kSpanF16);
        });
        p.act = act;
      }
      continue;
    }
    if (shared) continue;
    // Float and q8 kernels read m contiguous float rows: gather them when rows are given.
    const float* xf = j.x;
    if (j.rows) {
      auto* g = reinterpret_cast<float*>(bufs.get(static_cast<size_t>(j.m * in) * sizeof(float)));
      for (int64_t r = 0; r < j.m; ++r) std::memcpy(g + r * in, j.x + int64_t(j.rows[r]) * in, in * sizeof(float));
      xf = g;
    }
    p.xf = xf;
    if (p.kind == ActKind::kQ8) {
      MOECAT_CHECK_MSG(in % kQ8Block == 0, "matmul: q8_0/mxfp4 row length must be a multiple of 32");
      uint8_t* act = bufs.get(static_cast<size_t>(t.q8_act_bytes(j.m, in)));
      rows_parallel(pool, j.m, j.m * in, [&](int64_t a, int64_t b) { t.q8_prepare(xf, in, j.m, a, b, act); });
      p.act = act;
    } else if (p.kind == ActKind::kFp8Bf16) {
      uint8_t* act = bufs.get(static_cast<size_t>(t.fp8_bf16_act_bytes(j.m, in)));
      rows_parallel(pool, j.m, j.m * in, [&](int64_t a, int64_t b) { t.fp8_bf16_prepare(xf, in, a, b, act); });
      p.act = act;
    }
  }

  // Units of kRowGrain output rows, with their cost; split by cost into one range per thread.
  units.clear();
  cost_end.clear();
  int64_t total = 0;
  for (int i = 0; i < n_in; ++i) {  // the up products of gated pairs run in their gate's units
    const MatJob& j = jobs[i];
    if (j.m == 0) continue;
    const int64_t out = j.w->rows(), pair = partner[i] >= 0 ? 2 : 1;
    for (int64_t r = 0; r < out; r += kRowGrain) {
      const int64_t r1 = r + kRowGrain < out ? r + kRowGrain : out;
      units.push_back({i, r, r1});
      total += pair * (r1 - r) * j.w->cols() * j.m;
      cost_end.push_back(total);
    }
  }
  if (units.empty()) return;
  // Calls run_rows for units [u0, u1), merging neighbours of the same job into one call so row
  // tiles stay whole.
  auto run_units = [&](size_t u0, size_t u1) {
    for (size_t u = u0; u < u1;) {
      size_t v = u + 1;
      while (v < u1 && units[v].job == units[u].job && units[v].r0 == units[v - 1].r1) ++v;
      const int i = units[u].job;
      const int64_t r0 = units[u].r0, r1 = units[v - 1].r1;
      run_rows(t, jobs[i], prep[i], r0, r1);
      if (const int p = partner[i]; p >= 0) {  // gated pair: the up rows, then the GLU
        run_rows(t, jobs[p], prep[p], r0, r1);
        jobs[i].glu(jobs[i].glu_ctx, jobs[i].y, jobs[p].y, jobs[i].m, jobs[i].ldy, r0, r1);
      }
      u = v;
    }
  };
  if (!pool || pool->size() == 1 || total < kMinParallelMacs) {
    run_units(0, units.size());
    return;
  }
  // Thread k takes the units whose cost ends in (total*k/nt, total*(k+1)/nt].
  auto first_unit = [&](int k, int nt) -> size_t {
    const int64_t lim = total / nt * k + total % nt * k / nt;
    size_t lo = 0, hi = units.size();
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (cost_end[mid] <= lim) lo = mid + 1; else hi = mid;
    }
    return k == 0 ? 0 : lo;
  };
  const auto* ru = &run_units;
  const auto* fu = &first_unit;
  const size_t n_units = units.size();
  pool->run([ru, fu, n_units](int k, int nt) {
    const size_t u0 = (*fu)(k, nt), u1 = k + 1 == nt ? n_units : (*fu)(k + 1, nt);
    if (u0 < u1) (*ru)(u0, u1);
  });
}

}  // namespace moecat::kernels
