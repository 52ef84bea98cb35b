#include "workloads/mtp/acceptance.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace bwsim {
namespace {

uint64_t next_context(uint64_t context, int token) {
  return mix64(context ^ (static_cast<uint64_t>(token) + 1) * 0x9E3779B97F4A7C15ull);
}

int argmax(std::span<const double> p) {
  return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
}

// Softmax of seeded Gaussian logits (scale 2, so the distribution has a clear head) over
// `stream`, plus `noise` times a second stream, divided by the temperature.
void toy_distribution(const ToyLm& lm, uint64_t context, double noise, std::span<double> out) {
  Rng a(random_at(lm.seed ^ 0x70C, context));
  Rng b(random_at(lm.seed ^ 0xD4AF7, context));
  double m = -1e300;
  for (double& z : out) {
    z = 2 * a.normal();
    if (noise > 0) z += noise * b.normal();
    z /= lm.temperature;
    m = std::max(m, z);
  }
  double sum = 0;
  for (double& z : out) sum += (z = std::exp(z - m));
  for (double& z : out) z /= sum;
}

}  // namespace

double expected_tokens_per_pass(std::span<const double> alpha) {
  double e = 1, run = 1;
  for (double a : alpha) e += (run *= a);
  return e;
}

double expected_tokens_per_pass(double alpha, int k) {
  if (alpha == 1) return k + 1;
  return (1 - std::pow(alpha, k + 1)) / (1 - alpha);
}

double AcceptanceStats::tokens_per_pass() const {
  return passes == 0 ? 0 : static_cast<double>(tokens) / static_cast<double>(passes);
}

double AcceptanceStats::acceptance_at(size_t i) const {
  // Reached position i: accepted at least i - 1 drafts; accepted it: at least i.
  uint64_t reached = 0, accepted = 0;
  for (size_t n = 0; n < accepted_at.size(); ++n) {
    if (n + 1 >= i) reached += accepted_at[n];
    if (n >= i) accepted += accepted_at[n];
  }
  return reached == 0 ? 0 : static_cast<double>(accepted) / static_cast<double>(reached);
}

AcceptanceStats simulate_acceptance(std::span<const double> alpha, uint64_t passes, uint64_t seed) {
  AcceptanceStats s;
  s.accepted_at.assign(alpha.size() + 1, 0);
  Rng rng(random_at(seed, 0xACCE));
  for (uint64_t i = 0; i < passes; ++i) {
    size_t n = 0;
    while (n < alpha.size() && rng.uniform() < alpha[n]) ++n;
    ++s.accepted_at[n];
    s.tokens += n + 1;
  }
  s.passes = passes;
  return s;
}

std::string_view verify_rule_name(VerifyRule r) { return r == VerifyRule::kGreedy ? "greedy" : "stochastic"; }

void ToyLm::target(uint64_t context, std::span<double> p) const { toy_distribution(*this, context, 0, p); }
void ToyLm::draft(uint64_t context, std::span<double> q) const {
  toy_distribution(*this, context, draft_noise, q);
}

int sample(std::span<const double> p, Rng& rng) {
  double u = rng.uniform();
  for (size_t i = 0; i < p.size(); ++i) {
    if (u < p[i]) return static_cast<int>(i);
    u -= p[i];
  }
  // Rounding left u past the last bin: the last token with mass.
  for (size_t i = p.size(); i-- > 0;)
    if (p[i] > 0) return static_cast<int>(i);
  return 0;
}

VerifyStep verify_position(std::span<const double> p, std::span<const double> q, int x, VerifyRule rule,
                           Rng& rng) {
  if (rule == VerifyRule::kGreedy) {
    const int t = argmax(p);
    return {x == t, t};
  }
  const auto xi = static_cast<size_t>(x);
  if (q[xi] > 0 && rng.uniform() * q[xi] < p[xi]) return {true, x};  // u < p/q, without dividing
  std::vector<double> r(p.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += (r[i] = std::max(0.0, p[i] - q[i]));
  for (double& v : r) v /= sum;
  return {false, sample(r, rng)};
}

AcceptanceStats simulate_mtp(const ToyLm& lm, int k, VerifyRule rule, uint64_t passes, uint64_t seed) {
  if (k < 1 || lm.vocab < 2) throw std::invalid_argument("simulate_mtp: k >= 1 and vocab >= 2");
  AcceptanceStats s;
  s.accepted_at.assign(static_cast<size_t>(k) + 1, 0);
  Rng rng(random_at(seed, 0x377));
  const auto V = static_cast<size_t>(lm.vocab);
  std::vector<double> p(V), q(V);
  uint64_t context = random_at(seed, 1);
  for (uint64_t pass = 0; pass < passes; ++pass) {
    int n = 0;
    bool rejected = false;
    for (; n < k; ++n) {
      lm.draft(context, q);
      const int x = rule == VerifyRule::kGreedy ? argmax(q) : sample(q, rng);
      lm.target(context, p);
      const VerifyStep v = verify_position(p, q, x, rule, rng);
      context = next_context(context, v.token);
      if (!v.accepted) {
        rejected = true;
        break;
      }
    }
    if (!rejected) {  // all k accepted: the target's bonus token at the next position
      lm.target(context, p);
      const int t = rule == VerifyRule::kGreedy ? argmax(p) : sample(p, rng);
      context = next_context(context, t);
    }
    ++s.accepted_at[static_cast<size_t>(n)];
    s.tokens += static_cast<uint64_t>(n) + 1;
  }
  s.passes = passes;
  return s;
}

}  // namespace bwsim
