#include "serve/scheduler.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>

#include "base/check.h"
#include "runtime/ngram_draft.h"
#include "runtime/prefix_cache_file.h"

namespace moecat {

using Clock = std::chrono::steady_clock;

// ---- RequestStream -------------------------------------------------------------------------

bool RequestStream::take(Item& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !pending_.tokens.empty() || pending_.done; })) return false;
  out.tokens.clear();
  std::swap(out.tokens, pending_.tokens);
  out.done = pending_.done;
  out.reason = pending_.reason;
  out.error = pending_.error;
  out.unavailable = pending_.unavailable;
  out.n_prompt = pending_.n_prompt;
  out.n_cached = pending_.n_cached;
  out.n_gen = pending_.n_gen;
  return true;
}

void RequestStream::push(const TokenEvent& e) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    pending_.tokens.push_back(e);
  }
  cv_.notify_all();
}

void RequestStream::finish(FinishReason r, std::string error, int64_t n_prompt, int64_t n_cached, int64_t n_gen,
                           bool unavailable) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (pending_.done) return;  // fail_all ended it already
    pending_.unavailable = unavailable;
    pending_.done = true;
    pending_.reason = r;
    pending_.error = std::move(error);
    pending_.n_prompt = n_prompt;
    pending_.n_cached = n_cached;
    pending_.n_gen = n_gen;
  }
  cv_.notify_all();
}

// ---- Scheduler -----------------------------------------------------------------------------

struct Scheduler::Seq {
  GenRequest req;
  std::shared_ptr<RequestStream> stream;
  std::unique_ptr<PagedSeq> ps;
  std::vector<int32_t> tokens;  // prompt, then generated ids
  int64_t n_prompt = 0, n_past = 0, n_gen = 0, n_cached = 0;
  std::unique_ptr<Sampler> sampler;
  std::unordered_map<int32_t, int32_t> counts;  // generated id -> occurrences (penalties)
  Clock::time_point t_submit, t_last;
  uint64_t serial = 0;          // submission order: the highest is the youngest
  bool first_token_sent = false;
  bool admitted = false;        // has run before (a preempted sequence waiting to resume)
  bool done = false;
  std::vector<int32_t> mtp_drafts;  // the MTP head's drafts for the token after the pending one
  FinishReason finish_reason = FinishReason::kStop;  // finish() deferred to the step's end
  std::string finish_error;
};

struct Scheduler::Advance {
  Seq* s;
  int64_t row0, p0, n;  // batch rows [row0, row0 + n) hold positions [p0, p0 + n)
};

namespace {
// The paged pool: the model's layers, plus the MTP head's one layer as a side layer.
KvShape pool_shape(const Engine& e, const SchedulerOptions& o) {
  KvShape s = e.kv_shape();
  if (o.draft_mtp) {
    const KvShape m = e.mtp_kv_shape();
    MOECAT_CHECK_MSG(m.n_layer == 1 && m.k_width == s.k_width && m.v_width == s.v_width,
                     "the MTP head's cache must have the main layers' row widths");
    s.n_layer += 1;
    s.window.push_back(0);
  }
  return s;
}
}  // namespace

static const double kTtftBuckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

Scheduler::Scheduler(Engine& engine, const SchedulerOptions& opt)
    : engine_(engine),
      model_(engine.model()),
      opt_(opt),
      cache_(pool_shape(engine, opt),
             opt.kv_blocks > 0 ? opt.kv_blocks
                               : (opt.parallel + 1) * ((opt.n_ctx + opt.block_rows - 1) / opt.block_rows),
             opt.n_ctx, opt.block_rows, opt.draft_mtp ? 1 : 0) {
  MOECAT_CHECK(opt.parallel > 0 && opt.n_ctx > 0 && opt.n_batch > 0);
  m_.ttft_buckets_le.assign(std::begin(kTtftBuckets), std::end(kTtftBuckets));
  m_.ttft_bucket_counts.assign(m_.ttft_buckets_le.size(), 0);
  if (!opt_.prefix_cache_file.empty()) {
    prefix_identity_ = prefix_cache_identity(model_, cache_);  // reads the model file's header: once
    load_prefix_cache_file();
  }
  m_.kv = cache_.stats();
  thread_ = std::thread([this] { loop(); });
}

