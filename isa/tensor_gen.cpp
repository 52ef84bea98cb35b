#include "isa/tensor_gen.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "sim/rng.hpp"

namespace bwsim {

void generate_row(Distribution d, int64_t row, int64_t cols, uint64_t seed, float* out, const GenParams& p) {
  Rng rng(random_at(seed, static_cast<uint64_t>(row)));  // one stream per row: order-independent
  // Massive channels: spread over the row, the first at column 3.
  const int64_t stride = std::max<int64_t>(1, cols / std::max<int64_t>(1, p.channels));
  for (int64_t c = 0; c < cols; ++c) {
    double v = 0;
    switch (d) {
      case Distribution::kNormal:
        v = rng.normal();
        break;
      case Distribution::kStudentT:
        v = rng.student_t(p.nu);
        break;
      case Distribution::kOutliers:
        v = rng.normal() * (c % 64 == 7 ? 20.0 * p.k : 1.0);
        break;
      case Distribution::kSpikes: {
        v = rng.normal();
        if (rng.uniform() < p.rate) v = (v < 0 ? -1 : 1) * (p.mag > 0 ? p.mag : 100.0);
        break;
      }
      case Distribution::kMassive:
        v = rng.normal() *
            (c % stride == 3 % stride && c / stride < p.channels ? (p.mag > 0 ? p.mag : 1e4) : 1.0);
        break;
    }
    out[c] = static_cast<float>(v);
  }
}

Tensor generate_tensor(Distribution d, int64_t rows, int64_t cols, uint64_t seed, const GenParams& p) {
  Tensor t = Tensor::matrix(rows, cols);
  parallel_for(rows, [&](int64_t r) { generate_row(d, r, cols, seed, t.data.data() + r * cols, p); });
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
    case Distribution::kSpikes:
      return "spikes";
    case Distribution::kMassive:
      return "massive";
  }
  return "?";
}

std::optional<Distribution> parse_distribution(std::string_view name) {
  for (Distribution d : {Distribution::kNormal, Distribution::kStudentT, Distribution::kOutliers,
                         Distribution::kSpikes, Distribution::kMassive}) {
    if (distribution_name(d) == name) return d;
  }
  return std::nullopt;
}

std::optional<Tensor> generate_from_spec(const std::string& spec, std::string_view flag) {
  if (!spec.starts_with("gen:")) return std::nullopt;
  const auto bad = [&](const std::string& why) {
    return InputError(fmt::format(
        "{} {}: {} (expected gen:normal|student-t|outliers|spikes|massive:ROWSxCOLS[:seed=N][:nu=V][:k=V]"
        "[:rate=V][:mag=V][:channels=N])",
        flag, spec, why));
  };
  std::string_view rest = std::string_view(spec).substr(4);
  const size_t c1 = rest.find(':');
  if (c1 == std::string_view::npos) throw bad("missing the shape");
  const std::string_view dist = rest.substr(0, c1);
  const auto parsed = parse_distribution(dist);
  if (!parsed) throw bad(fmt::format("unknown distribution '{}'", dist));
  const Distribution d = *parsed;
  rest.remove_prefix(c1 + 1);
  size_t c2 = rest.find(':');
  const std::string_view shape = rest.substr(0, c2);
  uint64_t seed = 0;
  GenParams gp;
  while (c2 != std::string_view::npos) {
    rest.remove_prefix(c2 + 1);
    c2 = rest.find(':');
    const std::string_view field = rest.substr(0, c2);
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos) throw bad(fmt::format("'{}' is not key=value", field));
    const std::string_view key = field.substr(0, eq);
    const std::string_view val = field.substr(eq + 1);
    const auto number = [&](double lo, double hi) {
      double v = 0;
      auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
      if (ec != std::errc{} || p != val.data() + val.size() || !(v >= lo && v <= hi))
        throw bad(fmt::format("{} = '{}': expected a number in [{:g}, {:g}]", key, val, lo, hi));
      return v;
    };
    if (key == "seed") {
      auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), seed);
      if (ec != std::errc{} || p != val.data() + val.size()) throw bad("seed is not a number");
    } else if (key == "nu" && d == Distribution::kStudentT) {
      gp.nu = number(0.5, 1e6);
    } else if (key == "k" && d == Distribution::kOutliers) {
      gp.k = number(0, 1e6);
    } else if (key == "rate" && d == Distribution::kSpikes) {
      gp.rate = number(0, 1);
    } else if (key == "mag" && (d == Distribution::kSpikes || d == Distribution::kMassive)) {
      gp.mag = number(1e-30, 1e30);
    } else if (key == "channels" && d == Distribution::kMassive) {
      gp.channels = static_cast<int64_t>(number(1, 1 << 20));
    } else {
      throw bad(fmt::format("'{}' is not a parameter of {}", key, dist));
    }
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
  return generate_tensor(d, rows, cols, seed, gp);
}

LoadedTensor load_or_generate(const std::string& spec, std::string_view flag) {
  if (auto t = generate_from_spec(spec, flag)) return {std::move(*t), StoredDtype::kFloat32, spec};
  return load_tensor(spec);
}

}  // namespace bwsim
