#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "isa/mma.hpp"
#include "sim/rng.hpp"
#include "tests/test_util.hpp"

namespace bwsim {
namespace {

MmaSpec spec(Arch arch, MmaKind kind, ScalarFormat a, ScalarFormat b,
             std::optional<ScalarFormat> sc = std::nullopt, int block = 0, int m = 128, int n = 128,
             int cta = 1) {
  MmaSpec s;
  s.arch = arch;
  s.kind = kind;
  s.a = a;
  s.b = b;
  s.scale = sc;
  s.scale_block = block;
  s.m = m;
  s.n = n;
  s.cta_group = cta;
  return s;
}

TEST(Mma, ValidCombinationsFromThePtxTables) {
  using F = ScalarFormat;
  const Arch bw = Arch::kSm100;
  EXPECT_FALSE(mma_invalid_reason(spec(bw, MmaKind::kF16, F::kBF16, F::kBF16)));
  EXPECT_FALSE(mma_invalid_reason(spec(bw, MmaKind::kF16, F::kFP16, F::kFP16, {}, 0, 64, 8)));
  EXPECT_FALSE(mma_invalid_reason(spec(bw, MmaKind::kF8F6F4, F::kE4M3, F::kE2M1)));  // mixed allowed
  EXPECT_FALSE(mma_invalid_reason(spec(bw, MmaKind::kMxF8F6F4, F::kE3M2, F::kE5M2, F::kUE8M0, 32)));
  EXPECT_FALSE(mma_invalid_reason(spec(bw, MmaKind::kMxF4, F::kE2M1, F::kE2M1, F::kUE8M0, 32)));
  EXPECT_FALSE(mma_invalid_reason(spec(bw, MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE4M3, 16)));
  EXPECT_FALSE(mma_invalid_reason(spec(bw, MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE8M0, 16)));
  EXPECT_FALSE(
      mma_invalid_reason(spec(bw, MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE4M3, 16, 256, 256, 2)));
  EXPECT_FALSE(mma_invalid_reason(spec(Arch::kSm90, MmaKind::kF8, F::kE4M3, F::kE5M2, {}, 0, 64, 256)));
  EXPECT_FALSE(
      mma_invalid_reason(spec(Arch::kSm120, MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE4M3, 16, 16, 8)));
}

TEST(Mma, InvalidCombinationsSayWhy) {
  using F = ScalarFormat;
  const Arch bw = Arch::kSm100;
  EXPECT_CONTAINS(
      *mma_invalid_reason(spec(Arch::kSm90, MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE4M3, 16, 64, 128)),
      "sm_90 has no kind::mxf4nvf4 tensor instructions (no block-scaled MMA on Hopper)");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(bw, MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE4M3, 32)),
                  "UE4M3 per 16 (NVFP4), or UE8M0 per 16 or 32");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(bw, MmaKind::kMxF4, F::kE2M1, F::kE2M1, F::kUE8M0, 32, 64, 128)),
                  "block-scaled tcgen05.mma needs M=128 per CTA");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(bw, MmaKind::kMxF4, F::kE4M3, F::kE2M1, F::kUE8M0, 32)),
                  "kind::mxf4 takes E2M1 (FP4) operands");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(bw, MmaKind::kF16, F::kBF16, F::kFP16)), "two BF16 or two FP16");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(bw, MmaKind::kF8F6F4, F::kE4M3, F::kE4M3, F::kUE8M0, 32)),
                  "has no block scales");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(bw, MmaKind::kF16, F::kBF16, F::kBF16, {}, 0, 128, 260)),
                  "N=260 is not allowed");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(bw, MmaKind::kI8, F::kINT8, F::kINT8, {}, 0, 128, 40)), "N=40");
  EXPECT_CONTAINS(
      *mma_invalid_reason(spec(bw, MmaKind::kMxF4, F::kE2M1, F::kE2M1, F::kUE8M0, 32, 128, 128, 2)),
      "needs M=256");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(Arch::kSm90, MmaKind::kF16, F::kBF16, F::kBF16, {}, 0, 128, 128)),
                  "wgmma has M=64 per warpgroup");
  EXPECT_CONTAINS(*mma_invalid_reason(spec(Arch::kSm120, MmaKind::kF16, F::kBF16, F::kBF16, {}, 0, 16, 8, 2)),
                  "sm_120 has no CTA-pair MMA");
}

