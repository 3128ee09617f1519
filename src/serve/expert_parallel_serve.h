// Expert parallelism in the server (`mpirun -np N moecat serve`): rank 0 tokenizes, serves HTTP
// and schedules; every other rank ("follower") only runs forwards. Rank 0's scheduler calls
// StepBroadcaster::send right before each step's main forward (SchedulerOptions::before_forward)
// with the batch it is about to run; followers receive it and run the same forward through
// their own paged KV pool, using rank 0's block ids. The pools start empty and see the same
// writes at the same blocks, so they stay identical without replaying the scheduler's
// bookkeeping (admission, prefix cache, preemption, drafting): followers need none of it. The
// expert combines inside the forward then pair up across ranks exactly as in `moecat run`.
//
// The MTP draft head is dense (no experts): it runs on rank 0 alone and is not broadcast.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/expert_parallel.h"
#include "model/model.h"
#include "runtime/engine.h"

namespace moecat {

class StepBroadcaster {
 public:
  explicit StepBroadcaster(ExpertComm* comm) : comm_(comm) {}
  ~StepBroadcaster() { stop(); }
  // Engine thread: tokens, positions, spans (with each span's block table and the ids before
  // it, which look-back models read) and rows wanting logits.
  void send(const Batch& b);
  // After the engine thread ended: the followers leave their loop. Idempotent.
  void stop();

 private:
  ExpertComm* comm_;
  bool stopped_ = false;
  std::vector<int32_t> words_;  // reused message buffer
};

// A follower rank's loop: runs rank 0's forwards until its stop. The pool must be laid out like
// rank 0's main layers (same shape, at least as many blocks, same block_rows and max_seq_len).
Status run_step_follower(Engine& engine, ExpertComm* comm, int64_t n_blocks, int64_t max_seq_len,
                         int64_t block_rows);

}  // namespace moecat
