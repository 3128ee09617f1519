#include "model/blocks/ngram_embed.h"

#include <cstring>

#include "kernels/ops.h"
#include "model/decoder.h"

namespace moecat {

Result<NgramEmbedWeights> load_ngram_embed(Weights& w, const ModelConfig& c) {
  const NgramEmbedConfig& g = c.ngram;
  NgramEmbedWeights m;
  for (int64_t i = 0; i < g.n_tables(); ++i) {
    const int64_t rows = g.modulus_base + 2 * i + 1;
    const std::string s = std::to_string(i);
    // 31.4B parameters in the release, read 12 rows per token: kept in the file's layout.
    MOECAT_ASSIGN_OR_RETURN(TensorView t, w.get_rows("token_embd_ngram." + s + ".weight", {rows, g.table_dim},
                                                     MOECAT_MATRIX_TYPES));
    MOECAT_ASSIGN_OR_RETURN(TensorView p, w.get("ngram_proj." + s + ".weight", {c.n_embd, g.table_dim},
                                                MOECAT_MATRIX_TYPES));
    m.tables.push_back(t);
    m.projs.push_back(p);
    std::vector<int64_t> coef(g.n);
    int64_t v = 1 % rows;
    for (int64_t d = 0; d < g.n; ++d) {
      coef[d] = v;
      v = static_cast<int64_t>((static_cast<__int128>(v) * (g.hash_base % rows)) % rows);
    }
    m.coef.push_back(std::move(coef));
  }
  return m;
}

void ngram_ids(const NgramEmbedConfig& g, const NgramEmbedWeights& w, const int32_t* history, int64_t p,
               int32_t token, int64_t* ids) {
  // prev[d]: the token d positions back, 0 before the start or at/behind the latest reset token.
  int64_t prev[16] = {0};
  MOECAT_CHECK(g.n <= 16);
  prev[0] = token;
  for (int64_t d = 1; d < g.n && p - d >= 0; ++d) {
    const int32_t t = history[p - d];
    if (t == g.reset_token) break;  // the reset token ends the look-back (it is excluded too)
    prev[d] = t;
  }
  for (int64_t order = 2; order <= g.n; ++order)
    for (int64_t j = 0; j < g.k; ++j) {
      const int64_t i = (order - 2) * g.k + j;
      const int64_t M = g.modulus_base + 2 * i + 1;
      __int128 sum = 0;
      for (int64_t d = 0; d < order; ++d) sum += static_cast<__int128>(prev[d]) * w.coef[i][d];
      ids[i] = static_cast<int64_t>(sum % M);
    }
}

void ngram_embed(const ModelConfig& c, const NgramEmbedWeights& w, const TensorView& tok_embd,
                 const Batch& b, SequenceKv& kv, float* x, ThreadPool* pool) {
  const NgramEmbedConfig& g = c.ngram;
  const int64_t n = b.n, D = c.n_embd, T = g.n_tables(), E = g.table_dim;
  embed_tokens(tok_embd, b.tokens, n, x);
  for (int64_t t = 0; t < n; ++t) kv.tokens[b.pos[t]] = b.tokens[t];
  std::vector<int64_t> ids(n * T);  // [n][tables]
  for (int64_t t = 0; t < n; ++t) ngram_ids(g, w, kv.tokens.data(), b.pos[t], b.tokens[t], ids.data() + t * T);
  std::vector<float> rows(n * E), proj(n * D);  // [n][table_dim], [n][n_embd]
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t t = 0; t < n; ++t)
      kernels::dequantize_view_row(w.tables[i], ids[t * T + i], rows.data() + t * E);  // FP8 too
    kernels::matmul(w.projs[i], rows.data(), n, proj.data(), pool);
    for (int64_t j = 0; j < n * D; ++j) x[j] += proj[j];
  }
  const float inv = 1.0f / static_cast<float>(1 + T);
  for (int64_t j = 0; j < n * D; ++j) x[j] *= inv;
}

}  // namespace moecat
