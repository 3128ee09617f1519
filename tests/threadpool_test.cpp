// ThreadPool: every index covered exactly once, chunk alignment, run() semantics, and many
// back-to-back regions (hot spinning path and sleep/wake path) without deadlock.
#include "kernels/threadpool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace moecat {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 5, 16, 17, 100, 1000, 4097}) {
      for (int64_t grain : {1, 3, 16, 64, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_chunks{0}, calls{0};
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          calls.fetch_add(1);
          if (b >= e || b < 0 || e > n || b % grain != 0) bad_chunks.fetch_add(1);
          if (e != n && e % grain != 0) bad_chunks.fetch_add(1);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << "threads=" << threads << " n=" << n << " grain=" << grain << " i=" << i;
        EXPECT_EQ(bad_chunks.load(), 0) << "threads=" << threads << " n=" << n << " grain=" << grain;
        EXPECT_LE(calls.load(), threads);
      }
    }
  }
}

TEST(ThreadPool, RunCallsEveryIndexOnce) {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> seen(threads);
    std::atomic<int> wrong_n{0};
    pool.run([&](int t, int nt) {
      if (nt != threads) wrong_n.fetch_add(1);
      seen[t].fetch_add(1);
    });
    for (int t = 0; t < threads; ++t) EXPECT_EQ(seen[t].load(), 1);
    EXPECT_EQ(wrong_n.load(), 0);
  }
}

TEST(ThreadPool, TenThousandRunsNoDeadlock) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    int64_t total = 0;  // written only by the caller after each region: checks the barrier
    std::vector<int64_t> part(threads);
    for (int it = 0; it < 10000; ++it) {
      pool.run([&](int t, int) { part[t] = it + t; });
      for (int t = 0; t < threads; ++t) total += part[t];
    }
    int64_t expect = 0;
    for (int it = 0; it < 10000; ++it)
      for (int t = 0; t < threads; ++t) expect += it + t;
    EXPECT_EQ(total, expect);
  }
}

TEST(ThreadPool, WorkersTakePartUnderLoad) {
  // Indices are claimed dynamically; with real work per index the workers must take some.
  ThreadPool pool(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  int64_t sum = 0;
  std::vector<int64_t> part(3);
  for (int it = 0; it < 2000; ++it) {
    pool.run([&](int t, int) {
      const auto t0 = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(20)) {
      }
      part[t] = t + 1;
      if (it % 50 == 0) {
        std::lock_guard<std::mutex> lk(mu);
        ids.insert(std::this_thread::get_id());
      }
    });
    for (int64_t v : part) sum += v;
    part.assign(3, 0);
  }
  EXPECT_EQ(sum, 2000 * 6);
  EXPECT_GE(ids.size(), 2u);
}

TEST(ThreadPool, WakesSleepingWorkers) {
  // Pauses longer than the spin window make workers block on the condition variable.
  ThreadPool pool(3);
  std::atomic<int> count{0};
  for (int it = 0; it < 20; ++it) {
    if (it % 4 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    pool.parallel_for(300, 1, [&](int64_t b, int64_t e) { count.fetch_add(int(e - b)); });
  }
  EXPECT_EQ(count.load(), 20 * 300);
}

TEST(ThreadPool, DestroyWhileSpinningOrSleeping) {
  for (int k = 0; k < 50; ++k) {
    ThreadPool pool(2);  // destroyed immediately: workers still spinning
  }
  ThreadPool* p = new ThreadPool(3);
  p->run([](int, int) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // workers asleep
  delete p;
  SUCCEED();
}

}  // namespace
}  // namespace moecat
