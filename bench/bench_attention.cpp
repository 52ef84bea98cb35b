// Host time of attention timing simulation on B200 (issue targets): one prefill layer at 128K
// tokens (64 query heads, 8 KV heads, head_dim 128) in under 2 s, and a decode step at 1M tokens
// in under 0.5 s with under 2 GiB of memory (peak RSS: /usr/bin/time -v build/bench/bench_attention).
// A whole (unsampled) 16K prefill shows the simulator's raw speed.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "models/hw_spec.hpp"
#include "workloads/attention/timing.hpp"

namespace {

using namespace bwsim;

const HwSpec& b200() {
  static const HwSpec hw = [] {
    setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_BENCH, 0);
    return HwSpec::load("b200", {});
  }();
  return hw;
}

AttentionProblem layer(int64_t seq, int64_t q_len, bool causal, KvFormat kv = KvFormat::kBf16) {
  AttentionProblem p;
  p.seq = seq;
  p.q_len = q_len;
  p.heads = 64;
  p.kv_heads = 8;
  p.head_dim = 128;
  p.causal = causal;
  p.kv = kv;
  return p;
}

void run(benchmark::State& state, const AttentionProblem& p, const AttentionTimingOptions& o = {}) {
  double us = 0;
  for (auto _ : state) {
    const AttentionTiming t = simulate_attention(p, b200(), o);
    us = t.time.seconds() * 1e6;
    benchmark::DoNotOptimize(us);
  }
  state.counters["simulated_us"] = us;
}

void BM_Prefill_128K_Causal(benchmark::State& s) { run(s, layer(131072, 131072, true)); }
void BM_Prefill_128K_Full(benchmark::State& s) { run(s, layer(131072, 131072, false)); }
void BM_Decode_1M_Bf16(benchmark::State& s) { run(s, layer(1 << 20, 1, true)); }
void BM_Decode_1M_Nvfp4(benchmark::State& s) { run(s, layer(1 << 20, 1, true, KvFormat::kNvfp4)); }
void BM_Prefill_16K_Whole(benchmark::State& s) {
  AttentionTimingOptions o;
  o.whole_run_blocks = ~uint64_t{0};
  AttentionProblem p = layer(16384, 16384, true);
  p.heads = 16;
  p.kv_heads = 4;
  run(s, p, o);
}

BENCHMARK(BM_Prefill_128K_Causal)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Prefill_128K_Full)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Decode_1M_Bf16)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Decode_1M_Nvfp4)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Prefill_16K_Whole)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