void Scheduler::load_prefix_cache_file() {
  const std::string& path = opt_.prefix_cache_file;
  if (access(path.c_str(), F_OK) != 0) {
    std::fprintf(stderr, "moecat: no prefix cache at %s yet; it is written there at shutdown\n", path.c_str());
    return;
  }
  auto n = load_prefix_cache(cache_, path, prefix_identity_, model_.config().n_vocab);
  if (!n.ok()) {
    std::fprintf(stderr, "moecat: warning: ignoring the prefix cache file: %s\n", n.status().message().c_str());
    return;
  }
  std::fprintf(stderr, "moecat: prefix cache: %lld blocks (%lld positions) loaded from %s\n", (long long)*n,
               (long long)(*n * opt_.block_rows), path.c_str());
}

void Scheduler::save_prefix_cache_file() {
  auto n = save_prefix_cache(cache_, opt_.prefix_cache_file, prefix_identity_);
  if (!n.ok()) {
    std::fprintf(stderr, "moecat: warning: %s\n", n.status().message().c_str());
    return;
  }
  std::fprintf(stderr, "moecat: prefix cache: %lld blocks saved to %s\n", (long long)*n, opt_.prefix_cache_file.c_str());
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The engine thread is gone and every sequence closed: the pool holds only cached blocks.
  if (!opt_.prefix_cache_file.empty() && !saved_) {
    saved_ = true;
    save_prefix_cache_file();
  }
}

Scheduler::Submitted Scheduler::submit(GenRequest r) {
  const int32_t n_vocab = static_cast<int32_t>(model_.config().n_vocab);
  auto refuse = [](Refusal why, std::string msg) { return Submitted{nullptr, why, std::move(msg)}; };
  if (r.prompt.empty()) return refuse(Refusal::kInvalid, "the prompt is empty");
  for (int32_t t : r.prompt)
    if (t < 0 || t >= n_vocab) return refuse(Refusal::kInvalid, "token id " + std::to_string(t) + " outside the vocabulary");
  if ((int64_t)r.prompt.size() >= opt_.n_ctx)
    return refuse(Refusal::kInvalid, "the prompt has " + std::to_string(r.prompt.size()) +
                                         " tokens; this server's context is " + std::to_string(opt_.n_ctx));
  if (r.max_tokens <= 0) r.max_tokens = opt_.n_ctx - (int64_t)r.prompt.size();
  auto s = std::make_unique<Seq>();
  s->sampler = std::make_unique<Sampler>(r.sampling, n_vocab);
  s->tokens = r.prompt;
  s->n_prompt = (int64_t)r.prompt.size();
  s->req = std::move(r);
  s->stream = std::make_shared<RequestStream>();
  s->t_submit = Clock::now();
  static std::atomic<uint64_t> serials{0};
  s->serial = ++serials;
  std::shared_ptr<RequestStream> st = s->stream;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failed_.empty()) return refuse(Refusal::kShuttingDown, failed_);
    if (stop_) return refuse(Refusal::kShuttingDown, "the server is shutting down");
    // Free batch slots count as room too: a request only waits when every slot is busy.
    const int64_t free_slots = std::max<int64_t>(0, opt_.parallel - (int64_t)running_.size());
    // Preempted sequences waiting to resume do not take queue places from new requests.
    const int64_t waiting = std::count_if(queue_.begin(), queue_.end(), [](const auto& q) { return !q->admitted; });
    if (waiting >= opt_.max_queue + free_slots) {
      ++m_.requests_rejected;
      return refuse(Refusal::kQueueFull, "the server is busy: request queue full, retry later");
    }
    queue_.push_back(std::move(s));
  }
  cv_.notify_all();
  return Submitted{st, Refusal::kNone, ""};
}