// float64 reference: exact products, summed in binary128, rounded once to float32.
float reference(const MmaTile& t, int i, int j, float c) {
  __float128 s = c;
  const int nb = t.scale_block > 0 ? t.k / t.scale_block : 0;
  for (int k = 0; k < t.k; ++k) {
    double p = t.a[static_cast<size_t>(i * t.k + k)] * t.b[static_cast<size_t>(j * t.k + k)];
    if (nb > 0) {
      p *= t.a_scale[static_cast<size_t>(i * nb + k / t.scale_block)] *
           t.b_scale[static_cast<size_t>(j * nb + k / t.scale_block)];
    }
    s += p;
  }
  return static_cast<float>(s);
}

struct KindCase {
  MmaKind kind;
  ScalarFormat a, b;
  std::optional<ScalarFormat> scale;
  int block;
};

TEST(Mma, EveryKindMatchesACorrectlyRoundedFloat64DotProduct) {
  using F = ScalarFormat;
  const KindCase cases[] = {
      {MmaKind::kF16, F::kBF16, F::kBF16, {}, 0},
      {MmaKind::kF16, F::kFP16, F::kFP16, {}, 0},
      {MmaKind::kTf32, F::kBF16, F::kBF16, {}, 0},
      {MmaKind::kF8F6F4, F::kE4M3, F::kE5M2, {}, 0},
      {MmaKind::kF8F6F4, F::kE2M1, F::kE3M2, {}, 0},
      {MmaKind::kI8, F::kINT8, F::kINT8, {}, 0},
      {MmaKind::kMxF8F6F4, F::kE4M3, F::kE2M3, F::kUE8M0, 32},
      {MmaKind::kMxF4, F::kE2M1, F::kE2M1, F::kUE8M0, 32},
      {MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE4M3, 16},
      {MmaKind::kMxF4NvF4, F::kE2M1, F::kE2M1, F::kUE8M0, 16},
  };
  Rng rng(3);
  for (const KindCase& kc : cases) {
    const int m = 8, n = 8, k = mma_k(kc.kind);
    auto random_value = [&](F f) -> double {
      if (kc.kind == MmaKind::kTf32) return tf32_truncate(static_cast<float>(rng.normal() * 3));
      const uint32_t codes = 1u << format_info(f).bits;
      for (;;) {
        const float v = decode(f, static_cast<uint32_t>(rng.below(codes)));
        if (std::isfinite(v)) return v;
      }
    };
    std::vector<double> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(n * k));
    for (auto& v : a) v = random_value(kc.a);
    for (auto& v : b) v = random_value(kc.b);
    const int nb = kc.block > 0 ? k / kc.block : 0;
    std::vector<double> sa(static_cast<size_t>(m * nb)), sb(static_cast<size_t>(n * nb));
    for (auto* sv : {&sa, &sb}) {
      for (auto& v : *sv)
        v = kc.scale == F::kUE8M0 ? std::ldexp(1.0, static_cast<int>(rng.below(20)) - 10)
                                  : decode(F::kUE4M3, static_cast<uint32_t>(1 + rng.below(126)));
    }
    std::vector<float> c(static_cast<size_t>(m * n));
    for (auto& v : c) v = static_cast<float>(rng.normal() * 100);
    std::vector<float> d = c;
    const MmaTile t{m, n, k, a, b, sa, sb, kc.block};
    mma_accumulate(t, d);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        ASSERT_EQ(d[static_cast<size_t>(i * n + j)], reference(t, i, j, c[static_cast<size_t>(i * n + j)]))
            << mma_kind_name(kc.kind) << " " << i << "," << j;
      }
    }
  }
}

TEST(Mma, AccumulatesInFloat32OnePerInstruction) {
  // Two instructions (K-slices) into one accumulator: the first rounds to float32 before the second.
  // 2^24 + 1 is not a float: alone it rounds to 2^24 (tie to even); then + 1 again gives 2^24 again.
  std::vector<double> a(16, 0.0), b(16, 0.0);
  a[0] = 1;
  b[0] = 1;
  std::vector<float> d{16777216.0f};
  const MmaTile t{1, 1, 16, a, b, {}, {}, 0};
  mma_accumulate(t, d);
  mma_accumulate(t, d);
  EXPECT_EQ(d[0], 16777216.0f);
  // Within one instruction the slice is exact: 1 + 1 = 2 joins 2^24 exactly.
  a[1] = 1;
  b[1] = 1;
  std::vector<float> d2{16777216.0f};
  mma_accumulate(MmaTile{1, 1, 16, a, b, {}, {}, 0}, d2);
  EXPECT_EQ(d2[0], 16777218.0f);
}

