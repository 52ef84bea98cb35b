// Host time of request-level serving (issue #23's target: one hour of simulated traffic on a 70B
// model, about 10,000 requests, in under 60 s on one core). Llama-3.1-70B NVFP4 / FP8 KV on one
// B200, Poisson arrivals at 2.8 requests/s for an hour, chat-like lengths (lognormal prompts of
// median 800 tokens and answers of median 200), vLLM V1's scheduler. Cold: the step-cost model
// simulates its GPU points as the run meets them; warm: the same traffic again on those points
// (the engine and the interpolation alone, what every further run of a sweep or rate search pays).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>

#include "workloads/serving/serve_scenario.hpp"

namespace {

using namespace bwsim;

bwsim::Scenario hour_of_traffic() {
  setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_BENCH, 0);
  return load_scenario(
      std::string(BWSIM_CONFIG_DIR_FOR_BENCH) + "/scenarios/llama70b-nvfp4-b200.toml", "", "",
      {"mtp.drafts=0", "traffic.arrivals=\"poisson\"", "traffic.rate=2.8", "traffic.duration=\"1 h\"",
       "traffic.prompt=\"lognormal:800:0.8\"", "traffic.output=\"lognormal:200:0.8\""},
      {});
}

// The timed run is the warm one; the cold run before it is reported as cold_run_s.
void BM_Serve70B_OneHour(benchmark::State& state) {
  const Scenario s = hour_of_traffic();
  serving::GpuStepCost cost = serving::scenario_step_cost(s);
  const auto t0 = std::chrono::steady_clock::now();
  (void)serving::serve_scenario(s, &cost);
  const double cold_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  serving::ServeRun r;
  for (auto _ : state) r = serving::serve_scenario(s, &cost);
  state.counters["requests"] = static_cast<double>(r.summary.finished);
  state.counters["steps"] = static_cast<double>(r.result.steps);
  state.counters["simulated_s"] = r.result.end_s;
  state.counters["points"] = static_cast<double>(r.simulated_steps);
  state.counters["cold_run_s"] = cold_s;
}

}  // namespace

BENCHMARK(BM_Serve70B_OneHour)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK_MAIN();
