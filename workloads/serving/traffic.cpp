#include "workloads/serving/traffic.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "sim/errors.hpp"
#include "sim/strings.hpp"

namespace bwsim::serving {
namespace {

bool parse_double(std::string_view s, double& out) {
  s = trim(s);
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

bool parse_int(std::string_view s, int64_t& out) {
  s = trim(s);
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Gamma(shape k, scale 1) by Marsaglia and Tsang (ACM TOMS 26(3), 2000), with the k < 1 boost
// X = Gamma(k + 1) U^(1/k).
double gamma_draw(Rng& rng, double k) {
  if (k < 1) {
    const double u = rng.uniform();
    return gamma_draw(rng, k + 1) * std::pow(u > 0 ? u : 0x1.0p-53, 1.0 / k);
  }
  const double d = k - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0;
    double v = 0;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = rng.uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

int64_t clamp_len(double v, int64_t lo, int64_t hi) {
  if (!(v > static_cast<double>(lo))) return lo;  // NaN too
  if (v >= static_cast<double>(hi)) return hi;
  return std::llround(v);
}

void build_cdf(std::vector<double>& cdf, const std::vector<double>& w) {
  cdf.resize(w.size());
  double sum = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    sum += w[i];
    cdf[i] = sum;
  }
  for (double& c : cdf) c /= sum;
  cdf.back() = 1.0;
}

size_t pick(const std::vector<double>& cdf, double u) {
  return static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
}

}  // namespace

void LengthDist::prepare(std::string_view where) {
  const auto fail = [&](const std::string& what) { throw InputError(fmt::format("{}: {}", where, what)); };
  if (lo < 1 || hi < lo) fail(fmt::format("token counts must lie in [1, ...]; got [{}, {}]", lo, hi));
  switch (kind) {
    case Kind::kFixed:
      if (!(value >= 1) || value != std::floor(value))
        fail(fmt::format("a fixed length must be a positive integer, not {}", value));
      break;
    case Kind::kUniform:
      break;
    case Kind::kNormal:
      if (!(mean > 0) || !(sd >= 0)) fail("normal:MEAN:SD needs MEAN > 0 and SD >= 0");
      break;
    case Kind::kLognormal:
      if (!(mean > 0) || !(sd >= 0)) fail("lognormal:MEDIAN:SIGMA needs MEDIAN > 0 and SIGMA >= 0");
      break;
    case Kind::kZipf: {
      if (!(s > 0)) fail("zipf:S:LO:HI needs S > 0");
      if (hi - lo > 10'000'000) fail("zipf: at most 10^7 distinct lengths");
      std::vector<double> w(static_cast<size_t>(hi - lo + 1));
      for (size_t j = 0; j < w.size(); ++j) w[j] = std::pow(static_cast<double>(j + 1), -s);
      build_cdf(cdf, w);
      break;
    }
    case Kind::kEmpirical: {
      if (values.empty()) fail("an empirical histogram needs at least one length");
      double sum = 0;
      for (size_t i = 0; i < values.size(); ++i) {
        if (values[i] < 1) fail(fmt::format("length {} is not positive", values[i]));
        if (!(weights[i] >= 0))
          fail(fmt::format("weight {} of length {} is negative", weights[i], values[i]));
        sum += weights[i];
      }
      if (!(sum > 0)) fail("the histogram's weights sum to 0");
      build_cdf(cdf, weights);
      break;
    }
  }
}

int64_t LengthDist::draw(Rng& rng) const {
  switch (kind) {
    case Kind::kFixed:
      return static_cast<int64_t>(value);
    case Kind::kUniform:
      return lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo + 1)));
    case Kind::kNormal:
      return clamp_len(mean + sd * rng.normal(), lo, hi);
    case Kind::kLognormal:
      return clamp_len(mean * std::exp(sd * rng.normal()), lo, hi);
    case Kind::kZipf:
      return lo + static_cast<int64_t>(pick(cdf, rng.uniform()));
    case Kind::kEmpirical:
      return values[pick(cdf, rng.uniform())];
  }
  return lo;
}

double LengthDist::expected() const {
  switch (kind) {
    case Kind::kFixed:
      return value;
    case Kind::kUniform:
      return 0.5 * static_cast<double>(lo + hi);
    case Kind::kNormal:
      return mean;
    case Kind::kLognormal:
      return mean * std::exp(0.5 * sd * sd);
    case Kind::kZipf:
    case Kind::kEmpirical: {
      double e = 0;
      double prev = 0;
      for (size_t i = 0; i < cdf.size(); ++i) {
        const double v = kind == Kind::kZipf ? static_cast<double>(lo + static_cast<int64_t>(i))
                                             : static_cast<double>(values[i]);
        e += v * (cdf[i] - prev);
        prev = cdf[i];
      }
      return e;
    }
  }
  return 0;
}

