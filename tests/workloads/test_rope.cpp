// RoPE variants against the worked values in ../shared/NUMERICS.md and against an independent
// float64 implementation written here from the Hugging Face formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "sim/errors.hpp"
#include "workloads/attention/rope.hpp"

namespace bwsim {
namespace {

constexpr double kPi = std::numbers::pi;

// --- the independent float64 reference --------------------------------------------------------

std::vector<double> ref_default(double base, int d) {
  std::vector<double> inv(d / 2);
  for (int i = 0; i < d / 2; ++i) inv[i] = 1.0 / std::pow(base, 2.0 * i / d);
  return inv;
}

std::vector<double> ref_yarn(double base, int d, double factor, double orig, double* low_out = nullptr,
                             double* high_out = nullptr) {
  const auto cdim = [&](double rot) { return d * std::log(orig / (rot * 2 * kPi)) / (2 * std::log(base)); };
  const double low = std::max(0.0, std::floor(cdim(32)));
  const double high = std::min(d - 1.0, std::ceil(cdim(1)));
  if (low_out) *low_out = low;
  if (high_out) *high_out = high;
  std::vector<double> inv = ref_default(base, d);
  for (int j = 0; j < d / 2; ++j) {
    const double ramp = std::clamp((j - low) / (high - low), 0.0, 1.0);
    inv[j] = inv[j] / factor * ramp + inv[j] * (1 - ramp);
  }
  return inv;
}

std::vector<double> ref_llama3(double base, int d, double factor, double orig, double lo, double hi) {
  std::vector<double> inv = ref_default(base, d);
  for (double& v : inv) {
    const double wl = 2 * kPi / v;
    if (wl < orig / hi) continue;
    if (wl > orig / lo) {
      v /= factor;
      continue;
    }
    const double s = (orig / wl - lo) / (hi - lo);
    v = (1 - s) * v / factor + s * v;
  }
  return inv;
}

void expect_rel(const std::vector<double>& got, const std::vector<double>& want, double tol,
                const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i] / want[i], 1.0, tol) << what << " i=" << i;
}

RopeTable table(const std::string& spec, int d, int64_t seq = 1, RopePrecision p = RopePrecision::kFloat32) {
  return rope_table(parse_rope(spec, "--rope"), d, seq, p);
}

// --- worked values ----------------------------------------------------------------------------

TEST(Rope, YarnDeepSeekV3CorrectionRangeAndMscale) {
  const RopeTable t = table("yarn:factor=40,original=4096,theta=10000,mscale=1,mscale_all_dim=1", 64);
  EXPECT_EQ(*t.yarn_low, 10);
  EXPECT_EQ(*t.yarn_high, 23);
  EXPECT_DOUBLE_EQ(t.attention_factor, 1.0);  // mscale / mscale_all_dim = 1
  // DeepSeek folds mscale(40, 1)^2 into the softmax scale instead.
  const double m = 0.1 * std::log(40.0) + 1;
  EXPECT_NEAR(yarn_softmax_multiplier(t.spec), m * m, 1e-12);
  double low = 0, high = 0;
  const auto want = ref_yarn(1e4, 64, 40, 4096, &low, &high);
  expect_rel(t.inv_freq, want, 1e-6, "deepseek f32");
  expect_rel(table("yarn:factor=40,original=4096", 64, 1, RopePrecision::kFloat64).inv_freq, want, 1e-12,
             "deepseek f64");
  // Below the range the frequency is kept, above it divided by the factor.
  EXPECT_NEAR(t.inv_freq[5] / ref_default(1e4, 64)[5], 1.0, 1e-6);
  EXPECT_NEAR(t.inv_freq[28] * 40 / ref_default(1e4, 64)[28], 1.0, 1e-6);
}

