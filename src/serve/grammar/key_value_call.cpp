// A forced tool call in LongCat's key/value syntax (Flash-Lite / Thinking-2601 tag format):
// after the name line the generation writes pairs
//   <longcat_arg_key>KEY</longcat_arg_key>\n<longcat_arg_value>VALUE</longcat_arg_value>\n
// and then </longcat_tool_call>. The keys are the tool's properties, each at most once, chosen
// token by token among the ones not written yet; the call may end only once every required
// property is there. A value is read back by the parser (serve/chat/parse_longcat.cpp) as raw
// text when its schema type is or includes "string" (or there is none), else as JSON, so a
// string value is constrained to text without '<' (so it cannot write a tag) and any other value
// to JSON matching the property's schema (the JSON constraint, whose end is taken as the start
// of </longcat_arg_value>). When the token budget gets tight only what completes the call fastest
// is allowed: required keys, then the closing tags.
#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "serve/chat/parsers.h"
#include "serve/grammar/json_constraint.h"

namespace moecat {

namespace {

constexpr int64_t kMargin = 2;

struct Param {
  bool required = false;
  std::vector<int32_t> head;  // <longcat_arg_key>KEY</longcat_arg_key>\n<longcat_arg_value>
  // JSON-typed values: their constraint, made (and the schema checked) when the call's
  // constraint is; used once, since a key is written at most once. Null: raw text.
  std::unique_ptr<JsonConstraint> value;
};

class KeyValueCall final : public JsonConstraint {
 public:
  KeyValueCall(std::vector<Param> params, std::vector<int32_t> close, std::vector<int32_t> end,
               std::vector<uint8_t> text_ok, std::vector<int32_t> eog, int64_t n_vocab)
      : params_(std::move(params)), close_(std::move(close)), end_(std::move(end)),
        text_ok_(std::move(text_ok)), eog_(std::move(eog)), n_vocab_(n_vocab), used_(params_.size(), 0) {
    start_choice();
  }

  bool complete() const override { return st_ == St::kDone; }

  void allowed(std::vector<uint8_t>& mask, int64_t remaining) override {
    mask.assign(n_vocab_, 0);
    switch (st_) {
      case St::kDone:
        for (int32_t e : eog_) set(mask, e);
        return;
      case St::kChoose: {
        // An optional key only while the budget also holds its shortest pair.
        const int64_t need = rest_min(-1) + kMargin;
        for (int a : live_) {
          if (a >= 0 && !params_[a].required &&
              remaining <= need + (int64_t)(params_[a].head.size() - pos_ + 1 + close_.size()))
            continue;
          set(mask, alt(a)[pos_]);
        }
        if (std::none_of(mask.begin(), mask.end(), [](uint8_t m) { return m != 0; }))
          for (int a : live_) set(mask, alt(a)[pos_]);  // over budget anyway: any way on
        return;
      }
      case St::kFixed:
        set(mask, fixed_[pos_]);
        return;
      case St::kText: {
        if (remaining > (int64_t)close_.size() + rest_min(cur_) + kMargin)
          for (int64_t i = 0; i < n_vocab_; ++i) mask[i] = text_ok_[i];
        set(mask, close_[0]);
        return;
      }
      case St::kJson: {
        json_->allowed(mask, std::max<int64_t>(1, remaining - (int64_t)close_.size() - rest_min(cur_)));
        // The value may end here: its end-of-generation becomes the closing tag's first token.
        for (int32_t e : eog_)
          if (e >= 0 && e < n_vocab_) mask[e] = 0;
        if (json_->complete()) set(mask, close_[0]);
        return;
      }
    }
  }

  bool accept(int32_t token) override {
    switch (st_) {
      case St::kDone:
        return std::find(eog_.begin(), eog_.end(), token) != eog_.end();
      case St::kChoose: {
        std::vector<int> next;
        for (int a : live_)
          if (alt(a)[pos_] == token) next.push_back(a);
        if (next.empty()) return false;
        live_ = std::move(next);
        ++pos_;
        for (int a : live_)
          if (alt(a).size() == pos_) {  // chosen
            if (a < 0) {
              st_ = St::kDone;
            } else {
              cur_ = a;
              used_[a] = 1;
              start_value();
            }
            break;
          }
        return true;
      }
      case St::kFixed:
        if (token != fixed_[pos_]) return false;
        if (++pos_ == fixed_.size()) start_choice();
        return true;
      case St::kText:
        if (token == close_[0]) return close_value();
        return token >= 0 && token < n_vocab_ && text_ok_[token];
      case St::kJson:
        if (token == close_[0] && json_->complete()) return close_value();
        return json_->accept(token);
    }
    return false;
  }

 private:
  enum class St { kChoose, kText, kJson, kFixed, kDone };

