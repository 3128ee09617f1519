#include "model/arch/longcat_gguf_layouts.h"

#include <cmath>

#include "model/meta.h"

namespace moecat::longcat {

namespace {

// Sources (docs/longcat-flash.md, docs/longcat-flash-lite.md):
//  llama.cpp PR branch github.com/ngxson/llama.cpp `xsn/longcat_flash` (commit b29c49fc3,
//    2026-08-07): conversion/deepseek.py LongcatFlashModel, src/models/longcat-flash.cpp.
//  github.com/erm14254/llama.cpp-longcat-flash (first commit ded1f26af by InquiringMinds-AI,
//    2026-02-25; conversion/longcat_flash_ngram.py, src/models/longcat-flash-ngram.cpp at 572d16e5d).
const GgufLayout kLayouts[] = {
    {"longcat-flash", "llama.cpp LongCat-Flash PR (ngxson/llama.cpp xsn/longcat_flash)", false, true,
     "n_zero_experts", true, "attention.q_lora_scale", "attention.kv_lora_scale", ""},
    {"longcat-flash-ngram", "llama.cpp fork longcat-flash-ngram (erm14254/llama.cpp-longcat-flash)", true, false,
     "expert_zero_count", false, nullptr, nullptr, "_shexp"},
};

// Per-sublayer tensors: moecat "blk.L.<n>.i.weight" -> "blk.(2L+i).<n>.weight".
const char* const kPerSub[] = {"attn_norm", "ffn_norm",      "attn_q_a", "attn_q_a_norm", "attn_q_b",
                               "attn_q",    "attn_kv_a_mqa", "attn_kv_a_norm", "attn_k_b", "attn_v_b",
                               "attn_output"};
const char* const kMlp[] = {"ffn_gate", "ffn_up", "ffn_down"};
const char* const kExperts[] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
// MTP (llama.cpp: the block after the main ones): moecat name -> name inside blk.{m}.
const char* const kMtp[][2] = {
    {"mtp.enorm.weight", "nextn.enorm.weight"},
    {"mtp.hnorm.weight", "nextn.hnorm.weight"},
    {"mtp.eh_proj.weight", "nextn.eh_proj.weight"},
    {"mtp.output_norm.weight", "nextn.shared_head_norm.weight"},
    {"mtp.attn_norm.weight", "attn_norm.weight"},
    {"mtp.ffn_norm.weight", "ffn_norm.weight"},
    {"mtp.attn_q_a.weight", "attn_q_a.weight"},
    {"mtp.attn_q_a_norm.weight", "attn_q_a_norm.weight"},
    {"mtp.attn_q_b.weight", "attn_q_b.weight"},
    {"mtp.attn_q.weight", "attn_q.weight"},
    {"mtp.attn_kv_a_mqa.weight", "attn_kv_a_mqa.weight"},
    {"mtp.attn_kv_a_norm.weight", "attn_kv_a_norm.weight"},
    {"mtp.attn_k_b.weight", "attn_k_b.weight"},
    {"mtp.attn_v_b.weight", "attn_v_b.weight"},
    {"mtp.attn_output.weight", "attn_output.weight"},
    {"mtp.ffn_gate.weight", "ffn_gate.weight"},
    {"mtp.ffn_up.weight", "ffn_up.weight"},
    {"mtp.ffn_down.weight", "ffn_down.weight"},
};

std::string blk(int64_t b) { return "blk." + std::to_string(b) + "."; }

bool has_prefix(const GgufFile& f, const std::string& p) {
  for (const auto& t : f.tensors())
    if (t.name.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace

const GgufLayout* community_layout(const std::string& gguf_arch) {
  for (const GgufLayout& L : kLayouts)
    if (gguf_arch == L.arch) return &L;
  return nullptr;
}

Status read_layout_meta(const GgufFile& f, const GgufLayout& L, ModelConfig& c) {
  GgufMeta m(f, L.arch);
  const std::string& path = f.path();
  // block_count counts blocks: two per LongCat layer, plus the MTP block(s) after them.
  MOECAT_ASSIGN_OR_RETURN(int64_t blocks, m.req_int("block_count"));
  const int64_t nextn = m.opt_int("nextn_predict_layers", 0);
  if (nextn < 0 || nextn > blocks || (blocks - nextn) % 2 != 0 || blocks - nextn < 2)
    return Errorf("%s: %s.block_count %lld with nextn_predict_layers %lld: the %s layout has two blocks per "
                  "LongCat layer (blk.{2L}, blk.{2L+1}) plus the MTP blocks",
                  path.c_str(), L.arch, (long long)blocks, (long long)nextn, L.arch);
  c.n_layer = (blocks - nextn) / 2;
  if (L.zero_count_required) {
    MOECAT_ASSIGN_OR_RETURN(c.n_zero_expert, m.req_int(L.zero_count_key));
  } else {
    c.n_zero_expert = m.opt_int(L.zero_count_key, 0);
  }
  if (m.opt_bool("expert_weights_norm", false))
    return Errorf("%s: %s.expert_weights_norm is set; LongCat weighs the chosen experts by their softmax "
                  "scores without renormalising", path.c_str(), L.arch);
  // MLA LoRA scales: keys (absent: not applied, as the PR's graph does), or always sqrt(hidden / rank).
  if (L.q_scale_key) {
    c.mla_q_scale = static_cast<float>(m.opt_float(L.q_scale_key, 1.0));
    c.mla_kv_scale = static_cast<float>(m.opt_float(L.kv_scale_key, 1.0));
  } else {
    if (c.q_lora_rank > 0)
      c.mla_q_scale = static_cast<float>(std::sqrt(static_cast<double>(c.n_embd) / c.q_lora_rank));
    c.mla_kv_scale = static_cast<float>(std::sqrt(static_cast<double>(c.n_embd) / c.kv_lora_rank));
  }
  // The latent norms (q_a / kv_a) keep transformers' eps 1e-6 (llama.cpp applies rms_norm_eps).
  c.mla_norm_eps = 1e-6f;
  // The MTP block: used when its tensors are there (the PR's converter always declares one).
  c.n_mtp_layers = 0;
  if (nextn > 0 && has_prefix(f, blk(2 * c.n_layer))) c.n_mtp_layers = nextn;
  if (L.ngram) {
    NgramEmbedConfig& g = c.ngram;
    MOECAT_ASSIGN_OR_RETURN(g.n, m.req_int("ngram.neighbor_num"));
    MOECAT_ASSIGN_OR_RETURN(g.k, m.req_int("ngram.split_num"));
    const std::string rkey = std::string(L.arch) + ".ngram.vocab_size_ratio";
    const auto ratio = f.get_float(rkey);
    if (!ratio || !(*ratio > 0) || *ratio != std::floor(*ratio))
      return Errorf("%s: missing or non-integer metadata key '%s'", path.c_str(), rkey.c_str());
    // m = ratio * vocab_size, the hash base is vocab_size (the fork: vocab = token_embd rows).
    g.hash_base = m.opt_int("vocab_size", c.n_vocab);
    g.modulus_base = static_cast<int64_t>(*ratio) * g.hash_base;
    // The n-gram look-back resets at EOS (the fork hard-codes LongCat's id 2; the file's EOS).
    const auto eos = f.get_int("tokenizer.ggml.eos_token_id");
    if (!eos) return Errorf("%s: missing 'tokenizer.ggml.eos_token_id' (the n-gram reset token)", path.c_str());
    g.reset_token = static_cast<int32_t>(*eos);
  }
  return Status::Ok();
}

Result<std::map<std::string, Weights::GgufAlias>> layout_aliases(const GgufFile& f, const GgufLayout& L,
                                                                 const ModelConfig& c) {
  std::map<std::string, Weights::GgufAlias> a;
  const std::string& path = f.path();
  for (const char* n : {"token_embd.weight", "output_norm.weight", "output.weight"}) a[n] = {n, 0};
  const int64_t E = c.n_expert, ET = c.n_expert + c.n_zero_expert;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = blk(il), even = blk(2 * il);
    for (int i = 0; i < 2; ++i) {
      const std::string tag = std::string(".") + std::to_string(i) + ".weight", b = blk(2 * il + i);
      for (const char* n : kPerSub) a[p + n + tag] = {b + n + ".weight", 0};
      for (const char* n : kMlp) a[p + n + tag] = {b + n + (i == 0 ? L.mlp0_suffix : "") + ".weight", 0};
    }
    a[p + "ffn_gate_inp.weight"] = {even + "ffn_gate_inp.weight", 0};
    a[p + "exp_probs_b.bias"] = {even + "exp_probs_b.bias", 0};
    const TensorView* router = f.tensor(even + "ffn_gate_inp.weight");
    if (router && router->shape.ndim == 2 && router->shape[0] != ET)
      return Errorf("%s: router '%s' scores %lld experts, but %s.expert_count %lld + %s.%s %lld = %lld",
                    path.c_str(), router->name.c_str(), (long long)router->shape[0], L.arch, (long long)E, L.arch,
                    L.zero_count_key, (long long)c.n_zero_expert, (long long)ET);
    for (const char* n : kExperts) {
      const std::string fname = even + n + ".weight";
      a[p + n + ".weight"] = {fname, L.dummy_expert ? E + 1 : 0};
      const TensorView* t = f.tensor(fname);
      if (L.dummy_expert && t && t->shape.ndim == 3 && t->shape[0] != E + 1)
        return Errorf("%s: '%s' holds %lld experts; the %s layout stores expert_count %lld plus one all-zero "
                      "dummy expert (%lld)",
                      path.c_str(), fname.c_str(), (long long)t->shape[0], L.arch, (long long)E, (long long)(E + 1));
    }
  }
  if (!L.ngram && c.n_mtp_layers == 1) {
    const std::string b = blk(2 * c.n_layer);
    for (const auto& m : kMtp) a[m[0]] = {b + m[1], 0};
  }
  if (L.ngram)
    for (int64_t i = 0; i < c.ngram.n_tables(); ++i) {
      const std::string s = std::to_string(i);
      a["token_embd_ngram." + s + ".weight"] = {"ngram_embd." + s + ".weight", 0};
      a["ngram_proj." + s + ".weight"] = {"ngram_proj." + s + ".weight", 0};
    }
  return a;
}

}  // namespace moecat::longcat
