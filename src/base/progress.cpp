#include "base/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "base/status.h"

namespace moecat {

namespace {

FILE* AutoOutput() {
  if (std::getenv("MOECAT_NO_PROGRESS") != nullptr) return nullptr;
  return isatty(2) ? stderr : nullptr;
}

std::string HumanBytes(double b) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  return strfmt(u == 0 ? "%.0f %s" : "%.1f %s", b, kUnits[u]);
}

std::string HumanDuration(double s) {
  if (!(s >= 0.0) || s > 99.0 * 3600.0) return "--:--";
  auto t = static_cast<uint64_t>(s + 0.5);
  if (t >= 3600) return strfmt("%u:%02u:%02u", unsigned(t / 3600), unsigned(t / 60 % 60), unsigned(t % 60));
  return strfmt("%u:%02u", unsigned(t / 60), unsigned(t % 60));
}

}  // namespace

Progress::Progress(std::string label, uint64_t total, Unit unit)
    : Progress(std::move(label), total, unit, AutoOutput()) {}

Progress::Progress(std::string label, uint64_t total, Unit unit, FILE* out)
    : label_(std::move(label)), total_(total), unit_(unit), out_(out), start_(Clock::now()) {}

Progress::~Progress() {
  if (!out_) return;
  std::lock_guard<std::mutex> lk(mu_);
  if (drawn_ && !finished_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

uint64_t Progress::done() const {
  std::lock_guard<std::mutex> lk(mu_);
  return done_;
}

void Progress::update(uint64_t done) {
  if (!out_) return;
  std::lock_guard<std::mutex> lk(mu_);
  done_ = std::max(done_, done);
  maybe_draw_locked();
}

void Progress::add(uint64_t delta) {
  if (!out_) return;
  std::lock_guard<std::mutex> lk(mu_);
  done_ += delta;
  maybe_draw_locked();
}

void Progress::finish() {
  if (!out_) return;
  std::lock_guard<std::mutex> lk(mu_);
  if (finished_) return;
  if (total_ > 0) done_ = std::max(done_, total_);
  draw_locked(true);
  finished_ = true;
}

void Progress::maybe_draw_locked() {
  if (finished_) return;
  const auto now = Clock::now();
  if (drawn_ && now - last_draw_ < kRedrawInterval) return;
  draw_locked(false);
}

void Progress::draw_locked(bool final_line) {
  const auto now = Clock::now();
  last_draw_ = now;
  drawn_ = true;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const uint64_t shown = total_ > 0 ? std::min(done_, total_) : done_;
  const double rate = secs > 0.0 ? static_cast<double>(done_) / secs : 0.0;

  // "label [=========>          ]  45% 312.4 MiB/s ETA 0:07"
  std::string line = label_;
  if (total_ > 0) {
    constexpr int kWidth = 30;
    const double frac = static_cast<double>(shown) / static_cast<double>(total_);
    const int fill = static_cast<int>(frac * kWidth);
    line += " [";
    for (int i = 0; i < kWidth; ++i) line += i < fill ? '=' : (i == fill ? '>' : ' ');
    line += strfmt("] %3d%%", static_cast<int>(frac * 100.0));
  } else if (final_line) {
    line += " 100%";
  }
  if (unit_ == Unit::kBytes) {
    // Appended piece by piece: `" " + HumanBytes(..)` trips GCC 12's -Wrestrict false positive
    // (a warning on every fresh build, the quick start's included).
    line += ' ';
    line += HumanBytes(static_cast<double>(shown));
    line += ", ";
    line += HumanBytes(rate);
    line += "/s";
  } else {
    line += total_ > 0 ? strfmt(" %llu/%llu", (unsigned long long)shown, (unsigned long long)total_)
                       : strfmt(" %llu", (unsigned long long)shown);
    line += strfmt(", %.1f it/s", rate);
  }
  if (final_line) {
    line += " in " + HumanDuration(secs);
  } else if (total_ > 0 && rate > 0.0) {
    line += " ETA " + HumanDuration(static_cast<double>(total_ - shown) / rate);
  }

  // Carriage return + pad over the previous (possibly longer) line; no terminal escapes needed.
  const size_t len = line.size();
  if (len < last_len_) line.append(last_len_ - len, ' ');
  last_len_ = len;
  std::fputc('\r', out_);
  std::fputs(line.c_str(), out_);
  if (final_line) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace moecat
