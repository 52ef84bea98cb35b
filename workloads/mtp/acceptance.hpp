// Multi-token prediction: how many tokens a verify pass yields (../shared/NUMERICS.md).
//
// A pass verifies k drafted tokens with one target forward over k + 1 positions: the drafts are
// accepted up to the first rejection, then the target's own token is emitted (the correction at
// the rejection, or the bonus token when all k are accepted). With acceptance a_i of draft i
// given drafts 1..i-1 accepted, the expected tokens per pass are 1 + a_1 + a_1 a_2 + ...; for a
// constant a that is (1 - a^(k+1)) / (1 - a).
//
// Acceptance comes from a constant, a per-position list, or a functional simulation: a small
// seeded language model (a target distribution per context and a draft distribution near it)
// run through the greedy or the stochastic (speculative sampling) verification rule.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "sim/rng.hpp"

namespace bwsim {

/// 1 + a_1 + a_1 a_2 + ... + a_1...a_k for per-position acceptance `alpha` (k = alpha.size()).
[[nodiscard]] double expected_tokens_per_pass(std::span<const double> alpha);
/// (1 - a^(k+1)) / (1 - a); k + 1 at a = 1.
[[nodiscard]] double expected_tokens_per_pass(double alpha, int k);

struct AcceptanceStats {
  uint64_t passes = 0;
  uint64_t tokens = 0;                // emitted: accepted drafts plus one per pass
  std::vector<uint64_t> accepted_at;  // passes that accepted exactly i drafts, i = 0..k
  [[nodiscard]] double tokens_per_pass() const;
  /// Share of drafts accepted at position i (1-based) among passes that reached it.
  [[nodiscard]] double acceptance_at(size_t i) const;
};

/// `passes` verify passes with draft i accepted with probability alpha[i - 1] (seeded).
AcceptanceStats simulate_acceptance(std::span<const double> alpha, uint64_t passes, uint64_t seed);

enum class VerifyRule { kGreedy, kStochastic };
[[nodiscard]] std::string_view verify_rule_name(VerifyRule r);

/// A toy language model: for every context (a 64-bit hash of the tokens so far) a target
/// distribution over `vocab` tokens (softmax of seeded Gaussian logits / temperature) and a draft
/// distribution whose logits add Gaussian noise of `draft_noise` (0: the draft is the target).
/// Small enough to run every probability exactly; big enough that acceptance is not trivial.
struct ToyLm {
  int vocab = 64;
  double temperature = 1.0;
  double draft_noise = 0.5;
  uint64_t seed = 0;
  void target(uint64_t context, std::span<double> p) const;
  void draft(uint64_t context, std::span<double> q) const;
};

/// Runs `passes` MTP steps of depth k on the toy model: the draft proposes k tokens (greedy:
/// its argmax; stochastic: sampled from q), the target verifies them with `rule`, and the
/// context advances by the emitted tokens. Greedy accepts a draft that equals the target's
/// argmax; stochastic accepts x with probability min(1, p(x)/q(x)) and on rejection samples
/// from normalize(max(0, p - q)), so emitted tokens follow p exactly.
AcceptanceStats simulate_mtp(const ToyLm& lm, int k, VerifyRule rule, uint64_t passes, uint64_t seed);

/// One draft position under a rule: whether the draft `x` (drawn from q, or q's argmax for
/// greedy) is accepted, and the token the position emits (x, or the target's replacement).
struct VerifyStep {
  bool accepted = false;
  int token = 0;
};
VerifyStep verify_position(std::span<const double> p, std::span<const double> q, int x, VerifyRule rule,
                           Rng& rng);
/// A token drawn from distribution `p`.
int sample(std::span<const double> p, Rng& rng);

}  // namespace bwsim
