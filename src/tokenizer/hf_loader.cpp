// Hugging Face tokenizer.json (+ tokenizer_config.json) -> TokenizerData + TokenizerBuildOptions.
// Byte-level BPE and SentencePiece-style BPE are accepted; anything else is reported as a clear
// error, never guessed at.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/hf_json.h"
#include "tokenizer/tokenizer_impl.h"

namespace moecat {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxId = 1 << 24;

std::string TypeOf(const json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool GetBool(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

// What marks a SentencePiece-style tokenizer.json: spaces become "▁" by a normalizer (Llama-2:
// Prepend + Replace) or by a Metaspace pre-tokenizer (newer Mistral files).
struct SpmForm {
  bool prepend = false, replace = false, metaspace = false;
};

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

Status ParseNormalizer(const json& n, TokenizerBuildOptions& opts, SpmForm* spm) {
  if (n.is_null()) return Status::Ok();
  std::string type = TypeOf(n);
  if (type == "NFC") { opts.nfc = true; return Status::Ok(); }
  if (type == "Sequence") {
    auto it = n.find("normalizers");
    if (it == n.end() || !it->is_array()) return Errorf("normalizer Sequence without a normalizers array");
    for (const json& sub : *it) MOECAT_RETURN_IF_ERROR(ParseNormalizer(sub, opts, spm));
    return Status::Ok();
  }
  if (type == "Prepend") {
    if (StringField(n, "prepend") != kSpmSpace) return Errorf("Prepend normalizer: only \"\u2581\" is supported");
    spm->prepend = true;
    return Status::Ok();
  }
  if (type == "Replace") {
    auto pat = n.find("pattern");
    if (pat == n.end() || !pat->is_object() || StringField(*pat, "String") != " " ||
        StringField(n, "content") != kSpmSpace)
      return Errorf("Replace normalizer: only \" \" -> \"\u2581\" is supported");
    spm->replace = true;
    return Status::Ok();
  }
  return Errorf("unsupported normalizer '%.64s' (supported: none, NFC, Prepend/Replace \"\u2581\")", type.c_str());
}

Status ParseMetaspace(const json& p, TokenizerBuildOptions& opts, SpmForm* spm) {
  std::string rep = StringField(p, "replacement");
  if (rep.empty()) rep = StringField(p, "str_rep");  // older files
  if (rep != kSpmSpace) return Errorf("Metaspace pre-tokenizer: only the replacement \"\u2581\" is supported");
  using Prefix = TokenizerBuildOptions::SpmPrefix;
  std::string scheme = StringField(p, "prepend_scheme");
  if (scheme.empty()) scheme = GetBool(p, "add_prefix_space", true) ? "always" : "never";
  if (scheme == "always") opts.spm_prefix = Prefix::kEverySegment;
  else if (scheme == "first") opts.spm_prefix = Prefix::kFirst;
  else if (scheme == "never") opts.spm_prefix = Prefix::kNone;
  else return Errorf("Metaspace prepend_scheme '%.64s' is unknown (always, first, never)", scheme.c_str());
  opts.spm_split = GetBool(p, "split", true);
  spm->metaspace = true;
  return Status::Ok();
}

Status ParseSplitBehavior(const std::string& s, SplitBehavior* b) {
  static const std::map<std::string, SplitBehavior> kMap = {
      {"Removed", SplitBehavior::kRemoved}, {"Isolated", SplitBehavior::kIsolated},
      {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", SplitBehavior::kMergedWithNext}, {"Contiguous", SplitBehavior::kContiguous}};
  auto it = kMap.find(s);
  if (it == kMap.end()) return Errorf("unknown Split behavior '%.64s'", s.c_str());
  *b = it->second;
  return Status::Ok();
}

// Appends the steps of pre-tokenizer `p`; sets *byte_level once a ByteLevel step is seen.
Status ParsePreTokenizer(const json& p, TokenizerBuildOptions& opts, bool* byte_level, SpmForm* spm) {
  std::string type = TypeOf(p);
  if (type == "Sequence") {
    auto it = p.find("pretokenizers");
    if (it == p.end() || !it->is_array()) return Errorf("pre_tokenizer Sequence without a pretokenizers array");
    for (const json& sub : *it) MOECAT_RETURN_IF_ERROR(ParsePreTokenizer(sub, opts, byte_level, spm));
    return Status::Ok();
  }
  if (type == "Metaspace") return ParseMetaspace(p, opts, spm);
  if (type == "Split") {
    // After ByteLevel the text is in the byte-level alphabet; we split raw bytes, so refuse.
    if (*byte_level) return Errorf("Split after ByteLevel in pre_tokenizer is not supported");
    SplitStep s;
    auto pat = p.find("pattern");
    if (pat == p.end() || !pat->is_object()) return Errorf("Split pre-tokenizer without a pattern");
    auto re = pat->find("Regex"), str = pat->find("String");
    if (re != pat->end() && re->is_string()) s.pattern = re->get<std::string>();
    else if (str != pat->end() && str->is_string()) s.pattern = EscapeRegex(str->get<std::string>());
    else return Errorf("Split pattern must be {\"Regex\": ...} or {\"String\": ...}");
    auto beh = p.find("behavior");
    if (beh == p.end() || !beh->is_string()) return Errorf("Split pre-tokenizer without a behavior");
    MOECAT_RETURN_IF_ERROR(ParseSplitBehavior(beh->get<std::string>(), &s.behavior));
    s.invert = GetBool(p, "invert", false);
    opts.steps.push_back(std::move(s));
    return Status::Ok();
  }
  if (type == "ByteLevel") {
    // HF defaults when a key is absent: add_prefix_space = true, use_regex = true.
    SplitStep s;
    s.pattern = kGpt2Regex;
    s.add_prefix_space = GetBool(p, "add_prefix_space", true);
    s.split = GetBool(p, "use_regex", true);
    opts.steps.push_back(std::move(s));
    *byte_level = true;
    return Status::Ok();
  }
  return Errorf("unsupported pre_tokenizer '%.64s' (supported: Sequence, Split, ByteLevel, Metaspace)",
                type.c_str());
}

// Token content from tokenizer_config.json: "text" or {"content": "text"}.
std::string TokenContent(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return "";
}

// BOS from a TemplateProcessing post-processor (possibly inside a Sequence): the single-sequence
// template starts with a special token. Returns its content or "".
void FindTemplateBos(const json& pp, std::string* bos, int32_t* bos_id) {
  std::string type = TypeOf(pp);
  if (type == "Sequence") {
    auto it = pp.find("processors");
    if (it != pp.end() && it->is_array())
      for (const json& sub : *it) FindTemplateBos(sub, bos, bos_id);
    return;
  }
  if (type != "TemplateProcessing") return;
  auto single = pp.find("single");
  if (single == pp.end() || !single->is_array() || single->empty() || !(*single)[0].is_object()) return;
  auto st = (*single)[0].find("SpecialToken");
  if (st == (*single)[0].end() || !st->is_object()) return;
  auto id = st->find("id");
  if (id == st->end() || !id->is_string()) return;
  *bos = id->get<std::string>();
  auto sp = pp.find("special_tokens");
  if (sp != pp.end() && sp->is_object()) {
    auto e = sp->find(*bos);
    if (e != sp->end() && e->is_object()) {
      auto ids = e->find("ids");
      if (ids != e->end() && ids->is_array() && ids->size() == 1 && (*ids)[0].is_number_integer()) {
        int64_t v = (*ids)[0].get<int64_t>();
        if (v >= 0 && v < kMaxId) *bos_id = static_cast<int32_t>(v);
      }
    }
  }
}

Result<std::unique_ptr<Tokenizer>> ParseFailure(const Status& s) {
  Status e = s;
  return e.prefix("tokenizer.json");
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromHfFiles(const std::string& tokenizer_json_path,
                                                          const std::string& tokenizer_config_path) {
  auto slurp = [](const std::string& path, std::string* out) -> Status {
    std::ifstream f(path, std::ios::binary);
    if (!f) return Errorf("cannot open %s", path.c_str());
    std::ostringstream ss;
    ss << f.rdbuf();
    *out = ss.str();
    return Status::Ok();
  };
  std::string tj, cj;
  MOECAT_RETURN_IF_ERROR(slurp(tokenizer_json_path, &tj));
  if (!tokenizer_config_path.empty()) MOECAT_RETURN_IF_ERROR(slurp(tokenizer_config_path, &cj));
  auto r = FromHfJson(tj, cj);
  if (!r.ok()) { Status s = r.status(); return s.prefix(tokenizer_json_path); }
  return r;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromHfJson(const std::string& tokenizer_json,
                                                         const std::string& tokenizer_config_json) {
  HfJsonParts parts;
  MOECAT_RETURN_IF_ERROR(ParseHfJson(tokenizer_json, &parts));
  const json& j = parts.rest;
  if (!j.is_object()) return Errorf("tokenizer.json: top level is not an object");
  TokenizerData data;
  TokenizerBuildOptions opts;

  // ---- model -------------------------------------------------------------------------------
  auto mit = j.find("model");
  if (mit == j.end() || !mit->is_object()) return Errorf("tokenizer.json: missing \"model\" object");
  const json& m = *mit;
  std::string mtype = TypeOf(m);
  if (mtype.empty() && parts.has_merges) mtype = "BPE";  // very old files omit the type
  if (mtype != "BPE")
    return Errorf("tokenizer.json: unsupported model type '%.64s' (only BPE is supported)", mtype.c_str());
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = m.find(key);
    if (it != m.end() && it->is_string() && !it->get<std::string>().empty())
      return Errorf("tokenizer.json: BPE %s is not supported", key);
  }
  opts.ignore_merges = GetBool(m, "ignore_merges", false);
  if (!parts.has_vocab) return Errorf("tokenizer.json: model has no \"vocab\" object");
  if (!parts.has_merges) return Errorf("tokenizer.json: model has no \"merges\" array");

  // id -> (content, type); gaps are filled afterwards.
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<bool> used;
  const size_t n_entries = parts.vocab.size();
  auto place = [&](int64_t id, std::string&& content, int32_t type, bool from_added) -> Status {
    if (id < 0 || id >= kMaxId) return Errorf("token id %lld out of range", static_cast<long long>(id));
    if (static_cast<size_t>(id) >= tokens.size()) {
      // Refuse absurdly sparse id spaces (a hostile file must not make us allocate gigabytes).
      if (id > 4 * static_cast<int64_t>(n_entries) + 4096)
        return Errorf("token id %lld is far beyond the vocabulary size", static_cast<long long>(id));
      size_t want = std::max<size_t>(static_cast<size_t>(id) + 1, n_entries);
      tokens.resize(want);
      types.resize(want, kTokUnused);
      used.resize(want, false);
    }
    if (used[id]) {
      if (from_added && tokens[id] == content) { types[id] = type; return Status::Ok(); }
      return Errorf("token id %lld is used twice (\"%.60s\" and \"%.60s\")", static_cast<long long>(id),
                    tokens[id].c_str(), content.c_str());
    }
    used[id] = true;
    tokens[id] = std::move(content);
    types[id] = type;
    return Status::Ok();
  };
  for (auto& [content, id] : parts.vocab) {
    Status s = place(id, std::move(content), kTokNormal, false);
    if (!s.ok()) return ParseFailure(s);
  }
  parts.vocab = {};
  auto ait = j.find("added_tokens");
  if (ait != j.end() && !ait->is_null()) {
    if (!ait->is_array()) return Errorf("tokenizer.json: added_tokens is not an array");
    for (const json& a : *ait) {
      if (!a.is_object()) return Errorf("tokenizer.json: added_tokens entry is not an object");
      auto id = a.find("id");
      auto content = a.find("content");
      if (id == a.end() || !id->is_number_integer() || content == a.end() || !content->is_string() ||
          content->get<std::string>().empty())
        return Errorf("tokenizer.json: added_tokens entry needs an integer id and non-empty content");
      bool special = GetBool(a, "special", false);
      int64_t iid = id->get<int64_t>();
      Status s = place(iid, content->get<std::string>(), special ? kTokControl : kTokUserDefined, true);
      if (!s.ok()) return ParseFailure(s);
      opts.strip[static_cast<int32_t>(iid)] = {GetBool(a, "lstrip", false), GetBool(a, "rstrip", false)};
    }
  }
  // Trim the presized tail that no id reached, then name the gaps.
  size_t n_tok = tokens.size();
  while (n_tok > 0 && !used[n_tok - 1]) --n_tok;
  tokens.resize(n_tok);
  types.resize(n_tok);
  if (tokens.empty()) return Errorf("tokenizer.json: empty vocabulary");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!used[i]) tokens[i] = "[UNUSED_TOKEN_" + std::to_string(i) + "]";
  data.merges = std::move(parts.merges);

  // Token lookups by content for the handful of named tokens (added tokens first, as HF does).
  auto lookup = [&](const std::string& s) -> int32_t {
    for (int pass = 0; pass < 2; ++pass)
      for (size_t i = 0; i < tokens.size(); ++i)
        if ((types[i] != kTokNormal) == (pass == 0) && used[i] && tokens[i] == s) return static_cast<int32_t>(i);
    return -1;
  };
  if (auto unk = m.find("unk_token"); unk != m.end() && unk->is_string()) opts.unk_id = lookup(unk->get<std::string>());

  // ---- normalizer, pre-tokenizer -------------------------------------------------------------
  SpmForm spm;
  if (auto n = j.find("normalizer"); n != j.end()) {
    Status s = ParseNormalizer(*n, opts, &spm);
    if (!s.ok()) return ParseFailure(s);
  }
  auto pit = j.find("pre_tokenizer");
  bool byte_level = false;
  if (pit != j.end() && !pit->is_null()) {
    if (Status s = ParsePreTokenizer(*pit, opts, &byte_level, &spm); !s.ok()) return ParseFailure(s);
  }
  const bool is_spm = spm.replace || spm.metaspace;
  if (is_spm) {
    // SentencePiece-style: no byte-level steps, "▁" for spaces, <0xXX> tokens for byte fallback.
    if (byte_level || !opts.steps.empty())
      return Errorf("tokenizer.json: a \"\u2581\" normalizer or Metaspace mixed with Split/ByteLevel is not supported");
    if (spm.replace && spm.metaspace) return Errorf("tokenizer.json: both a Replace normalizer and Metaspace");
    if (spm.replace)
      opts.spm_prefix = spm.prepend ? TokenizerBuildOptions::SpmPrefix::kEverySegment
                                    : TokenizerBuildOptions::SpmPrefix::kNone;
    else if (spm.prepend)
      return Errorf("tokenizer.json: a Prepend normalizer with Metaspace is not supported");
    opts.byte_fallback = GetBool(m, "byte_fallback", false);
    data.add_space_prefix = opts.spm_prefix != TokenizerBuildOptions::SpmPrefix::kNone;
    data.pre = "default";
  } else {
    if (spm.prepend) return Errorf("tokenizer.json: a Prepend normalizer without Replace is not supported");
    if (!byte_level)
      return Errorf("tokenizer.json: the pre_tokenizer has no ByteLevel step and there is no \"\u2581\" "
                    "normalizer or Metaspace (supported: byte-level BPE, SentencePiece-style BPE)");
    for (const SplitStep& s : opts.steps)
      if (s.split) data.pre_regexes.push_back(s.pattern);
    data.pre = PreNameForRegexes(data.pre_regexes);
  }

  // ---- special ids -------------------------------------------------------------------------
  std::string bos_name;
  int32_t tmpl_bos = -1;
  if (auto pp = j.find("post_processor"); pp != j.end()) FindTemplateBos(*pp, &bos_name, &tmpl_bos);
  if (!bos_name.empty()) {
    data.add_bos = true;
    data.bos_id = tmpl_bos >= 0 && static_cast<size_t>(tmpl_bos) < tokens.size() ? tmpl_bos : lookup(bos_name);
  }
  if (!tokenizer_config_json.empty()) {
    json c = json::parse(tokenizer_config_json, nullptr, false);
    if (c.is_discarded() || !c.is_object()) return Errorf("tokenizer_config.json is not a valid JSON object");
    if (std::string s = TokenContent(c, "bos_token"); !s.empty() && lookup(s) >= 0) data.bos_id = lookup(s);
    if (std::string s = TokenContent(c, "eos_token"); !s.empty()) data.eos_id = lookup(s);
    if (std::string s = TokenContent(c, "pad_token"); !s.empty()) data.pad_id = lookup(s);
    if (auto it = c.find("add_bos_token"); it != c.end() && it->is_boolean()) data.add_bos = it->get<bool>();
    if (auto it = c.find("default_system_prompt"); it != c.end()) {
      if (!it->is_string()) return Errorf("tokenizer_config.json: default_system_prompt must be a string");
      data.default_system_prompt = it->get<std::string>();
    }
    if (auto it = c.find("default_tools"); it != c.end()) {
      if (!it->is_array()) return Errorf("tokenizer_config.json: default_tools must be an array of tools");
      data.default_tools = it->dump();
    }
    if (auto it = c.find("chat_template"); it != c.end()) {
      if (it->is_string()) {
        data.chat_template = it->get<std::string>();
      } else if (it->is_array()) {  // [{"name": ..., "template": ...}]: take "default", else the first
        for (const json& t : *it) {
          if (!t.is_object() || !t.contains("template") || !t["template"].is_string()) continue;
          bool is_default = t.contains("name") && t["name"] == "default";
          if (data.chat_template.empty() || is_default) data.chat_template = t["template"].get<std::string>();
          if (is_default) break;
        }
      }
    }
  }
  if (data.add_bos && data.bos_id < 0) data.add_bos = false;  // nothing to add
  for (const char* name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<｜end▁of▁sentence｜>", "<|endoftext|>"}) {
    int32_t id = lookup(name);
    if (id >= 0 && types[id] != kTokNormal) { data.eot_id = id; break; }
  }

  data.model = is_spm ? "llama" : "gpt2";
  if (is_spm && opts.byte_fallback)  // the <0xXX> vocabulary entries are the fallback bytes
    for (size_t i = 0; i < tokens.size(); ++i)
      if (types[i] == kTokNormal && tokens[i].size() == 6 && tokens[i].compare(0, 3, "<0x") == 0 &&
          std::isxdigit(static_cast<unsigned char>(tokens[i][3])) &&
          std::isxdigit(static_cast<unsigned char>(tokens[i][4])) && tokens[i][5] == '>')
        types[i] = kTokByte;
  data.tokens = std::move(tokens);
  data.token_types = std::move(types);
  // eog_ids stays empty here: Build fills it from eos/eot and the well-known names.
  return Build(std::move(data), std::move(opts));
}

}  // namespace moecat
