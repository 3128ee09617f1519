#include "runtime/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <thread>

#include "model/expert_parallel.h"
#include "model/registry.h"
#include "model/tokenizer_load.h"

namespace moecat {

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Expert parallelism (model/expert_parallel.h): every rank must have loaded the same model, or
// the job ends on every rank with the failed rank's message (never a hang in the first forward).
static Status agree_on_load(ExpertComm* comm, const Status& local, const Model* m) {
  MOECAT_RETURN_IF_ERROR(comm->agree(local));
  const ModelConfig& c = m->config();
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the shape of the model
  for (int64_t v : {c.n_layer, c.n_embd, c.n_vocab, c.n_expert, c.n_expert_used, c.n_ff_expert,
                    static_cast<int64_t>(m->weights().loaded().size())}) {
    h = (h ^ static_cast<uint64_t>(v)) * 1099511628211ull;
  }
  const uint64_t h0 = comm->broadcast_u64(h);
  return comm->agree(h == h0 ? Status::Ok()
                             : Errorf("loaded a model of another shape than rank 0's (every rank needs the same model)"));
}

Result<std::unique_ptr<Engine>> Engine::Load(const std::string& path, const EngineOptions& opt) {
  std::unique_ptr<Engine> e(new Engine());
  e->opt_ = opt;
  ExpertComm* comm = expert_comm();
  if (e->opt_.threads <= 0) {
    int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (comm && comm->size() > 1)  // ranks on one machine share its cores
      if (const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) cores /= std::max(1, std::atoi(local));
    e->opt_.threads = std::max(1, cores);
  }
  Status st = [&]() -> Status {
    MOECAT_ASSIGN_OR_RETURN(e->model_, load_model(path));
    if (opt.need_tokenizer) {
      auto tok = load_tokenizer(e->model_->weights().source());
      if (!tok.ok()) return Status(tok.status()).prefix("loading tokenizer of " + path);
      e->tokenizer_ = std::move(tok).value();
      if (e->tokenizer_->vocab_size() > e->model_->config().n_vocab)
        return Errorf("%s: tokenizer has %d tokens but the model only %lld", path.c_str(),
                      e->tokenizer_->vocab_size(), (long long)e->model_->config().n_vocab);
    }
    return Status::Ok();
  }();
  if (comm && comm->size() > 1) st = agree_on_load(comm, st, e->model_.get());
  MOECAT_RETURN_IF_ERROR(st);
  e->opt_.n_ctx = std::max<int64_t>(1, std::min(e->opt_.n_ctx, e->model_->config().n_ctx_train));
  e->pool_ = std::make_unique<ThreadPool>(e->opt_.threads);
  return e;
}

std::unique_ptr<Engine> Engine::FromModel(std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tok,
                                          const EngineOptions& opt) {
  std::unique_ptr<Engine> e(new Engine());
  e->opt_ = opt;
  if (e->opt_.threads <= 0) e->opt_.threads = 1;
  e->model_ = std::move(model);
  e->tokenizer_ = std::move(tok);
  e->pool_ = std::make_unique<ThreadPool>(e->opt_.threads);
  return e;
}

void Engine::eval(KvCache& kv, const int32_t* tokens, int64_t n, int64_t pos0, bool all_logits,
                  float* logits, float* hidden) {
  const int64_t V = model_->config().n_vocab, D = model_->config().n_embd;
  std::vector<int32_t> pos;
  for (int64_t start = 0; start < n; start += opt_.n_batch) {
    const int64_t m = std::min(opt_.n_batch, n - start);
    pos.resize(m);
    std::iota(pos.begin(), pos.end(), static_cast<int32_t>(pos0 + start));
    Batch b{tokens + start, pos.data(), m, all_logits, &stats_, hidden ? hidden + start * D : nullptr};
    const bool last_chunk = start + m == n;
    if (!all_logits && !last_chunk) {
      std::vector<float> scratch(V);  // logits of a non-final chunk are not needed
      model_->forward(b, kv.view(), scratch.data(), pool_.get());
    } else {
      model_->forward(b, kv.view(), logits + (all_logits ? start * V : 0), pool_.get());
    }
  }
}

Status Engine::check_tokens(const std::vector<int32_t>& tokens) const {
  const int64_t V = model_->config().n_vocab;
  Status st = [&]() -> Status {
    if (tokens.empty()) return Errorf("no tokens given");
    for (int32_t t : tokens)
      if (t < 0 || t >= V) return Errorf("token id %d is outside the vocabulary (0..%lld)", t, (long long)V - 1);
    return Status::Ok();
  }();
  // Expert parallelism: every rank must run the same tokens (their forwards exchange data), or
  // all stop here with the reason instead of exchanging mismatched blocks.
  ExpertComm* comm = expert_comm();
  if (!comm || comm->size() <= 1) return st;
  uint64_t h = 1469598103934665603ull ^ tokens.size();
  for (int32_t t : tokens) h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ull;
  if (comm->broadcast_u64(h) != h && st.ok())
    st = Errorf("its input tokens differ from rank 0's (under mpirun only rank 0 reads stdin: pass the prompt "
                "with -p or as an argument)");
  return comm->agree(st);
}

void log_softmax(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i] - mx));
  const float lse = mx + static_cast<float>(std::log(s));
  for (int64_t i = 0; i < n; ++i) x[i] -= lse;
}