void Scheduler::fail_all(const std::string& why) {
  std::lock_guard<std::mutex> lk(mu_);
  failed_ = why;
  // The engine thread may hold running_'s sequences mid-forward: only their streams are ended
  // here (thread-safe); a later finish() of the same stream is ignored.
  // (n_gen is the engine thread's to write: reported as 0.)
  for (auto& s : queue_) s->stream->finish(FinishReason::kError, why, s->n_prompt, 0, 0, true);
  for (auto& s : running_) s->stream->finish(FinishReason::kError, why, s->n_prompt, 0, 0, true);
}

SchedulerMetrics Scheduler::metrics() const {
  std::lock_guard<std::mutex> lk(mu_);
  SchedulerMetrics m = m_;
  m.queue_length = (int64_t)queue_.size();
  m.running = (int64_t)running_.size();
  // m_.kv is a snapshot the engine thread refreshes under mu_: the cache itself is only ever
  // touched by the engine thread.
  return m;
}

// True when a running sequence is still prefilling blocks that w's prompt shares with it:
// admitting w now would compute that shared prefix a second time, while a little later it
// comes from the prefix cache (the common case: many chats arriving with one system prompt,
// or the n choices of one request).
bool Scheduler::shares_inflight_prefill(const Seq& w) const {
  for (const auto& r : running_) {
    if (r->n_past >= r->n_prompt) continue;
    const int64_t lim = std::min(w.n_prompt - 1, r->n_prompt);
    int64_t common = 0;
    while (common < lim && w.tokens[common] == r->tokens[common]) ++common;
    const int64_t shared = common / opt_.block_rows * opt_.block_rows;  // whole blocks only
    if (shared > r->n_past) return true;
  }
  return false;
}

// Moves queued requests into free slots (mu_ held), in arrival order except that a request
// waits while its prompt's prefix is being prefilled by a running one. True if anything runs.
bool Scheduler::admit_locked() {
  int64_t promised = 0;  // blocks running prompts are still to take
  for (const auto& r : running_)
    promised += std::max<int64_t>(0, cache_.blocks_for((int64_t)r->tokens.size()) - r->ps->n_blocks());
  for (auto it = queue_.begin(); it != queue_.end() && (int64_t)running_.size() < opt_.parallel;) {
    Seq& w = **it;
    if (w.stream->cancelled()) {
      ++m_.requests_cancelled;
      if (w.admitted) ++m_.requests_finished;  // a preempted one had started
      w.stream->finish(FinishReason::kCancelled, "", w.n_prompt, w.n_cached, w.n_gen);
      it = queue_.erase(it);
      continue;
    }
    if (shares_inflight_prefill(w)) {
      ++it;
      continue;
    }
    // First come, first served: when the head's prompt does not fit in the free blocks, the
    // others wait behind it (they would only delay it further).
    if (!cache_.can_open(w.tokens, (int64_t)w.tokens.size(), promised)) break;
    std::unique_ptr<Seq> s = std::move(*it);
    it = queue_.erase(it);
    s->ps = cache_.open(s->tokens);
    promised += cache_.blocks_for((int64_t)s->tokens.size()) - s->ps->n_blocks();
    s->n_past = s->ps->n_cached();
    s->mtp_drafts.clear();
    if (!s->admitted) {  // a resumed sequence was counted when it first started
      s->admitted = true;
      s->n_cached = s->n_past;
      ++m_.requests_started;
      m_.prompt_tokens += s->n_prompt;
      m_.prompt_tokens_cached += s->n_cached;
    }
    running_.push_back(std::move(s));
  }
  m_.kv = cache_.stats();
  return !running_.empty();
}

