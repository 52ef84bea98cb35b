// bwsim serve: a scenario's traffic through its scheduler on the simulated GPU (#23). The KV
// cache holds what the GPU's memory leaves beside the weights and the workspace, in blocks; each
// step's time comes from the step-cost model (GpuStepCost), built from simulated steps.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/serving/engine.hpp"
#include "workloads/serving/step_cost.hpp"
#include "workloads/transformer/capacity.hpp"
#include "workloads/transformer/scenario.hpp"

namespace bwsim::serving {

struct ServeRun {
  Capacity capacity;
  bool fits = false;
  int smallest_tp = 0;        // when it does not fit
  TrafficConfig traffic;      // as run (a --find-max-rate probe's rate)
  SchedulerConfig scheduler;  // with the KV blocks and MTP filled in
  std::vector<double> alpha;  // MTP acceptance per position used
  ServeResult result;
  ServeSummary summary;
  size_t simulated_steps = 0;  // uniform steps the step-cost model simulated
};

/// The step-cost model of a scenario (its model, plan, GPU, TP, MTP and CUDA graphs).
GpuStepCost scenario_step_cost(const Scenario& s);

/// Whether a scenario key ("traffic.rate", "scheduler.admission") changes only which steps a
/// serving run takes, never what a step costs: runs whose scenarios differ only in such keys may
/// share one step-cost model (and get what each would alone).
bool step_cost_free_key(std::string_view key);

/// A key two serving runs share exactly when one step-cost model serves both: the scenario file,
/// the model and GPU replacing its own (empty: its own), the hardware overrides and the scenario
/// overrides ("KEY=VALUE") that step_cost_free_key does not free.
std::string step_cost_key(const std::string& scenario, const std::string& model, const std::string& hw,
                          const std::vector<std::string>& hw_sets, const std::vector<std::string>& sets);

/// The KV cache's mean occupancy over the run's timeline, as a share of every replica's blocks.
double kv_mean_share(const ServeRun& r);

/// Serves the scenario's traffic. `shared` (optional) is reused across runs of one scenario (a rate
/// search); `on_finish` is called as requests finish. InputError for traffic the cache can never
/// hold (a request longer than every block).
ServeRun serve_scenario(const Scenario& s, GpuStepCost* shared = nullptr,
                        const std::function<void()>& on_finish = {});

struct RateProbe {
  double rate = 0;
  double attainment = 0;
  double goodput = 0;
  double p90_ttft_s = 0;
  double p90_tpot_s = 0;
};

struct MaxRate {
  double rate = 0;                // the highest probed rate meeting the SLO (0: none)
  bool unbounded = false;         // met up to 1e6 requests/s: the traffic is too short to load the GPU
  std::vector<RateProbe> probes;  // in the order run
  std::optional<ServeRun> at;     // the run at `rate`
};

/// The highest Poisson (or, when the scenario's arrivals are gamma, gamma) arrival rate at which
/// slo.attainment of the requests meet slo.ttft and slo.tpot: doubling and halving to bracket it,
/// then bisection to 1%. InputError without an SLO.
MaxRate find_max_rate(const Scenario& s, const std::function<void(const RateProbe&)>& on_probe = {});

}  // namespace bwsim::serving
