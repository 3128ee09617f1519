// ISA selection and the public kernel entry points.
//
// detected_isa() reads CPUID once: AVX2 needs avx2+fma+f16c and the OS saving YMM state
// (OSXSAVE + XCR0 bits 1-2); AVX-512 additionally needs avx512f/bw/vl/dq and BMI2 (the
// *_avx512.cpp files are compiled with those) and the OS saving opmask/ZMM state (XCR0 bits 5-7). VNNI is
// checked separately: without it the AVX-512 table uses the AVX2 int8 matmul. The active table
// is a single pointer set once (MOECAT_ISA may lower it; set_isa for tests); entry points do
// one relaxed load and an indirect call, never CPUID.
#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kernels/quant/repack.h"

namespace moecat::kernels {

#define MOECAT_ISA_TABLE(ns, label)                                                             \
  {label,           ns::matmul_f32,    ns::matmul_f16, ns::matmul_bf16, ns::q8_act_bytes,       \
   ns::q8_prepare,  ns::matmul_q8_0,   ns::quantize_q8_0, ns::dot,      ns::axpy,               \
   ns::rmsnorm,     ns::softmax,       ns::swiglu,     ns::rope,        ns::vexp,               \
   ns::dot_rows,    ns::exp_shift_sum, ns::wsum_rows, ns::matmul_mxfp4, ns::dot_rows_f16, ns::wsum_rows_f16, \
   ns::span_act, ns::span_matmul, ns::span_fast_unpack}
static const KernelTable kAvx2Table = [] {
  KernelTable k = MOECAT_ISA_TABLE(avx2, "avx2");
  k.matmul_fp8 = avx2::matmul_fp8;
  k.dot_rows_f16_g = avx2::dot_rows_f16_g;
  k.wsum_rows_f16_g = avx2::wsum_rows_f16_g;
  k.pair_type = avx2::pair_type;
  k.pair_act = avx2::pair_act;
  k.pair_matmul = avx2::pair_matmul;
  k.pair_fused = avx2::pair_fused;
  k.span_repack = avx2::span_repack;
  k.span_fused = avx2::span_fused;
  k.span_fused_all_rows = true;
  k.span_unit_type = avx2::span_unit_type;
  k.span_act_unit = avx2::span_act_unit;
  return k;
}();
static const KernelTable kAvx512Table = [] {
  KernelTable k = MOECAT_ISA_TABLE(avx512, "avx512");
  k.matmul_fp8 = avx512::matmul_fp8;
  k.fp8_bf16_act_bytes = avx512::fp8_bf16_act_bytes;
  k.fp8_bf16_prepare = avx512::fp8_bf16_prepare;
  k.matmul_fp8_bf16 = avx512::matmul_fp8_bf16;
  k.dot_rows_f16_g = avx512::dot_rows_f16_g;
  k.wsum_rows_f16_g = avx512::wsum_rows_f16_g;
  k.span_fused = avx512::span_fused;
  k.span_repack = avx512::span_repack;
  k.pair_type = avx512::pair_type;
  k.pair_act = avx512::pair_act;
  k.pair_matmul = avx512::pair_matmul;
  k.pair_fused = avx512::pair_fused;
  k.pair_partial_units = true;
  return k;
}();
#undef MOECAT_ISA_TABLE

namespace {

struct CpuFeatures {
  bool avx2 = false, avx512 = false, vnni = false;
  bool bf16_vbmi = false;  // AVX-512 BF16 + VBMI: the FP8 kernel with bf16 activations
};

uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));  // no -mxsave needed
  return (uint64_t(hi) << 32) | lo;
}

CpuFeatures probe_cpu() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12),
             f16c = c & (1u << 29);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), bmi2 = b & (1u << 8), f512 = b & (1u << 16), dq = b & (1u << 17),
             bw = b & (1u << 30), vl = b & (1u << 31), vnni = c & (1u << 11);
  f.avx2 = ymm_state && avx2 && fma && f16c;
  f.avx512 = f.avx2 && zmm_state && f512 && dq && bw && vl && bmi2;  // the AVX-512 files use pdep
  f.vnni = f.avx512 && vnni;
  const bool vbmi = c & (1u << 1);
  unsigned a1 = 0, b1, c1, d1;
  if (a >= 1) __cpuid_count(7, 1, a1, b1, c1, d1);  // a: the highest subleaf of leaf 7
  f.bf16_vbmi = f.avx512 && vbmi && (a1 & (1u << 5));
  return f;
}

const CpuFeatures& cpu() {
  static const CpuFeatures f = probe_cpu();
  return f;
}

