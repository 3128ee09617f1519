// Speculative decoding without a second model: drafts come from the model's multi-token-prediction
// head (LongCat-Flash MTP: the next n_draft tokens from the main model's last hidden state) or
// from n-gram lookup (the tokens that followed the latest earlier occurrence of the current
// suffix — quotes and repeated boilerplate in support chats). The main model checks the drafts in
// one batched forward, and tokens are emitted while the main model's own choice equals the draft. Every emitted token is sampled from the main model's distribution in
// order (one sampler call per token, as without drafting), and kernels give bit-identical rows
// whatever the batch, so the output is the same as plain generation.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "runtime/engine.h"
#include "runtime/ngram_draft.h"

namespace moecat {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int32_t argmax(const float* x, int64_t n) {
  return static_cast<int32_t>(std::max_element(x, x + n) - x);
}

}  // namespace

// Up to k tokens that followed the most recent earlier occurrence of the longest suffix of
// `h` (3, then 2 tokens) — prompt-lookup decoding.
std::vector<int32_t> ngram_draft(const std::vector<int32_t>& h, int64_t k) {
  const int64_t n = static_cast<int64_t>(h.size());
  // Suffixes of one token match almost anywhere and their drafts are mostly wrong, and in an MoE a
  // wrong draft is not free (each row reads its own experts): support chats on the shipped model
  // padded to real sizes (bench/serve_draft_bench.sh, --n-draft 3), 16 streams, drafts accepted
  // 356 / 1917 from a 1-token suffix on, 271 / 630 from 2 (170 / 426 from 3); decode 13.9 -> 18.0
  // tok/s per stream.
  constexpr int64_t kMinMatch = 2;
  for (int64_t len = std::min<int64_t>(3, n - 1); len >= kMinMatch; --len) {
    for (int64_t start = n - len - 1; start >= 0; --start) {
      if (!std::equal(h.begin() + start, h.begin() + start + len, h.end() - len)) continue;
      // The continuation is read from h extended by the draft itself (an overlapping copy, as
      // in LZ77): a match near the end of h, e.g. in a repeating stretch, still yields k tokens
      // (the period repeated) instead of the few before the end.
      const int64_t from = start + len;
      std::vector<int32_t> d;
      d.reserve(static_cast<size_t>(std::max<int64_t>(k, 0)));
      for (int64_t i = 0; i < k; ++i) {
        const int64_t src = from + i;
        d.push_back(src < n ? h[src] : d[src - n]);
      }
      return d;
    }
  }
  return {};
}


Result<std::vector<std::vector<float>>> Engine::mtp_logprobs(const std::vector<int32_t>& tokens) {
  if (!model_->has_mtp()) return Errorf("this model has no MTP head");
  MOECAT_RETURN_IF_ERROR(check_tokens(tokens));
  const int64_t n = static_cast<int64_t>(tokens.size()), V = model_->config().n_vocab, D = model_->config().n_embd;
  if (n < 2) return Errorf("the MTP head needs at least 2 tokens");
  KvCache kv(kv_shape(), n, opt_.n_batch), mkv(mtp_kv_shape(), n, opt_.n_batch);
  std::vector<float> hidden(n * D), last(V);
  eval(kv, tokens.data(), n, 0, false, last.data(), hidden.data());
  // Slot i: hidden state at i with token i+1, at rope position i (as vLLM / SGLang place it).
  std::vector<int32_t> pos(n - 1);
  std::iota(pos.begin(), pos.end(), 0);
  std::vector<float> logits((n - 1) * V);
  Batch b{tokens.data() + 1, pos.data(), n - 1, true};
  model_->forward_mtp(b, hidden.data(), mkv.view(), logits.data(), pool_.get());
  std::vector<std::vector<float>> out(n - 1);
  for (int64_t t = 0; t < n - 1; ++t) {
    float* row = logits.data() + t * V;
    log_softmax(row, V);
    out[t].assign(row, row + V);
  }
  return out;
}