TEST(Rope, YarnQwenSetting) {
  const RopeTable t = table("yarn:factor=4,original=32768,theta=1000000", 128);
  EXPECT_EQ(*t.yarn_low, 23);
  EXPECT_EQ(*t.yarn_high, 40);
  EXPECT_NEAR(t.attention_factor, 1.138629, 1e-6);
  expect_rel(t.inv_freq, ref_yarn(1e6, 128, 4, 32768), 1e-6, "qwen");
  EXPECT_DOUBLE_EQ(yarn_softmax_multiplier(t.spec), 1.0);
  // truncate=false keeps the fractional range.
  const RopeTable u = table("yarn:factor=4,original=32768,theta=1000000,truncate=false", 128);
  EXPECT_GT(*u.yarn_low, 23);
  EXPECT_LT(*u.yarn_high, 40);
  EXPECT_DOUBLE_EQ(table("yarn:factor=4,original=32768,attention_factor=1.5", 128).attention_factor, 1.5);
}

TEST(Rope, Llama3SplitsTheFrequencies29_6_29) {
  const RopeTable t =
      table("llama3:factor=8,original=8192,low_freq_factor=1,high_freq_factor=4,theta=500000", 128);
  const auto base = ref_default(5e5, 128);
  int kept = 0, blended = 0, divided = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double ratio = t.inv_freq[i] / base[i];
    if (std::abs(ratio - 1) < 1e-6) {
      ++kept;
    } else if (std::abs(ratio * 8 - 1) < 1e-6) {
      ++divided;
    } else {
      ++blended;
      EXPECT_GT(ratio, 1.0 / 8);
      EXPECT_LT(ratio, 1.0);
    }
  }
  EXPECT_EQ(kept, 29);
  EXPECT_EQ(blended, 6);
  EXPECT_EQ(divided, 29);
  expect_rel(t.inv_freq, ref_llama3(5e5, 128, 8, 8192, 1, 4), 1e-6, "llama3");
  // The first blended frequency (i = 29): wavelength 2*pi/inv between 2048 and 8192 tokens.
  EXPECT_GT(2 * kPi / base[29], 2048);
  EXPECT_LT(2 * kPi / base[34], 8192);
}

TEST(Rope, DynamicNtkRescalesTheBaseWithSequenceLength) {
  const std::string spec = "dynamic:factor=2,max_pos=4096,theta=10000";
  // Up to max_pos nothing changes: ((2 * 4096 / 4096) - 1)^(d/(d-2)) = 1.
  EXPECT_NEAR(table(spec, 128, 4096).effective_theta, 10000, 1e-9);
  EXPECT_NEAR(table(spec, 128, 100).effective_theta, 10000, 1e-9);
  // At 8192: base * (2 * 2 - 1)^(128/126).
  const RopeTable t = table(spec, 128, 8192);
  const double base = 10000 * std::pow(3.0, 128.0 / 126.0);
  EXPECT_NEAR(t.effective_theta / base, 1.0, 1e-12);
  expect_rel(t.inv_freq, ref_default(base, 128), 1e-6, "dynamic");
  // Static NTK-aware: base * factor^(d/(d-2)).
  EXPECT_NEAR(table("ntk:factor=4", 128).effective_theta, 10000 * std::pow(4.0, 128.0 / 126.0), 1e-6);
  // Linear: every frequency divided by the factor.
  expect_rel(
      table("linear:factor=4", 64).inv_freq,
      [] {
        auto v = ref_default(1e4, 64);
        for (double& x : v) x /= 4;
        return v;
      }(),
      1e-6, "linear");
}

TEST(Rope, LongRopeSwitchesListsAtTheOriginalLength) {
  // Phi-3-style: 4096 original, 131072 max -> factor 32; d = 8 for a short list.
  const std::string spec = "longrope:original=4096,max_pos=131072,short=1/1.5/2/4,long=2/3/5/8";
  const RopeTable shortt = table(spec, 8, 4096);
  const RopeTable longt = table(spec, 8, 4097);
  const auto base = ref_default(1e4, 8);
  const double sf[] = {1, 1.5, 2, 4};
  const double lf[] = {2, 3, 5, 8};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(shortt.inv_freq[i] * sf[i] / base[i], 1, 1e-6);
    EXPECT_NEAR(longt.inv_freq[i] * lf[i] / base[i], 1, 1e-6);
  }
  const double att = std::sqrt(1 + std::log(32.0) / std::log(4096.0));
  EXPECT_NEAR(longt.attention_factor, att, 1e-6);
  EXPECT_NEAR(att, 1.190238, 1e-6);
}

