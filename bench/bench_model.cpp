// Host time of whole-model step simulation (issue #7's target: one full decode step of
// Llama-3.1-70B, 80 layers, batch 64, 8K context, NVFP4 weights, FP8 KV, on B200 in under 1 s
// on one core). The first step simulates every distinct kernel; the next ones reuse all but
// attention (its context grew), as a decode run does.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "models/hw_spec.hpp"
#include "workloads/transformer/scenario.hpp"
#include "workloads/transformer/step.hpp"

namespace {

using namespace bwsim;

void setup() { setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_BENCH, 0); }

void decode(benchmark::State& state, size_t finalists, bool warm) {
  setup();
  const ModelSpec m = load_model("llama-3.1-70b");
  const HwSpec hw = HwSpec::load("b200", {});
  const QuantPlan q = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kFp8Tensor);
  StepOptions o;
  o.gemm_finalists = finalists;
  StepShape s{64, 1, 8192, false};
  StepCache warm_cache;
  if (warm) (void)simulate_step(m, q, hw, s, o, warm_cache);
  double us = 0;
  for (auto _ : state) {
    StepCache cache = warm ? warm_cache : StepCache{};
    ++s.context;
    us = simulate_step(m, q, hw, s, o, cache).time.seconds() * 1e6;
  }
  state.counters["simulated_us"] = us;
}

void BM_Decode70B_FirstStep_1Finalist(benchmark::State& s) { decode(s, 1, false); }
void BM_Decode70B_FirstStep_2Finalists(benchmark::State& s) { decode(s, 2, false); }
void BM_Decode70B_FirstStep_AllFinalists(benchmark::State& s) { decode(s, 0, false); }  // the default
void BM_Decode70B_NextStep(benchmark::State& s) { decode(s, 0, true); }

// A whole scenario: Llama-3.1-70B NVFP4 / FP8 KV, 64 sequences, an 7,936-token prompt
// prefilled in one chunk, then 256 decode steps to 8K (target: under 30 s on one core).
void BM_Scenario70B_256Steps(benchmark::State& state) {
  setup();
  Scenario s =
      load_scenario(std::string(BWSIM_CONFIG_DIR_FOR_BENCH) + "/scenarios/llama70b-nvfp4-b200.toml", "", "",
                    {"serving.concurrency=64", "serving.prompt=7936", "serving.output=256"}, {});
  s.mtp.drafts = 0;
  double itl = 0;
  for (auto _ : state) itl = run_scenario(s).decode.itl_s;
  state.counters["simulated_itl_ms"] = itl * 1e3;
}

}  // namespace

BENCHMARK(BM_Scenario70B_256Steps)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_Decode70B_FirstStep_1Finalist)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_Decode70B_FirstStep_2Finalists)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_Decode70B_FirstStep_AllFinalists)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_Decode70B_NextStep)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_MAIN();
