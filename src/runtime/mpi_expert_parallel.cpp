#include "runtime/mpi_expert_parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "base/check.h"
#include "model/expert_parallel.h"

#ifdef MOECAT_MPI
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>
#endif

namespace moecat {

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

#ifndef MOECAT_MPI

bool mpi_built() { return false; }
int mpi_start(int*, char***) { return 1; }
int mpi_rank() { return 0; }
void mpi_stop() {}
void mpi_quiet_other_ranks() {}
void mpi_abort(const std::string& msg, int code) {
  fprintf(stderr, "moecat: %s\n", msg.c_str());
  std::_Exit(code);
}
void mpi_set_abort_hook(void (*)(const std::string&)) {}

#else

bool mpi_built() { return true; }

namespace {

int g_rank = 0, g_size = 1;
bool g_started = false;
double g_timeout_s = 60;
double g_sim_latency_s = 0, g_sim_bytes_per_s = 0;  // simulated link (0: off)

// Waits for req by polling, so that a peer that never answers ends the job after the timeout
// with a message (a blocking MPI_Wait would hang forever on a stopped process).
void wait_bounded(MPI_Request* req, const char* what) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  int done = 0;
  for (int spin = 0;; ++spin) {
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      mpi_abort(std::string("MPI failed in ") + what, 3);
    if (done) return;
    if (spin > 2000) std::this_thread::sleep_for(std::chrono::microseconds(20));
    if ((spin & 255) == 0 && std::chrono::duration<double>(Clock::now() - t0).count() > g_timeout_s) {
      char msg[256];
      snprintf(msg, sizeof msg,
               "rank %d: no answer from the other ranks for %.0f s in %s (a rank stalled or died; "
               "MOECAT_MPI_TIMEOUT sets the limit); ending the job",
               g_rank, g_timeout_s, what);
      mpi_abort(msg, 3);
    }
  }
}

// Waits for req without a limit, polling gently: a follower rank of the server idles here
// between requests (a lost rank 0 ends the job through mpirun, which then kills this process).
void wait_idle(MPI_Request* req, const char* what) {
  int done = 0;
  for (int spin = 0;; ++spin) {
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      mpi_abort(std::string("MPI failed in ") + what, 3);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::microseconds(spin < 2000 ? 20 : 1000));
  }
}

class MpiRequest : public CommRequest {
 public:
  MpiRequest(std::vector<int> counts, std::vector<int> displs) : counts_(std::move(counts)), displs_(std::move(displs)) {}
  MPI_Request req = MPI_REQUEST_NULL;
  std::chrono::steady_clock::time_point ready;  // simulated link: not before this
  void wait() override {
    if (req != MPI_REQUEST_NULL) wait_bounded(&req, "the expert combine");
    while (std::chrono::steady_clock::now() < ready) {
    }
  }
  void test() override {
    int done = 0;
    if (req != MPI_REQUEST_NULL) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
  }
  std::vector<int> counts_, displs_;  // the call's arguments live until it completes
};

class MpiComm : public ExpertComm {
 public:
  int rank() const override { return g_rank; }
  int size() const override { return g_size; }

  std::unique_ptr<CommRequest> start_allgatherv(const float* send, float* recv, const int64_t* counts,
                                                const int64_t* displs) override {
    std::vector<int> c(g_size), d(g_size);
    for (int r = 0; r < g_size; ++r) {
      MOECAT_CHECK_MSG(counts[r] <= INT32_MAX && displs[r] <= INT32_MAX, "expert combine block over 2^31 floats");
      c[r] = static_cast<int>(counts[r]);
      d[r] = static_cast<int>(displs[r]);
    }
    auto q = std::make_unique<MpiRequest>(std::move(c), std::move(d));
    if (g_sim_latency_s > 0 || g_sim_bytes_per_s > 0) {
      int64_t in = 0;  // bytes this rank receives
      for (int r = 0; r < g_size; ++r)
        if (r != g_rank) in += counts[r] * static_cast<int64_t>(sizeof(float));
      const double s = g_sim_latency_s + (g_sim_bytes_per_s > 0 ? in / g_sim_bytes_per_s : 0.0);
      q->ready = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
    }
    if (MPI_Iallgatherv(send, q->counts_[g_rank], MPI_FLOAT, recv, q->counts_.data(), q->displs_.data(),
                        MPI_FLOAT, MPI_COMM_WORLD, &q->req) != MPI_SUCCESS)
      mpi_abort("MPI_Iallgatherv failed", 3);
    return q;
  }

