#include "models/simulation_spec.hpp"

namespace bwsim {

void SimulationSpec::read(ConfigReader& r) {
  r.owned_by("simulation");
  const auto fraction = [&](const char* key, double& v, double dflt, const char* doc) {
    r.opt(key, v, dflt, doc);
    r.check(v > 0 && v <= 1, key, "must be in (0, 1]");
  };
  fraction("l2_efficiency", l2_efficiency, 0.8,
           "GEMM planner's estimate: share of the L2 slices' aggregate bandwidth a plan's loads reach");
  fraction("hbm_efficiency", hbm_efficiency, 0.9,
           "GEMM planner's estimate: share of DRAM bandwidth streaming the operands once reaches");
  fraction("reduce_efficiency", reduce_efficiency, 0.8,
           "GEMM planner's estimate: share of DRAM bandwidth a split-K reduction reaches");
  r.opt("wave_slack", wave_slack, 0.05,
        "GEMM planner's estimate: added share of the per-wave time (ranks plans with slack higher)");
  r.check(wave_slack >= 0 && wave_slack <= 1, "wave_slack", "must be in [0, 1]");
  r.opt("fixup_bandwidth", fixup_bandwidth, Bandwidth{100000000000},
        "GEMM planner's estimate: one SM reading a stream-K tile's partial sums");
  r.check(fixup_bandwidth.bytes_per_s > 0, "fixup_bandwidth", "must be positive");
  r.opt("fixup_latency", fixup_latency, Duration{microseconds(1)},
        "GEMM planner's estimate: a stream-K flag round trip before the fix-up");
  r.opt("gemm_whole_run_waves", gemm_whole_run_waves, 8u,
        "GEMM plans of more waves than this are run two work items per cluster and extrapolated");
  r.check(gemm_whole_run_waves >= 2, "gemm_whole_run_waves", "must be at least 2");
  r.opt("attention_whole_run", attention_whole_run, uint64_t{24000},
        "attention layers of more CTA x KV-block iterations than this are sampled (--sampling off: never)");
  r.opt("attention_sample_short", attention_sample_short, 8u,
        "KV blocks per CTA of the shorter of the two sampled runs of an attention layer's first wave");
  r.opt("attention_sample_long", attention_sample_long, 24u,
        "KV blocks per CTA of the longer sampled run; the steady state is the difference of the two");
  r.check(attention_sample_short >= 1, "attention_sample_short", "must be at least 1");
  r.check(attention_sample_long > attention_sample_short, "attention_sample_long",
          "must exceed simulation.attention_sample_short");
}

}  // namespace bwsim
