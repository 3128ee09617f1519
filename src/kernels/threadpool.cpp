// Persistent pool. Hand-off protocol:
//   run():   job_ = &fn; pending_ = n-1; ++generation_ (seq_cst); wake sleepers if any;
//            run fn(0); spin until pending_ == 0.
//   worker:  spin on generation_ for ~kSpinNs, then sleep on cv_. sleepers_ is incremented
//            before the predicate check under mu_, and run() reads it after bumping the
//            generation, both seq_cst (Dekker-style), so a wake-up cannot be lost: either run()
//            sees the sleeper and notifies under mu_, or the sleeper sees the new generation.
// A worker never misses a generation: run() does not return (and so cannot start the next
// generation) until every worker has finished the current one.
#include "kernels/threadpool.h"

#include <emmintrin.h>  // _mm_pause (SSE2, baseline x86-64)

#include <chrono>

namespace moecat {

namespace {
// How long an idle worker spins before blocking. A decode step issues parallel regions every
// few microseconds, so this keeps workers hot during a token while letting an idle process sleep.
constexpr int64_t kSpinNs = 50'000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  threads_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true, std::memory_order_seq_cst);
    generation_.fetch_add(1, std::memory_order_seq_cst);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker(int idx) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    if (g == seen) {
      const int64_t t0 = now_ns();
      int spins = 0;
      while ((g = generation_.load(std::memory_order_acquire)) == seen) {
        _mm_pause();
        if ((++spins & 63) != 0) continue;
        if (now_ns() - t0 < kSpinNs) continue;
        std::unique_lock<std::mutex> lk(mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    (*job_)(idx, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);  // publishes job_ and pending_
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lk(mu_); }  // a sleeper is either waiting or re-checking
    cv_.notify_all();
  }
  fn(0, n_threads_);
  // Workers are normally already done or nearly so; yield if they were descheduled (the
  // machine may be oversubscribed) so we do not burn their core.
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins < 4096) {
      _mm_pause();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t units = (n - 1) / grain + 1;  // chunks of `grain`, the last may be short
  if (n_threads_ == 1 || units == 1) {
    fn(0, n);
    return;
  }
  // One pointer captured, so std::function stores the lambda inline (no allocation per call).
  struct Ctx {
    int64_t n, grain, units;
    const std::function<void(int64_t, int64_t)>* fn;
  } ctx{n, grain, units, &fn};
  const Ctx* c = &ctx;
  run([c](int t, int nt) {
    const int64_t u0 = c->units * t / nt, u1 = c->units * (t + 1) / nt;
    const int64_t b = u0 * c->grain;
    const int64_t e = u1 * c->grain < c->n ? u1 * c->grain : c->n;
    if (b < e) (*c->fn)(b, e);
  });
}

}  // namespace moecat