TEST(Rope, PartialRotaryAndBothRotationStyles) {
  // partial 0.5 of head_dim 8: 4 rotary dims, 2 frequencies; dims 4..7 pass through.
  const RopeTable half = table("default:partial=0.5", 8, 1, RopePrecision::kFloat64);
  EXPECT_EQ(half.rot_dim, 4);
  std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8};
  half.apply(3, x);
  const double c0 = std::cos(3.0), s0 = std::sin(3.0);
  const double c1 = std::cos(3.0 * 0.01), s1 = std::sin(3.0 * 0.01);  // 10000^(-2/4) = 0.01
  // Half-split: pairs (0, 2) and (1, 3).
  EXPECT_NEAR(x[0], 1 * c0 - 3 * s0, 1e-12);
  EXPECT_NEAR(x[2], 3 * c0 + 1 * s0, 1e-12);
  EXPECT_NEAR(x[1], 2 * c1 - 4 * s1, 1e-12);
  EXPECT_NEAR(x[3], 4 * c1 + 2 * s1, 1e-12);
  EXPECT_EQ(x[4], 5);
  EXPECT_EQ(x[7], 8);
  // Interleaved: pairs (0, 1) and (2, 3).
  const RopeTable inter = table("default:partial=0.5,style=interleaved", 8, 1, RopePrecision::kFloat64);
  std::vector<double> y = {1, 2, 3, 4, 5, 6, 7, 8};
  inter.apply(3, y);
  EXPECT_NEAR(y[0], 1 * c0 - 2 * s0, 1e-12);
  EXPECT_NEAR(y[1], 2 * c0 + 1 * s0, 1e-12);
  EXPECT_NEAR(y[2], 3 * c1 - 4 * s1, 1e-12);
  EXPECT_NEAR(y[3], 4 * c1 + 3 * s1, 1e-12);
}

TEST(Rope, Float32AnglesLoseAccuracyAtLargePositions) {
  const RopeTable f32 = table("default:theta=500000", 128, 1, RopePrecision::kFloat32);
  const RopeTable f64 = table("default:theta=500000", 128, 1, RopePrecision::kFloat64);
  const auto max_cos_diff = [&](int64_t pos) {
    std::vector<double> c32(64), s32(64), c64(64), s64(64);
    f32.cos_sin(pos, c32, s32);
    f64.cos_sin(pos, c64, s64);
    double m = 0;
    for (int i = 0; i < 64; ++i) m = std::max(m, std::abs(c32[i] - c64[i]));
    return m;
  };
  EXPECT_LT(max_cos_diff(10), 1e-6);
  EXPECT_GT(max_cos_diff(1'000'000), 1e-3);  // float32 angles at 1M tokens: errors of hundredths
  EXPECT_GT(max_cos_diff(1'000'000), 10 * max_cos_diff(4096));
}

TEST(Rope, InvalidParametersAreInputErrors) {
  const auto bad = [](const std::string& s, int d = 128) {
    EXPECT_THROW((void)table(s, d), InputError) << s;
  };
  bad("yarn:factor=4");                              // no original length
  bad("yarn:factor=0,original=4096");                // factor <= 0
  bad("linear:factor=-2");                           // factor <= 0
  bad("linear");                                     // no factor
  bad("dynamic:factor=2");                           // no max_pos
  bad("longrope:original=4096,short=1/2,long=1/2");  // lists of 2 for d/2 = 64
  bad("llama3:factor=8,original=8192,low_freq_factor=4,high_freq_factor=1");
  bad("yarn:factor=4,original=4096,colour=red");  // unknown key
  bad("rotary:factor=2");                         // unknown type
  bad("default:partial=0.3", 10);                 // int(10 * 0.3) = 3 rotary dims: odd
  bad("yarn:factor=abc,original=4096");
  try {
    (void)table("yarn:factor=4", 128);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("original"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--rope"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bwsim
