// A sweep across MPI ranks (Boost.MPI): rank 0 hands point indices out one at a time as ranks
// free up and gathers the finished rows; it also runs points itself on -j local threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "workloads/sweep/spec.hpp"

namespace bwsim::app {

/// Ranks in the MPI job this process was started in (from the launcher's environment: Open MPI,
/// MPICH / Hydra, Slurm's PMI); 1 when not started by mpirun / srun.
int mpi_launch_size();
/// Whether this binary was built with Boost.MPI.
bool mpi_available();

/// A finished point: its index and its results line.
using RowSink = std::function<void(uint64_t, const std::string&)>;

/// Runs `todo` (indices into `points`) over the MPI job's ranks. On rank 0, `sink` receives
/// every finished row and the call returns true; on other ranks it returns false once rank 0
/// has no more work. `prepare` runs on rank 0 only, before any work is handed out (it reads a
/// resumed file and returns the points still to run); its InputError reaches every rank.
bool run_sweep_mpi(const SweepSpec& spec, const std::vector<SweepPoint>& points, unsigned jobs,
                   const std::function<std::vector<uint64_t>()>& prepare, const RowSink& sink);

}  // namespace bwsim::app
