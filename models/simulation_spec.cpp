#include "models/simulation_spec.hpp"

namespace bwsim {

void SimulationSpec::read(ConfigReader& r) {
  r.owned_by("simulation");
  const auto fraction = [&](const char* key, double& v, double dflt, const char* doc) {
    r.opt(key, v, dflt, doc);
    r.range(key, v, 0.01, 1.0);
  };
  fraction("l2_efficiency", l2_efficiency, 0.8,
           "GEMM planner's estimate: share of the L2 slices' aggregate bandwidth a plan's loads reach");
  fraction("hbm_efficiency", hbm_efficiency, 0.9,
           "GEMM planner's estimate: share of DRAM bandwidth streaming the operands once reaches");
  fraction("reduce_efficiency", reduce_efficiency, 0.8,
           "GEMM planner's estimate: share of DRAM bandwidth a split-K reduction reaches");
  r.opt("wave_slack", wave_slack, 0.05,
        "GEMM planner's estimate: added share of the per-wave time (ranks plans with slack higher)");
  r.range("wave_slack", wave_slack, 0.0, 1.0);
  r.opt("fixup_bandwidth", fixup_bandwidth, Bandwidth{100000000000},
        "GEMM planner's estimate: one SM reading a stream-K tile's partial sums");
  r.range("fixup_bandwidth", fixup_bandwidth, Bandwidth{1'000'000}, Bandwidth{100'000'000'000'000});
  r.opt("fixup_latency", fixup_latency, Duration{microseconds(1)},
        "GEMM planner's estimate: a stream-K flag round trip before the fix-up");
  r.range("fixup_latency", fixup_latency, Duration{Tick{0}}, Duration{microseconds(1000)});
  r.opt("gemm_whole_run_waves", gemm_whole_run_waves, 8u,
        "GEMM plans of more waves than this are run two work items per cluster and extrapolated");
  r.range("gemm_whole_run_waves", gemm_whole_run_waves, 2u, 1u << 20);
  r.opt("gemm_sampling", gemm_sampling, true,
        "sample a GEMM's steady state: skip the waves between two agreeing windows and the last "
        "ones, and extrapolate their time and counts (false, or --sampling off: every wave is run)");
  r.opt("gemm_steady_tolerance", gemm_steady_tolerance, 0.002,
        "GEMM sampling: the most a drift between two successive windows of waves (per-wave time, "
        "DRAM byte rates), continued over the skipped waves, may move the whole run's result");
  r.range("gemm_steady_tolerance", gemm_steady_tolerance, 1e-6, 0.5);
  r.opt("gemm_steady_window", gemm_steady_window, 4u,
        "GEMM sampling: fewest waves in a window (a raster band's worth of waves when that is more)");
  r.range("gemm_steady_window", gemm_steady_window, 2u, 1u << 16);
  r.opt("gemm_steady_tail", gemm_steady_tail, 2u,
        "GEMM sampling: full waves simulated after the skipped ones, before the last partial wave");
  r.range("gemm_steady_tail", gemm_steady_tail, 1u, 1u << 16);
  r.opt("attention_whole_run", attention_whole_run, uint64_t{24000},
        "attention layers of more CTA x KV-block iterations than this are sampled (--sampling off: never)");
  r.opt("attention_sample_short", attention_sample_short, 8u,
        "KV blocks per CTA of the shorter of the two sampled runs of an attention layer's first wave");
  r.opt("attention_sample_long", attention_sample_long, 24u,
        "KV blocks per CTA of the longer sampled run; the steady state is the difference of the two");
  r.range("attention_whole_run", attention_whole_run, uint64_t{1}, uint64_t{1} << 40);
  r.range("attention_sample_short", attention_sample_short, 1u, 1u << 20);
  r.range("attention_sample_long", attention_sample_long, 2u, 1u << 20);
  r.check(attention_sample_long > attention_sample_short, "attention_sample_long",
          "must exceed simulation.attention_sample_short");
}

}  // namespace bwsim