void Scheduler::finish(Seq& s, FinishReason r, const std::string& err) {
  s.done = true;
  if (defer_close_) {  // the step's MTP pass still writes its rows: blocks, client and metrics after it
    s.finish_reason = r;
    s.finish_error = err;
    close_after_step_.push_back(&s);
    return;
  }
  cache_.close(*s.ps);
  s.stream->finish(r, err, s.n_prompt, s.n_cached, s.n_gen);
  std::lock_guard<std::mutex> lk(mu_);
  if (r == FinishReason::kCancelled) ++m_.requests_cancelled;
  ++m_.requests_finished;
  m_.kv = cache_.stats();
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty() || !running_.empty(); });
      if (stop_) break;
      admit_locked();
    }
    step(running_);
  }
  // Shutting down: end every stream so no consumer waits forever.
  std::unique_lock<std::mutex> lk(mu_);
  for (auto& s : queue_) s->stream->finish(FinishReason::kError, "server shutting down", s->n_prompt, 0, 0);
  queue_.clear();
  std::vector<std::unique_ptr<Seq>> run = std::move(running_);
  lk.unlock();
  for (auto& s : run) finish(*s, FinishReason::kError, "server shutting down");
}

// Preempts the youngest sequences until every decoding one (next position in a new block)
// can get its block. The victims' blocks go back to the pool (full ones stay in the prefix
// cache); they wait at the head of the queue, in submission order.
int64_t Scheduler::decode_blocks_needed(const Seq& s) const {
  if ((int64_t)s.tokens.size() - s.n_past != 1) return 0;  // prefill chunks wait for blocks instead
  return std::max<int64_t>(0, cache_.blocks_for(s.n_past + 1) - s.ps->n_blocks());
}

void Scheduler::make_room(std::vector<std::unique_ptr<Seq>>& run) {
  for (;;) {
    int64_t need = 0;
    for (const auto& s : run) need += decode_blocks_needed(*s);
    if (need <= cache_.available_blocks() || run.size() <= 1) return;
    auto youngest = std::max_element(run.begin(), run.end(), [](const auto& a, const auto& b) { return a->serial < b->serial; });
    preempt(run, youngest);
  }
}

void Scheduler::preempt(std::vector<std::unique_ptr<Seq>>& run, std::vector<std::unique_ptr<Seq>>::iterator it) {
  std::lock_guard<std::mutex> lk(mu_);  // run is running_: metrics() and submit() read it
  std::unique_ptr<Seq> v = std::move(*it);
  run.erase(it);
  cache_.close(*v->ps);
  v->ps.reset();
  v->n_past = 0;
  v->mtp_drafts.clear();
  ++m_.preemptions;
  auto at = std::find_if(queue_.begin(), queue_.end(), [&](const auto& q) { return q->serial > v->serial; });
  queue_.insert(at, std::move(v));
  m_.kv = cache_.stats();
}

