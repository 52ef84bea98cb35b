// Host time of GEMM timing simulation: the 8192^3 NVFP4 GEMM on B200 (issue target: < 0.5 s on
// one core), with the planner's search and with the plan forced, and a decode shape. Run with
// BWSIM_THREADS=1 for the one-core figure (the planner simulates its finalists in parallel).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "models/hw_spec.hpp"
#include "workloads/gemm/gemm.hpp"

namespace {

using namespace bwsim;

GemmProblem problem(int64_t m, int64_t n, int64_t k, const char* format) {
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.format = parse_gemm_format(format);
  return p;
}

const HwSpec& b200() {
  static const HwSpec hw = [] {
    setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_BENCH, 0);
    return HwSpec::load("b200", {});
  }();
  return hw;
}

void run(benchmark::State& state, const GemmProblem& p, const GemmTimingOptions& o) {
  double events = 0;
  for (auto _ : state) {
    const GemmTiming g = simulate_gemm(p, b200(), o);
    events = 0;
    for (const KernelResult& k : g.kernels) events += static_cast<double>(k.events);
    benchmark::DoNotOptimize(g.time);
  }
  state.counters["events"] = events;
  state.counters["events_per_s"] = benchmark::Counter(events, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Nvfp4_8192_Planned(benchmark::State& state) { run(state, problem(8192, 8192, 8192, "nvfp4"), {}); }
void BM_Nvfp4_8192_Forced(benchmark::State& state) {
  GemmTimingOptions o;
  o.tile = parse_tile("256x256x128:stages=8");  // the planner's pick for this shape
  run(state, problem(8192, 8192, 8192, "nvfp4"), o);
}
void BM_Bf16_8192_Planned(benchmark::State& state) { run(state, problem(8192, 8192, 8192, "bf16"), {}); }
void BM_Nvfp4_Decode_16x32768x32768(benchmark::State& state) {
  run(state, problem(16, 32768, 32768, "nvfp4"), {});
}

BENCHMARK(BM_Nvfp4_8192_Planned)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Nvfp4_8192_Forced)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Bf16_8192_Planned)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_Nvfp4_Decode_16x32768x32768)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
