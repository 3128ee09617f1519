// Tool calls under tool_choice "auto": free text until the family's call-open tag, then the call
// under a constraint, then free text again (json_constraint.h). Without it a model is free to
// write a call whose arguments do not parse or miss a required key, and the client gets that
// JSON as the call's arguments (the soak test's finding with a small model); llama-server
// enforces calls the same way once their trigger appears.
#include <algorithm>
#include <utility>

#include "serve/grammar/json_constraint.h"

namespace moecat {

struct TriggerTable {
  std::string trigger;
  int64_t n_vocab = 0;
  std::vector<std::string> text;            // [n_vocab] every token's text, special tokens included
  std::vector<std::vector<int32_t>> cross;  // [trigger size] cross[p]: tokens that, after the
                                            // trigger's first p bytes, end it and go on (p >= 1)
  std::vector<int32_t> inner;               // tokens holding the whole trigger with bytes after it
  // Anchored calls: 0 = empty or whitespace only, 1 = the first other byte is the trigger's first
  // byte, 2 = any other text.
  std::vector<uint8_t> lead_class;
};

std::shared_ptr<const TriggerTable> build_trigger_table(const std::string& trigger, int64_t n_vocab,
                                                        const std::function<std::string(int32_t)>& token_text) {
  auto t = std::make_shared<TriggerTable>();
  t->trigger = trigger;
  t->n_vocab = n_vocab;
  t->text.resize(n_vocab);
  const size_t L = trigger.size();
  t->cross.resize(L);
  t->lead_class.assign(n_vocab, 0);
  for (int32_t id = 0; id < n_vocab; ++id) {
    const std::string& s = t->text[id] = token_text(id);
    const size_t first = s.find_first_not_of(" \t\r\n");
    if (first != std::string::npos) t->lead_class[id] = L && s[first] == trigger[0] ? 1 : 2;
    if (s.empty() || L == 0) continue;
    for (size_t p = 1; p < L; ++p)
      if (s.size() > L - p && s.compare(0, L - p, trigger, p, L - p) == 0) t->cross[p].push_back(id);
    for (size_t at = s.find(trigger); at != std::string::npos; at = s.find(trigger, at + 1))
      if (at + L < s.size()) {
        t->inner.push_back(id);
        break;
      }
  }
  return t;
}

namespace {

class LazyCallConstraint : public JsonConstraint {
 public:
  LazyCallConstraint(std::shared_ptr<const TriggerTable> t, std::function<std::unique_ptr<JsonConstraint>()> start,
                     std::vector<int32_t> suffix, std::vector<int32_t> end)
      : t_(std::move(t)), start_(std::move(start)), suffix_(std::move(suffix)), end_(std::move(end)) {}

  void allowed(std::vector<uint8_t>& mask, int64_t remaining) override {
    if (call_) return call_->allowed(mask, std::max<int64_t>(1, remaining - (int64_t)suffix_.size()));
    if (in_suffix_) {
      mask.assign(t_->n_vocab, 0);
      mask[suffix_[suffix_pos_]] = 1;
      return;
    }
    if (done_) {
      mask.assign(t_->n_vocab, 0);
      for (int32_t e : end_) mask[e] = 1;
      return;
    }
    mask.assign(t_->n_vocab, 1);
    for (int32_t id : t_->inner) mask[id] = 0;
    for (size_t p : partial_)
      for (int32_t id : t_->cross[p]) mask[id] = 0;
  }

  bool accept(int32_t token) override {
    if (token < 0 || token >= t_->n_vocab) return false;
    if (call_) {
      if (!call_->accept(token)) return false;
      if (call_->complete()) {
        call_.reset();
        in_suffix_ = !suffix_.empty();
        done_ = !in_suffix_ && !end_.empty();
        suffix_pos_ = 0;
        tail_.clear();
        partial_.clear();
      }
      return true;
    }
    if (in_suffix_) {
      if (token != suffix_[suffix_pos_]) return false;
      in_suffix_ = ++suffix_pos_ < suffix_.size();
      done_ = !in_suffix_ && !end_.empty();
      return true;
    }
    if (done_) return std::find(end_.begin(), end_.end(), token) != end_.end();
    if (banned(token)) return false;
    const std::string& trig = t_->trigger;
    std::string text = tail_ + t_->text[token];
    if (text.size() >= trig.size() && text.compare(text.size() - trig.size(), trig.size(), trig) == 0) {
      call_ = start_();  // nullptr: no call constraint could be made; the text stays free
      tail_.clear();
      partial_.clear();
      if (call_) return true;
    }
    // Keep the bytes that can still begin the trigger, and which of its prefixes they end with.
    if (text.size() >= trig.size()) text.erase(0, text.size() - (trig.size() - 1));
    tail_ = std::move(text);
    partial_.clear();
    for (size_t p = std::min(tail_.size(), trig.size() - 1); p >= 1; --p)
      if (tail_.compare(tail_.size() - p, p, trig, 0, p) == 0) partial_.push_back(p);
    return true;
  }

