// Process memory figures from /proc/self/status, to show that weights are mapped, not copied:
// file-backed pages (the mmapped model) versus anonymous memory (KV cache, activations).
#pragma once
#include <cstdint>

namespace moecat {

struct MemStats {
  uint64_t peak_rss = 0;  // VmHWM, bytes
  uint64_t rss_anon = 0;  // RssAnon, bytes (heap: KV cache, buffers, converted small tensors)
  uint64_t rss_file = 0;  // RssFile, bytes (mmapped model pages resident now)
};

MemStats read_mem_stats();  // zeros where /proc is unavailable

}  // namespace moecat
