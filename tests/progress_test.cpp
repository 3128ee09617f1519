// Progress bar tests: silent unless stderr is a tty (and MOECAT_NO_PROGRESS unset), forced
// output contains the label and 100%, redraws are rate-limited, updates are thread-safe.
#include "base/progress.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace moecat {
namespace {

std::string ReadAll(FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

// Points fd 2 at `fd` for the lifetime of the object, then restores it.
class RedirectStderr {
 public:
  explicit RedirectStderr(int fd) {
    std::fflush(stderr);
    saved_ = dup(2);
    dup2(fd, 2);
  }
  ~RedirectStderr() {
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
  }

 private:
  int saved_;
};

void Exercise(Progress& p, uint64_t total) {
  for (uint64_t i = 0; i <= total; i += total / 10) p.update(i);
  p.finish();
}

TEST(Progress, SilentWhenStderrIsNotATty) {
  unsetenv("MOECAT_NO_PROGRESS");
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    RedirectStderr r(fileno(f));
    Progress p("loading", 1000);
    EXPECT_FALSE(p.enabled());
    Exercise(p, 1000);
  }
  EXPECT_EQ(ReadAll(f), "");
  std::fclose(f);

  // Same through a pipe.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    RedirectStderr r(fds[1]);
    Progress p("loading", 1000, Progress::Unit::kItems);
    EXPECT_FALSE(p.enabled());
    Exercise(p, 1000);
  }
  close(fds[1]);
  char c;
  EXPECT_EQ(read(fds[0], &c, 1), 0) << "something was written to the stderr pipe";
  close(fds[0]);
}

// Uses a pseudo-terminal as stderr, so the tty branch is really exercised.
TEST(Progress, DrawsOnTtyUnlessEnvDisables) {
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) GTEST_SKIP() << "no pty available";
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  if (slave < 0) GTEST_SKIP() << "cannot open pty slave";
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  auto drain = [&] {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = read(master, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  };

  setenv("MOECAT_NO_PROGRESS", "1", 1);
  {
    RedirectStderr r(slave);
    Progress p("tty-disabled", 100);
    EXPECT_FALSE(p.enabled());
    Exercise(p, 100);
  }
  EXPECT_EQ(drain(), "");

  unsetenv("MOECAT_NO_PROGRESS");
  {
    RedirectStderr r(slave);
    Progress p("tty-enabled", 100);
    EXPECT_TRUE(p.enabled());
    Exercise(p, 100);
  }
  std::string out = drain();
  EXPECT_NE(out.find("tty-enabled"), std::string::npos) << out;
  EXPECT_NE(out.find("100%"), std::string::npos) << out;
  close(slave);
  close(master);
}

TEST(Progress, ForcedOutputHasLabelAnd100PercentAtFinish) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p("loading model.gguf", 3ull << 30, Progress::Unit::kBytes, f);
    EXPECT_TRUE(p.enabled());
    p.update(1ull << 30);
    p.finish();
    p.finish();  // idempotent
  }
  std::string s = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(s.find("loading model.gguf"), std::string::npos) << s;
  EXPECT_NE(s.find("100%"), std::string::npos) << s;
  EXPECT_NE(s.find("33%"), std::string::npos) << s;   // the first update draws immediately
  EXPECT_NE(s.find("GiB"), std::string::npos) << s;
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << "exactly one line, redrawn with \\r";
}

TEST(Progress, ClampsAboveTotalAndHandlesUnknownTotal) {
  FILE* f = std::tmpfile();
  {
    Progress p("over", 100, Progress::Unit::kItems, f);
    p.update(250);
    p.finish();
  }
  std::string s = ReadAll(f);
  EXPECT_EQ(s.find("250%"), std::string::npos) << s;
  EXPECT_NE(s.find("100%"), std::string::npos) << s;
  std::fclose(f);

  f = std::tmpfile();
  {
    Progress p("unknown", 0, Progress::Unit::kItems, f);
    p.update(7);
    p.finish();
  }
  s = ReadAll(f);
  EXPECT_NE(s.find("unknown"), std::string::npos) << s;
  EXPECT_NE(s.find("100%"), std::string::npos) << s;
  std::fclose(f);
}

TEST(Progress, UnfinishedBarEndsItsLineOnDestruction) {
  FILE* f = std::tmpfile();
  {
    Progress p("aborted", 100, Progress::Unit::kItems, f);
    p.update(10);
  }
  std::string s = ReadAll(f);
  EXPECT_EQ(s.find("100%"), std::string::npos) << s;
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.back(), '\n');
  std::fclose(f);
}

TEST(Progress, RedrawsAreRateLimited) {
  FILE* f = std::tmpfile();
  const uint64_t total = 2'000'000;
  auto t0 = std::chrono::steady_clock::now();
  {
    Progress p("busy", total, Progress::Unit::kItems, f);
    // Keep hammering for ~350 ms so several redraw windows pass.
    uint64_t i = 0;
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(350)) p.update(++i % total);
    p.finish();
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::string s = ReadAll(f);
  std::fclose(f);
  auto draws = std::count(s.begin(), s.end(), '\r');
  // First draw + one per 100 ms window + the final line.
  const auto max_draws = static_cast<long>(ms / 100.0) + 2;
  EXPECT_GE(draws, 3);
  EXPECT_LE(draws, max_draws) << "elapsed " << ms << " ms";
}

TEST(Progress, ConcurrentAddsAreCounted) {
  FILE* f = std::tmpfile();
  const int kThreads = 4, kPer = 20000;
  {
    Progress p("parallel", kThreads * kPer, Progress::Unit::kItems, f);
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
      ts.emplace_back([&] {
        for (int i = 0; i < kPer; ++i) p.add(1);
      });
    for (auto& t : ts) t.join();
    EXPECT_EQ(p.done(), static_cast<uint64_t>(kThreads * kPer));
    p.finish();
  }
  std::string s = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(s.find("80000/80000"), std::string::npos) << s;
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
}

}  // namespace
}  // namespace moecat