void Scheduler::step(std::vector<std::unique_ptr<Seq>>& run) {
  // Drop cancelled sequences first: their blocks go back before this step allocates.
  for (auto& s : run)
    if (s->stream->cancelled()) finish(*s, FinishReason::kCancelled);
  {
    std::lock_guard<std::mutex> lk(mu_);  // fail_all() reads running_ from other threads
    run.erase(std::remove_if(run.begin(), run.end(), [](const std::unique_ptr<Seq>& s) { return s->done; }), run.end());
  }
  if (run.empty()) return;
  make_room(run);

  // Decoding sequences (one pending token) first so they never wait behind a long prompt;
  // prompt chunks fill the rest of the n_batch budget in arrival order.
  std::vector<Seq*> order;
  for (auto& s : run)
    if ((int64_t)s->tokens.size() - s->n_past == 1) order.push_back(s.get());
  for (auto& s : run)
    if ((int64_t)s->tokens.size() - s->n_past > 1) order.push_back(s.get());
  std::vector<int32_t> toks, pos;
  std::vector<SeqSpan> spans;
  std::vector<Seq*> span_seq;
  std::vector<std::vector<int32_t>> drafts;  // [spans]: draft tokens after the pending one
  int64_t budget = opt_.n_batch;
  // Blocks the decoding sequences still to be placed need for their one pending token: drafts
  // may only take blocks beyond those, so drafting never holds another sequence back.
  int64_t need_later = 0;
  for (Seq* s : order) need_later += decode_blocks_needed(*s);
  for (Seq* s : order) {
    if (budget <= 0) break;
    const bool decoding = (int64_t)s->tokens.size() - s->n_past == 1;
    const int64_t own_need = decode_blocks_needed(*s);
    need_later -= own_need;
    int64_t take = std::min<int64_t>((int64_t)s->tokens.size() - s->n_past, budget);
    // A prompt chunk takes what the free blocks hold; the rest waits for blocks.
    const int64_t room = (s->ps->n_blocks() + cache_.available_blocks()) * cache_.block_rows() - s->n_past;
    take = std::min(take, room);
    if (take <= 0) continue;
    std::vector<int32_t> d;
    if (take == 1 && decoding) {
      // Drafts are optional: as many as the blocks spare for them hold (possibly none).
      const int64_t spare = cache_.available_blocks() - own_need - need_later;
      const int64_t fit = (std::max(s->ps->n_blocks(), cache_.blocks_for(s->n_past + 1)) + std::max<int64_t>(0, spare)) *
                              cache_.block_rows() - s->n_past - 1;
      d = draft_for(*s, std::min(budget - 1, fit));
    }
    if (!cache_.reserve(*s->ps, s->n_past + take + (int64_t)d.size())) continue;
    const int64_t nd = (int64_t)d.size();
    spans.push_back(SeqSpan{(int64_t)toks.size(), take + nd, &s->ps->kv(), 1 + nd});
    span_seq.push_back(s);
    for (int64_t i = 0; i < take; ++i) {
      toks.push_back(s->tokens[s->n_past + i]);
      pos.push_back(static_cast<int32_t>(s->n_past + i));
    }
    for (int64_t i = 0; i < nd; ++i) {
      toks.push_back(d[i]);
      pos.push_back(static_cast<int32_t>(s->n_past + 1 + i));
    }
    drafts.push_back(std::move(d));
    budget -= take + nd;
  }
  if (spans.empty()) {
    // Only prompt chunks, and no blocks for any of them: preempt the youngest so the others can
    // go on (a sequence alone always fits: the pool holds a full context).
    MOECAT_CHECK_MSG(run.size() > 1, "a lone sequence could not get KV blocks");
    auto youngest = std::max_element(run.begin(), run.end(), [](const auto& a, const auto& b) { return a->serial < b->serial; });
    preempt(run, youngest);
    return;
  }

  const int64_t V = model_.config().n_vocab;
  int64_t n_rows = 0;
  for (const SeqSpan& sp : spans) n_rows += sp.n_logits;
  std::vector<float> logits(n_rows * V);  // [sum of spans' n_logits][n_vocab]
  Batch b;
  b.tokens = toks.data();
  b.pos = pos.data();
  b.n = (int64_t)toks.size();
  b.spans = spans.data();
  b.n_spans = (int64_t)spans.size();
  ForwardStats fs;
  b.stats = &fs;
  const int64_t D = model_.config().n_embd;
  std::vector<float> hidden(opt_.draft_mtp ? b.n * D : 0);  // [n][n_embd] for the MTP head
  b.hidden_out = opt_.draft_mtp ? hidden.data() : nullptr;
  if (opt_.before_forward) opt_.before_forward(b);
  model_.forward(b, *spans[0].kv, logits.data(), engine_.pool());

  {
    std::lock_guard<std::mutex> lk(mu_);
    ++m_.steps;
    m_.step_tokens += b.n;
    m_.forward.moe_token_layers += fs.moe_token_layers;
    m_.forward.ffn_expert_slots += fs.ffn_expert_slots;
    m_.forward.zero_expert_slots += fs.zero_expert_slots;
  }
  int64_t row = 0;
  int64_t drafted = 0, accepted = 0, verify_spans = 0, verify_emitted = 0;
  std::vector<Advance> adv;  // rows the MTP head reads: every position that is now final
  // The MTP slot at position p reads token p + 1: a sequence that finished without sampling
  // (an error) has none for its last row.
  auto advance = [&](Seq& s, int64_t row0, int64_t p0, int64_t n) {
    n = std::min<int64_t>(n, (int64_t)s.tokens.size() - 1 - p0);
    if (n > 0) adv.push_back({&s, row0, p0, n});
  };
  // Sequences finishing now keep their blocks to the end of the step: the MTP pass below writes
  // the side cache of their last rows too, which blocks registered in the prefix cache must hold
  // (a later request resuming from them drafts from it; without, a prompt cached by a request
  // that ended at once -- max_tokens 1, a warm-up -- had no MTP rows: drafts accepted 8 of 15
  // instead of 11 of 12 on the shipped model).
  defer_close_ = true;
  for (size_t i = 0; i < spans.size(); ++i) {
    Seq& s = *span_seq[i];
    const float* lg = logits.data() + row * V;
    row += spans[i].n_logits;
    const std::vector<int32_t>& d = drafts[i];
    const int64_t p0 = s.n_past;
    if (d.empty()) {
      s.n_past += spans[i].n;
      cache_.commit(*s.ps, s.tokens, s.n_past);
      if (s.n_past == (int64_t)s.tokens.size()) sample_row(s, lg);
      advance(s, spans[i].begin, p0, spans[i].n);
      continue;
    }
    // Row j holds the logits after the pending token and drafts d[0..j): valid while every
    // earlier draft was what the model sampled. The KV rows of rejected drafts lie beyond
    // n_past and are overwritten later; only blocks below n_past are ever registered.
    cache_.commit(*s.ps, s.tokens, s.n_past + 1);  // the pending token's row is valid in any case
    int64_t m = 0;
    for (int64_t j = 0; j <= (int64_t)d.size(); ++j) {
      sample_row(s, lg + j * V);
      ++verify_emitted;
      if (s.done || j == (int64_t)d.size() || s.tokens.back() != d[j]) break;
      ++m;
    }
    drafted += (int64_t)d.size();
    accepted += m;
    ++verify_spans;
    s.n_past += 1 + m;
    cache_.commit(*s.ps, s.tokens, s.n_past);
    advance(s, spans[i].begin, p0, 1 + m);
  }
  if (opt_.draft_mtp && !adv.empty()) run_mtp(adv, hidden.data());
  defer_close_ = false;
  for (Seq* s : close_after_step_) finish(*s, s->finish_reason, s->finish_error);
  close_after_step_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  m_.draft_tokens += drafted;
  m_.draft_accepted += accepted;
  m_.verify_spans += verify_spans;
  m_.verify_emitted += verify_emitted;
  run.erase(std::remove_if(run.begin(), run.end(), [](const std::unique_ptr<Seq>& s) { return s->done; }),
            run.end());
  m_.kv = cache_.stats();
}

