#include "base/memstats.h"

#include <cstdio>
#include <cstring>

namespace moecat {

MemStats read_mem_stats() {
  MemStats m;
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return m;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb = 0;
    if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) m.peak_rss = kb * 1024;
    else if (sscanf(line, "RssAnon: %llu kB", &kb) == 1) m.rss_anon = kb * 1024;
    else if (sscanf(line, "RssFile: %llu kB", &kb) == 1) m.rss_file = kb * 1024;
  }
  fclose(f);
  return m;
}

}  // namespace moecat
