// The one result schema. Every timed workload (a GEMM, an attention layer, a model step's
// kernels) reports a KernelMetrics under one set of metric names, which the JSON reports, sweep
// CSV columns and plots all read (docs/metrics.md), and whose counters the stats registry
// keeps under the same names ("gpu.bytes.hbm.read"). Time is a Tick, exact picoseconds.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "models/power.hpp"
#include "sim/time.hpp"

namespace bwsim {

/// Fraction of the kernel's time each kind of resource was busy, averaged over its instances.
struct Utilization {
  double tensor = 0;       // tensor pipes (waiting on SMEM operands counts as busy)
  double tensor_math = 0;  // tensor pipes doing math (the MACs at the instruction's rate)
  double smem = 0;         // SMEM ports
  double l2 = 0;           // L2 slice bandwidth
  double hbm = 0;          // DRAM channels
  double mufu = 0;         // MUFU (exp2)
  double fma = 0;          // FP32 FMA pipes
};

struct KernelMetrics {
  Tick time{0};
  double sm_cycles = 0;  // time in cycles of the SM clock the run used
  double flops = 0;      // useful FLOP (2 per MAC of the problem; causal attention: visible keys)
  double tflops = 0;
  double peak_tflops = 0;  // dense peak of the math kind at the clock used
  double pct_of_peak = 0;
  uint64_t hbm_read = 0, hbm_write = 0, l2_read = 0, l2_write = 0, l2_hit = 0, smem = 0;  // bytes
  Utilization util;
  std::string bound;         // classify_bound's label
  std::string bound_detail;  // the utilizations behind it
  Activity activity;         // what the kernels did, for the energy model
  PowerReport power;         // energy, power and the clock the governor chose

  [[nodiscard]] double l2_hit_rate() const {
    return l2_read > 0 ? static_cast<double>(l2_hit) / static_cast<double>(l2_read) : 0.0;
  }
  /// Fills tflops and pct_of_peak from time, flops and peak_tflops.
  void derive_throughput();
};

/// A resource is the bound when it is busy at least this share of the time, and busier than any
/// other.
inline constexpr double kBoundThreshold = 0.6;

/// The one bound rule for every kernel: the busiest resource, when it is busy at least
/// kBoundThreshold of the time. The tensor pipe is then "tensor pipe" when its math alone is
/// that busy, else "SMEM (MMA operand fetch)" (it waits for operands). Below the threshold:
/// "tail" when the last wave leaves more than a quarter of the GPU idle, else
/// "latency/occupancy". Labels: "tensor pipe", "SMEM", "L2", "HBM", "MUFU (exp2)", "FMA pipe".
std::string classify_bound(const Utilization& u, double tail);
/// "tensor 80% busy (61% math), SMEM 40%, L2 12%, HBM 5%, MUFU 0%, FMA 0% busy".
std::string utilization_text(const Utilization& u);

/// The metrics as JSON: {"time": {"us", "ps", "sm_cycles"}, "throughput": {"tflops",
/// "peak_tflops", "pct_of_peak"}, "bytes": {"hbm": {"read", "write", "total"}, "l2": {"read", "write",
/// "hit", "hit_rate"}, "smem"}, "util": {...}, "bound", "bound_detail"}.
boost::json::object kernel_metrics_json(const KernelMetrics& m);

}  // namespace bwsim
