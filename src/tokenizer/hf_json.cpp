// SAX handler for tokenizer.json; see hf_json.h.
#include "tokenizer/hf_json.h"

#include <limits>

namespace moecat {
namespace {

using json = nlohmann::json;

class Handler : public nlohmann::json_sax<json> {
 public:
  explicit Handler(HfJsonParts* out) : out_(out) {}
  std::string error;

  bool null() override { return Value(json(nullptr)); }
  bool boolean(bool v) override { return Value(json(v)); }
  bool number_integer(number_integer_t v) override { return Int(v, true); }
  bool number_unsigned(number_unsigned_t v) override {
    return Int(v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? -1 : static_cast<int64_t>(v), true);
  }
  bool number_float(number_float_t v, const string_t&) override { return Int(0, false) && Value(json(v)); }
  bool binary(binary_t&) override { return Fail("unexpected binary value"); }
  bool string(string_t& v) override {
    if (mode_ == kVocab) return Fail("vocab entry \"" + key_.substr(0, 60) + "\" has a non-integer id");
    if (mode_ == kMerges) {
      if (level_ == 0) { out_->merges.push_back(std::move(v)); return true; }
      if (level_ == 1 && pair_n_ < 2) { pair_[pair_n_++] = std::move(v); return true; }
      return BadMerge();
    }
    return Value(json(std::move(v)));
  }
  bool key(string_t& k) override { key_ = std::move(k); return true; }
  bool start_object(std::size_t) override {
    if (mode_ != kNormal) return mode_ == kVocab ? Fail("vocab entry is not an integer id") : BadMerge();
    if (AtModelMember("vocab")) { mode_ = kVocab; out_->has_vocab = true; return true; }
    return Push(json::object());
  }
  bool end_object() override {
    if (mode_ == kVocab) { mode_ = kNormal; return true; }
    return Pop();
  }
  bool start_array(std::size_t) override {
    if (mode_ == kVocab) return Fail("vocab entry is not an integer id");
    if (mode_ == kMerges) {
      if (level_ != 0) return BadMerge();
      level_ = 1;
      pair_n_ = 0;
      return true;
    }
    if (AtModelMember("merges")) { mode_ = kMerges; level_ = 0; out_->has_merges = true; return true; }
    return Push(json::array());
  }
  bool end_array() override {
    if (mode_ == kMerges) {
      if (level_ == 0) { mode_ = kNormal; return true; }
      // A space inside a part would make the "a b" form ambiguous; byte-level vocabularies never
      // contain a raw space (it is written as "Ġ").
      if (pair_n_ != 2 || pair_[0].empty() || pair_[1].empty() || pair_[0].find(' ') != std::string::npos ||
          pair_[1].find(' ') != std::string::npos)
        return BadMerge();
      out_->merges.push_back(pair_[0] + " " + pair_[1]);
      level_ = 0;
      return true;
    }
    return Pop();
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& e) override {
    if (error.empty()) error = "invalid JSON at byte " + std::to_string(pos) + ": " + e.what();
    return false;
  }

 private:
  enum Mode { kNormal, kVocab, kMerges };

  bool Fail(std::string msg) {
    if (error.empty()) error = std::move(msg);
    return false;
  }
  bool BadMerge() {
    return Fail("merge " + std::to_string(out_->merges.size()) + " is neither \"a b\" nor [\"a\", \"b\"]");
  }
  // True when the next container is the value of `name` inside the top-level "model" object.
  bool AtModelMember(const char* name) const {
    return stack_.size() == 2 && names_[1] == "model" && stack_[1]->is_object() && key_ == name;
  }
  bool Int(int64_t v, bool is_int) {
    if (mode_ == kVocab) {
      if (!is_int) return Fail("vocab entry \"" + key_.substr(0, 60) + "\" has a non-integer id");
      if (v < 0) return Fail("vocab entry \"" + key_.substr(0, 60) + "\" has an out-of-range id");
      out_->vocab.emplace_back(std::move(key_), v);
      return true;
    }
    if (mode_ == kMerges) return BadMerge();
    return is_int ? Value(json(v)) : true;
  }
  // Adds a scalar to the current container (or makes it the root).
  bool Value(json v) {
    if (mode_ != kNormal) return mode_ == kVocab ? Fail("vocab entry is not an integer id") : BadMerge();
    if (stack_.empty()) { out_->rest = std::move(v); return true; }
    json& top = *stack_.back();
    if (top.is_object()) top[key_] = std::move(v); else top.push_back(std::move(v));
    return true;
  }
  bool Push(json v) {
    if (stack_.size() > 512) return Fail("JSON nested too deeply");
    json* slot;
    if (stack_.empty()) {
      out_->rest = std::move(v);
      slot = &out_->rest;
    } else {
      json& top = *stack_.back();
      if (top.is_object()) slot = &(top[key_] = std::move(v));
      else { top.push_back(std::move(v)); slot = &top.back(); }
    }
    names_.push_back(stack_.empty() || !stack_.back()->is_object() ? std::string() : key_);
    stack_.push_back(slot);
    return true;
  }
  bool Pop() {
    if (stack_.empty()) return Fail("unbalanced JSON");
    stack_.pop_back();
    names_.pop_back();
    return true;
  }

  HfJsonParts* out_;
  std::vector<json*> stack_;        // open containers; pointers stay valid (only the top grows)
  std::vector<std::string> names_;  // key under which each open container was added
  std::string key_;
  Mode mode_ = kNormal;
  int level_ = 0;                   // merges: 0 in the list, 1 inside a ["a", "b"] pair
  int pair_n_ = 0;
  std::string pair_[2];
};

}  // namespace

Status ParseHfJson(const std::string& text, HfJsonParts* out) {
  *out = HfJsonParts();
  Handler h(out);
  bool ok = false;
  try {
    ok = json::sax_parse(text, &h);
  } catch (const std::exception& e) {  // sax_parse reports through parse_error; this is a backstop
    if (h.error.empty()) h.error = e.what();
  }
  if (!ok) return Errorf("tokenizer.json: %s", h.error.empty() ? "invalid JSON" : h.error.c_str());
  return Status::Ok();
}

}  // namespace moecat
