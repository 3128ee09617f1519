#include "cli/bench_util.h"

#include "kernels/quant/repack.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MOECAT_BENCH_X86 1
#endif

namespace moecat::cli {

namespace {

#ifdef MOECAT_BENCH_X86
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint64_t* p, size_t n) {  // n % 16 == 0
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 16) {
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
#endif

uint64_t sum_words(const uint64_t* p, size_t n) {
#ifdef MOECAT_BENCH_X86
  if (__builtin_cpu_supports("avx2")) return sum_words_avx2(p, n);
#endif
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  return s0 + s1 + s2 + s3;
}

}  // namespace

double measure_read_bandwidth(ThreadPool* pool, size_t bytes, int passes) {
  const size_t chunks = std::max<size_t>(1, bytes / 128);  // 16 words per chunk
  const size_t n = chunks * 16;
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  const int T = pool->size();
  auto slice = [&](int i) {
    return std::make_pair(chunks * i / T * 16, chunks * (i + 1) / T * 16);
  };
  // Fill (and so fault in) each slice on the thread that will read it.
  pool->run([&](int i, int) {
    auto [b, e] = slice(i);
    for (size_t k = b; k < e; ++k) buf[k] = k;
  });
  std::vector<uint64_t> part(T);
  double best = 0;
  for (int rep = 0; rep < std::max(1, passes); ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    pool->run([&](int i, int) {
      auto [b, e] = slice(i);
      part[i] = sum_words(buf.get() + b, e - b);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, n * 8.0 / s);
  }
  uint64_t chk = 0;
  for (uint64_t v : part) chk += v;
  if (chk == 1) fprintf(stderr, " ");  // keeps the sums observable
  return best / 1e9;
}

TokenWeightBytes token_weight_bytes(const Model& m) {
  TokenWeightBytes r;
  const auto& loaded = m.weights().loaded();
  bool has_output = false;
  for (const LoadedWeight& w : loaded)
    if (w.name == "output.weight") has_output = true;
  std::map<std::string, double> by_type;
  std::map<int64_t, double> expert_by_layer;  // layer -> one expert's bytes
  for (const LoadedWeight& w : loaded) {
    double total = 0;
    for (const TensorView& v : w.parts) {
      total += static_cast<double>(v.nbytes);
      by_type[dtype_name(kernels::quant::natural_of(v.dtype))] += static_cast<double>(v.nbytes);
    }
    r.n_params += w.shape.numel();
    if (w.name.rfind("mtp.", 0) == 0) continue;  // the MTP head: not run by plain decoding
    const int64_t rows0 = w.shape.ndim > 0 ? w.shape[0] : 1;
    if (w.name.find("_exps.") != std::string::npos && rows0 > 0) {
      int64_t layer = -1;
      if (w.name.rfind("blk.", 0) == 0) layer = std::atoll(w.name.c_str() + 4);
      expert_by_layer[layer] += total / rows0;
    } else if ((w.name == "token_embd.weight" && has_output) || w.name.rfind("token_embd_ngram.", 0) == 0) {
      r.fixed += total / rows0;  // one row
    } else {
      r.fixed += total;
    }
  }
  for (auto& [layer, b] : expert_by_layer) r.expert_sum += b;
  r.moe_layers = static_cast<int64_t>(expert_by_layer.size());
  double most = -1;
  for (auto& [t, b] : by_type)
    if (b > most) most = b, r.main_type = t;
  return r;
}

double kv_bytes_per_token(const KvShape& s, int64_t depth, int64_t n_gen) {
  if (n_gen <= 0) return 0;
  const double eb = static_cast<double>(kv_type_bytes(s.type));
  double total = 0;
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const int64_t w = l < static_cast<int64_t>(s.window.size()) ? s.window[l] : 0;
    for (int64_t i = 0; i < n_gen; ++i) {
      const int64_t rows = depth + i + 1;  // positions 0 .. depth + i
      total += static_cast<double>(w > 0 ? std::min(rows, w) : rows);
    }
  }
  return total * static_cast<double>(s.k_width + s.v_width) * eb / static_cast<double>(n_gen);
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t c = line.find(':');
      if (c == std::string::npos) break;
      size_t b = line.find_first_not_of(" \t", c + 1);
      return b == std::string::npos ? "unknown" : line.substr(b);
    }
  }
  return "unknown";
}

}  // namespace moecat::cli
