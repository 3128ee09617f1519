// Tokenizer construction from TokenizerData (the GGUF route), encoding, decoding and streaming.
// tokenizer.json parsing lives in hf_loader.cpp.
#include <algorithm>
#include <cstring>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

namespace moecat {

const char* const kEogTokenNames[] = {"<|eot_id|>", "<|im_end|>", "<|endoftext|>", "<|return|>", "<|end|>",
                                      "<|eom_id|>", "<|call|>", "<｜end▁of▁sentence｜>", "<|end_of_text|>"};
const size_t kEogTokenNameCount = sizeof(kEogTokenNames) / sizeof(kEogTokenNames[0]);

namespace {

// Tokens matched in the raw text before the model runs (llama.cpp also matches UNKNOWN ones).
bool IsAddedType(int32_t t) { return t == kTokControl || t == kTokUserDefined || t == kTokUnknown; }

// Unicode White_Space (what HF / JS trim for lstrip/rstrip).
bool IsSpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000 || c == 0xFEFF;
}

// Length of the whitespace run at the end (back=true) or start of s.
size_t SpaceRun(std::string_view s, bool back) {
  if (!back) {
    size_t i = 0;
    uint32_t cp;
    for (int n; i < s.size() && (n = Utf8Decode(s, i, &cp)) > 0 && IsSpace(cp);) i += n;
    return i;
  }
  size_t end = s.size();
  while (end > 0) {
    size_t b = end - 1;
    while (b > 0 && end - b < 4 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
    uint32_t cp;
    int n = Utf8Decode(s, b, &cp);
    if (n <= 0 || b + n != end || !IsSpace(cp)) break;
    end = b;
  }
  return s.size() - end;
}

}  // namespace

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromData(TokenizerData data) {
  TokenizerBuildOptions opts;
  if (data.model == "llama") {
    // llama.cpp's SPM tokenizer: "▁" before text at the start and after each special token,
    // byte fallback, unk = the first token typed UNKNOWN.
    opts.spm_prefix = data.add_space_prefix ? TokenizerBuildOptions::SpmPrefix::kEverySegment
                                            : TokenizerBuildOptions::SpmPrefix::kNone;
    auto unk = std::find(data.token_types.begin(), data.token_types.end(), kTokUnknown);
    if (unk != data.token_types.end()) opts.unk_id = static_cast<int32_t>(unk - data.token_types.begin());
    return Build(std::move(data), std::move(opts));
  }
  if (data.model != "gpt2")
    return Errorf("unsupported tokenizer model '%.64s' (supported: byte-level BPE \"gpt2\", "
                  "SentencePiece BPE \"llama\")", data.model.c_str());
  std::string pre = data.pre.empty() ? "default" : data.pre;
  std::vector<std::string> regexes = data.pre_regexes;
  if (regexes.empty()) {
    regexes = NamedPreRegexes(pre);
    if (regexes.empty())
      return Errorf("unknown pre-tokenizer '%.64s' (known: llama-bpe, llama3, qwen2, deepseek-v3, gpt-4o, "
                    "longcat-flash, gpt2, default)", pre.c_str());
  }
  for (auto& r : regexes) opts.steps.push_back(SplitStep{r, SplitBehavior::kIsolated, false, false, true});
  // Settings implied by the named tokenizers' tokenizer.json files (a GGUF does not store them).
  opts.nfc = pre == "qwen2";
  opts.ignore_merges = pre == "llama-bpe" || pre == "llama3" || pre == "gpt-4o";
  return Build(std::move(data), std::move(opts));
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::Build(TokenizerData data, TokenizerBuildOptions opts) {
  const size_t n = data.tokens.size();
  if (n == 0) return Errorf("tokenizer has an empty vocabulary");
  if (n > (1u << 24)) return Errorf("tokenizer vocabulary too large (%zu tokens)", n);
  if (data.token_types.empty()) data.token_types.assign(n, kTokNormal);
  if (data.token_types.size() != n)
    return Errorf("token_types has %zu entries but there are %zu tokens", data.token_types.size(), n);
  auto check_id = [&](int32_t id, const char* what) -> Status {
    if (id < -1 || id >= static_cast<int64_t>(n)) return Errorf("%s id %d out of range [0, %zu)", what, id, n);
    return Status::Ok();
  };
  MOECAT_RETURN_IF_ERROR(check_id(data.bos_id, "bos"));
  MOECAT_RETURN_IF_ERROR(check_id(data.eos_id, "eos"));
  MOECAT_RETURN_IF_ERROR(check_id(data.eot_id, "eot"));
  MOECAT_RETURN_IF_ERROR(check_id(data.pad_id, "pad"));
  MOECAT_RETURN_IF_ERROR(check_id(opts.unk_id, "unk"));
  for (int32_t id : data.eog_ids) MOECAT_RETURN_IF_ERROR(check_id(id, "eog"));

  std::unique_ptr<Tokenizer> t(new Tokenizer());
  Impl& im = *t->impl_;
  std::vector<bool> in_model(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t ty = data.token_types[i];
    in_model[i] = ty == kTokNormal || ty == kTokByte || ty == kTokUnknown;
    if (IsAddedType(ty) && !data.tokens[i].empty()) {
      auto st = opts.strip.find(static_cast<int32_t>(i));
      bool l = st != opts.strip.end() && st->second.first, r = st != opts.strip.end() && st->second.second;
      im.added.push_back({static_cast<int32_t>(i), ty != kTokUserDefined, l, r});
    }
  }
  for (size_t k = 0; k < im.added.size(); ++k)
    im.by_first_byte[static_cast<unsigned char>(data.tokens[im.added[k].id][0])].push_back(static_cast<int32_t>(k));
  for (auto& bucket : im.by_first_byte)
    std::stable_sort(bucket.begin(), bucket.end(), [&](int32_t a, int32_t b) {
      return data.tokens[im.added[a].id].size() > data.tokens[im.added[b].id].size();
    });
  if (data.model == "llama") {
    im.spm = std::make_unique<SpmModel>();
    MOECAT_RETURN_IF_ERROR(im.spm->Build(data.tokens, data.token_types, data.merges, data.scores,
                                         opts.byte_fallback, opts.unk_id));
    im.spm_prefix = opts.spm_prefix;
    im.spm_split = opts.spm_split;
  } else {
    MOECAT_RETURN_IF_ERROR(im.bpe.Build(data.tokens, in_model, data.merges, opts.ignore_merges, opts.unk_id));
    MOECAT_ASSIGN_OR_RETURN(im.pre, PreTokenizer::Create(std::move(opts.steps)));
  }
  im.nfc = opts.nfc;

  // End-of-generation set: what the source listed, else eos/eot plus the well-known names.
  if (data.eog_ids.empty()) {
    std::unordered_map<std::string_view, int32_t> by_name;
    for (size_t i = 0; i < n; ++i)
      if (IsAddedType(data.token_types[i])) by_name.emplace(data.tokens[i], static_cast<int32_t>(i));
    // Harmony (gpt-oss): <|end|> only closes one message (analysis before the final answer);
    // generation ends at <|return|> or <|call|>.
    const bool harmony = by_name.count("<|return|>") > 0;
    auto end_it = by_name.find("<|end|>");
    const int32_t harmony_end = harmony && end_it != by_name.end() ? end_it->second : -1;
    for (int32_t id : {data.eos_id, data.eot_id})
      if (id >= 0 && id != harmony_end) data.eog_ids.push_back(id);
    for (size_t k = 0; k < kEogTokenNameCount; ++k) {
      if (harmony && std::string_view(kEogTokenNames[k]) == "<|end|>") continue;
      auto it = by_name.find(kEogTokenNames[k]);
      if (it != by_name.end() && std::find(data.eog_ids.begin(), data.eog_ids.end(), it->second) == data.eog_ids.end())
        data.eog_ids.push_back(it->second);
    }
  }
  im.eog.insert(data.eog_ids.begin(), data.eog_ids.end());
  t->data_ = std::move(data);
  return t;
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && data_.add_bos && data_.bos_id >= 0) out.push_back(data_.bos_id);
  // 1. Split the raw text on added tokens (longest match at the leftmost position).
  struct Seg { size_t b, e; int32_t added; };  // added: index into impl_->added, or -1 for text
  std::vector<Seg> segs;
  const Impl& im = *impl_;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    int32_t hit = -1;
    if (!im.added.empty()) {
      for (int32_t k : im.by_first_byte[static_cast<unsigned char>(text[i])]) {
        const Impl::Added& a = im.added[k];
        if (a.special && !parse_special) continue;
        const std::string& c = data_.tokens[a.id];
        if (c.size() <= text.size() - i && std::memcmp(text.data() + i, c.data(), c.size()) == 0) { hit = k; break; }
      }
    }
    if (hit < 0) { ++i; continue; }
    if (i > start) segs.push_back({start, i, -1});
    size_t len = data_.tokens[im.added[hit].id].size();
    segs.push_back({i, i + len, hit});
    i += len;
    start = i;
  }
  if (start < text.size()) segs.push_back({start, text.size(), -1});
  // 2. lstrip / rstrip: added tokens swallow the whitespace next to them.
  for (size_t s = 0; s < segs.size(); ++s) {
    if (segs[s].added < 0) continue;
    const Impl::Added& a = im.added[segs[s].added];
    if (a.lstrip && s > 0 && segs[s - 1].added < 0)
      segs[s - 1].e -= SpaceRun(std::string_view(text).substr(segs[s - 1].b, segs[s - 1].e - segs[s - 1].b), true);
    if (a.rstrip && s + 1 < segs.size() && segs[s + 1].added < 0)
      segs[s + 1].b += SpaceRun(std::string_view(text).substr(segs[s + 1].b, segs[s + 1].e - segs[s + 1].b), false);
  }
  // 3. Text segments: normalize, pre-tokenize, BPE.
  std::vector<std::string> pieces;
  for (const Seg& s : segs) {
    if (s.added >= 0) { out.push_back(im.added[s.added].id); continue; }
    if (s.e <= s.b) continue;
    std::string_view seg = std::string_view(text).substr(s.b, s.e - s.b);
    std::string norm;
    if (im.nfc) { norm = NfcNormalize(seg); seg = norm; }
    if (im.spm) {
      EncodeSpm(seg, /*at_start=*/s.b == 0, out);
      continue;
    }
    pieces.clear();
    im.pre->Split(seg, pieces);
    for (const std::string& p : pieces) im.bpe.Encode(p, out);
  }
  return out;
}

