// Seeded synthetic tensors with the statistics real activations and weights have.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "isa/tensor.hpp"
#include "isa/tensor_io.hpp"

namespace bwsim {

enum class Distribution {
  kNormal,    // N(0, 1)
  kStudentT,  // Student-t, nu (3) degrees of freedom: heavy tails
  kOutliers,  // N(0, 1) with every 64th column (channel) scaled by 20 x k (1), as LLM activations have
  kSpikes,    // N(0, 1) with a fraction `rate` (1e-4) of elements replaced by +-mag (100): rare spikes
  kMassive,   // N(0, 1) with `channels` (2) columns scaled by mag (1e4): massive activations
};

/// The distributions' parameters (the defaults in parentheses above). A shifted deployment is
/// the calibration's distribution with other parameters: outliers grown k-fold, heavier tails
/// (smaller nu), spikes, massive channels.
struct GenParams {
  double nu = 3;
  double k = 1;
  double rate = 1e-4;
  double mag = 0;  // 0: the distribution's default (spikes 100, massive 1e4)
  int64_t channels = 2;
};

/// rows x cols from `seed`; the value at (r, c) depends only on (seed, r, c).
Tensor generate_tensor(Distribution d, int64_t rows, int64_t cols, uint64_t seed, const GenParams& p = {});
/// Row `row` of that tensor: `cols` values to `out`.
void generate_row(Distribution d, int64_t row, int64_t cols, uint64_t seed, float* out,
                  const GenParams& p = {});

std::string_view distribution_name(Distribution d);
/// "normal", "student-t", "outliers", "spikes" or "massive"; nullopt otherwise.
std::optional<Distribution> parse_distribution(std::string_view name);

/// Parses "gen:DIST:ROWSxCOLS[:seed=N][:nu=V][:k=V][:rate=V][:mag=V][:channels=N]". nullopt if
/// `spec` does not start with "gen:"; InputError (naming `flag`) if it does but is malformed.
std::optional<Tensor> generate_from_spec(const std::string& spec, std::string_view flag = "--in");

/// A tensor argument: a seeded generator (float32, its spec as the source) or a file, as
/// load_tensor reads it.
LoadedTensor load_or_generate(const std::string& spec, std::string_view flag);

}  // namespace bwsim
