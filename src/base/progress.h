// One-line progress bar for long operations (model load, repacking, prompt processing).
// By default it draws on stderr only when stderr is a terminal and MOECAT_NO_PROGRESS is unset,
// so pipes, log files and CI output stay clean; otherwise every call is a cheap no-op.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace moecat {

class Progress {
 public:
  enum class Unit { kBytes, kItems };  // bytes: "12.3 MiB/s"; items: "120/400, 35.1 it/s"

  // Auto mode: draws on stderr iff isatty(2) and MOECAT_NO_PROGRESS is not set.
  // total == 0 means "unknown": no percent or ETA until finish().
  Progress(std::string label, uint64_t total, Unit unit = Unit::kBytes);
  // Forced mode: always draws to `out` (ignores tty and env); out == nullptr means silent.
  Progress(std::string label, uint64_t total, Unit unit, FILE* out);
  ~Progress();  // an unfinished bar gets a newline so later messages start on their own line

  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Thread-safe. `done` is absolute; concurrent callers may race, the largest value wins.
  void update(uint64_t done);
  // Thread-safe. Adds `delta` to the running count (for workers that each finish a piece).
  void add(uint64_t delta);
  // Draws the final line (100%, total time) and a newline. Idempotent.
  void finish();

  bool enabled() const { return out_ != nullptr; }
  uint64_t done() const;

  static constexpr std::chrono::milliseconds kRedrawInterval{100};  // at most 10 redraws/s

 private:
  using Clock = std::chrono::steady_clock;
  void maybe_draw_locked();
  void draw_locked(bool final_line);

  const std::string label_;
  const uint64_t total_;
  const Unit unit_;
  FILE* const out_;  // nullptr: silent
  const Clock::time_point start_;

  mutable std::mutex mu_;
  uint64_t done_ = 0;
  bool finished_ = false;
  bool drawn_ = false;
  Clock::time_point last_draw_{};
  size_t last_len_ = 0;  // length of the previous line, to blank leftovers when it shrinks
};

}  // namespace moecat