void Tokenizer::EncodeSpm(std::string_view seg, bool at_start, std::vector<int32_t>& out) const {
  using Prefix = TokenizerBuildOptions::SpmPrefix;
  const Impl& im = *impl_;
  std::string norm;
  norm.reserve(seg.size() + seg.size() / 4 + 3);
  if (im.spm_prefix == Prefix::kEverySegment || (im.spm_prefix == Prefix::kFirst && at_start)) norm += kSpmSpace;
  for (char c : seg) {
    if (c == ' ') norm += kSpmSpace;
    else norm += c;
  }
  if (!im.spm_split) { im.spm->Encode(norm, out); return; }
  // Metaspace split: a new word starts at every "▁".
  size_t b = 0;
  for (size_t i = kSpmSpace.size(); i <= norm.size(); ++i) {
    if (i == norm.size() || norm.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
      im.spm->Encode(std::string_view(norm).substr(b, i - b), out);
      b = i;
    }
  }
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  int32_t ty = data_.token_types[id];
  if (IsAddedType(ty)) return data_.tokens[id];  // added tokens hold raw text, not byte-level
  if (ty == kTokUnused) return "";
  return impl_->spm ? impl_->spm->raw(id) : impl_->bpe.raw(id);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  // SentencePiece: the "▁" the encoder prepended comes back as a leading space; drop one, as the
  // HF decoders do (Strip / Metaspace). Streaming output keeps it, like llama.cpp's server.
  if (impl_->spm && impl_->spm_prefix != TokenizerBuildOptions::SpmPrefix::kNone && !out.empty() &&
      out[0] == ' ')
    out.erase(0, 1);
  return out;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(data_.tokens.size()); }

bool Tokenizer::is_eog(int32_t id) const { return impl_->eog.count(id) != 0; }

std::string Tokenizer::StreamDecoder::push(int32_t id) {
  pending_ += tok_.token_bytes(id);
  // Hold back a trailing lead byte whose sequence is still incomplete; emit everything else
  // (invalid bytes included, so nothing is held forever).
  size_t n = pending_.size(), keep = 0;
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(pending_[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 1;
    if (need > back) keep = back;
    break;
  }
  std::string out = pending_.substr(0, n - keep);
  pending_.erase(0, n - keep);
  return out;
}

std::string Tokenizer::StreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace moecat