// Draft tokens for a decoding sequence: n-gram lookup over its tokens, no more than it can still
// emit (max_tokens, context) or the step's token budget allows.
std::vector<int32_t> Scheduler::draft_for(Seq& s, int64_t budget) {
  std::vector<int32_t> mtp = std::move(s.mtp_drafts);  // drafted for this step only
  s.mtp_drafts.clear();
  if (opt_.n_draft <= 0 || budget <= 0) return {};
  const int64_t left = std::min<int64_t>(s.req.max_tokens - s.n_gen, opt_.n_ctx - (int64_t)s.tokens.size()) - 1;
  const int64_t k = std::min<int64_t>({(int64_t)opt_.n_draft, left, budget});
  if (k <= 0) return {};
  if (opt_.draft_mtp) {
    if ((int64_t)mtp.size() > k) mtp.resize(k);
    return mtp;
  }
  return ngram_draft(s.tokens, k);
}

// The MTP head over this step's final rows: slot (h_i, t_{i+1}) at position i for every position
// i a sequence advanced over (all have their next token now), one batched forward writing each
// sequence's side cache; the last slot's logits give the first draft for the step after, and the
// head then chains (its own hidden state standing in for the main model's) for the rest. Chained
// rows lie at positions >= n_past, overwritten by real slots before those blocks are committed;
// only blocks the sequence already holds are written.
void Scheduler::run_mtp(const std::vector<Advance>& adv, const float* hidden) {
  const int64_t D = model_.config().n_embd, V = model_.config().n_vocab;
  std::vector<int32_t> toks, pos;
  std::vector<float> h;
  std::vector<SeqSpan> spans;
  for (const Advance& a : adv) {
    spans.push_back(SeqSpan{(int64_t)toks.size(), a.n, &a.s->ps->side_kv()});
    for (int64_t j = 0; j < a.n; ++j) {
      toks.push_back(a.s->tokens[a.p0 + j + 1]);
      pos.push_back(static_cast<int32_t>(a.p0 + j));
    }
    h.insert(h.end(), hidden + a.row0 * D, hidden + (a.row0 + a.n) * D);
  }
  std::vector<float> logits(spans.size() * V), g(toks.size() * D);
  // One batched MTP forward over toks/pos/spans with inputs h: logits of each span's last slot,
  // every slot's own hidden state into g.
  auto forward = [&] {
    Batch b;
    b.tokens = toks.data();
    b.pos = pos.data();
    b.n = (int64_t)toks.size();
    b.spans = spans.data();
    b.n_spans = (int64_t)spans.size();
    b.hidden_out = g.data();
    model_.forward_mtp(b, h.data(), *spans[0].kv, logits.data(), engine_.pool());
  };
  forward();
  // Chain: sequences still decoding draft up to n_draft tokens.
  std::vector<size_t> live;  // indices into adv
  std::vector<float> last(adv.size() * D);
  for (size_t i = 0; i < adv.size(); ++i) {
    Seq& s = *adv[i].s;
    if (s.done || (int64_t)s.tokens.size() - s.n_past != 1) continue;  // finished, or still prefilling
    const float* lg = logits.data() + i * V;
    s.mtp_drafts.assign(1, static_cast<int32_t>(std::max_element(lg, lg + V) - lg));
    const int64_t last_row = spans[i].begin + spans[i].n - 1;
    std::copy(g.begin() + last_row * D, g.begin() + (last_row + 1) * D, last.begin() + i * D);
    live.push_back(i);
  }
  for (int j = 1; j < opt_.n_draft && !live.empty(); ++j) {
    toks.clear(), pos.clear(), spans.clear(), h.clear();
    std::vector<size_t> next;
    for (size_t i : live) {
      Seq& s = *adv[i].s;
      const int64_t p = s.n_past + j - 1;  // slot (g, d_j) at the position of d_{j-1}
      if (p >= s.ps->n_blocks() * cache_.block_rows()) continue;
      spans.push_back(SeqSpan{(int64_t)toks.size(), 1, &s.ps->side_kv()});
      toks.push_back(s.mtp_drafts.back());
      pos.push_back(static_cast<int32_t>(p));
      h.insert(h.end(), last.begin() + i * D, last.begin() + (i + 1) * D);
      next.push_back(i);
    }
    if (spans.empty()) break;
    forward();
    for (size_t r = 0; r < next.size(); ++r) {
      Seq& s = *adv[next[r]].s;
      const float* lg = logits.data() + r * V;
      s.mtp_drafts.push_back(static_cast<int32_t>(std::max_element(lg, lg + V) - lg));
      std::copy(g.begin() + r * D, g.begin() + (r + 1) * D, last.begin() + next[r] * D);
    }
    live = std::move(next);
  }
}