  bool complete() const override { return !call_ && !in_suffix_; }

  bool masks() const override {
    if (call_ || in_suffix_ || done_ || !t_->inner.empty()) return true;
    for (size_t p : partial_)
      if (!t_->cross[p].empty()) return true;
    return false;
  }

  bool free_text() const override { return !call_ && !in_suffix_ && !done_; }

 private:
  bool banned(int32_t token) const {
    if (std::binary_search(t_->inner.begin(), t_->inner.end(), token)) return true;
    for (size_t p : partial_)
      if (std::binary_search(t_->cross[p].begin(), t_->cross[p].end(), token)) return true;
    return false;
  }

  std::shared_ptr<const TriggerTable> t_;
  std::function<std::unique_ptr<JsonConstraint>()> start_;
  std::vector<int32_t> suffix_;
  std::unique_ptr<JsonConstraint> call_;  // the call being written (engaged)
  bool in_suffix_ = false;
  size_t suffix_pos_ = 0;
  std::vector<int32_t> end_;    // one call only: what may follow its close
  bool done_ = false;           // that call is closed
  std::string tail_;            // free text's last bytes (fewer than the trigger's)
  std::vector<size_t> partial_; // p: tail_ ends with the trigger's first p bytes
};

// The reply is a call when its first text (after whitespace) opens one: the call constraint from
// the first byte on (its first token must be one the call allows), else free text to the end.
class AnchoredCallConstraint : public JsonConstraint {
 public:
  AnchoredCallConstraint(std::shared_ptr<const TriggerTable> t, std::unique_ptr<JsonConstraint> call,
                         std::vector<int32_t> end)
      : t_(std::move(t)), call_(std::move(call)), end_(std::move(end)) {}

  void allowed(std::vector<uint8_t>& mask, int64_t remaining) override {
    if (state_ == kCall) return call_->allowed(mask, remaining);
    if (state_ == kDone) {
      mask.assign(t_->n_vocab, 0);
      for (int32_t e : end_) mask[e] = 1;
      return;
    }
    if (state_ == kFree) {
      mask.assign(t_->n_vocab, 1);
      return;
    }
    // Start: what begins a call (as the call allows it), whitespace, or text that cannot.
    call_->allowed(mask, remaining);
    mask.resize(t_->n_vocab, 0);
    for (int64_t i = 0; i < t_->n_vocab; ++i)
      if (t_->lead_class[i] != 1) mask[i] = 1;
  }

  bool accept(int32_t token) override {
    if (token < 0 || token >= t_->n_vocab) return false;
    switch (state_) {
      case kFree: return true;
      case kDone: return std::find(end_.begin(), end_.end(), token) != end_.end();
      case kCall:
        if (!call_->accept(token)) return false;
        if (call_->complete()) state_ = kDone;
        return true;
      case kStart:
        if (t_->lead_class[token] == 1) {
          if (!call_->accept(token)) return false;
          state_ = call_->complete() ? kDone : kCall;
        } else if (t_->lead_class[token] == 2) {
          state_ = kFree;
        }
        return true;
    }
    return false;
  }

  bool complete() const override { return state_ == kStart || state_ == kFree; }
  bool masks() const override { return state_ != kFree; }
  bool free_text() const override { return state_ == kFree; }

 private:
  enum State { kStart, kCall, kDone, kFree };
  std::shared_ptr<const TriggerTable> t_;
  std::unique_ptr<JsonConstraint> call_;
  std::vector<int32_t> end_;
  State state_ = kStart;
};

}  // namespace

std::unique_ptr<JsonConstraint> make_anchored_call_constraint(std::shared_ptr<const TriggerTable> table,
                                                              std::unique_ptr<JsonConstraint> call,
                                                              std::vector<int32_t> end) {
  if (!table || table->trigger.empty() || !call || end.empty()) return nullptr;
  for (int32_t t : end)
    if (t < 0 || t >= table->n_vocab) return nullptr;
  return std::make_unique<AnchoredCallConstraint>(std::move(table), std::move(call), std::move(end));
}

std::unique_ptr<JsonConstraint> make_lazy_call_constraint(std::shared_ptr<const TriggerTable> trigger,
                                                          std::function<std::unique_ptr<JsonConstraint>()> start,
                                                          std::vector<int32_t> suffix,
                                                          std::vector<int32_t> end_after_call) {
  if (!trigger || trigger->trigger.empty() || !start) return nullptr;
  for (int32_t t : suffix)
    if (t < 0 || t >= trigger->n_vocab) return nullptr;
  for (int32_t t : end_after_call)
    if (t < 0 || t >= trigger->n_vocab) return nullptr;
  return std::make_unique<LazyCallConstraint>(std::move(trigger), std::move(start), std::move(suffix),
                                              std::move(end_after_call));
}

}  // namespace moecat