TEST(Mma, NearTiesAreRoundedFromTheExactSum) {
  // 2^24 + 1 + 2^-30 needs 55 bits: a double sum rounds it to the tie 2^24 + 1, which would round
  // to even (2^24); the exact sum is above the tie and rounds up to 2^24 + 2.
  std::vector<double> a(16, 0.0), b(16, 1.0);
  a[0] = 1;
  a[1] = std::ldexp(1.0, -30);
  std::vector<float> d{16777216.0f};
  mma_accumulate(MmaTile{1, 1, 16, a, b, {}, {}, 0}, d);
  EXPECT_EQ(d[0], 16777218.0f);
  a[1] = -std::ldexp(1.0, -30);
  std::vector<float> d2{16777216.0f};
  mma_accumulate(MmaTile{1, 1, 16, a, b, {}, {}, 0}, d2);
  EXPECT_EQ(d2[0], 16777216.0f);
  // Many random near-cancelling slices agree with the binary128 reference.
  Rng rng(11);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<double> x(64), y(64);
    for (int k = 0; k < 64; ++k) {
      x[static_cast<size_t>(k)] =
          std::ldexp(static_cast<double>(rng.below(16)) - 8, static_cast<int>(rng.below(60)) - 30);
      y[static_cast<size_t>(k)] = static_cast<double>(rng.below(4) + 1);
    }
    const float c = static_cast<float>(rng.normal());
    std::vector<float> out{c};
    const MmaTile t{1, 1, 64, x, y, {}, {}, 0};
    mma_accumulate(t, out);
    ASSERT_EQ(out[0], reference(t, 0, 0, c)) << trial;
  }
}

TEST(Mma, StridedTilesReadSlicesOfWiderMatrices) {
  // A 2 x 32 slice at column 32 of a 2 x 64 matrix, with per-16 scales from a 2 x 4 array.
  std::vector<double> a(128), b(128), sa(8), sb(8);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<double>(i % 7) - 3;
    b[i] = static_cast<double>(i % 5) - 2;
  }
  for (size_t i = 0; i < sa.size(); ++i) {
    sa[i] = std::ldexp(1.0, static_cast<int>(i));
    sb[i] = 0.5;
  }
  std::vector<float> d(4, 0.0f);
  MmaTile t{2,
            2,
            32,
            std::span(a).subspan(32),
            std::span(b).subspan(32),
            std::span(sa).subspan(2),
            std::span(sb).subspan(2),
            16};
  t.lda = t.ldb = 64;
  t.lda_scale = t.ldb_scale = 4;
  mma_accumulate(t, d);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) {
      double want = 0;
      for (int k = 32; k < 64; ++k) {
        want += a[static_cast<size_t>(i * 64 + k)] * b[static_cast<size_t>(j * 64 + k)] *
                sa[static_cast<size_t>(i * 4 + k / 16)] * sb[static_cast<size_t>(j * 4 + k / 16)];
      }
      EXPECT_EQ(d[static_cast<size_t>(i * 2 + j)], static_cast<float>(want)) << i << "," << j;
    }
  }
}

TEST(Mma, RoundToFloatBreaksExactTiesWithTheLowPart) {
  const double mid = 1.0 + std::ldexp(1.0, -24);  // halfway between 1 and 1 + 2^-23
  EXPECT_EQ(round_to_float(mid, 0.0), 1.0f);      // tie to even
  EXPECT_EQ(round_to_float(mid, 1e-30), 1.0f + std::ldexp(1.0f, -23));
  EXPECT_EQ(round_to_float(mid, -1e-30), 1.0f);
}

TEST(Mma, HopperFp8AccumulationLosesLowBits) {
  // 32 products of 1.0 into an accumulator of 2^20: with ~14 bits kept relative to 2^20 the
  // quantum is 2^7, and each 1.0 is truncated away; FP32 accumulation keeps all 32.
  std::vector<double> a(32, 1.0), b(32, 1.0);
  std::vector<float> fp32{1048576.0f}, hopper{1048576.0f};
  const MmaTile t{1, 1, 32, a, b, {}, {}, 0};
  mma_accumulate(t, fp32, AccumMode::kFp32);
  mma_accumulate(t, hopper, AccumMode::kHopperFp8);
  EXPECT_EQ(fp32[0], 1048576.0f + 32.0f);
  EXPECT_EQ(hopper[0], 1048576.0f);
}

TEST(Mma, Tf32IgnoresTheLow13MantissaBits) {
  EXPECT_EQ(tf32_truncate(std::bit_cast<float>(0x3F801FFFu)), 1.0f);
  EXPECT_EQ(tf32_truncate(std::bit_cast<float>(0x3F802000u)), std::bit_cast<float>(0x3F802000u));
}

}  // namespace
}  // namespace bwsim
