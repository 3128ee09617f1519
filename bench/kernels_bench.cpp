// Kernel micro-benchmarks. Q8_0, MXFP4 and FP8 (in place) matmul at decode (n=1: weight streaming, reported as GB/s of
// weights read) and batch (n=64: GFLOP/s), plus plain memory read / memcpy bandwidth for
// comparison. Arguments: {out, in, n, threads}.
//   build/kernels_bench --benchmark_filter=Q8 --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels/ops.h"
#include "kernels/quant/repack.h"

namespace moecat::kernels {
namespace {

ThreadPool* pool_for(int threads) {
  static std::unique_ptr<ThreadPool> pools[9];
  if (threads <= 1) return nullptr;
  if (!pools[threads]) pools[threads] = std::make_unique<ThreadPool>(threads);
  return pools[threads].get();
}

// A random [out][in] weight matrix of a block type (Q8_0 or MXFP4).
struct QMatrix {
  std::vector<uint8_t> bytes;
  TensorView view;
  QMatrix(int64_t out, int64_t in, DType t) {
    const int64_t rb = dtype_row_bytes(t, in);
    bytes.resize(static_cast<size_t>(out * rb));
    std::mt19937 g(1);
    std::uniform_real_distribution<float> d(-1, 1);
    std::vector<float> row(in);
    for (int64_t r = 0; r < out; ++r) {
      for (auto& v : row) v = d(g);
      convert_row(row.data(), t, bytes.data() + r * rb, in);
    }
    view.dtype = t;
    view.shape = Shape{out, in};
    view.data = bytes.data();
    view.nbytes = bytes.size();
  }
};

template <DType kType>
void BM_MatmulQ(benchmark::State& st) {
  const int64_t out = st.range(0), in = st.range(1), n = st.range(2);
  const int threads = static_cast<int>(st.range(3));
  static std::unique_ptr<QMatrix> w;  // reused across runs of the same shape
  static int64_t w_out = 0, w_in = 0;
  if (!w || w_out != out || w_in != in) {
    w.reset();
    w = std::make_unique<QMatrix>(out, in, kType);
    w_out = out;
    w_in = in;
  }
  std::vector<float> x(n * in), y(n * out);
  std::mt19937 g(2);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& v : x) v = d(g);
  ThreadPool* pool = pool_for(threads);
  for (auto _ : st) {
    matmul(w->view, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB/s"] = benchmark::Counter(double(w->bytes.size()) / 1e9,
                                           benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n * in * out) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(isa_name(active_isa()));
}
void BM_MatmulQ8(benchmark::State& st) { BM_MatmulQ<DType::Q8_0>(st); }
void BM_MatmulMxfp4(benchmark::State& st) { BM_MatmulQ<DType::MXFP4>(st); }
BENCHMARK(BM_MatmulQ8)
    ->ArgNames({"out", "in", "n", "threads"})
    ->Args({2048, 768, 1, 1})->Args({2048, 768, 1, 2})
    ->Args({768, 2048, 1, 1})->Args({768, 2048, 1, 2})
    ->Args({151936, 2048, 1, 1})->Args({151936, 2048, 1, 2})
    ->Args({2048, 768, 64, 1})->Args({2048, 768, 64, 2})
    ->Args({768, 2048, 64, 1})->Args({768, 2048, 64, 2})
    ->UseRealTime();
// FP8 e4m3 weights in place (random finite codes, 128x128 block scales in a side table), with
// bf16 activations (bf16=1, AVX-512 BF16 + VBMI) or exact f32 ones (0). GB/s: the FP8 bytes.
void BM_MatmulFp8(benchmark::State& st) {
  const int64_t out = st.range(0), in = st.range(1), n = st.range(2);
  const int threads = static_cast<int>(st.range(3));
  set_fp8_bf16(st.range(4) != 0);
  std::vector<uint8_t> bytes(static_cast<size_t>(out * in));
  std::mt19937 g(1);
  for (auto& b : bytes) {
    b = uint8_t(g() % 254);
    if (b >= 0x7F) ++b;
  }
  const int64_t ld = (in + 127) / 128;
  std::vector<float> scales(static_cast<size_t>((out + 127) / 128 * ld), 0.001f);
  TensorView v;
  v.dtype = DType::F8_E4M3;
  v.shape = Shape{out, in};
  v.data = bytes.data();
  v.nbytes = bytes.size();
  v.fp8_scales = scales.data();
  v.fp8_br = v.fp8_bc = 128;
  v.fp8_ld = ld;
  std::vector<float> x(n * in), y(n * out);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& e : x) e = d(g);
  ThreadPool* pool = pool_for(threads);
  for (auto _ : st) {
    matmul(v, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB/s"] = benchmark::Counter(double(bytes.size()) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n * in * out) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(fp8_bf16_active() ? "bf16 act" : "f32 act");
  set_fp8_bf16(true);
}
BENCHMARK(BM_MatmulFp8)
    ->ArgNames({"out", "in", "n", "threads", "bf16"})
    ->Args({4096, 7168, 1, 1, 1})->Args({4096, 7168, 1, 1, 0})
    ->Args({768, 2048, 1, 1, 1})->Args({768, 2048, 1, 1, 0})
    ->Args({2048, 768, 1, 1, 1})->Args({2048, 768, 1, 1, 0})
    ->Args({4096, 7168, 8, 1, 1})->Args({4096, 7168, 8, 1, 0})
    ->UseRealTime();
// gpt-oss shapes: hidden 2880; an expert's gate+up is 5760 x 2880.
BENCHMARK(BM_MatmulMxfp4)
    ->ArgNames({"out", "in", "n", "threads"})
    ->Args({2880, 2880, 1, 1})->Args({2880, 2880, 1, 2})
    ->Args({5760 * 8, 2880, 1, 1})->Args({5760 * 8, 2880, 1, 2})
    ->Args({5760, 2880, 64, 1})->Args({5760, 2880, 64, 2})
    ->UseRealTime();

// K-quant / IQ4_XS / Q8_0 matrices in the layout weights get at load on this ISA (repack_type:
// repacked, or the file layout where the ISA runs that in a kernel of its own, AVX2's Q6_K) at
// prompt batch sizes:
// an expert's down (2048 x 768) and gate (768 x 2048) with the ~32 tokens an expert sees in a
// 512-token prompt, and an attention projection (4096 x 2048) over the whole prompt.
template <DType kType>
void BM_MatmulRepacked(benchmark::State& st) {
  const int64_t out = st.range(0), in = st.range(1), n = st.range(2);
  const int threads = static_cast<int>(st.range(3));
  QMatrix w(out, in, kType);
  const DType rt = repack_type(kType, in);
  std::vector<uint8_t> rep(w.bytes);
  if (rt != kType) repack_rows(kType, rt, w.bytes.data(), rep.data(), out, in);
  TensorView v = w.view;
  v.dtype = rt;
  v.data = rep.data();
  std::vector<float> x(n * in), y(n * out);
  std::mt19937 g(2);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& e : x) e = d(g);
  ThreadPool* pool = pool_for(threads);
  for (auto _ : st) {
    matmul(v, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GMAC/s"] = benchmark::Counter(double(n * in * out) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(isa_name(active_isa()));
}
void BM_MatmulQ4KR(benchmark::State& st) { BM_MatmulRepacked<DType::Q4_K>(st); }
void BM_MatmulQ6KR(benchmark::State& st) { BM_MatmulRepacked<DType::Q6_K>(st); }
void BM_MatmulIq4xsR(benchmark::State& st) { BM_MatmulRepacked<DType::IQ4_XS>(st); }
void BM_MatmulQ8R(benchmark::State& st) { BM_MatmulRepacked<DType::Q8_0>(st); }
void BM_MatmulQ2KR(benchmark::State& st) { BM_MatmulRepacked<DType::Q2_K>(st); }
void BM_MatmulQ3KR(benchmark::State& st) { BM_MatmulRepacked<DType::Q3_K>(st); }
void BM_MatmulQ40R(benchmark::State& st) { BM_MatmulRepacked<DType::Q4_0>(st); }
#define MOECAT_PROMPT_SHAPES                                                                   \
  ArgNames({"out", "in", "n", "threads"})                                                      \
      ->Args({2048, 768, 32, 1})->Args({768, 2048, 32, 1})->Args({4096, 2048, 512, 1})           \
      ->Args({2048, 7168, 64, 1})->Args({7168, 2048, 64, 1})->UseRealTime()
BENCHMARK(BM_MatmulQ4KR)->MOECAT_PROMPT_SHAPES;
BENCHMARK(BM_MatmulQ6KR)->MOECAT_PROMPT_SHAPES;
BENCHMARK(BM_MatmulIq4xsR)->MOECAT_PROMPT_SHAPES;
BENCHMARK(BM_MatmulQ8R)->MOECAT_PROMPT_SHAPES;
// A batched decode step: the few tokens each expert gets (16 experts' gate rows: 12288 x 2048,
// larger than the caches), fused kernel (n <= its limit in matmul_many.cpp) vs row tiles.
#define MOECAT_FEW_ROWS_SHAPES                                                                     \
  ArgNames({"out", "in", "n", "threads"})                                                        \
      ->Args({12288, 2048, 1, 1})->Args({12288, 2048, 2, 1})->Args({12288, 2048, 3, 1})          \
      ->Args({12288, 2048, 4, 1})->Args({12288, 2048, 6, 1})->Args({12288, 2048, 8, 1})          \
      ->Args({12288, 2048, 16, 1})->Args({12288, 2048, 32, 1})->Args({12288, 2048, 64, 1})->UseRealTime()
BENCHMARK(BM_MatmulQ8R)->MOECAT_FEW_ROWS_SHAPES;
BENCHMARK(BM_MatmulQ4KR)->MOECAT_FEW_ROWS_SHAPES;
// One token (n = 1). An expert's gate and down (cache-resident after the first pass: the
// kernel's compute per row, which generation hides behind memory only when it is small).
#define MOECAT_ONE_ROW ArgNames({"out", "in", "n", "threads"})
#define MOECAT_EXPERT_ONE_ROW_SHAPES MOECAT_ONE_ROW->Args({768, 2048, 1, 1})->Args({2048, 768, 1, 1})->UseRealTime()
BENCHMARK(BM_MatmulQ8R)->MOECAT_EXPERT_ONE_ROW_SHAPES;
BENCHMARK(BM_MatmulQ4KR)->MOECAT_EXPERT_ONE_ROW_SHAPES;
BENCHMARK(BM_MatmulQ2KR)->MOECAT_EXPERT_ONE_ROW_SHAPES;
BENCHMARK(BM_MatmulQ3KR)->MOECAT_EXPERT_ONE_ROW_SHAPES;
BENCHMARK(BM_MatmulQ2KR)->MOECAT_PROMPT_SHAPES;
BENCHMARK(BM_MatmulQ40R)->MOECAT_PROMPT_SHAPES;
// Output matrices, streamed from memory (how close the fused kernel gets to the read bandwidth,
// BM_MemRead): Qwen3-30B-A3B's (151936 x 2048, 330 MB in q8_0; 255 MB in Q6_K, as its Q4_K_M
// and Q2_K files have it) and a quarter of DeepSeek-V3's (Q6_K in a Q4_K_M file: 32768 x 7168,
// 193 MB); then the same kernels from L3 (256 x 7168,
// 1.5-1.9 MB, more than a Zen 4 core's 1 MB L2) and from L2 (64 x 7168: compute only).
BENCHMARK(BM_MatmulQ8R)->MOECAT_ONE_ROW->Args({151936, 2048, 1, 1})->Args({256, 7168, 1, 1})->Args({64, 7168, 1, 1})->UseRealTime();
BENCHMARK(BM_MatmulQ6KR)->MOECAT_ONE_ROW->Args({151936, 2048, 1, 1})->Args({32768, 7168, 1, 1})->Args({256, 7168, 1, 1})->Args({64, 7168, 1, 1})->UseRealTime();
BENCHMARK(BM_MatmulQ4KR)->MOECAT_ONE_ROW->Args({64, 7168, 1, 1})->UseRealTime();

// n random f16 cache values in +-[0.125, 1).
std::vector<uint16_t> random_halves(int64_t n, std::mt19937& g) {
  std::uniform_int_distribution<int> d(0x3000, 0x3bff);
  std::vector<uint16_t> h(static_cast<size_t>(n));
  for (auto& e : h) e = static_cast<uint16_t>(d(g) ^ (g() & 0x8000));
  return h;
}

// One query token (random, at position depth - 1) against per-layer caches used in turn, so they
// come from memory / L3 as in generation: k[l] for the keys, v[l] for the values (v null: the
// values are the first head_dim_v halves of k's rows, as MLA's latent).
void run_attention(benchmark::State& st, const AttentionParams& p, int64_t depth, int threads, std::mt19937& g,
                   const std::vector<std::vector<uint16_t>>& k, const std::vector<std::vector<uint16_t>>* v) {
  std::vector<float> q(p.n_head * p.head_dim_k), out(p.n_head * p.head_dim_v);
  std::uniform_real_distribution<float> f(-1, 1);
  for (auto& e : q) e = f(g);
  const int32_t pos = static_cast<int32_t>(depth - 1);
  ThreadPool* pool = pool_for(threads);
  size_t layer = 0;
  for (auto _ : st) {
    attention(q.data(), &pos, 1, k[layer].data(), (v ? (*v)[layer] : k[layer]).data(), p, out.data(), pool);
    layer = (layer + 1) % k.size();
    benchmark::DoNotOptimize(out.data());
  }
}

// Generation at depth: one query token against `depth` cached positions, Qwen3-30B-A3B's
// attention (32 query heads, 4 KV heads, head dim 128, f16 cache), four layers' caches used in
// turn so they come from memory (4 x 16.8 MB at 8192). GB/s counts the K and V bytes read.
void BM_AttentionDecode(benchmark::State& st) {
  const int64_t depth = st.range(0);
  const int threads = static_cast<int>(st.range(1));
  const int64_t kKv = st.range(2), kHeads = 8 * kKv;
  constexpr int64_t kDim = 128, kLayers = 4;
  const int64_t row = kKv * kDim;
  std::vector<std::vector<uint16_t>> k(kLayers), v(kLayers);
  std::mt19937 g(3);
  for (int l = 0; l < kLayers; ++l) {
    k[l] = random_halves(depth * row, g);
    v[l] = random_halves(depth * row, g);
  }
  AttentionParams p;
  p.n_head = kHeads;
  p.n_head_kv = kKv;
  p.head_dim_k = p.head_dim_v = kDim;
  p.scale = 0.088f;
  p.k_pos_stride = p.v_pos_stride = row;
  p.kv_f16 = true;
  run_attention(st, p, depth, threads, g, k, &v);
  st.counters["GB/s"] = benchmark::Counter(double(depth * row * 4) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AttentionDecode)->ArgNames({"depth", "threads", "kv_heads"})->Args({8192, 1, 4})->Args({8192, 2, 4})->Args({32768, 1, 1})->UseRealTime();

// Absorbed MLA at depth (DeepSeek-V3 / LongCat): 128 query heads over one shared cache row of
// 576 halves (512 latent + 64 rope) for the scores, its first 512 as the values; two layers'
// caches used in turn. Compute-bound (every head reads every row): GFLOP/s of the
// 2 x 128 x (576 + 512) flops per position, against the core's FMA peak (16 per cycle, zmm).
void BM_AttentionDecodeMla(benchmark::State& st) {
  const int64_t depth = st.range(0);
  const int threads = static_cast<int>(st.range(1));
  constexpr int64_t kHeads = 128, kDimK = 576, kDimV = 512, kLayers = 2;
  std::vector<std::vector<uint16_t>> kv(kLayers);
  std::mt19937 g(3);
  for (auto& c : kv) c = random_halves(depth * kDimK, g);
  AttentionParams p;
  p.n_head = kHeads;
  p.n_head_kv = 1;
  p.head_dim_k = kDimK;
  p.head_dim_v = kDimV;
  p.scale = 0.072f;
  p.k_pos_stride = p.v_pos_stride = kDimK;
  p.kv_f16 = true;
  run_attention(st, p, depth, threads, g, kv, nullptr);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * kHeads * (kDimK + kDimV) * double(depth) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AttentionDecodeMla)->ArgNames({"depth", "threads"})->Args({8192, 1})->Args({8192, 2})->UseRealTime();

// Streaming read of 512 MiB (sum of 64-bit words, AVX2 when available), split over threads:
// the reference for the n=1 matmul GB/s.
// n: a multiple of 16 (the buffer and the 4096-word chunks are).
__attribute__((target("avx2"))) uint64_t sum_avx2(const uint64_t* p, int64_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t t[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t),
                     _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  return t[0] + t[1] + t[2] + t[3];
}
uint64_t sum_words(const uint64_t* p, int64_t n) {
  if (__builtin_cpu_supports("avx2")) return sum_avx2(p, n);
  uint64_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

void BM_MemRead(benchmark::State& st) {
  const int threads = static_cast<int>(st.range(0));
  const int64_t n = int64_t(64) << 20;  // 64-bit words
  static std::vector<uint64_t> buf(static_cast<size_t>(n), 1);
  ThreadPool* pool = pool_for(threads);
  std::vector<uint64_t> part(8);
  for (auto _ : st) {
    if (pool) {
      pool->parallel_for(n, 4096, [&](int64_t b, int64_t e) {
        part[b * threads / n] = sum_words(buf.data() + b, e - b);
      });
    } else {
      part[0] = sum_words(buf.data(), n);
    }
    benchmark::DoNotOptimize(part.data());
  }
  st.counters["GB/s"] = benchmark::Counter(double(n) * 8 / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MemRead)->Arg(1)->Arg(2)->UseRealTime();

// memcpy of 256 MiB; GB/s counts bytes read + written.
void BM_Memcpy(benchmark::State& st) {
  const size_t n = size_t(256) << 20;
  static std::vector<uint8_t> a(n, 1), b(n, 2);
  for (auto _ : st) {
    std::memcpy(b.data(), a.data(), n);
    benchmark::DoNotOptimize(b.data());
  }
  st.counters["GB/s"] = benchmark::Counter(2.0 * double(n) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Memcpy)->UseRealTime();

// The core's int8 multiply-add peak: twelve independent chains of zmm vpdpbusd (64 MACs each),
// so neither latency nor loads limit it. What a prompt's int8 products could reach at most on
// this core (docs/PERF.md: the pp512 targets against it). Skipped without AVX-512 VNNI.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"  // _mm512_set1 / reduce in GCC 12's headers
__attribute__((target("avx512f,avx512vnni"))) int64_t vnni_chains(int64_t n) {
  __m512i a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_epi32(i);
  __m512i x = _mm512_set1_epi8(3);
  const __m512i y = _mm512_set1_epi8(5);
  for (int64_t k = 0; k < n; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
    asm volatile("" : "+v"(x));  // keeps the loop from being folded
  }
  __m512i t = a[0];
  for (int i = 1; i < 12; ++i) t = _mm512_add_epi32(t, a[i]);
  return _mm512_reduce_add_epi32(t);
}
#pragma GCC diagnostic pop
void BM_PeakVnni(benchmark::State& st) {
  if (!__builtin_cpu_supports("avx512vnni")) {
    st.SkipWithError("no AVX-512 VNNI");
    return;
  }
  const int64_t n = 1 << 20;
  for (auto _ : st) benchmark::DoNotOptimize(vnni_chains(n));
  st.counters["GMAC/s"] = benchmark::Counter(double(n) * 12 * 64 / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PeakVnni)->UseRealTime();

// One generated token's routed experts, streamed from memory as generation reads them: a
// Qwen3-30B-A3B-shaped expert tensor of 128 experts (gate 768 x 2048 each, 214 MB in Q8_0,
// repacked as at load), each iteration eight experts picked at random (one matmul_many of
// eight jobs, as the MoE layer issues them). GB/s of the picked experts' weights: how close
// small matrices get to one long stream (BM_MatmulQ8R 151936 x 2048, BM_MemRead).
template <DType kType>
void BM_ExpertsFromMemory(benchmark::State& st) {
  const int64_t out = st.range(0), in = st.range(1), experts = 128, picks = 8;
  const int threads = static_cast<int>(st.range(2));
  static std::unique_ptr<QMatrix> w;
  static std::vector<uint8_t> rep;
  static int64_t w_out = 0, w_in = 0;
  const DType rt = repack_type(kType, in);
  if (!w || w_out != out || w_in != in) {
    w = std::make_unique<QMatrix>(out * experts, in, kType);
    rep.assign(w->bytes.size(), 0);
    if (rt != kType) repack_rows(kType, rt, w->bytes.data(), rep.data(), out * experts, in);
    else rep = w->bytes;
    w_out = out;
    w_in = in;
  }
  const int64_t eb = static_cast<int64_t>(rep.size()) / experts;
  std::vector<TensorView> views(experts);
  for (int64_t e = 0; e < experts; ++e) {
    views[e] = w->view;
    views[e].dtype = rt;
    views[e].shape = Shape{out, in};
    views[e].data = rep.data() + e * eb;
    views[e].nbytes = static_cast<size_t>(eb);
  }
  std::vector<float> x(in), y(picks * out);
  std::mt19937 g(2);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& v : x) v = d(g);
  ThreadPool* pool = pool_for(threads);
  std::vector<MatJob> jobs(picks);
  for (auto _ : st) {
    for (int64_t k = 0; k < picks; ++k) {
      jobs[k].w = &views[g() % experts];
      jobs[k].x = x.data();
      jobs[k].x_rows = 1;
      jobs[k].m = 1;
      jobs[k].y = y.data() + k * out;
      jobs[k].ldy = out;
    }
    matmul_many(jobs.data(), static_cast<int>(picks), pool);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB/s"] = benchmark::Counter(double(picks * eb) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(isa_name(active_isa()));
}
void BM_ExpertsQ8R(benchmark::State& st) { BM_ExpertsFromMemory<DType::Q8_0>(st); }
void BM_ExpertsQ4KR(benchmark::State& st) { BM_ExpertsFromMemory<DType::Q4_K>(st); }
BENCHMARK(BM_ExpertsQ8R)->ArgNames({"out", "in", "threads"})->Args({768, 2048, 1})->Args({2048, 768, 1})->Args({768, 2048, 2})->UseRealTime();
BENCHMARK(BM_ExpertsQ4KR)->ArgNames({"out", "in", "threads"})->Args({768, 2048, 1})->Args({2048, 768, 1})->UseRealTime();
void BM_ExpertsIq4XsR(benchmark::State& st) { BM_ExpertsFromMemory<DType::IQ4_XS>(st); }
BENCHMARK(BM_ExpertsIq4XsR)->ArgNames({"out", "in", "threads"})->Args({768, 2048, 1})->Args({2048, 768, 1})->UseRealTime();

}  // namespace
}  // namespace moecat::kernels
