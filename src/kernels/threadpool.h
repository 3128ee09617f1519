// Persistent thread pool for the kernels: `-t N` threads created once; parallel_for hands each
// thread a contiguous chunk. Workers spin briefly before sleeping so decode steps (many small
// parallel regions per token) do not pay a futex wake-up each time.
//
// Work is handed out as indices claimed from an atomic counter, so a worker that the OS has
// not scheduled yet (oversubscribed machine) never stalls the caller: whoever is running takes
// the remaining indices. Consequently fn(i, n) is called exactly once for every i in [0, n),
// concurrently, but not necessarily on distinct threads: fn must not wait for another index
// (no barriers inside a job). Results must depend only on i, never on the executing thread.
//
// Not re-entrant: run()/parallel_for() must not be called from inside a job, and only one
// thread may drive a given pool at a time.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace moecat {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1; the caller is thread 0
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  int size() const { return n_threads_; }
  // Calls fn(i, size()) once for every i in [0, size()), spread over the pool's threads (caller
  // included), and waits for all.
  void run(const std::function<void(int, int)>& fn);
  // Splits [0, n) into n_threads contiguous chunks (multiples of `grain`): fn(begin, end).
  // Every index is covered exactly once; empty chunks are not called. The split depends only
  // on (n, grain, size()), never on timing.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker();
  void work_on_job();  // claims and runs indices until none are left
  int n_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // bumped per job: wakes workers
  std::atomic<uint64_t> claim_{0};       // (n_indices << 32) | next index to claim
  std::atomic<int> done_{0};             // indices finished in the current job
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};  // workers blocked (or about to block) on cv_
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace moecat
