// The published measurements in shared/CALIBRATION.md, reproduced by the microbenchmarks run
// through the full model. A failure here means a model change moved bwsim off the hardware.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "models/hw_spec.hpp"
#include "tests/test_util.hpp"
#include "workloads/micro.hpp"

namespace bwsim {
namespace {

class Calibration : public ::testing::Test {
 protected:
  void SetUp() override { setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_TESTS, 1); }
};

void expect_within(double got, double want, double tolerance, const std::string& what) {
  EXPECT_LE(std::abs(got / want - 1.0), tolerance) << what << ": simulated " << got << ", measured " << want;
}

MicroOptions mma(int m, int n, bool a_tmem = false, bool pair = false, MmaKind kind = MmaKind::kF16) {
  MicroOptions o;
  o.m = m;
  o.n = n;
  o.a_in_tmem = a_tmem;
  o.pair = pair;
  o.kind = kind;
  return o;
}

TEST_F(Calibration, B200SingleMmaLatencies) {
  const HwSpec b200 = HwSpec::load("b200", {});
  struct Case {
    MicroOptions o;
    double cycles;
    const char* what;
  };
  const Case cases[] = {{mma(128, 64), 168, "SMEM M128 N64"},
                        {mma(128, 256), 264, "SMEM M128 N256"},
                        {mma(64, 64), 152, "SMEM M64 N64"},
                        {mma(128, 256, true), 232, "A in TMEM M128 N256"},
                        {mma(256, 256, false, true), 298, "CTA pair M256 N256"}};
  for (const Case& c : cases) {
    expect_within(run_micro("mma-latency", b200, c.o).rows[0].at("cycles"), c.cycles, 0.05, c.what);
  }
  // FP8 / INT8 / MXFP8 within +-3 cycles of BF16.
  const double bf16 = run_micro("mma-latency", b200, mma(128, 256)).rows[0].at("cycles");
  for (MmaKind k : {MmaKind::kF8F6F4, MmaKind::kI8, MmaKind::kMxF8F6F4}) {
    EXPECT_NEAR(run_micro("mma-latency", b200, mma(128, 256, false, false, k)).rows[0].at("cycles"), bf16,
                3.0);
  }
}

TEST_F(Calibration, B200PipelinedMmas) {
  const HwSpec b200 = HwSpec::load("b200", {});
  expect_within(run_micro("mma-throughput", b200, mma(128, 64, true)).rows[0].at("cycles_per_mma"), 32.5,
                0.05, "A in TMEM N64");
  const MicroRow n256 = run_micro("mma-throughput", b200, mma(128, 256, true)).rows[0];
  expect_within(n256.at("cycles_per_mma"), 128.5, 0.05, "A in TMEM N256");
  expect_within(run_micro("mma-throughput", b200, mma(128, 64)).rows[0].at("cycles_per_mma"), 48.6, 0.05,
                "A,B in SMEM N64 (SMEM-bound)");
  expect_within(n256.at("flop_per_clk"), 8160, 0.05, "BF16 FLOP/clk/SM");
  expect_within(run_micro("mma-throughput", b200, mma(128, 256, true, false, MmaKind::kF8F6F4))
                    .rows[0]
                    .at("flop_per_clk"),
                16353, 0.05, "FP8 FLOP/clk/SM");
  expect_within(run_micro("mma-throughput", b200, mma(256, 256, false, true)).rows[0].at("flop_per_clk"),
                16289, 0.05, "CTA pair FLOP/clk");
}

TEST_F(Calibration, B200MemorySystem) {
  const HwSpec b200 = HwSpec::load("b200", {});
  MicroOptions stream;
  stream.inflight = {262144};
  expect_within(run_micro("tma-bandwidth", b200, stream).rows[0].at("tb_per_s"), 7.26, 0.05,
                "TMA streaming read");
  const MicroRow hbm = run_micro("hbm-latency", b200, {}).rows[0];
  expect_within(hbm.at("near_cycles"), 1085, 0.05, "HBM load latency");
  expect_within(hbm.at("cross_die_penalty_cycles"), 300, 0.05, "cross-die penalty");
  const MicroRow l2 = run_micro("l2-latency", b200, {}).rows[0];
  expect_within(l2.at("near_cycles") / 1.965, 150, 0.05, "L2 hit latency in ns");
  expect_within(run_micro("smem-bandwidth", b200, {}).rows[0].at("bytes_per_clk_per_sm"), 128, 0.05,
                "SMEM B/clk");
}

TEST_F(Calibration, HopperCopyBandwidth) {
  MicroOptions copy;
  copy.copy = true;
  copy.inflight = {131072};
  expect_within(run_micro("tma-bandwidth", HwSpec::load("h100", {}), copy).rows[0].at("tb_per_s"), 3.0, 0.05,
                "H100 device-to-device copy");
  expect_within(run_micro("tma-bandwidth", HwSpec::load("h200", {}), copy).rows[0].at("tb_per_s"), 4.3, 0.05,
                "H200 device-to-device copy");
}

TEST_F(Calibration, LittlesLawCurveRisesToTheBandwidth) {
  MicroOptions sweep;
  sweep.inflight = {16384, 32768, 65536, 262144};
  const MicroResult r = run_micro("tma-bandwidth", HwSpec::load("b200", {}), sweep);
  ASSERT_EQ(r.rows.size(), 4u);
  // Latency-bound at first: doubling the bytes in flight nearly doubles bandwidth ...
  EXPECT_GT(r.rows[1].at("tb_per_s"), 1.7 * r.rows[0].at("tb_per_s"));
  // ... until HBM saturates.
  EXPECT_NEAR(r.rows[3].at("tb_per_s"), r.rows[2].at("tb_per_s"), 0.05 * r.rows[3].at("tb_per_s"));
}

// Dense tensor peaks and memory bandwidth against the datasheet table (within 2%).
TEST_F(Calibration, DatasheetPeaksForEveryGpu) {
  struct Peak {
    const char* gpu;
    MmaKind kind;
    double flops;
  };
  const Peak peaks[] = {
      {"h100", MmaKind::kF16, 989.4e12},
      {"h100", MmaKind::kF8, 1979e12},
      {"h100", MmaKind::kTf32, 494.7e12},
      {"h200", MmaKind::kF16, 989.4e12},
      {"h200", MmaKind::kF8, 1979e12},
      {"b200", MmaKind::kMxF4NvF4, 9e15},
      {"b200", MmaKind::kF8F6F4, 4.5e15},
      {"b200", MmaKind::kF16, 2.25e15},
      // Datasheet TF32 "1.1 PFLOP/s" is 1.125 rounded (half of BF16, as on every NVIDIA tensor core).
      {"b200", MmaKind::kTf32, 1.125e15},
      {"gb200", MmaKind::kMxF4NvF4, 10e15},
      {"gb200", MmaKind::kF8F6F4, 5e15},
      {"gb200", MmaKind::kF16, 2.5e15},
      {"gb200", MmaKind::kTf32, 1.25e15},
      {"b300", MmaKind::kMxF4NvF4, 13.5e15},
      {"b300", MmaKind::kF8F6F4, 4.5e15},
      {"b300", MmaKind::kF16, 2.25e15},
      {"b300", MmaKind::kI8, 0.15e15},
      {"gb300", MmaKind::kMxF4NvF4, 15e15},
      {"gb300", MmaKind::kF8F6F4, 5e15},
      {"gb300", MmaKind::kF16, 2.5e15},
      {"rtx5090", MmaKind::kMxF4NvF4, 1676e12},
      {"rtx5090", MmaKind::kF8F6F4, 419e12},  // GeForce: FP32 accumulate at half rate
      {"rtx5090", MmaKind::kF16, 209.5e12},
      {"rtx-pro-6000", MmaKind::kMxF4NvF4, 2000e12},
      {"rtx-pro-6000", MmaKind::kF8F6F4, 1000e12},
      {"rtx-pro-6000", MmaKind::kF16, 500e12},
  };
  for (const Peak& p : peaks) {
    const HwSpec hw = HwSpec::load(p.gpu, {});
    expect_within(hw.peak_flops(p.kind, hw.clock.sm_datasheet), p.flops, 0.02,
                  std::string(p.gpu) + " " + std::string(mma_kind_name(p.kind)));
  }
  const std::pair<const char*, double> bandwidths[] = {
      {"h100", 3.35e12}, {"h200", 4.8e12}, {"b200", 7.7e12},     {"gb200", 8e12},
      {"b300", 7.7e12},  {"gb300", 8e12},  {"rtx5090", 1.79e12}, {"rtx-pro-6000", 1.79e12}};
  for (const auto& [gpu, bw] : bandwidths) {
    expect_within(static_cast<double>(HwSpec::load(gpu, {}).dram.bandwidth.bytes_per_s), bw, 0.02, gpu);
  }
}

}  // namespace
}  // namespace bwsim
