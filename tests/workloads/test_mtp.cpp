// MTP verification: the expected tokens per pass (NUMERICS.md's worked values), seeded
// acceptance runs against the formula, and the stochastic rule's exactness (emitted tokens
// follow the target distribution; acceptance = sum of min(p, q)).
#include <gtest/gtest.h>

#include <cmath>

#include "workloads/mtp/acceptance.hpp"

namespace bwsim {
namespace {

TEST(Mtp, ExpectedTokensPerPass) {
  EXPECT_DOUBLE_EQ(expected_tokens_per_pass(0.85, 1), 1.85);
  EXPECT_NEAR(expected_tokens_per_pass(0.8, 3), 2.952, 1e-12);
  EXPECT_DOUBLE_EQ(expected_tokens_per_pass(1.0, 3), 4.0);
  const std::vector<double> per_position{0.9, 0.8, 0.5};
  EXPECT_NEAR(expected_tokens_per_pass(per_position), 1 + 0.9 + 0.72 + 0.36, 1e-12);
  const std::vector<double> constant(3, 0.8);
  EXPECT_NEAR(expected_tokens_per_pass(constant), expected_tokens_per_pass(0.8, 3), 1e-12);
}

TEST(Mtp, SeededAcceptanceMatchesTheFormula) {
  for (const double a : {0.5, 0.7, 0.85, 0.95}) {
    for (const int k : {1, 2, 3, 5}) {
      const std::vector<double> alpha(static_cast<size_t>(k), a);
      const AcceptanceStats s = simulate_acceptance(alpha, 200000, 7);
      EXPECT_NEAR(s.tokens_per_pass() / expected_tokens_per_pass(a, k), 1.0, 0.02) << a << " " << k;
      EXPECT_NEAR(s.acceptance_at(1), a, 0.01);
    }
  }
  const std::vector<double> list{0.9, 0.7, 0.4};
  const AcceptanceStats s = simulate_acceptance(list, 200000, 3);
  EXPECT_NEAR(s.tokens_per_pass() / expected_tokens_per_pass(list), 1.0, 0.02);
  for (size_t i = 0; i < list.size(); ++i) EXPECT_NEAR(s.acceptance_at(i + 1), list[i], 0.01) << i;
  // Deterministic: the same seed gives the same run.
  EXPECT_EQ(simulate_acceptance(list, 1000, 3).accepted_at, simulate_acceptance(list, 1000, 3).accepted_at);
}

TEST(Mtp, StochasticRuleEmitsTheTargetDistribution) {
  ToyLm lm;
  lm.vocab = 16;
  lm.draft_noise = 1.0;
  lm.seed = 4;
  std::vector<double> p(16), q(16);
  lm.target(99, p);
  lm.draft(99, q);
  double overlap = 0;
  for (size_t i = 0; i < 16; ++i) overlap += std::min(p[i], q[i]);
  EXPECT_GT(overlap, 0.3);
  EXPECT_LT(overlap, 0.95);
  Rng rng(1);
  std::vector<double> freq(16, 0.0);
  uint64_t accepted = 0;
  const int n = 400000;
  for (int i = 0; i < n; ++i) {
    const int x = sample(q, rng);
    const VerifyStep v = verify_position(p, q, x, VerifyRule::kStochastic, rng);
    accepted += v.accepted ? 1 : 0;
    freq[static_cast<size_t>(v.token)] += 1.0 / n;
  }
  EXPECT_NEAR(static_cast<double>(accepted) / n, overlap, 0.005);
  for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(freq[i], p[i], 0.004) << i;
}

TEST(Mtp, ToyModelPassesFollowTheirAcceptance) {
  ToyLm lm;
  lm.seed = 11;
  lm.vocab = 32;
  for (const VerifyRule rule : {VerifyRule::kGreedy, VerifyRule::kStochastic}) {
    // A perfect draft: every pass accepts all k and adds the bonus token.
    lm.draft_noise = 0;
    const AcceptanceStats perfect = simulate_mtp(lm, 3, rule, 2000, 5);
    EXPECT_DOUBLE_EQ(perfect.tokens_per_pass(), 4.0) << verify_rule_name(rule);
    // A noisy draft: tokens per pass follow the measured per-position acceptance.
    lm.draft_noise = 1.0;
    const AcceptanceStats s = simulate_mtp(lm, 3, rule, 30000, 5);
    std::vector<double> alpha;
    for (size_t i = 1; i <= 3; ++i) alpha.push_back(s.acceptance_at(i));
    EXPECT_GT(alpha[0], 0.3) << verify_rule_name(rule);
    EXPECT_LT(alpha[0], 0.95) << verify_rule_name(rule);
    EXPECT_NEAR(s.tokens_per_pass() / expected_tokens_per_pass(alpha), 1.0, 0.02) << verify_rule_name(rule);
  }
}

}  // namespace
}  // namespace bwsim
