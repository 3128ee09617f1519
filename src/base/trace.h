// A per-process timeline of compute and communication (`--trace FILE`), written as Chrome trace
// JSON (chrome://tracing, ui.perfetto.dev): one complete event ("ph":"X") per recorded span with
// the layer it belongs to. Off by default; when off every call is a cheap no-op. Events are
// recorded by the thread that runs the forward pass (the pool's workers record nothing).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace moecat::trace {

// Starts recording; pid is the process's row in the viewer (the MPI rank).
void enable(int pid);
bool enabled();
// Writes what was recorded so far to path (overwritten).
Status write(const std::string& path);

double now_us();
// One span [t0, t1) named `name` (a string literal), in layer `layer` (-1: none), with an
// optional byte count (communication), on row tid (0: compute, 1: communication in flight).
void span(const char* name, double t0_us, double t1_us, int64_t layer = -1, int64_t bytes = -1, int tid = 0);

// The layer the calling thread is in (set by the archs' layer loops, read by blocks).
void set_layer(int64_t layer);
int64_t layer();

// Records its own lifetime as a span.
class Scope {
 public:
  explicit Scope(const char* name) : name_(name), t0_(enabled() ? now_us() : 0) {}
  ~Scope() {
    if (t0_ > 0) span(name_, t0_, now_us(), layer());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  double t0_;
};

}  // namespace moecat::trace