Result<std::vector<std::vector<float>>> Engine::logprobs(const std::vector<int32_t>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size()), V = model_->config().n_vocab;
  MOECAT_RETURN_IF_ERROR(check_tokens(tokens));
  if (n > opt_.n_ctx) return Errorf("%lld tokens exceed the context size %lld", (long long)n, (long long)opt_.n_ctx);
  KvCache kv(kv_shape(), n, opt_.n_batch);
  std::vector<float> logits(n * V);
  eval(kv, tokens.data(), n, 0, true, logits.data());
  std::vector<std::vector<float>> out(n);
  for (int64_t t = 0; t < n; ++t) {
    log_softmax(logits.data() + t * V, V);
    out[t].assign(logits.data() + t * V, logits.data() + (t + 1) * V);
  }
  return out;
}

Result<Engine::GenStats> Engine::generate(const std::vector<int32_t>& prompt, int64_t n_predict,
                                          Sampler& sampler, const std::function<bool(int32_t)>& on_token,
                                          bool stop_at_eog, Draft draft, int n_draft) {
  const int64_t V = model_->config().n_vocab;
  const int64_t np = static_cast<int64_t>(prompt.size());
  MOECAT_RETURN_IF_ERROR(check_tokens(prompt));
  if (draft != Draft::kNone) return generate_drafted(prompt, n_predict, sampler, on_token, stop_at_eog, draft, n_draft);
  if (np + n_predict > opt_.n_ctx)
    return Errorf("prompt (%lld tokens) + %lld new tokens exceed the context size %lld", (long long)np,
                  (long long)n_predict, (long long)opt_.n_ctx);
  GenStats st;
  st.n_prompt = np;
  KvCache kv(kv_shape(), np + n_predict, opt_.n_batch);
  std::vector<float> logits(V);
  double t0 = now_s();
  eval(kv, prompt.data(), np, 0, false, logits.data());
  st.prefill_s = now_s() - t0;
  std::vector<int32_t> history = prompt;
  t0 = now_s();
  for (int64_t i = 0; i < n_predict; ++i) {
    const int32_t tok = sampler.sample(logits.data(), history);
    history.push_back(tok);
    ++st.n_gen;
    if (stop_at_eog && tokenizer_ && tokenizer_->is_eog(tok)) break;
    if (!on_token(tok)) break;
    if (i + 1 == n_predict) break;
    eval(kv, &tok, 1, np + i, false, logits.data());
  }
  st.gen_s = now_s() - t0;
  return st;
}

}  // namespace moecat
