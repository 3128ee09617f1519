// Batch helpers shared by every architecture's forward (single- and multi-sequence batches).
#include "model/model.h"

namespace moecat {

std::vector<SeqSpan> batch_spans(const Batch& b, SequenceKv& kv) {
  if (!b.spans) return {SeqSpan{0, b.n, &kv}};
  MOECAT_CHECK(b.n_spans > 0);
  std::vector<SeqSpan> s(b.spans, b.spans + b.n_spans);
  int64_t next = 0;
  for (const SeqSpan& x : s) {
    MOECAT_CHECK(x.begin == next && x.n > 0 && x.kv && x.n_logits >= 1 && x.n_logits <= x.n);
    next += x.n;
  }
  MOECAT_CHECK(next == b.n);
  return s;
}

std::vector<int64_t> logit_rows(const Batch& b, const std::vector<SeqSpan>& spans) {
  std::vector<int64_t> rows;
  if (b.all_logits) {
    rows.resize(b.n);
    for (int64_t i = 0; i < b.n; ++i) rows[i] = i;
  } else {
    for (const SeqSpan& s : spans)
      for (int64_t r = s.begin + s.n - s.n_logits; r < s.begin + s.n; ++r) rows.push_back(r);
  }
  return rows;
}

Batch span_batch(const Batch& b, const SeqSpan& s) {
  Batch r = b;
  r.tokens = b.tokens + s.begin;
  r.pos = b.pos + s.begin;
  r.n = s.n;
  r.spans = nullptr;
  r.n_spans = 0;
  return r;
}

}  // namespace moecat
