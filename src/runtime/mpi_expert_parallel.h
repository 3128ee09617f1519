// The MPI transport of expert parallelism (model/expert_parallel.h): `mpirun -np N moecat ...`.
// Built only with MOECAT_MPI (CMake finds an MPI, e.g. Debian's Open MPI); otherwise these
// functions report that MPI is not built in and the binary runs as one process.
#pragma once
#include <string>

namespace moecat {

// True when this binary was built with MPI.
bool mpi_built();
// True when the process was started by mpirun / an MPI launcher (its environment says so).
bool launched_by_mpi();

// Initializes MPI when launched by an MPI launcher with more than one rank and installs the
// transport as the process's expert transport. Returns the number of ranks (1: no MPI).
// Environment: MOECAT_MPI_TIMEOUT (seconds, default 60): a collective that does not complete in
// that time (a stalled or lost peer) ends the whole job with a message instead of hanging.
// MOECAT_MPI_SIM_LATENCY_US / MOECAT_MPI_SIM_GBPS: a simulated network for the expert combine
// (docs/SCALE.md): a combine completes no earlier than latency + bytes received / bandwidth after
// it was started, so runs on one machine show how much of a slower link the overlap hides;
// MOECAT_MPI_NO_OVERLAP=1 waits for each combine where it starts (the comparison).
int mpi_start(int* argc, char*** argv);
int mpi_rank();  // 0 without MPI
// Ranks other than 0 write nothing to stdout / stderr (rank 0 prints; errors every rank agrees on
// are printed there); mpi_abort still reaches this rank's real stderr.
void mpi_quiet_other_ranks();
// Ends MPI (a normal exit of every rank). Safe to call without mpi_start.
void mpi_stop();
// Ends every rank's process now with exit code `code` after printing msg on this rank's stderr.
// A hook set with mpi_set_abort_hook runs first (once): the server answers 503 to the requests
// in flight and arriving meanwhile, then the job ends.
[[noreturn]] void mpi_abort(const std::string& msg, int code);
void mpi_set_abort_hook(void (*hook)(const std::string& msg));

}  // namespace moecat
