// Seeded synthetic tensors with the statistics real activations and weights have.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "isa/tensor.hpp"

namespace bwsim {

enum class Distribution {
  kNormal,    // N(0, 1)
  kStudentT,  // Student-t, 3 degrees of freedom: heavy tails
  kOutliers,  // N(0, 1) with every 64th column (channel) scaled by 20, as LLM activations have
};

/// rows x cols from `seed`; the value at (r, c) depends only on (seed, r, c).
Tensor generate_tensor(Distribution d, int64_t rows, int64_t cols, uint64_t seed);
/// Row `row` of that tensor: `cols` values to `out`.
void generate_row(Distribution d, int64_t row, int64_t cols, uint64_t seed, float* out);

std::string_view distribution_name(Distribution d);
/// "normal", "student-t" or "outliers"; nullopt otherwise.
std::optional<Distribution> parse_distribution(std::string_view name);

/// Parses "gen:DIST:ROWSxCOLS[:seed=N]" (DIST: normal, student-t, outliers). nullopt if `spec`
/// does not start with "gen:"; InputError if it does but is malformed.
std::optional<Tensor> generate_from_spec(const std::string& spec);

}  // namespace bwsim