  Status agree(const Status& local) override {
    const int mine = local.ok() ? g_size : g_rank;  // the lowest failed rank wins
    int first = g_size;
    MPI_Request rq;
    MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &rq);
    wait_bounded(&rq, "agreeing on the load");
    if (first == g_size) return Status::Ok();
    std::string msg = local.ok() ? std::string() : local.message();
    int len = static_cast<int>(msg.size());
    MPI_Ibcast(&len, 1, MPI_INT, first, MPI_COMM_WORLD, &rq);
    wait_bounded(&rq, "agreeing on the load");
    msg.resize(static_cast<size_t>(len));
    MPI_Ibcast(msg.data(), len, MPI_CHAR, first, MPI_COMM_WORLD, &rq);
    wait_bounded(&rq, "agreeing on the load");
    return Errorf("rank %d of %d: %s", first, g_size, msg.c_str());
  }

  std::string broadcast_string(const std::string& s) override { return bcast(s, false); }
  std::string broadcast_string_idle(const std::string& s) override { return bcast(s, true); }

  std::string bcast(const std::string& s, bool idle) {
    int64_t len = static_cast<int64_t>(s.size());
    MPI_Request rq;
    MPI_Ibcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &rq);
    if (idle && g_rank != 0) wait_idle(&rq, "a broadcast from rank 0");
    else wait_bounded(&rq, "a broadcast from rank 0");
    MOECAT_CHECK_MSG(len >= 0 && len <= INT32_MAX, "broadcast text over 2 GiB");
    std::string out = g_rank == 0 ? s : std::string(static_cast<size_t>(len), '\0');
    MPI_Ibcast(out.data(), static_cast<int>(len), MPI_CHAR, 0, MPI_COMM_WORLD, &rq);
    wait_bounded(&rq, "a broadcast from rank 0");
    return out;
  }

  bool overlap() const override { return overlap_; }
  bool overlap_ = std::getenv("MOECAT_MPI_NO_OVERLAP") == nullptr;

  uint64_t broadcast_u64(uint64_t v) override {
    MPI_Request rq;
    MPI_Ibcast(&v, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &rq);
    wait_bounded(&rq, "a broadcast from rank 0");
    return v;
  }
};

std::unique_ptr<MpiComm> g_comm;

}  // namespace

int mpi_start(int* argc, char*** argv) {
  if (!launched_by_mpi()) return 1;
  int provided = 0;
  // Serialized, not funneled: the server's engine thread runs the forwards (and their combines)
  // while the main thread sends the final stop; never both at once.
  MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_started = true;
  if (const char* t = std::getenv("MOECAT_MPI_TIMEOUT")) g_timeout_s = std::max(1.0, std::atof(t));
  if (const char* t = std::getenv("MOECAT_MPI_SIM_LATENCY_US")) g_sim_latency_s = std::max(0.0, std::atof(t)) * 1e-6;
  if (const char* t = std::getenv("MOECAT_MPI_SIM_GBPS")) g_sim_bytes_per_s = std::max(0.0, std::atof(t)) * 1e9 / 8;
  if (g_size > 1) {
    g_comm = std::make_unique<MpiComm>();
    set_process_expert_comm(g_comm.get());
  }
  return g_size;
}

int mpi_rank() { return g_rank; }

static int g_stderr = 2;  // this rank's real stderr (mpi_abort writes there)

void mpi_quiet_other_ranks() {
  if (g_rank == 0 || std::getenv("MOECAT_MPI_VERBOSE")) return;
  fflush(stdout);
  fflush(stderr);
  g_stderr = dup(2);
  const int null = open("/dev/null", O_WRONLY);
  if (null < 0) return;
  dup2(null, 1);
  dup2(null, 2);
  close(null);
}

void mpi_stop() {
  if (!g_started) return;
  set_process_expert_comm(nullptr);
  g_comm.reset();
  MPI_Finalize();
  g_started = false;
}

static void (*g_abort_hook)(const std::string&) = nullptr;
void mpi_set_abort_hook(void (*hook)(const std::string& msg)) { g_abort_hook = hook; }

void mpi_abort(const std::string& msg, int code) {
  static std::atomic<bool> once{false};
  if (g_abort_hook && !once.exchange(true)) g_abort_hook(msg);
  fflush(stderr);
  dprintf(g_stderr, "moecat: %s\n", msg.c_str());
  if (g_started) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#endif

}  // namespace moecat
