#include "model/tokenizer_load.h"

#include "tokenizer/spm.h"

namespace moecat {

Result<TokenizerData> tokenizer_data_from_gguf(const GgufFile& f) {
  TokenizerData d;
  d.model = f.get_string("tokenizer.ggml.model").value_or("");
  if (d.model.empty()) return Errorf("%s: no tokenizer (tokenizer.ggml.model missing)", f.path().c_str());
  if (d.model != "gpt2" && d.model != "llama")
    return Errorf("%s: tokenizer model '%s' is not supported (supported: byte-level BPE 'gpt2', "
                  "SentencePiece BPE 'llama')", f.path().c_str(), d.model.c_str());
  d.pre = f.get_string("tokenizer.ggml.pre").value_or("default");
  const GgufValue* toks = f.find("tokenizer.ggml.tokens");
  if (!toks || toks->type != GgufType::ARRAY || toks->array_type != GgufType::STRING)
    return Errorf("%s: tokenizer.ggml.tokens missing or not a string array", f.path().c_str());
  d.tokens = toks->arr_str;
  const GgufValue* types = f.find("tokenizer.ggml.token_type");
  if (types && types->type == GgufType::ARRAY && !types->arr_int.empty()) {
    if (types->arr_int.size() != d.tokens.size())
      return Errorf("%s: tokenizer.ggml.token_type has %zu entries for %zu tokens", f.path().c_str(),
                    types->arr_int.size(), d.tokens.size());
    d.token_types.assign(types->arr_int.begin(), types->arr_int.end());
  } else {
    d.token_types.assign(d.tokens.size(), kTokNormal);
  }
  const GgufValue* merges = f.find("tokenizer.ggml.merges");
  if (merges && merges->type == GgufType::ARRAY) d.merges = merges->arr_str;
  if (d.model == "llama") {
    // llama.cpp merges SentencePiece vocabularies by score; merges, if a file has them, are unused.
    d.merges.clear();
    const GgufValue* scores = f.find("tokenizer.ggml.scores");
    if (!scores || scores->type != GgufType::ARRAY || scores->arr_float.size() != d.tokens.size())
      return Errorf("%s: tokenizer.ggml.scores missing or not one float per token (needed by the 'llama' "
                    "tokenizer)", f.path().c_str());
    d.scores.assign(scores->arr_float.begin(), scores->arr_float.end());
    d.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  }
  const auto n = static_cast<int64_t>(d.tokens.size());
  auto id = [&](const char* key) -> int32_t {
    auto v = f.get_int(key);
    return v && *v >= 0 && *v < n ? static_cast<int32_t>(*v) : -1;
  };
  d.bos_id = id("tokenizer.ggml.bos_token_id");
  d.eos_id = id("tokenizer.ggml.eos_token_id");
  d.eot_id = id("tokenizer.ggml.eot_token_id");
  d.pad_id = id("tokenizer.ggml.padding_token_id");
  d.add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(false);
  d.chat_template = f.get_string("tokenizer.chat_template").value_or("");
  d.default_system_prompt = f.get_string("tokenizer.moecat.default_system_prompt").value_or("");
  d.default_tools = f.get_string("tokenizer.moecat.default_tools").value_or("");
  // eog_ids stay empty: the tokenizer derives them from eos/eot and the well-known end tokens
  // (<|eot_id|>, <|im_end|>, <|return|>, <|call|>, ...), the same way for GGUF and HF.
  return d;
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const ModelSource& src) {
  if (src.kind() == ModelSource::Kind::kGguf) {
    MOECAT_ASSIGN_OR_RETURN(TokenizerData d, tokenizer_data_from_gguf(*src.gguf()));
    return Tokenizer::FromData(std::move(d));
  }
  if (src.hf_tokenizer_json().empty())
    return Errorf("%s: no tokenizer.json in the model folder", src.path().c_str());
  return Tokenizer::FromHfFiles(src.hf_tokenizer_json(), src.hf_tokenizer_config());
}

void write_tokenizer_meta(const TokenizerData& d, GgufWriter& w) {
  w.set_str("tokenizer.ggml.model", d.model);
  w.set_str("tokenizer.ggml.pre", d.pre.empty() ? "default" : d.pre);
  w.set_arr_str("tokenizer.ggml.tokens", d.tokens);
  w.set_arr_i32("tokenizer.ggml.token_type", d.token_types);
  if (d.model == "llama") {
    // What llama.cpp reads: scores whose order reproduces the merge order, no merges.
    w.set_arr_f32("tokenizer.ggml.scores", d.scores.empty() ? SpmScoresFromMerges(d.tokens, d.merges) : d.scores);
    w.set_bool("tokenizer.ggml.add_space_prefix", d.add_space_prefix);
  } else {
    w.set_arr_str("tokenizer.ggml.merges", d.merges);
  }
  if (d.bos_id >= 0) w.set_u32("tokenizer.ggml.bos_token_id", d.bos_id);
  if (d.eos_id >= 0) w.set_u32("tokenizer.ggml.eos_token_id", d.eos_id);
  if (d.eot_id >= 0) w.set_u32("tokenizer.ggml.eot_token_id", d.eot_id);
  if (d.pad_id >= 0) w.set_u32("tokenizer.ggml.padding_token_id", d.pad_id);
  w.set_bool("tokenizer.ggml.add_bos_token", d.add_bos);
  if (!d.chat_template.empty()) w.set_str("tokenizer.chat_template", d.chat_template);
  if (!d.default_system_prompt.empty()) w.set_str("tokenizer.moecat.default_system_prompt", d.default_system_prompt);
  if (!d.default_tools.empty()) w.set_str("tokenizer.moecat.default_tools", d.default_tools);
}

}  // namespace moecat
