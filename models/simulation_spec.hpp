// How the simulator searches plans and samples steady states: not properties of a GPU, but
// settings that shape the times it reports, so they are keys (`[simulation]`, owned by the
// "simulation" unit) a user can see with `bwsim info --explain` and change with --set.
#pragma once

#include "sim/config.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct SimulationSpec {
  // The GEMM planner's analytic estimate, which ranks candidate plans before the finalists are
  // simulated (the simulation decides among them): derates of the peak bandwidths...
  double l2_efficiency = 0.8;      // of the L2 slices' aggregate bandwidth
  double hbm_efficiency = 0.9;     // of the DRAM pin bandwidth, streaming operands
  double reduce_efficiency = 0.8;  // of the DRAM pin bandwidth, a split-K reduction
  double wave_slack = 0.05;        // added per wave: prefers plans with room to spare per wave
  Bandwidth fixup_bandwidth;       // one SM reading a stream-K tile's partials
  Duration fixup_latency;          // a stream-K flag round trip
  // Sampling: GEMM plans of more waves than this are run two items per cluster and
  // extrapolated; attention layers of more CTA x KV-block iterations than attention_whole_run
  // are sampled at two KV lengths per CTA of the first wave.
  uint32_t gemm_whole_run_waves = 8;
  // Steady-state sampling of the GEMM a plan finally runs (workloads/gemm/gemm.cpp): once the L2
  // has turned over and two successive windows of waves agree closely enough that a drift between
  // them would move the result by at most gemm_steady_tolerance, the waves up to the last
  // gemm_steady_tail are skipped and their time and counts extrapolated.
  bool gemm_sampling = true;
  double gemm_steady_tolerance = 0.002;
  uint32_t gemm_steady_window = 4;  // fewest waves in a window (a raster band's waves if more)
  uint32_t gemm_steady_tail = 2;    // full waves simulated after the skip, then the partial one
  uint64_t attention_whole_run = 24000;
  uint32_t attention_sample_short = 8;
  uint32_t attention_sample_long = 24;
  void read(ConfigReader& r);
};

}  // namespace bwsim
