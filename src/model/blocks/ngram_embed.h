// LongCat-Flash-Lite's N-gram embedding (Meituan's modeling_longcat_ngram.py; vLLM
// vllm/model_executor/models/longcat_flash_ngram.py; details in docs/longcat-flash-lite.md):
//   for order g = 2..n and split j = 0..k-1, table i = (g-2)k + j with M_i = m + 2i + 1 rows:
//     id_i(p) = (t[p] + sum_{d=1}^{g-1} prev_d * (V^d mod M_i)) mod M_i
//   where prev_d = t[p-d], or 0 before the start or past the latest reset (eos) token;
//   e(p) = (embed[t[p]] + sum_i proj_i · table_i[id_i(p)]) / (1 + k(n-1)).
#pragma once
#include <vector>

#include "base/status.h"
#include "kernels/threadpool.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weights.h"

namespace moecat {

struct NgramEmbedWeights {
  std::vector<TensorView> tables;  // n_tables x [M_i, table_dim]
  std::vector<TensorView> projs;   // n_tables x [n_embd, table_dim]
  std::vector<std::vector<int64_t>> coef;  // [table][d] = V^d mod M_i, d < n
};

Result<NgramEmbedWeights> load_ngram_embed(Weights& w, const ModelConfig& c);

// The n-gram table rows of one position (exact integer arithmetic), from the token at p and the
// ids before it in `history` (positions < p). Exposed for tests.
void ngram_ids(const NgramEmbedConfig& g, const NgramEmbedWeights& w, const int32_t* history, int64_t p,
               int32_t token, int64_t* ids);

// x: [n][n_embd]. Records the batch's tokens in kv.tokens (the look-back source).
void ngram_embed(const ModelConfig& c, const NgramEmbedWeights& w, const TensorView& tok_embd,
                 const Batch& b, SequenceKv& kv, float* x, ThreadPool* pool);

}  // namespace moecat
