// Request-level traffic for serving simulations (#23): who arrives when, with how long a prompt
// and how long an answer. Seeded and independent of the standard library's distributions (their
// output differs between implementations), so a seed gives the same requests everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/rng.hpp"

namespace bwsim::serving {

struct Request {
  int64_t id = 0;
  double arrival_s = 0;  // seconds from the start of the run
  int64_t prompt = 0;    // tokens
  int64_t output = 0;    // tokens to generate (>= 1)
};

/// A distribution of token counts. Every draw is an integer clamped to [lo, hi].
struct LengthDist {
  enum class Kind : uint8_t {
    kFixed,      // value
    kUniform,    // integers in [lo, hi], each equally likely
    kNormal,     // mean, sd; rounded to nearest
    kLognormal,  // median = mean, shape sigma (= sd here): exp(ln(mean) + sd N)
    kZipf,       // P(lo + j) proportional to 1 / (j + 1)^s over [lo, hi]
    kEmpirical,  // values with weights (a histogram)
  };
  Kind kind = Kind::kFixed;
  double value = 0;
  double mean = 0;
  double sd = 0;
  double s = 1;
  int64_t lo = 1;
  int64_t hi = int64_t{1} << 40;
  std::vector<int64_t> values;  // kEmpirical
  std::vector<double> weights;  // kEmpirical (normalised when drawn)
  std::vector<double> cdf;      // kZipf and kEmpirical, built by prepare()

  /// Builds the tables a draw needs; InputError (naming `where`) for parameters out of range.
  void prepare(std::string_view where);
  [[nodiscard]] int64_t draw(Rng& rng) const;
  /// The expected value (exact for fixed, uniform, Zipf and empirical; before clamping otherwise).
  [[nodiscard]] double expected() const;
  [[nodiscard]] std::string text() const;
};

/// Parses "512", "fixed:512", "uniform:128:2048", "normal:1000:200", "lognormal:800:0.6",
/// "zipf:1.1:16:4096" (s, lo, hi) or "file:PATH" (an empirical histogram: CSV lines
/// "tokens,weight", a header line allowed). InputError naming `where` on anything else.
LengthDist parse_length_dist(std::string_view text, std::string_view where);

/// How requests arrive.
struct Arrivals {
  enum class Kind : uint8_t {
    kPoisson,  // rate per second, exponential gaps
    kGamma,    // rate per second, gaps Gamma-distributed with coefficient of variation cv (> 1: bursty)
    kClosed,   // `users` clients, each sending its next request when the last one finishes
    kTrace,    // arrival times (and lengths) from a file
  };
  Kind kind = Kind::kPoisson;
  double rate = 1;
  double cv = 1;
  int64_t users = 1;
  double think_s = 0;  // closed loop: pause between a request's end and the next
};

/// An open-loop request stream: `count` requests (or all that arrive before `duration_s`, if
/// positive, whichever is fewer), gaps from `arrivals` (Poisson or gamma), lengths drawn from
/// `prompt` and `output`, seeded. Request i's lengths do not depend on the arrival process.
std::vector<Request> generate_open(const Arrivals& arrivals, const LengthDist& prompt,
                                   const LengthDist& output, int64_t count, double duration_s, uint64_t seed);

/// Lengths for closed-loop request number i (the same at any arrival time).
Request closed_request(int64_t i, const LengthDist& prompt, const LengthDist& output, uint64_t seed);

/// A trace file: CSV with a header naming `arrival_s`, `prompt` and `output` columns (any order,
/// other columns ignored), or JSONL, one object a line with those keys. Times must not decrease;
/// lengths must be positive integers. InputError naming the file and line otherwise.
std::vector<Request> read_trace(const std::string& path);

}  // namespace bwsim::serving
