#include <gtest/gtest.h>

#include "tests/test_util.hpp"

#include <cmath>
#include <cstdlib>

#include "models/hw_spec.hpp"
#include "sim/errors.hpp"

namespace bwsim {
namespace {

class HwSpecTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_TESTS, 1); }
};

TEST_F(HwSpecTest, B200PeaksMatchTheDatasheet) {
  const HwSpec hw = HwSpec::load("b200", {});
  EXPECT_EQ(hw.arch, Arch::kSm100);
  EXPECT_EQ(hw.sm.count, 148u);
  const Frequency f = hw.clock.sm_datasheet;
  auto near = [](double got, double want) { return std::abs(got / want - 1.0) <= 0.02; };
  EXPECT_TRUE(near(hw.peak_flops(MmaKind::kF16, f), 2.25e15));
  EXPECT_TRUE(near(hw.peak_flops(MmaKind::kF8F6F4, f), 4.5e15));
  EXPECT_TRUE(near(hw.peak_flops(MmaKind::kMxF4NvF4, f), 9e15));
  EXPECT_TRUE(near(hw.peak_flops(MmaKind::kMxF4, f), 9e15));
  // The datasheet's "1.1 PFLOP/s" TF32 is 1.125 rounded: exactly half of BF16, as on every
  // NVIDIA tensor core since Ampere.
  EXPECT_TRUE(near(hw.peak_flops(MmaKind::kTf32, f), 1.125e15));
  EXPECT_TRUE(near(static_cast<double>(hw.dram.bandwidth.bytes_per_s), 7.7e12));
  EXPECT_EQ(hw.tmem.bytes(), 256u * 1024);
}

TEST_F(HwSpecTest, ImpossibleCombinationsNameTheKey) {
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"arch=sm_90"}); }),
                  "'tensor.rate.f8f6f4' is an MMA kind that sm_90 does not have");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"arch=sm_120"}); }),
                  "'tensor.latency_tmem_a' needs TMEM, which sm_120 lacks");
  EXPECT_CONTAINS(input_error_of([] {
                    HwSpec::load("b200", {"arch=sm_120", "tma.multicast=false"});
                  }),
                  "needs TMEM, which sm_120 lacks");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"tmem.columns=500"}); }),
                  "--set tmem.columns=500: 'tmem.columns' must be a power of two");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"smem.max_per_cta=300 KiB"}); }),
                  "'smem.max_per_cta' must not exceed smem.capacity");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"hbm.capacity=-1 GB"}); }),
                  "'hbm.capacity' is wrong: a size must not be negative");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"sm.count=100000000"}); }),
                  "'sm.count' is 100000000, outside its physical range 1 .. 1024");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"sm.dies=3"}); }),
                  "'sm.dies' must divide sm.count");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"arch=sm_75"}); }),
                  "expected one of: sm_90, sm_100, sm_103, sm_120");
}

TEST_F(HwSpecTest, HopperRefusesTmemAndBlockScaledKinds) {
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("h100", {"tmem.columns=512"}); }),
                  "'tmem' describes TMEM, which sm_90 does not have");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("h100", {"tensor.rate.mxf4nvf4=8192"}); }),
                  "'tensor.rate.mxf4nvf4' is an MMA kind that sm_90 does not have (Hopper has no "
                  "block-scaled or FP4/FP6 tensor math)");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("h100", {"tensor.latency_tmem_a=100"}); }),
                  "'tensor.latency_tmem_a' needs TMEM, which sm_90 lacks");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("rtx5090", {"tma.multicast=true"}); }),
                  "'tma.multicast' is not available on sm_120");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"l2.block=4100 B"}); }),
                  "'l2.block' must be a multiple of l2.sector and at most 128 sectors");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"l2.block=4000 B"}); }),
                  "'l2.block_width' must be a multiple of l2.sector that divides l2.block");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"l2.capacity=125 MiB"}); }),
                  "'l2.capacity' must be a whole number of sets");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"hbm.latency=-5 ns"}); }),
                  "'hbm.latency' is wrong: a duration must not be negative");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"hbm.bandwidth=8 TB"}); }),
                  "unknown unit \"TB\" for a bandwidth");
}

TEST_F(HwSpecTest, EveryShippedConfigLoads) {
  for (const char* g : {"b200", "gb200", "b300", "gb300", "h100", "h200", "rtx5090", "rtx-pro-6000"}) {
    std::vector<ParamRecord> rec;
    EXPECT_NO_THROW(HwSpec::load(g, {}, &rec)) << g;
    for (const auto& r : rec) EXPECT_FALSE(r.doc.empty()) << g << " " << r.path;
  }
}

TEST_F(HwSpecTest, OverridesChangeDerivedNumbers) {
  const HwSpec hw = HwSpec::load("b200", {"hbm.bandwidth=12 TB/s", "tmem.columns=1024", "sm.count=160"});
  EXPECT_EQ(hw.dram.bandwidth.bytes_per_s, 12000000000000u);
  EXPECT_EQ(hw.tmem.bytes(), 512u * 1024);
  EXPECT_NEAR(hw.peak_flops(MmaKind::kF16, hw.clock.sm_datasheet) / 2.25e15, 160.0 / 148.0, 1e-3);
}

TEST_F(HwSpecTest, EveryParameterIsDocumented) {
  std::vector<ParamRecord> rec;
  HwSpec::load("b200", {}, &rec);
  ASSERT_GT(rec.size(), 50u);
  for (const auto& r : rec) EXPECT_FALSE(r.doc.empty()) << r.path;
}

}  // namespace
}  // namespace bwsim
