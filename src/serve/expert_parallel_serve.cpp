#include "serve/expert_parallel_serve.h"

#include <cstring>
#include <memory>

#include "base/check.h"
#include "runtime/paged_kv.h"

namespace moecat {

namespace {
// Message layout, int32 words: kind (1: forward, 0: stop), n, n_spans, tokens[n], pos[n], then
// per span: begin, n, n_logits, n_blocks, blocks[n_blocks], n_prev, ids at positions [0, n_prev).
enum : int32_t { kStop = 0, kForward = 1 };

std::string to_bytes(const std::vector<int32_t>& w) {
  return std::string(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(int32_t));
}
}  // namespace

void StepBroadcaster::send(const Batch& b) {
  MOECAT_CHECK(b.spans && b.n_spans > 0);
  std::vector<int32_t>& w = words_;
  w.clear();
  w.push_back(kForward);
  w.push_back(static_cast<int32_t>(b.n));
  w.push_back(static_cast<int32_t>(b.n_spans));
  w.insert(w.end(), b.tokens, b.tokens + b.n);
  w.insert(w.end(), b.pos, b.pos + b.n);
  for (int64_t i = 0; i < b.n_spans; ++i) {
    const SeqSpan& sp = b.spans[i];
    const LayerKv& L = sp.kv->layers.at(0);
    MOECAT_CHECK_MSG(L.blocks && L.block_rows > 0, "expert-parallel serving needs the paged KV cache");
    const int32_t p0 = b.pos[sp.begin], p_last = b.pos[sp.begin + sp.n - 1];
    const int32_t nb = static_cast<int32_t>(p_last / L.block_rows + 1);
    w.push_back(static_cast<int32_t>(sp.begin));
    w.push_back(static_cast<int32_t>(sp.n));
    w.push_back(static_cast<int32_t>(sp.n_logits));
    w.push_back(nb);
    w.insert(w.end(), L.blocks, L.blocks + nb);
    w.push_back(p0);
    w.insert(w.end(), sp.kv->tokens.begin(), sp.kv->tokens.begin() + p0);
  }
  comm_->broadcast_string(to_bytes(w));
}

void StepBroadcaster::stop() {
  if (stopped_) return;
  stopped_ = true;
  comm_->broadcast_string(to_bytes({kStop}));
}

Status run_step_follower(Engine& engine, ExpertComm* comm, int64_t n_blocks, int64_t max_seq_len,
                         int64_t block_rows) {
  const Model& model = engine.model();
  PagedKvCache pool(engine.kv_shape(), n_blocks, max_seq_len, block_rows);
  const int64_t V = model.config().n_vocab;
  std::vector<int32_t> w;
  std::vector<float> logits;
  for (;;) {
    const std::string msg = comm->broadcast_string_idle("");
    MOECAT_CHECK(msg.size() % sizeof(int32_t) == 0 && !msg.empty());
    w.resize(msg.size() / sizeof(int32_t));
    std::memcpy(w.data(), msg.data(), msg.size());
    if (w[0] == kStop) return Status::Ok();
    MOECAT_CHECK(w[0] == kForward && w.size() >= 3);
    const int64_t n = w[1], n_spans = w[2];
    size_t at = 3;
    auto take = [&](int64_t k) {  // k words from the message
      MOECAT_CHECK_MSG(k >= 0 && at + (size_t)k <= w.size(), "malformed step from rank 0");
      const int32_t* p = w.data() + at;
      at += (size_t)k;
      return p;
    };
    Batch b;
    b.n = n;
    b.tokens = take(n);
    b.pos = take(n);
    std::vector<std::unique_ptr<PagedSeq>> seqs;
    std::vector<SeqSpan> spans;
    int64_t rows = 0;
    for (int64_t i = 0; i < n_spans; ++i) {
      const int32_t* h = take(4);
      const int32_t* blocks = take(h[3]);
      const int64_t n_prev = *take(1);
      const int32_t* prev = take(n_prev);
      seqs.push_back(pool.view(blocks, h[3], prev, n_prev));
      spans.push_back(SeqSpan{h[0], h[1], &seqs.back()->kv(), h[2]});
      rows += h[2];
    }
    b.spans = spans.data();
    b.n_spans = n_spans;
    logits.resize(static_cast<size_t>(rows * V));
    model.forward(b, *spans[0].kv, logits.data(), engine.pool());
  }
}

}  // namespace moecat