// AVX-512 without VNNI: AVX-512 elementwise/float kernels, AVX2 int8 path.
const KernelTable& avx512_novnni_table() {
  static const KernelTable t = [] {
    KernelTable k = kAvx512Table;
    k.name = "avx512-novnni";
    k.q8_act_bytes = kAvx2Table.q8_act_bytes;
    k.q8_prepare = kAvx2Table.q8_prepare;
    k.matmul_q8_0 = kAvx2Table.matmul_q8_0;
    k.quantize_q8_0 = kAvx2Table.quantize_q8_0;
    k.matmul_mxfp4 = kAvx2Table.matmul_mxfp4;  // reads the AVX2 act layout
    // The Span kernels are vpdpbusd throughout: AVX2's, in its (natural) lane order.
    k.span_act = kAvx2Table.span_act;
    k.span_matmul = kAvx2Table.span_matmul;
    k.span_fast_unpack = kAvx2Table.span_fast_unpack;
    k.span_fused = kAvx2Table.span_fused;
    k.span_fused_all_rows = true;
    k.span_unit_type = kAvx2Table.span_unit_type;
    k.span_act_unit = kAvx2Table.span_act_unit;
    k.span_repack = kAvx2Table.span_repack;
    k.pair_type = kAvx2Table.pair_type;
    k.pair_act = kAvx2Table.pair_act;
    k.pair_matmul = kAvx2Table.pair_matmul;
    k.pair_fused = kAvx2Table.pair_fused;
    k.pair_partial_units = false;
    return k;
  }();
  return t;
}

const KernelTable* table_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return cpu().vnni ? &kAvx512Table : &avx512_novnni_table();
    case Isa::kAvx2: return &kAvx2Table;
    default: return &kScalarTable;
  }
}

std::atomic<const KernelTable*> g_table{nullptr};
std::atomic<int> g_isa{-1};

Isa isa_from_env(Isa best) {
  const char* e = std::getenv("MOECAT_ISA");
  if (!e || !*e) return best;
  Isa want;
  if (!std::strcmp(e, "scalar")) {
    want = Isa::kScalar;
  } else if (!std::strcmp(e, "avx2")) {
    want = Isa::kAvx2;
  } else if (!std::strcmp(e, "avx512")) {
    want = Isa::kAvx512;
  } else {
    std::fprintf(stderr, "moecat: ignoring MOECAT_ISA=%s (expected scalar, avx2 or avx512)\n", e);
    return best;
  }
  if (want > best) {
    std::fprintf(stderr, "moecat: MOECAT_ISA=%s not supported by this CPU, using %s\n", e, isa_name(best));
    return best;
  }
  return want;
}

const KernelTable* init_table() {
  static const Isa initial = isa_from_env(detected_isa());  // once, thread-safe
  const KernelTable* expected = nullptr;
  g_isa.store(static_cast<int>(initial));
  g_table.compare_exchange_strong(expected, table_for(initial));
  return g_table.load();
}

std::atomic<int> g_repack{-1};  // -1: not yet read from MOECAT_REPACK
std::atomic<int> g_fp8_bf16{-1};  // -1: not yet read from MOECAT_FP8_ACT

}  // namespace

void set_repack(bool on) { g_repack.store(on ? 1 : 0); }

bool repack_enabled() {
  int v = g_repack.load();
  if (v < 0) {
    const char* e = std::getenv("MOECAT_REPACK");
    v = e && (!std::strcmp(e, "0") || !std::strcmp(e, "off")) ? 0 : 1;
    int expected = -1;
    g_repack.compare_exchange_strong(expected, v);
    v = g_repack.load();
  }
  return v == 1;
}

void set_fp8_bf16(bool on) { g_fp8_bf16.store(on ? 1 : 0); }

bool fp8_bf16_active() {
  int v = g_fp8_bf16.load();
  if (v < 0) {
    const char* e = std::getenv("MOECAT_FP8_ACT");
    v = e && !std::strcmp(e, "f32") ? 0 : 1;
    if (e && *e && std::strcmp(e, "f32") && std::strcmp(e, "bf16"))
      std::fprintf(stderr, "moecat: ignoring MOECAT_FP8_ACT=%s (expected f32 or bf16)\n", e);
    int expected = -1;
    g_fp8_bf16.compare_exchange_strong(expected, v);
    v = g_fp8_bf16.load();
  }
  return v == 1 && cpu().bf16_vbmi && active_table().matmul_fp8_bf16 != nullptr;
}

DType repack_type(DType t, int64_t cols) {
  if (!repack_enabled() || cols <= 0) return t;
  const DType r = quant::repacked_of(t);
  if (r == t) return t;
  // Repacked where the ISA has kernels for the layout: its own unpack (AVX-512 VNNI) or a fused
  // pair-form kernel (AVX2: the per-32-scale types; the others stay in the file layout there,
  // which its Span unpacks read directly).
  const KernelTable& k = active_table();
  const auto id = static_cast<uint32_t>(r);
  const bool own_unpack = k.span_fast_unpack(id) != nullptr;
  if (!own_unpack && !(k.pair_fused && k.pair_fused(id))) return t;
  // Rows of whole 256-value units, or (Q8_0, MXFP4, where the ISA's kernels read partial units:
  // AVX-512 VNNI) whole blocks ending in a partial unit.
  const int tb = quant::repack_tail_block(t);
  return cols % quant::kSpan == 0 || (own_unpack && tb > 0 && cols % tb == 0) ? r : t;
}