// One generation step for s from its logits row: penalties, bias and the structured-output
// mask on a copy, sample, report, and decide whether the sequence ends.
void Scheduler::sample_row(Seq& s, const float* row) {
  const int64_t V = model_.config().n_vocab;
  const GenRequest& r = s.req;
  thread_local std::vector<float> buf, lp;
  thread_local std::vector<uint8_t> mask;
  thread_local std::vector<int32_t> ids;
  // The sampler reads logits without changing them: copy the row only when something edits it.
  const float* logits = row;
  const int64_t remaining = r.max_tokens - s.n_gen;
  const bool penalize = (r.presence_penalty != 0 || r.frequency_penalty != 0) && !s.counts.empty();
  const Tokenizer* tk = engine_.tokenizer();
  // A lazy tool-call constraint before its trigger allows everything: no mask, and min_tokens
  // holds as for free text.
  const bool masked = r.constraint && r.constraint->masks();
  const bool hold_eog = tk && (!r.constraint || r.constraint->free_text()) && s.n_gen < r.min_tokens;
  if (penalize || !r.logit_bias.empty() || masked || hold_eog) {
    buf.assign(row, row + V);
    if (hold_eog)
      for (int32_t id : tk->data().eog_ids)
        if (id >= 0 && id < V) buf[id] = -std::numeric_limits<float>::infinity();
    if (penalize)
      for (const auto& [id, n] : s.counts) buf[id] -= r.presence_penalty + r.frequency_penalty * float(n);
    for (const auto& [id, bias] : r.logit_bias) buf[id] += bias;
    if (masked) {
      r.constraint->allowed(mask, remaining);
      for (int64_t i = 0; i < V; ++i)
        if (!mask[i]) buf[i] = -std::numeric_limits<float>::infinity();
    }
    logits = buf.data();
  }
  static const std::vector<int32_t> kNoHistory;
  const int32_t tok = s.sampler->sample(logits, kNoHistory);
  const bool eog = tk ? tk->is_eog(tok) : false;
  if (r.constraint && !eog && !r.constraint->accept(tok)) {
    finish(s, FinishReason::kError, "structured output: no allowed token");
    return;
  }
  const auto now = Clock::now();
  if (eog) {
    finish(s, FinishReason::kStop);
    return;
  }
  TokenEvent e;
  e.token = tok;
  if (r.top_logprobs >= 0) {
    lp.assign(row, row + V);
    log_softmax(lp.data(), V);
    e.logprob = lp[tok];
    if (r.top_logprobs > 0) {
      ids.resize(V);
      for (int64_t i = 0; i < V; ++i) ids[i] = static_cast<int32_t>(i);
      const int64_t k = std::min<int64_t>(r.top_logprobs, V);
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
        return lp[a] > lp[b] || (lp[a] == lp[b] && a < b);
      });
      for (int64_t i = 0; i < k; ++i) e.top.emplace_back(ids[i], lp[ids[i]]);
    }
  }
  s.stream->push(e);
  ++s.n_gen;
  ++s.counts[tok];
  s.tokens.push_back(tok);
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++m_.generated_tokens;
    if (!s.first_token_sent) {
      const double ttft = std::chrono::duration<double>(now - s.t_submit).count();
      m_.ttft_seconds_sum += ttft;
      ++m_.ttft_count;
      for (size_t i = 0; i < m_.ttft_buckets_le.size(); ++i)
        if (ttft <= m_.ttft_buckets_le[i]) ++m_.ttft_bucket_counts[i];
    } else {
      m_.itl_seconds_sum += std::chrono::duration<double>(now - s.t_last).count();
      ++m_.itl_count;
    }
  }
  s.first_token_sent = true;
  s.t_last = now;
  if (r.constraint && r.constraint->complete() && !r.forced_suffix.empty()) {
    for (int32_t t : r.forced_suffix) {
      TokenEvent f;
      f.token = t;
      f.forced = true;
      s.stream->push(f);
    }
    finish(s, FinishReason::kStop);
    return;
  }
  if (s.n_gen >= r.max_tokens || (int64_t)s.tokens.size() >= opt_.n_ctx) finish(s, FinishReason::kLength);
}

}  // namespace moecat