std::string LengthDist::text() const {
  switch (kind) {
    case Kind::kFixed:
      return fmt::format("{}", static_cast<int64_t>(value));
    case Kind::kUniform:
      return fmt::format("uniform {}-{}", lo, hi);
    case Kind::kNormal:
      return fmt::format("normal {:g} +- {:g}", mean, sd);
    case Kind::kLognormal:
      return fmt::format("lognormal median {:g}, sigma {:g}", mean, sd);
    case Kind::kZipf:
      return fmt::format("Zipf s={:g} over {}-{}", s, lo, hi);
    case Kind::kEmpirical:
      return fmt::format("empirical, {} lengths, mean {:.0f}", values.size(), expected());
  }
  return "";
}

LengthDist parse_length_dist(std::string_view text, std::string_view where) {
  LengthDist d;
  const auto fail = [&](const std::string& what) -> LengthDist {
    throw InputError(
        fmt::format("{}: '{}': {} (fixed N, uniform:LO:HI, normal:MEAN:SD, "
                    "lognormal:MEDIAN:SIGMA, zipf:S:LO:HI or file:PATH)",
                    where, text, what));
  };
  const std::vector<std::string_view> p = split(text, ':');
  const auto num = [&](size_t i) {
    double v = 0;
    if (i >= p.size() || !parse_double(p[i], v)) fail(fmt::format("parameter {} is not a number", i));
    return v;
  };
  const auto integer = [&](size_t i) {
    int64_t v = 0;
    if (i >= p.size() || !parse_int(p[i], v)) fail(fmt::format("parameter {} is not an integer", i));
    return v;
  };
  const auto count = [&](size_t n) {
    if (p.size() != n + 1) fail(fmt::format("expected {} parameter(s)", n));
  };
  int64_t fixed = 0;
  if (p.size() == 1 && parse_int(p[0], fixed)) {
    d.kind = LengthDist::Kind::kFixed;
    d.value = static_cast<double>(fixed);
  } else if (p[0] == "fixed") {
    count(1);
    d.kind = LengthDist::Kind::kFixed;
    d.value = static_cast<double>(integer(1));
  } else if (p[0] == "uniform") {
    count(2);
    d.kind = LengthDist::Kind::kUniform;
    d.lo = integer(1);
    d.hi = integer(2);
  } else if (p[0] == "normal" || p[0] == "lognormal") {
    count(2);
    d.kind = p[0] == "normal" ? LengthDist::Kind::kNormal : LengthDist::Kind::kLognormal;
    d.mean = num(1);  // the lognormal's median
    d.sd = num(2);    // its sigma
  } else if (p[0] == "zipf") {
    count(3);
    d.kind = LengthDist::Kind::kZipf;
    d.s = num(1);
    d.lo = integer(2);
    d.hi = integer(3);
  } else if (p[0] == "file") {
    const std::string path(text.substr(5));
    if (path.empty()) fail("no file named");
    std::ifstream in(path);
    if (!in) throw InputError(fmt::format("{}: cannot open histogram file {}", where, path));
    std::map<int64_t, double> hist;
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      const std::string_view l = trim(line);
      if (l.empty() || l.front() == '#') continue;
      const auto f = split(l, ',');
      int64_t len = 0;
      double w = 0;
      if (f.size() != 2 || !parse_int(f[0], len) || !parse_double(f[1], w)) {
        if (lineno == 1) continue;  // a header
        throw InputError(fmt::format("{}:{}: expected 'tokens,weight', got '{}'", path, lineno, l));
      }
      if (len < 1) throw InputError(fmt::format("{}:{}: length {} is not positive", path, lineno, len));
      if (!(w >= 0)) throw InputError(fmt::format("{}:{}: weight {} is negative", path, lineno, w));
      hist[len] += w;
    }
    d.kind = LengthDist::Kind::kEmpirical;
    for (const auto& [len, w] : hist) {
      d.values.push_back(len);
      d.weights.push_back(w);
    }
    d.prepare(path);
    return d;
  } else {
    return fail("unknown distribution");
  }
  d.prepare(where);
  return d;
}

namespace {

// Independent streams per purpose, so that request i's lengths do not depend on the arrivals.
constexpr uint64_t kGapStream = 0x6761707301ull;
constexpr uint64_t kLengthStream = 0x6c656e6702ull;

}  // namespace

Request closed_request(int64_t i, const LengthDist& prompt, const LengthDist& output, uint64_t seed) {
  Rng rng(random_at(seed ^ kLengthStream, static_cast<uint64_t>(i)));
  Request r;
  r.id = i;
  r.prompt = prompt.draw(rng);
  r.output = output.draw(rng);
  return r;
}