void repack_rows(DType from, DType to, const void* src, void* dst, int64_t rows, int64_t cols) {
  const int64_t units = cols / quant::kSpan, tail = cols % quant::kSpan;
  MOECAT_CHECK(tail == 0 || (quant::repack_tail_block(from) > 0 && tail % quant::repack_tail_block(from) == 0));
  const KernelTable& t = active_table();
  const auto* s = static_cast<const uint8_t*>(src);
  auto* d = static_cast<uint8_t*>(dst);
  // Whole units: the vectorized repack where the ISA has one (tests compare it with
  // repack_units), over all rows at once when they have no tails.
  auto whole = [&](const uint8_t* a, uint8_t* b, int64_t n_units) {
    if (n_units == 0) return;
    if (t.span_repack && to == quant::repacked_of(from) && t.span_repack(static_cast<uint32_t>(from), a, b, n_units))
      return;
    quant::repack_units(from, to, a, b, n_units);
  };
  if (tail == 0) {
    whole(s, d, rows * units);
    return;
  }
  const int64_t ub = quant::repack_unit_bytes(from), row_bytes = dtype_row_bytes(from, cols);
  for (int64_t r = 0; r < rows; ++r) {
    whole(s + r * row_bytes, d + r * row_bytes, units);
    quant::repack_tail(from, to, s + r * row_bytes + units * ub, d + r * row_bytes + units * ub, static_cast<int>(tail));
  }
}

const KernelTable& active_table() {
  const KernelTable* t = g_table.load(std::memory_order_acquire);
  return t ? *t : *init_table();
}

Isa detected_isa() {
  if (cpu().avx512) return Isa::kAvx512;
  if (cpu().avx2) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa active_isa() {
  active_table();
  return static_cast<Isa>(g_isa.load());
}

void set_isa(Isa isa) {
  MOECAT_CHECK_MSG(isa <= detected_isa(), "set_isa: ISA not supported by this CPU");
  active_table();  // make sure env initialisation has happened and cannot overwrite us later
  g_isa.store(static_cast<int>(isa));
  g_table.store(table_for(isa), std::memory_order_release);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

// ---- matmul driver -------------------------------------------------------------------------

// Separate per-thread scratch for the span kernels' unpacked row tiles (grows, never shrinks).
quant::Span* span_scratch(int64_t n) {
  thread_local std::vector<uint8_t> buf;
  const size_t bytes = static_cast<size_t>(n) * sizeof(quant::Span);
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  const uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<quant::Span*>((p + 63) & ~uintptr_t(63));
}

// One product is a batch of one (matmul_many.cpp: activation quantization, the kernel per
// dtype, the row split).
void matmul(const TensorView& w, const float* x, int64_t n, float* y, ThreadPool* pool) {
  MOECAT_CHECK(w.valid() && x != nullptr && y != nullptr && n >= 1);
  MOECAT_CHECK(w.cols() >= 1 && w.rows() >= 1);
  const MatJob job{&w, x, n, nullptr, n, y, w.rows()};
  matmul_many(&job, 1, pool);
}

// ---- elementwise entry points --------------------------------------------------------------

void rmsnorm(const float* x, const float* weight, float eps, int64_t n, float* y) {
  active_table().rmsnorm(x, weight, eps, n, y);
}
void softmax(float* x, int64_t n) { active_table().softmax(x, n); }
void swiglu(const float* gate, const float* up, int64_t n, float* y) {
  active_table().swiglu(gate, up, n, y);
}
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, const float* cos,
          const float* sin, bool neox) {
  MOECAT_CHECK(rot_dim >= 0 && rot_dim <= head_dim && rot_dim % 2 == 0);
  active_table().rope(x, n_heads, head_dim, rot_dim, cos, sin, neox);
}
float dot(const float* a, const float* b, int64_t n) { return active_table().dot(a, b, n); }
void axpy(float a, const float* x, float* y, int64_t n) { active_table().axpy(a, x, y, n); }
void exp_row(const float* x, float* y, int64_t n) { active_table().exp(x, y, n); }
void quantize_row_q8_0_fast(const float* src, void* dst, int64_t n) {
  MOECAT_CHECK(n % kQ8Block == 0);
  active_table().quantize_q8_0(src, dst, n);
}

}  // namespace moecat::kernels
