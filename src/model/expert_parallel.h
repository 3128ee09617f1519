// Expert parallelism: the routed experts of every MoE layer are split over the processes of a
// job (`mpirun -np N moecat ...`). Every process ("rank") holds the whole dense part of the model
// (embeddings, attention, dense MLPs, routers, shared and zero experts) and runs it on every
// token, so every rank has every token's hidden state and routing decision: dispatch needs no
// traffic. Rank r loads and runs only experts [E*r/N, E*(r+1)/N) of each layer; the combine
// gathers, from each rank, the summed outputs of its experts for only the tokens routed to them
// (an all-gather-v whose counts every rank derives from the shared routing), and every rank
// adds the blocks in rank order, so all ranks keep bit-identical hidden states.
//
// The transport is an interface: runtime/mpi_expert_parallel.cpp implements it over MPI (built
// with MOECAT_MPI), tests implement it in-process with threads. The active one is per thread
// (a test runs several ranks as threads of one process) or else the process's (the CLI under
// mpirun); null means a single process.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "base/status.h"

namespace moecat {

// A started collective; wait() returns once its results are in place.
class CommRequest {
 public:
  virtual ~CommRequest() = default;
  virtual void wait() = 0;
  virtual void test() {}  // lets the transport progress without blocking
};

class ExpertComm {
 public:
  virtual ~ExpertComm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Starts an all-gather of float blocks of different sizes: rank r contributes counts[r] floats
  // (send: this rank's block), which land at recv + displs[r] on every rank. counts/displs have
  // size() entries and must stay valid until wait(); send and recv too.
  virtual std::unique_ptr<CommRequest> start_allgatherv(const float* send, float* recv, const int64_t* counts,
                                                        const int64_t* displs) = 0;
  // Every rank passes its own status; all get the same answer: Ok, or the first failed rank's
  // error prefixed with its rank ("rank 2: ..."). Used after loading (a rank that cannot map its
  // share ends the job on every rank with its message).
  virtual Status agree(const Status& local) = 0;
  // Rank 0's value on every rank (sampling seeds; the message only rank 0 read from stdin).
  virtual uint64_t broadcast_u64(uint64_t v) = 0;
  virtual std::string broadcast_string(const std::string& s) = 0;
  // The same, except that ranks other than 0 wait for it without the stall timeout: a server's
  // follower ranks sit here between requests for as long as rank 0 has nothing to run (rank 0's
  // side stays bounded, so a lost follower still ends the job).
  virtual std::string broadcast_string_idle(const std::string& s) { return broadcast_string(s); }
  // False: every combine is waited for where it starts (measuring what the overlap saves).
  virtual bool overlap() const { return true; }
};

// The calling thread's transport, else the process's (null: single process, every expert local).
ExpertComm* expert_comm();
void set_expert_comm(ExpertComm* c);          // this thread's
void set_process_expert_comm(ExpertComm* c);  // every thread's without its own

// Experts [first, end) of n_expert that rank r of n holds.
inline std::pair<int64_t, int64_t> expert_share(int64_t n_expert, int r, int n) {
  return {n_expert * r / n, n_expert * (r + 1) / n};
}
// This thread's share ({0, n_expert} without a transport).
std::pair<int64_t, int64_t> local_expert_share(int64_t n_expert);

}  // namespace moecat
