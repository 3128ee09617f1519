#include "model/config.h"

#include "base/status.h"

namespace moecat {

std::string ModelConfig::summary() const {
  std::string s;
  s += strfmt("arch            %s (gguf arch %s)\n", arch.c_str(), gguf_arch.c_str());
  s += strfmt("n_vocab         %lld\n", (long long)n_vocab);
  s += strfmt("n_embd          %lld\n", (long long)n_embd);
  s += strfmt("n_layer         %lld\n", (long long)n_layer);
  s += strfmt("n_head / kv     %lld / %lld (head_dim %lld)\n", (long long)n_head, (long long)n_head_kv,
              (long long)head_dim);
  if (n_ff) s += strfmt("n_ff            %lld\n", (long long)n_ff);
  s += strfmt("n_ctx_train     %lld\n", (long long)n_ctx_train);
  s += strfmt("norm_eps        %g\n", norm_eps);
  const char* sc = rope.scaling == RopeScaling::kLlama3 ? "llama3"
                   : rope.scaling == RopeScaling::kLinear ? "linear"
                   : rope.scaling == RopeScaling::kYarn   ? "yarn" : "none";
  s += strfmt("rope            theta %g, dim %lld, %s, scaling %s%s\n", rope.theta, (long long)rope.dim,
              rope.neox ? "neox" : "interleaved", sc, rope.freq_factors.empty() ? "" : " (freq factors)");
  if (qk_norm) s += "qk_norm         yes\n";
  if (rope.scaling == RopeScaling::kYarn || rope.scaling == RopeScaling::kLinear || rope.scaling == RopeScaling::kLlama3)
    s += strfmt("rope scaling    factor %g, original context %lld\n", rope.factor, (long long)rope.orig_ctx);
  if (ngram.n_tables() > 0)
    s += strfmt("ngram embedding n %lld, k %lld: %lld tables of %lld..%lld rows x %lld, reset token %d\n",
                (long long)ngram.n, (long long)ngram.k, (long long)ngram.n_tables(), (long long)ngram.modulus_base + 1,
                (long long)(ngram.modulus_base + 2 * ngram.n_tables() - 1), (long long)ngram.table_dim, ngram.reset_token);
  if (n_zero_expert) s += strfmt("zero experts    %lld (identity, no FFN work)\n", (long long)n_zero_expert);
  if (kv_lora_rank)
    s += strfmt("mla             q_lora %lld, kv_lora %lld, qk nope %lld + rope %lld, v %lld\n", (long long)q_lora_rank,
                (long long)kv_lora_rank, (long long)qk_nope_dim, (long long)qk_rope_dim, (long long)v_head_dim);
  if (n_expert) {
    int64_t moe_layers = 0;
    for (bool b : layer_is_moe) moe_layers += b;
    if (layer_is_moe.empty()) moe_layers = n_layer;
    s += strfmt("experts         %lld, %lld used, n_ff_expert %lld, norm_topk %s, %lld shared, %lld/%lld layers MoE\n",
                (long long)n_expert, (long long)n_expert_used, (long long)n_ff_expert, norm_topk_prob ? "yes" : "no",
                (long long)n_shared_expert, (long long)moe_layers, (long long)n_layer);
    s += strfmt("router          %s%s, %lld groups (%lld used), scale %g\n",
                gating == MoeGating::kSigmoid ? "sigmoid" : "softmax", score_bias ? " + selection bias" : "",
                (long long)n_group, (long long)topk_group, routed_scale);
  }
  return s;
}

}  // namespace moecat
