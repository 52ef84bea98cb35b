// Physical properties of the timing model, checked on shapes and configs RapidCheck generates
// within the documented ranges (and shrinks to a smallest counterexample when one fails).
//
// In CI the seed is fixed (tests/CMakeLists.txt sets RC_PARAMS); `scripts/properties --long` runs
// many more cases with a random seed. Every counterexample found becomes a named test below the
// properties.
//
// Held so far: roofline bounds (no kernel beats its tensor peak or its compulsory DRAM traffic),
// conservation (counted FLOPs and MACs against 2·M·N·K; bytes reaching L2 at least those read
// from DRAM), invariance under units. Not yet: resource and work monotonicity
// (the plausibility issue's main work; `bwsim sweep` flags those points meanwhile).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "models/hw_spec.hpp"
#include "workloads/attention/timing.hpp"
#include "workloads/gemm/format.hpp"
#include "workloads/gemm/gemm.hpp"

namespace bwsim {
namespace {

struct GemmCase {
  std::string hw;
  std::string format;
  int64_t m = 0, n = 0, k = 0;
};

// Formats every configured architecture of the three runs (nvfp4 where it exists).
std::vector<std::string> formats_of(const std::string& hw) {
  if (hw == "h100") return {"bf16", "fp8_e4m3"};
  return {"bf16", "fp8_e4m3", "nvfp4", "mxfp4"};
}

rc::Gen<GemmCase> gemm_cases() {
  return rc::gen::mapcat(rc::gen::element<std::string>("b200", "h100", "rtx5090"), [](const std::string& hw) {
    return rc::gen::apply(
        [hw](const std::string& f, int m, int n, int k) {
          return GemmCase{hw, f, int64_t{m} * 64, int64_t{n} * 128, int64_t{k} * 256};
        },
        rc::gen::elementOf(formats_of(hw)), rc::gen::inRange(1, 33), rc::gen::inRange(1, 17),
        rc::gen::inRange(1, 9));
  });
}

GemmTiming run(const GemmCase& c, const std::vector<std::string>& sets = {}) {
  GemmTimingOptions o;
  o.max_finalists = 1;  // the analytic best: the properties hold for any plan
  return simulate_gemm(GemmProblem{c.m, c.n, c.k, parse_gemm_format(c.format)}, HwSpec::load(c.hw, sets), o);
}

std::string text(const GemmCase& c) { return fmt::format("{} {} {}x{}x{}", c.hw, c.format, c.m, c.n, c.k); }

RC_GTEST_PROP(GemmProperties, NothingBeatsTheRoofline, ()) {
  const GemmCase c = *gemm_cases();
  RC_LOG() << text(c) << "\n";
  const GemmTiming g = run(c);
  const HwSpec hw = HwSpec::load(c.hw, {});
  const double secs = g.time.seconds();
  // The tensor peak at the clock the run used.
  RC_ASSERT(g.flops / secs <= g.peak_tflops * 1e12 * (1 + 1e-9));
  // The operands come from DRAM at least once (the L2 starts cold), at no more than peak.
  const GemmFormat f = parse_gemm_format(c.format);
  const GemmMath m = gemm_math(f, hw.arch, hw.name);
  const double operands =
      static_cast<double>(c.m * c.k) * m.a_bits / 8 + static_cast<double>(c.n * c.k) * m.b_bits / 8;
  RC_ASSERT(static_cast<double>(g.hbm_read) >= operands);
  RC_ASSERT(static_cast<double>(g.hbm_read + g.hbm_write) / secs <=
            static_cast<double>(hw.dram.bandwidth.bytes_per_s) * (1 + 1e-9));
}

RC_GTEST_PROP(GemmProperties, FlopsAndBytesAreConserved, ()) {
  const GemmCase c = *gemm_cases();
  const GemmTiming g = run(c);
  RC_ASSERT(g.flops == 2.0 * static_cast<double>(c.m) * static_cast<double>(c.n) * static_cast<double>(c.k));
  // Every byte read from DRAM passed through the L2; hits are some of the L2's reads.
  RC_ASSERT(g.l2_read >= g.hbm_read);
  RC_ASSERT(g.l2_hit <= g.l2_read);
  const double dram = static_cast<double>(g.hbm_read + g.hbm_write);
  RC_ASSERT(std::abs(g.arithmetic_intensity * dram - g.flops) <= 1e-9 * g.flops);
}

// The same GPU written in other units times the same, with the same plan and bytes.
RC_GTEST_PROP(GemmProperties, UnitsChangeNothing, ()) {
  GemmCase c = *gemm_cases();
  c.hw = "b200";
  c.format = *rc::gen::elementOf(formats_of("b200"));
  const GemmTiming a = run(c);
  const GemmTiming b = run(c, {"hbm.bandwidth=\"7700 GB/s\"", "clock.sm_sustained=\"1400 MHz\"",
                               "l2.capacity=\"129024 KiB\"", "smem.latency=\"30 cycles\""});
  RC_ASSERT(a.time == b.time);
  RC_ASSERT(a.hbm_read == b.hbm_read);
  RC_ASSERT(a.l2_read == b.l2_read);
  RC_ASSERT(a.plan.tile.name() == b.plan.tile.name());
}

struct DecodeCase {
  std::string hw;
  std::string kv;
  int64_t batch = 1, seq = 0, heads = 0, kv_heads = 0, head_dim = 0;
};

RC_GTEST_PROP(AttentionProperties, DecodeReadsItsCacheAndBeatsNoRoofline, ()) {
  DecodeCase c;
  c.hw = *rc::gen::element<std::string>("b200", "h100");
  c.kv = *rc::gen::element<std::string>("bf16", "fp8_e4m3");
  c.batch = *rc::gen::inRange(1, 9);
  c.seq = int64_t{*rc::gen::inRange(1, 17)} * 512;
  c.kv_heads = *rc::gen::element<int64_t>(1, 2, 4, 8);
  c.heads = c.kv_heads * *rc::gen::element<int64_t>(1, 4, 8);
  c.head_dim = *rc::gen::element<int64_t>(64, 128);
  AttentionProblem p;
  p.batch = c.batch;
  p.seq = c.seq;
  p.q_len = 1;
  p.heads = c.heads;
  p.kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.causal = true;
  p.kv = *parse_kv_format(c.kv);
  const HwSpec hw = HwSpec::load(c.hw, {});
  const AttentionTiming t = simulate_attention(p, hw, AttentionTimingOptions{});
  const double cache =
      static_cast<double>(p.batch * p.seq * p.kv_elements_per_token()) * kv_bits_per_element(p.kv) / 8;
  RC_ASSERT(static_cast<double>(t.hbm_read) >= cache * (1 - 1e-9));
  RC_ASSERT(static_cast<double>(t.hbm_read + t.hbm_write) / t.time.seconds() <=
            static_cast<double>(hw.dram.bandwidth.bytes_per_s) * (1 + 1e-9));
  RC_ASSERT(t.flops / t.time.seconds() <= t.peak_tflops * 1e12 * (1 + 1e-9));
}

}  // namespace
}  // namespace bwsim
