#include "base/trace.h"

#include <cstdio>
#include <vector>

namespace moecat::trace {

namespace {
struct Event {
  const char* name;
  double t0, t1;
  int64_t layer, bytes;
  int tid;
};
bool g_on = false;
int g_pid = 0;
std::vector<Event> g_events;
thread_local int64_t g_layer = -1;
}  // namespace

void enable(int pid) {
  g_on = true;
  g_pid = pid;
  g_events.reserve(1 << 16);
}
bool enabled() { return g_on; }

double now_us() {
  // the machine's monotonic clock, so the files of ranks on one machine line up; +1 so that a
  // recorded start is never 0 (Scope uses 0 for "off")
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count() + 1.0;
}

void span(const char* name, double t0, double t1, int64_t layer, int64_t bytes, int tid) {
  if (g_on) g_events.push_back({name, t0, t1, layer, bytes, tid});
}

void set_layer(int64_t layer) { g_layer = layer; }
int64_t layer() { return g_layer; }

Status write(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return Errorf("cannot write the trace to '%s'", path.c_str());
  std::fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
  std::fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"rank %d\"}}",
               g_pid, g_pid);
  for (const Event& e : g_events) {
    std::fprintf(f, ",\n{\"name\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{", e.name,
                 g_pid, e.tid, e.t0, e.t1 - e.t0);
    const char* sep = "";
    if (e.layer >= 0) std::fprintf(f, "\"layer\":%lld", (long long)e.layer), sep = ",";
    if (e.bytes >= 0) std::fprintf(f, "%s\"bytes\":%lld", sep, (long long)e.bytes);
    std::fprintf(f, "}}");
  }
  std::fprintf(f, "\n]}\n");
  const bool ok = std::fclose(f) == 0;
  return ok ? Status::Ok() : Errorf("cannot write the trace to '%s'", path.c_str());
}

}  // namespace moecat::trace
