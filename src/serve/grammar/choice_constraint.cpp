// A constraint for a generation that starts with one of several fixed token sequences (a
// tool's name in the model's own call syntax) and then continues as a JSON value constrained
// for that alternative (the tool's arguments).
#include <utility>

#include "serve/grammar/json_constraint.h"

namespace moecat {

namespace {

class ChoiceConstraint : public JsonConstraint {
 public:
  ChoiceConstraint(int64_t n_vocab, std::vector<std::vector<int32_t>> lead,
                   std::vector<std::unique_ptr<JsonConstraint>> then)
      : n_vocab_(n_vocab), lead_(std::move(lead)), then_(std::move(then)) {
    for (int k = 0; k < (int)lead_.size(); ++k) live_.push_back(k);
    pick();
  }

  void allowed(std::vector<uint8_t>& mask, int64_t remaining) override {
    if (chosen_ >= 0) return then_[chosen_]->allowed(mask, remaining);
    mask.assign(n_vocab_, 0);
    for (int k : live_) {
      const int32_t t = lead_[k][pos_];
      if (t >= 0 && t < n_vocab_) mask[t] = 1;
    }
  }

  bool accept(int32_t token) override {
    if (chosen_ >= 0) return then_[chosen_]->accept(token);
    std::vector<int> next;
    for (int k : live_)
      if (lead_[k][pos_] == token) next.push_back(k);
    if (next.empty()) return false;
    live_ = std::move(next);
    ++pos_;
    pick();
    return true;
  }

  bool complete() const override { return chosen_ >= 0 && then_[chosen_]->complete(); }

 private:
  void pick() {  // the first live alternative whose sequence is complete
    for (int k : live_)
      if (lead_[k].size() == pos_) {
        chosen_ = k;
        return;
      }
  }

  int64_t n_vocab_;
  std::vector<std::vector<int32_t>> lead_;
  std::vector<std::unique_ptr<JsonConstraint>> then_;
  std::vector<int> live_;
  size_t pos_ = 0;
  int chosen_ = -1;
};

}  // namespace

std::unique_ptr<JsonConstraint> make_choice_constraint(int64_t n_vocab, std::vector<std::vector<int32_t>> lead,
                                                       std::vector<std::unique_ptr<JsonConstraint>> then) {
  if (lead.empty() || lead.size() != then.size()) return nullptr;
  return std::make_unique<ChoiceConstraint>(n_vocab, std::move(lead), std::move(then));
}

}  // namespace moecat
