// Timing of one GEMM on a modelled GPU: choose a configuration, run its kernels, account bytes
// and FLOPs, and say what bound it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/gpu.hpp"
#include "workloads/gemm/plan.hpp"

namespace bwsim {

struct GemmTimingOptions {
  std::optional<TileConfig> tile;  // force a configuration (--tile)
  ClockMode clock = ClockMode::kSustained;
  /// Simulate at most this many of the planner's finalists (0: all of them: the analytic top
  /// three and the best of each swap / multicast family). Whole-model replays use 1 or 2.
  size_t max_finalists = 0;
  /// Record the chosen run for a trace (GemmTiming::trace); null: no recording.
  const TraceOptions* trace = nullptr;
};

struct Utilization {
  double tensor = 0;  // tensor pipes busy / (time x SMs)
  double smem = 0;
  double dram = 0;  // DRAM channels busy / (time x channels)
};

struct GemmTiming {
  GemmPlan plan;
  std::vector<KernelResult> kernels;  // main kernel (+ split-K reduction)
  Tick time;                          // all kernels
  double sm_cycles = 0;
  double flops = 0;
  double tflops = 0;
  double peak_tflops = 0;  // dense peak of the MMA kind at the run's clock
  double pct_of_peak = 0;
  uint64_t hbm_read = 0, hbm_write = 0, l2_read = 0, l2_write = 0, l2_hit = 0, smem = 0;
  double arithmetic_intensity = 0;  // FLOP per DRAM byte
  Utilization util;
  std::string bound;  // "tensor pipe", "SMEM", "L2", "HBM", "latency/occupancy", "tail"
  std::string bound_detail;
  std::vector<std::pair<std::string, double>> candidates;  // configuration -> estimated microseconds
  std::shared_ptr<const GpuTrace> trace;                   // with GemmTimingOptions::trace
};

GemmTiming simulate_gemm(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o = {});

/// Throws the InputError simulate_gemm would (bad shape, format the GPU lacks, a forced tile that
/// does not fit) without simulating anything.
void check_gemm(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o = {});

}  // namespace bwsim
