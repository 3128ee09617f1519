#include "model/expert_parallel.h"

namespace moecat {

static ExpertComm* g_process = nullptr;
static thread_local ExpertComm* g_thread = nullptr;

ExpertComm* expert_comm() { return g_thread ? g_thread : g_process; }
void set_expert_comm(ExpertComm* c) { g_thread = c; }
void set_process_expert_comm(ExpertComm* c) { g_process = c; }

std::pair<int64_t, int64_t> local_expert_share(int64_t n_expert) {
  const ExpertComm* c = expert_comm();
  if (!c || c->size() <= 1) return {0, n_expert};
  return expert_share(n_expert, c->rank(), c->size());
}

}  // namespace moecat
