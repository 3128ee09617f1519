// Scheduler: continuous batching over one Engine. A single engine thread runs steps; each step
// takes every running sequence's next token plus prompt chunks of newly admitted requests (up
// to n_batch tokens in all), runs them through the model in one forward (Batch spans), samples
// each finished row and hands tokens to the request's stream. Requests join and leave between
// steps; long prompts are prefilled in chunks so running streams keep flowing; a cancelled
// request (client gone, stop string) leaves at the next step and frees its blocks.
//
// KV blocks: a request is admitted (first come, first served) only when the blocks its prompt
// needs beyond the cached prefix are free. When running sequences then need more blocks than
// are free, the youngest (latest submitted) is preempted: its blocks are released (the full
// ones stay in the prefix cache), it goes back to the head of the queue, and when readmitted it
// re-reads its prompt and the tokens generated so far (from the prefix cache where they are
// still there, else recomputed) and goes on with its sampler state intact: the client sees only
// a delay, and the output is the one an uninterrupted run gives. One sequence alone always fits
// (the pool holds at least one full context), so no request fails for lack of blocks.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "runtime/engine.h"
#include "runtime/paged_kv.h"
#include "runtime/sampler.h"
#include "serve/grammar/json_constraint.h"

namespace moecat {

struct GenRequest {
  std::vector<int32_t> prompt;            // non-empty, ids < n_vocab
  int64_t max_tokens = 256;               // > 0
  int64_t min_tokens = 0;                 // end-of-generation tokens masked before this many
                                          // (not under a constraint: the schema decides the end)
  SamplingParams sampling;
  float presence_penalty = 0, frequency_penalty = 0;  // OpenAI: additive, per generated token
  std::vector<std::pair<int32_t, float>> logit_bias;
  int top_logprobs = -1;                  // -1: no logprobs; else how many alternatives
  std::unique_ptr<JsonConstraint> constraint;  // structured output (optional)
  std::vector<int32_t> forced_suffix;     // appended (not sampled) once the constraint completes
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };

struct TokenEvent {
  int32_t token = 0;
  float logprob = 0;                                // under the model's distribution
  std::vector<std::pair<int32_t, float>> top;       // top_logprobs alternatives
  bool forced = false;                              // appended by the server, not sampled
};

// What a request's consumer receives: tokens so far (drained by take()), then the end.
class RequestStream {
 public:
  struct Item {
    std::vector<TokenEvent> tokens;
    bool done = false;
    FinishReason reason = FinishReason::kNone;
    std::string error;
    bool unavailable = false;  // ended by Scheduler::fail_all: the server answers 503
    int64_t n_prompt = 0, n_cached = 0, n_gen = 0;
  };
  // Waits up to timeout for tokens or the end; moves them into out. False on timeout.
  bool take(Item& out, std::chrono::milliseconds timeout);
  // The consumer is gone or has what it needs: the sequence stops at the next step.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class Scheduler;
  void push(const TokenEvent& e);
  void finish(FinishReason r, std::string error, int64_t n_prompt, int64_t n_cached, int64_t n_gen,
              bool unavailable = false);
  std::mutex mu_;
  std::condition_variable cv_;
  Item pending_;
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  int parallel = 4;          // sequences running at once
  int64_t n_ctx = 4096;      // positions per sequence (prompt + generation)
  int64_t n_batch = 512;     // tokens per step (decode tokens + prefill chunk)
  int64_t max_queue = 64;    // waiting requests beyond this -> rejected (429)
  int64_t kv_blocks = 0;     // 0: parallel * n_ctx worth of blocks + room for cached prefixes
  int64_t block_rows = 16;
  // Speculative decoding inside the batch: each decoding sequence drafts up to n_draft tokens
  // by n-gram lookup over its own tokens (prompt + answer so far); its span in the step's
  // forward carries them, every row gets logits, and tokens are emitted while the sampled token
  // equals the draft. The sampler sees the same rows in the same order as without drafting, so
  // the output is identical (greedy, seeded, constrained).
  int n_draft = 0;  // 0: no drafting
  // Drafts from the model's MTP head instead of n-gram lookup (LongCat-Flash): the main forward
  // also returns every row's hidden state, the head runs over each sequence's new (hidden, next
  // token) pairs in one batched forward and chains its own drafts; its cache is a side layer of
  // the paged pool, so cached prefixes carry it too.
  bool draft_mtp = false;
  // Non-empty: the prefix cache is read from this file at start and written to it at stop()
  // (runtime/prefix_cache_file.h); a file that does not match is ignored with a warning.
  std::string prefix_cache_file;
  // Called on the engine thread right before each main forward of a step (not the MTP head's,
  // which is rank-local): expert parallelism under mpirun broadcasts the step to the follower
  // ranks here (serve/expert_parallel_serve.h) so they run the same forward.
  std::function<void(const Batch&)> before_forward;
};

// Counters for /metrics (monotonic unless noted).
struct SchedulerMetrics {
  int64_t requests_started = 0, requests_finished = 0, requests_cancelled = 0, requests_rejected = 0;
  int64_t prompt_tokens = 0, prompt_tokens_cached = 0, generated_tokens = 0;
  double ttft_seconds_sum = 0;  int64_t ttft_count = 0;     // time to first token
  double itl_seconds_sum = 0;   int64_t itl_count = 0;      // inter-token latency
  std::vector<double> ttft_buckets_le;  std::vector<int64_t> ttft_bucket_counts;  // cumulative histogram
  int64_t queue_length = 0, running = 0;                    // gauges
  PagedKvStats kv;                                          // gauges + lookup totals
  ForwardStats forward;                                     // MoE work summed over steps
  int64_t steps = 0, step_tokens = 0;
  int64_t preemptions = 0;                                  // sequences sent back to the queue
  int64_t draft_tokens = 0, draft_accepted = 0;            // drafted / confirmed by the model
  int64_t verify_spans = 0, verify_emitted = 0;             // spans that carried drafts / tokens they emitted
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const SchedulerOptions& opt);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. stream is null when it was refused: why says so (the server answers
  // 429 for kQueueFull, 503 for kShuttingDown, 400 for kInvalid).
  enum class Refusal { kNone, kQueueFull, kShuttingDown, kInvalid };
  struct Submitted {
    std::shared_ptr<RequestStream> stream;
    Refusal why = Refusal::kNone;
    std::string message;
  };
  Submitted submit(GenRequest r);

  SchedulerMetrics metrics() const;
  const SchedulerOptions& options() const { return opt_; }
  size_t kv_bytes() const { return cache_.bytes(); }
  void stop();
  // The engine can no longer run (an expert rank was lost): every queued and running request
  // ends now with `why` (unavailable: 503 where nothing was sent yet) and new ones are refused
  // with it. Callable from any thread, also while the engine thread is stuck in a forward.
  void fail_all(const std::string& why);

 private:
  struct Seq;
  void loop();
  bool admit_locked();
  bool shares_inflight_prefill(const Seq& w) const;
  void step(std::vector<std::unique_ptr<Seq>>& run);
  void make_room(std::vector<std::unique_ptr<Seq>>& run);
  // Blocks a decoding sequence still needs for its pending token (0 while prefilling).
  int64_t decode_blocks_needed(const Seq& s) const;
  void preempt(std::vector<std::unique_ptr<Seq>>& run, std::vector<std::unique_ptr<Seq>>::iterator it);
  void sample_row(Seq& s, const float* logits);
  void finish(Seq& s, FinishReason r, const std::string& err = "");
  std::vector<int32_t> draft_for(Seq& s, int64_t budget);
  struct Advance;  // a sequence's rows of this step that the MTP head still has to read
  void run_mtp(const std::vector<Advance>& adv, const float* hidden);
  void load_prefix_cache_file();
  void save_prefix_cache_file();

  Engine& engine_;
  const Model& model_;
  SchedulerOptions opt_;
  PagedKvCache cache_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Seq>> queue_;
  std::vector<std::unique_ptr<Seq>> running_;
  bool stop_ = false;
  bool saved_ = false;
  std::string failed_;  // fail_all's reason (non-empty: every request is refused with it)  // the prefix cache file was written (stop() runs once)
  std::string prefix_identity_;  // what the prefix cache file must match (with prefix_cache_file)
  // While a step samples, sequences that finish keep their blocks until the step's MTP pass has
  // written their last rows' side cache (those blocks may already be in the prefix cache).
  bool defer_close_ = false;
  std::vector<Seq*> close_after_step_;
  SchedulerMetrics m_;
  std::thread thread_;
};

}  // namespace moecat
