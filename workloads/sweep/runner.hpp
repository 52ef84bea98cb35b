// Runs a sweep's points on local threads. Points are independent; each thread takes the next
// point index as it frees up (dynamic, so slow points do not stall a static share), and the
// caller's callback sees each finished point under a lock, in completion order.
#pragma once

#include <functional>
#include <vector>

#include "workloads/sweep/point.hpp"
#include "workloads/sweep/spec.hpp"

namespace bwsim {

using SweepDone = std::function<void(const SweepPoint&, const PointResult&)>;

/// Runs `todo` on `jobs` threads (1: on this thread). With more than one job, each point's own
/// inner parallelism (GEMM finalists, functional tiles) is serial: the points fill the cores.
void run_sweep_points(const SweepSpec& spec, const std::vector<SweepPoint>& todo, unsigned jobs,
                      const SweepDone& done);

}  // namespace bwsim
