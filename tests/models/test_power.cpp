// The energy model and the clock governor (models/power.hpp): energy adds up from the counted
// operations, the governor holds the power limit and goes no lower than it must, more power
// never slows anything, and narrower formats cost fewer joules per FLOP.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <limits>
#include <string>
#include <vector>

#include "isa/mma.hpp"
#include "models/hw_spec.hpp"
#include "models/power.hpp"
#include "sim/errors.hpp"
#include "tests/test_util.hpp"
#include "workloads/attention/timing.hpp"
#include "workloads/gemm/gemm.hpp"
#include "workloads/micro.hpp"

namespace bwsim {
namespace {

GemmTiming gemm(const HwSpec& hw, int64_t m, int64_t n, int64_t k, const char* format) {
  return simulate_gemm(GemmProblem{m, n, k, parse_gemm_format(format)}, hw);
}

double watts(const HwSpec& hw, const GemmTiming& g) {
  return kernel_energy(hw, g.plan.math.kind, g.activity, g.time.seconds(), g.power.clock).total() /
         g.time.seconds();
}

// The round-number GPU: 1 pJ per BF16 FLOP, 1 pJ per SMEM/TMEM/L2 byte, 10 pJ per DRAM byte,
// 10 W idle, one voltage (no V^2 scaling), no clocking energy.
TEST(Power, AKernelsEnergyIsItsCountedOperationsPlusStaticPowerTimesTime) {
  const HwSpec hw = HwSpec::load(std::string(BWSIM_TEST_DATA_DIR) + "/hw/simple.toml", {});
  const GemmTiming g = gemm(hw, 256, 256, 256, "bf16");
  const Activity& a = g.activity;
  EXPECT_EQ(a.mma_macs, 256.0 * 256 * 256);  // whole tiles: no padding
  EXPECT_GT(a.dram_bytes, 0);
  EXPECT_EQ(a.dram_bytes, static_cast<double>(g.hbm_read + g.hbm_write));
  const double t = g.time.seconds();
  const double by_hand = 10 * t + 1e-12 * (2 * a.mma_macs + a.smem_bytes + a.tmem_bytes + a.l2_bytes) +
                         10e-12 * a.dram_bytes + 1e-12 * (a.fma + a.exp2);
  EXPECT_NEAR(g.power.joules(), by_hand, 1e-9 * by_hand);
  EXPECT_NEAR(g.power.energy.static_j, 10 * t, 1e-15);
  EXPECT_NEAR(g.power.energy.tensor_j, 2e-12 * a.mma_macs, 1e-18);
  EXPECT_DOUBLE_EQ(g.power.watts(), g.power.joules() / t);
  EXPECT_EQ(g.power.limit, ClockLimit::kBoost);  // milliwatts against a 1000 W limit
}

// A microbenchmark's energy is its counted work too: back-to-back MMAs on one SM, with the SRAM
// energies zeroed, cost 1 pJ per FLOP over the static 10 W.
TEST(Power, AMicrobenchmarksEnergyIsItsFlopsPlusStaticPower) {
  const HwSpec hw = HwSpec::load(std::string(BWSIM_TEST_DATA_DIR) + "/hw/simple.toml",
                                 {"power.energy.smem=0 pJ/B", "power.energy.tmem=0 pJ/B"});
  MicroOptions o;
  o.m = 128;
  o.n = 128;
  o.count = 64;
  const MicroRow r = run_micro("mma-throughput", hw, o).rows.at(0);
  const double joules = r.at("energy_uj") * 1e-6;
  const double seconds = joules / r.at("avg_w");
  const double flops = 2.0 * 128 * 128 * mma_k(MmaKind::kF16) * o.count;
  EXPECT_NEAR(joules - 10 * seconds, flops * 1e-12, 1e-6 * flops * 1e-12);
  EXPECT_GT(r.at("avg_w"), 10);
}

TEST(Power, DynamicEnergyScalesWithTheSquareOfTheVoltage) {
  const HwSpec hw = HwSpec::load("b200", {});
  Activity a;
  a.mma_macs = 1e12;
  a.dram_bytes = 1e9;
  const EnergyBreakdown top = kernel_energy(hw, MmaKind::kF16, a, 1e-3, hw.clock.sm);
  const EnergyBreakdown low = kernel_energy(hw, MmaKind::kF16, a, 1e-3, hw.clock.sm_min);
  const double v = hw.power.v_min.volts / hw.power.v_max.volts;
  EXPECT_NEAR(low.tensor_j, top.tensor_j * v * v, 1e-12 * top.tensor_j);
  EXPECT_DOUBLE_EQ(low.dram_j, top.dram_j);      // memory clocks and voltage are fixed
  EXPECT_DOUBLE_EQ(low.static_j, top.static_j);  // idle power
}

TEST(Power, AComputeBoundFp8GemmOnH100RunsBelowBoostAndADecodeGemmAtBoost) {
  const HwSpec hw = HwSpec::load("h100", {});
  const GemmTiming big = gemm(hw, 8192, 8192, 8192, "fp8_e4m3");
  EXPECT_EQ(big.power.limit, ClockLimit::kPower);
  EXPECT_LT(big.power.clock, hw.clock.sm);
  EXPECT_LE(big.power.watts(), hw.power.limit.watts);
  const GemmTiming decode = gemm(hw, 16, 8192, 8192, "bf16");
  EXPECT_EQ(decode.power.limit, ClockLimit::kBoost);
  EXPECT_EQ(decode.power.clock, hw.clock.sm);
  EXPECT_LT(decode.power.watts(), hw.power.limit.watts);
}

// The governor's answer is the highest DVFS point within the limit: one step up is over it.
TEST(Power, TheGovernorStopsAtTheHighestClockWithinTheLimit) {
  const HwSpec hw = HwSpec::load("b200", {});
  const GemmTiming g = gemm(hw, 8192, 8192, 8192, "bf16");
  ASSERT_EQ(g.power.limit, ClockLimit::kPower);
  EXPECT_LE(watts(hw, g), hw.power.limit.watts);
  EXPECT_EQ((g.power.clock.hz - hw.clock.sm_min.hz) % hw.clock.sm_step.hz, 0u);
  const Frequency up{g.power.clock.hz + hw.clock.sm_step.hz};
  const HwSpec at_up =
      HwSpec::load("b200", {"power.limit=\"10 kW\"", "clock.lock=\"" + to_string(up) + "\""});
  GemmTimingOptions o;
  o.tile = g.plan.tile;
  const GemmTiming over = simulate_gemm(GemmProblem{8192, 8192, 8192, parse_gemm_format("bf16")}, at_up, o);
  EXPECT_EQ(over.power.clock, up);
  EXPECT_GT(kernel_energy(hw, over.plan.math.kind, over.activity, over.time.seconds(), up).total() /
                over.time.seconds(),
            hw.power.limit.watts);
}

TEST(Power, ClockLockCapsTheGovernorAndBoostIgnoresTheLimit) {
  const HwSpec locked = HwSpec::load("b200", {"clock.lock=\"1.2 GHz\""});
  const GemmTiming g = gemm(locked, 4096, 4096, 4096, "bf16");
  EXPECT_EQ(g.power.clock, Frequency{1'200'000'000});
  EXPECT_EQ(g.power.limit, ClockLimit::kLock);
  const HwSpec hw = HwSpec::load("b200", {});
  GemmTimingOptions boost;
  boost.clock = ClockMode::kBoost;
  const GemmTiming b = simulate_gemm(GemmProblem{8192, 8192, 8192, parse_gemm_format("bf16")}, hw, boost);
  EXPECT_EQ(b.power.clock, hw.clock.sm);
  EXPECT_EQ(b.power.limit, ClockLimit::kUngoverned);
}

// A power-limit sweep: more power never slows a GEMM or an attention layer, and never lowers its clock.
TEST(Power, RaisingThePowerLimitNeverSlowsAnything) {
  Tick prev_gemm{std::numeric_limits<int64_t>::max()};
  Tick prev_attn{std::numeric_limits<int64_t>::max()};
  Frequency prev_clock{0};
  for (const int w : {300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1500}) {
    const HwSpec hw = HwSpec::load("b200", {fmt::format("power.limit=\"{} W\"", w)});
    const GemmTiming g = gemm(hw, 8192, 8192, 8192, "nvfp4");
    EXPECT_LE(g.time, prev_gemm) << w << " W";
    EXPECT_GE(g.power.clock, prev_clock) << w << " W";
    if (g.power.limit == ClockLimit::kPower) {
      EXPECT_LE(g.power.watts(), w * (1 + 1e-9)) << w << " W";
    }
    prev_gemm = g.time;
    prev_clock = g.power.clock;
    AttentionProblem p;
    p.batch = 1;
    p.seq = 8192;
    p.q_len = 8192;
    p.heads = 16;
    p.kv_heads = 16;
    p.head_dim = 128;
    p.causal = true;
    const AttentionTiming t = simulate_attention(p, hw);
    EXPECT_LE(t.time, prev_attn) << w << " W";
    prev_attn = t.time;
  }
}

TEST(Power, NarrowerFormatsCostFewerJoulesPerFlop) {
  const HwSpec hw = HwSpec::load("b200", {});
  const auto per_flop = [&](const char* f) {
    const GemmTiming g = gemm(hw, 8192, 8192, 8192, f);
    return g.power.joules() / g.flops;
  };
  const double bf16 = per_flop("bf16");
  const double fp8 = per_flop("fp8_e4m3");
  const double nvfp4 = per_flop("nvfp4");
  EXPECT_LT(fp8, bf16);
  EXPECT_LT(nvfp4, fp8);
  const auto e = [&](MmaKind k) { return hw.power.flop[static_cast<size_t>(k)].joules; };
  EXPECT_LT(e(MmaKind::kMxF4NvF4), e(MmaKind::kF8F6F4));
  EXPECT_LT(e(MmaKind::kF8F6F4), e(MmaKind::kF16));
}

TEST(Power, BadPowerConfigsNameTheKey) {
  const auto fails = [](const std::vector<std::string>& sets, const std::string& key) {
    try {
      HwSpec::load("b200", sets);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "accepted " << sets.front();
  };
  fails({"power.energy.flop.f16=\"-1 pJ\""}, "power.energy.flop.f16");
  fails({"power.limit=\"100 W\""}, "power.limit");  // below the 140 W idle power
  fails({"power.idle=\"0 W\""}, "power.idle");
  fails({"power.v_max=\"0.5 V\""}, "power.v_max");  // below v_min
  fails({"power.energy.dram=\"3 GHz\""}, "power.energy.dram");
  fails({"clock.lock=\"100 MHz\""}, "clock.lock");                   // below clock.sm_min
  fails({"power.energy.flop.f8=\"1 pJ\""}, "power.energy.flop.f8");  // Hopper's key on Blackwell
}

}  // namespace
}  // namespace bwsim