Result<Engine::GenStats> Engine::generate_drafted(const std::vector<int32_t>& prompt, int64_t n_predict,
                                                  Sampler& sampler, const std::function<bool(int32_t)>& on_token,
                                                  bool stop_at_eog, Draft draft, int n_draft) {
  const bool mtp = draft == Draft::kMtp;
  if (mtp && !model_->has_mtp()) return Errorf("--draft mtp: this model has no MTP head");
  if (n_draft < 1) return Errorf("need at least 1 draft token per step");
  if (n_draft > 8) return Errorf("at most 8 draft tokens per step");
  const int64_t V = model_->config().n_vocab, D = model_->config().n_embd;
  const int64_t np = static_cast<int64_t>(prompt.size());
  const int64_t cap = np + n_predict + n_draft + 1;
  if (cap > opt_.n_ctx)
    return Errorf("prompt (%lld tokens) + %lld new tokens exceed the context size %lld", (long long)np,
                  (long long)n_predict, (long long)opt_.n_ctx);
  GenStats st;
  st.n_prompt = np;
  KvCache kv(kv_shape(), cap, opt_.n_batch), mkv(mtp ? mtp_kv_shape() : KvShape{}, mtp ? cap : 0, opt_.n_batch);
  std::vector<int32_t> history = prompt;
  bool done = n_predict <= 0;
  // Samples from main-model logits and emits, exactly as plain generation does.
  auto emit = [&](const float* logits) -> int32_t {
    const int32_t s = sampler.sample(logits, history);
    history.push_back(s);
    ++st.n_gen;
    if ((stop_at_eog && tokenizer_ && tokenizer_->is_eog(s)) || !on_token(s) || st.n_gen >= n_predict)
      done = true;
    return s;
  };
  // MTP over pairs (h[j], toks[j]) at positions pos0.. : last row's logits -> mlogits, hidden -> g.
  std::vector<float> mlogits(V), g(D), mh;
  std::vector<int32_t> mpos;
  auto run_mtp = [&](const int32_t* toks, const float* h, int64_t m, int64_t pos0) {
    mpos.resize(m);
    std::iota(mpos.begin(), mpos.end(), static_cast<int32_t>(pos0));
    mh.resize(m * D);
    Batch b{toks, mpos.data(), m, false, nullptr, mh.data()};
    model_->forward_mtp(b, h, mkv.view(), mlogits.data(), pool_.get());
    std::copy(mh.end() - D, mh.end(), g.begin());
  };

  double t0 = now_s();
  std::vector<float> hidden(mtp ? np * D : 0), logits(V);
  eval(kv, prompt.data(), np, 0, false, logits.data(), mtp ? hidden.data() : nullptr);
  int32_t tok = emit(logits.data());
  int64_t pos = np;  // position of tok (not yet in the main cache)
  if (mtp) {  // MTP catch-up over the prompt: slots (h_i, t_{i+1}) at position i, the last one with tok.
    std::vector<int32_t> next(prompt.begin() + 1, prompt.end());
    next.push_back(tok);
    run_mtp(next.data(), hidden.data(), np, 0);
  }
  // The head's pass over the prompt is prompt processing (it grows with the prompt, not with the
  // reply): counted in prefill_s, so gen_s compares with plain generation's.
  st.prefill_s = now_s() - t0;
  t0 = now_s();
  std::vector<int32_t> batch, drafts;
  std::vector<float> vlogits, vhidden;
  while (!done) {
    const int64_t k = std::min<int64_t>(n_draft, n_predict - st.n_gen);
    drafts.clear();
    if (mtp) {
      for (int64_t j = 0; j < k; ++j) {
        drafts.push_back(argmax(mlogits.data(), V));
        if (j + 1 < k) {  // chain: the head's own hidden state stands in for the main model's
          std::vector<float> gin = g;
          run_mtp(&drafts.back(), gin.data(), 1, pos + j);
        }
      }
    } else {
      drafts = ngram_draft(history, k);  // history ends with tok
    }
    const int64_t nd = static_cast<int64_t>(drafts.size());
    // Verify tok + drafts in one forward over positions pos .. pos+k.
    batch.assign(1, tok);
    batch.insert(batch.end(), drafts.begin(), drafts.end());
    vlogits.resize((nd + 1) * V);
    vhidden.resize((nd + 1) * D);
    eval(kv, batch.data(), nd + 1, pos, true, vlogits.data(), mtp ? vhidden.data() : nullptr);
    st.drafted += nd;
    int64_t m = 0;  // drafts confirmed
    int32_t s = -1;
    for (int64_t j = 0; j <= nd && !done; ++j) {
      s = emit(vlogits.data() + j * V);
      if (j < nd && s == drafts[j]) ++m; else break;
    }
    st.accepted += m;
    if (done) break;
    // Confirmed slots (h at pos+j, token at pos+j+1) at position pos+j for j = 0..m; the last
    // one drafts the next step.
    if (mtp) {
      std::vector<int32_t> next(drafts.begin(), drafts.begin() + m);
      next.push_back(s);
      run_mtp(next.data(), vhidden.data(), m + 1, pos);
    }
    tok = s;
    pos += m + 1;
  }
  st.gen_s = now_s() - t0;
  return st;
}

}  // namespace moecat
