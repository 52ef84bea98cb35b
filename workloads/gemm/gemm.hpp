// Timing of one GEMM on a modelled GPU: choose a configuration, run its kernels, account bytes
// and FLOPs, and say what bound it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/gpu.hpp"
#include "models/metrics.hpp"
#include "workloads/gemm/plan.hpp"

namespace bwsim {

struct GemmTimingOptions {
  std::optional<TileConfig> tile;  // force a configuration (--tile)
  ClockMode clock = ClockMode::kGoverned;
  /// Simulate at most this many of the planner's finalists (0: all of them: the analytic top
  /// three and the best of each swap / multicast family). Whole-model replays use 1 or 2.
  size_t max_finalists = 0;
  /// Bytes of another buffer's dirty lines in L2 when the GEMM starts, as a benchmark that
  /// flushes L2 by writing a buffer leaves it (L2Start); 0: a clean L2.
  uint64_t l2_dirty = 0;
  /// Record the chosen run for a trace (GemmTiming::trace); null: no recording.
  const TraceOptions* trace = nullptr;
  /// Memory the simulation may hold, bytes (gemm_simulation_bytes); 0: half of this machine's
  /// physical memory. Above it the GEMM is refused (InputError) before anything runs.
  uint64_t max_memory = 0;
  /// Steady-state sampling of the chosen plan's run (also simulation.gemm_sampling); false: every
  /// wave is simulated (--sampling off, --exact).
  bool sampling = true;
};

/// How a GEMM's main kernel was sampled (GemmTimingOptions::sampling): of its `waves`, `skipped`
/// were not simulated but extrapolated from the steady state found from wave `steady_from`;
/// `error` estimates the extrapolation's share of error in the time (the two windows' spread,
/// weighted by the skipped share). skipped == 0: every wave was simulated.
struct GemmSampling {
  uint64_t waves = 0;
  uint64_t skipped = 0;
  uint64_t steady_from = 0;
  double error = 0;
};

/// The simulator memory timing `p` takes, estimated before it runs: the L2 model tracks every
/// block of A, B and D it touches (a route, tags and fill state), kTrackedBlockBytes each.
uint64_t gemm_simulation_bytes(const GemmProblem& p, const HwSpec& hw);

/// The GEMM's metrics (all kernels: the main one and any split-K reduction; utilizations of
/// the main one) and how it was planned.
struct GemmTiming : KernelMetrics {
  GemmPlan plan;
  std::vector<KernelResult> kernels;                       // main kernel (+ split-K reduction)
  double arithmetic_intensity = 0;                         // FLOP per DRAM byte
  std::vector<std::pair<std::string, double>> candidates;  // configuration -> estimated microseconds
  std::shared_ptr<const GpuTrace> trace;                   // with GemmTimingOptions::trace
  GemmSampling sampling;                                   // of the chosen plan's run
};

/// "42 of 886 waves simulated, ..." for a report (skipped > 0).
std::string gemm_sampling_text(const GemmSampling& s);

GemmTiming simulate_gemm(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o = {});

/// Throws the InputError simulate_gemm would (bad shape, format the GPU lacks, a forced tile that
/// does not fit) without simulating anything.
void check_gemm(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o = {});

}  // namespace bwsim
