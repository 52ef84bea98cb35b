#include "isa/tensor_gen.hpp"

#include <fmt/format.h>

#include <charconv>

#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "sim/rng.hpp"

namespace bwsim {

void generate_row(Distribution d, int64_t row, int64_t cols, uint64_t seed, float* out) {
  Rng rng(random_at(seed, static_cast<uint64_t>(row)));  // one stream per row: order-independent
  for (int64_t c = 0; c < cols; ++c) {
    double v = 0;
    switch (d) {
      case Distribution::kNormal:
        v = rng.normal();
        break;
      case Distribution::kStudentT:
        v = rng.student_t(3);
        break;
      case Distribution::kOutliers:
        v = rng.normal() * (c % 64 == 7 ? 20.0 : 1.0);
        break;
    }
    out[c] = static_cast<float>(v);
  }
}

Tensor generate_tensor(Distribution d, int64_t rows, int64_t cols, uint64_t seed) {
  Tensor t = Tensor::matrix(rows, cols);
  parallel_for(rows, [&](int64_t r) { generate_row(d, r, cols, seed, t.data.data() + r * cols); });
  return t;
}

std::string_view distribution_name(Distribution d) {
  switch (d) {
    case Distribution::kNormal:
      return "normal";
    case Distribution::kStudentT:
      return "student-t";
    case Distribution::kOutliers:
      return "outliers";
  }
  return "?";
}

std::optional<Distribution> parse_distribution(std::string_view name) {
  for (Distribution d : {Distribution::kNormal, Distribution::kStudentT, Distribution::kOutliers}) {
    if (distribution_name(d) == name) return d;
  }
  return std::nullopt;
}

std::optional<Tensor> generate_from_spec(const std::string& spec) {
  if (!spec.starts_with("gen:")) return std::nullopt;
  const auto bad = [&](const std::string& why) {
    return InputError(
        fmt::format("--in {}: {} (expected gen:normal|student-t|outliers:ROWSxCOLS[:seed=N])", spec, why));
  };
  std::string_view rest = std::string_view(spec).substr(4);
  const size_t c1 = rest.find(':');
  if (c1 == std::string_view::npos) throw bad("missing the shape");
  const std::string_view dist = rest.substr(0, c1);
  const auto parsed = parse_distribution(dist);
  if (!parsed) throw bad(fmt::format("unknown distribution '{}'", dist));
  const Distribution d = *parsed;
  rest.remove_prefix(c1 + 1);
  const size_t c2 = rest.find(':');
  const std::string_view shape = rest.substr(0, c2);
  uint64_t seed = 0;
  if (c2 != std::string_view::npos) {
    const std::string_view s = rest.substr(c2 + 1);
    if (!s.starts_with("seed=")) throw bad("the fourth field must be seed=N");
    auto [p, ec] = std::from_chars(s.data() + 5, s.data() + s.size(), seed);
    if (ec != std::errc{} || p != s.data() + s.size()) throw bad("seed is not a number");
  }
  const size_t x = shape.find('x');
  int64_t rows = 0;
  int64_t cols = 0;
  if (x == std::string_view::npos) throw bad("shape must be ROWSxCOLS");
  auto [p1, e1] = std::from_chars(shape.data(), shape.data() + x, rows);
  auto [p2, e2] = std::from_chars(shape.data() + x + 1, shape.data() + shape.size(), cols);
  if (e1 != std::errc{} || e2 != std::errc{} || p1 != shape.data() + x || p2 != shape.data() + shape.size() ||
      rows <= 0 || cols <= 0) {
    throw bad("shape must be ROWSxCOLS with positive integers");
  }
  if (rows * cols > (int64_t{1} << 31)) throw bad("more than 2^31 elements");
  return generate_tensor(d, rows, cols, seed);
}

}  // namespace bwsim