  void set(std::vector<uint8_t>& mask, int32_t t) const {
    if (t >= 0 && t < n_vocab_) mask[t] = 1;
  }
  const std::vector<int32_t>& alt(int a) const { return a < 0 ? end_ : params_[a].head; }

  // Fewest tokens that finish the call from a choice point, with `skip` (the key being written)
  // already done: every missing required key with a one-token value, then the end tag.
  int64_t rest_min(int skip) const {
    int64_t n = (int64_t)end_.size();
    for (size_t i = 0; i < params_.size(); ++i)
      if (params_[i].required && !used_[i] && (int)i != skip)
        n += (int64_t)params_[i].head.size() + 1 + (int64_t)close_.size();
    return n;
  }

  void start_choice() {
    st_ = St::kChoose;
    pos_ = 0;
    live_.clear();
    bool all_required = true;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!used_[i]) live_.push_back((int)i);
      if (params_[i].required && !used_[i]) all_required = false;
    }
    if (all_required) live_.push_back(-1);
  }

  void start_value() {
    json_ = std::move(params_[cur_].value);
    st_ = json_ ? St::kJson : St::kText;
  }

  bool close_value() {
    fixed_.assign(close_.begin() + 1, close_.end());
    pos_ = 0;
    if (fixed_.empty()) start_choice();
    else st_ = St::kFixed;
    return true;
  }

  std::vector<Param> params_;
  std::vector<int32_t> close_, end_;
  std::vector<uint8_t> text_ok_;  // [n_vocab] tokens a string value may use
  std::vector<int32_t> eog_;
  int64_t n_vocab_;
  std::vector<uint8_t> used_;     // [params] written already
  St st_ = St::kChoose;
  std::vector<int> live_;         // kChoose: alternatives still matching (-1: the end tag)
  size_t pos_ = 0;
  int cur_ = -1;                  // the key whose value is being written
  std::unique_ptr<JsonConstraint> json_;
  std::vector<int32_t> fixed_;    // kFixed: the rest of the closing tag
};

}  // namespace

Result<std::unique_ptr<JsonConstraint>> make_key_value_call_constraint(
    std::shared_ptr<const ConstraintIndex> index, const nlohmann::json& parameters,
    const std::function<std::vector<int32_t>(const std::string&)>& encode) {
  if (!index) return Errorf("key/value call: no vocabulary index");
  std::vector<Param> params;
  const nlohmann::json* props = nullptr;
  if (parameters.is_object()) {
    auto p = parameters.find("properties");
    if (p != parameters.end() && p->is_object()) props = &*p;
  }
  std::vector<std::string> required;
  if (parameters.is_object()) {
    auto r = parameters.find("required");
    if (r != parameters.end() && r->is_array())
      for (const auto& k : *r)
        if (k.is_string()) required.push_back(k.get<std::string>());
  }
  if (props) {
    for (const auto& [key, schema] : props->items()) {
      if (key.empty() || key.find('<') != std::string::npos)
        return Errorf("key/value call: property name %s cannot be written in the key/value syntax",
                      nlohmann::json(key).dump().c_str());
      Param p;
      p.required = std::find(required.begin(), required.end(), key) != required.end();
      p.head = encode("<longcat_arg_key>" + key + "</longcat_arg_key>\n<longcat_arg_value>");
      if (chat::longcat_value_is_json(schema)) {
        auto c = JsonConstraint::Create(index, schema);
        if (!c.ok()) return Errorf("property %s: %s", nlohmann::json(key).dump().c_str(), c.status().message().c_str());
        p.value = std::move(*c);
      }
      if (p.head.empty()) return Errorf("key/value call: the tokenizer wrote nothing for a key");
      params.push_back(std::move(p));
    }
  }
  for (const std::string& k : required)
    if (!props || !props->contains(k))
      return Errorf("key/value call: required property %s is not among the properties", nlohmann::json(k).dump().c_str());
  std::vector<int32_t> close = encode("</longcat_arg_value>\n"), end = encode("</longcat_tool_call>");
  if (close.empty() || end.empty()) return Errorf("key/value call: the tokenizer wrote nothing for a tag");
  // No alternative may be a prefix of another (each is chosen token by token).
  for (size_t i = 0; i < params.size(); ++i)
    for (size_t j = 0; j < params.size(); ++j)
      if (i != j && params[i].head.size() <= params[j].head.size() &&
          std::equal(params[i].head.begin(), params[i].head.end(), params[j].head.begin()))
        return Errorf("key/value call: two keys tokenize ambiguously");
  std::vector<uint8_t> text_ok = text_token_mask(*index, '<');
  std::vector<int32_t> eog = constraint_eog_ids(*index);
  const int64_t n_vocab = (int64_t)text_ok.size();
  return std::unique_ptr<JsonConstraint>(new KeyValueCall(std::move(params), std::move(close), std::move(end),
                                                          std::move(text_ok), std::move(eog), n_vocab));
}

}  // namespace moecat
