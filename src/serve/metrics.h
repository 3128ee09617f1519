// /metrics: the scheduler's counters in Prometheus text exposition format (version 0.0.4).
#pragma once
#include <atomic>
#include <string>

#include "serve/scheduler.h"

namespace moecat {

struct HttpCounters {
  int64_t ok = 0, client_errors = 0, server_errors = 0;
};

std::string prometheus_text(const SchedulerMetrics& m, const HttpCounters& h);

}  // namespace moecat
