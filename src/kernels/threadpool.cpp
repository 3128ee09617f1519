// Persistent pool with index claiming.
//
// run(fn):  job_ = &fn; done_ = 0; claim_ = (n << 32) | 0 (release); ++generation_ (seq_cst);
//           wake sleepers if any; then claim and run indices like any worker; spin until
//           done_ == n.
// worker:   spin on generation_ for ~kSpinNs, then sleep on cv_; on a new generation claim
//           indices with claim_.fetch_add(1) until the counter passes n.
// A claim that returns a valid index belongs to the job currently running: run() cannot
// return before that index is done, and the fetch_add reads the caller's release store of
// claim_ (or a later RMW in its release sequence), so job_ is visible and still valid. A late
// worker's failed fetch_add only pushes the index further past n (reset by the next store).
// Lost wake-ups: sleepers_ is incremented before the predicate check under mu_, and run()
// reads it after bumping the generation, both seq_cst (Dekker-style), so either run() sees the
// sleeper and notifies under mu_, or the sleeper sees the new generation.
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
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this] { worker(); });
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

void ThreadPool::work_on_job() {
  for (;;) {
    const uint64_t c = claim_.fetch_add(1, std::memory_order_acq_rel);
    const uint32_t idx = static_cast<uint32_t>(c), n = static_cast<uint32_t>(c >> 32);
    if (idx >= n) return;
    (*job_)(static_cast<int>(idx), static_cast<int>(n));
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker() {
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
    work_on_job();
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  const int n = n_threads_;
  job_ = &fn;
  done_.store(0, std::memory_order_relaxed);
  claim_.store(uint64_t(n) << 32, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lk(mu_); }  // a sleeper is either waiting or re-checking
    cv_.notify_all();
  }
  work_on_job();
  // Only indices already claimed by running workers remain; yield if they were descheduled.
  int spins = 0;
  while (done_.load(std::memory_order_acquire) != n) {
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