std::vector<Request> generate_open(const Arrivals& a, const LengthDist& prompt, const LengthDist& output,
                                   int64_t count, double duration_s, uint64_t seed) {
  if (a.kind != Arrivals::Kind::kPoisson && a.kind != Arrivals::Kind::kGamma)
    throw InputError("generate_open: Poisson or gamma arrivals only");
  if (!(a.rate > 0)) throw InputError(fmt::format("arrival rate {} must be > 0", a.rate));
  if (a.kind == Arrivals::Kind::kGamma && !(a.cv > 0))
    throw InputError(fmt::format("gamma arrivals: cv {} must be > 0", a.cv));
  std::vector<Request> out;
  Rng gaps(seed ^ kGapStream);
  double t = 0;
  const double k = a.kind == Arrivals::Kind::kGamma ? 1.0 / (a.cv * a.cv) : 1.0;
  for (int64_t i = 0; i < count; ++i) {
    double gap = 0;
    if (a.kind == Arrivals::Kind::kPoisson) {
      gap = -std::log(1.0 - gaps.uniform()) / a.rate;
    } else {
      gap = gamma_draw(gaps, k) / (k * a.rate);
    }
    t += gap;
    if (duration_s > 0 && t > duration_s) break;
    Request r = closed_request(i, prompt, output, seed);
    r.arrival_s = t;
    out.push_back(r);
  }
  return out;
}

std::vector<Request> read_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open the trace file", path));
  std::vector<Request> out;
  std::string line;
  int lineno = 0;
  bool jsonl = false;
  int col_t = -1;
  int col_p = -1;
  int col_o = -1;
  bool header_seen = false;
  const auto at = [&](const std::string& what) {
    return InputError(fmt::format("{}:{}: {}", path, lineno, what));
  };
  const auto add = [&](double t, int64_t p, int64_t o) {
    if (!(t >= 0)) throw at(fmt::format("arrival_s {} must be >= 0", t));
    if (p < 1) throw at(fmt::format("prompt {} must be a positive integer", p));
    if (o < 1) throw at(fmt::format("output {} must be a positive integer", o));
    if (!out.empty() && t < out.back().arrival_s)
      throw at(fmt::format("arrival_s {} is before the previous line's {}: a trace is sorted by time", t,
                           out.back().arrival_s));
    out.push_back(Request{static_cast<int64_t>(out.size()), t, p, o});
  };
  while (std::getline(in, line)) {
    ++lineno;
    const std::string_view l = trim(line);
    if (l.empty()) continue;
    if (!header_seen) {
      header_seen = true;
      if (l.front() == '{') {
        jsonl = true;
      } else {
        const auto names = split(l, ',');
        for (size_t i = 0; i < names.size(); ++i) {
          const std::string_view n = trim(names[i]);
          if (n == "arrival_s") col_t = static_cast<int>(i);
          if (n == "prompt") col_p = static_cast<int>(i);
          if (n == "output") col_o = static_cast<int>(i);
        }
        if (col_t < 0 || col_p < 0 || col_o < 0)
          throw at("the header must name the columns arrival_s, prompt and output");
        continue;
      }
    }
    if (jsonl) {
      boost::system::error_code ec;
      const boost::json::value v = boost::json::parse(l, ec);
      if (ec || !v.is_object()) throw at("not a JSON object");
      const auto& o = v.as_object();
      const auto num = [&](const char* key) {
        const auto* x = o.if_contains(key);
        if (x == nullptr || !x->is_number()) throw at(fmt::format("no number '{}'", key));
        return x->to_number<double>();
      };
      const auto integer = [&](const char* key) {
        const double d = num(key);
        if (d != std::floor(d) || std::abs(d) > 1e15)
          throw at(fmt::format("'{}' {} is not an integer", key, d));
        return static_cast<int64_t>(d);
      };
      add(num("arrival_s"), integer("prompt"), integer("output"));
    } else {
      const auto f = split(l, ',');
      const auto need = static_cast<size_t>(std::max({col_t, col_p, col_o}));
      if (f.size() <= need) throw at(fmt::format("{} column(s), the header has {}", f.size(), need + 1));
      double t = 0;
      int64_t p = 0;
      int64_t o = 0;
      if (!parse_double(f[static_cast<size_t>(col_t)], t)) throw at("arrival_s is not a number");
      if (!parse_int(f[static_cast<size_t>(col_p)], p)) throw at("prompt is not an integer");
      if (!parse_int(f[static_cast<size_t>(col_o)], o)) throw at("output is not an integer");
      add(t, p, o);
    }
  }
  if (out.empty()) throw InputError(fmt::format("{}: no requests", path));
  return out;
}

}  // namespace bwsim::serving
