#include "workloads/sweep/spec.hpp"

#include <fmt/format.h>

#include <cmath>

#include "models/power.hpp"
#include "sim/errors.hpp"
#include "sim/rng.hpp"

namespace bwsim {
namespace {

constexpr std::array<std::pair<std::string_view, SweepKind>, 3> kKinds{
    {{"gemm", SweepKind::kGemm}, {"run", SweepKind::kRun}, {"serve", SweepKind::kServe}}};
constexpr std::array<std::pair<std::string_view, SweepMode>, 3> kModes{
    {{"grid", SweepMode::kGrid}, {"zip", SweepMode::kZip}, {"random", SweepMode::kRandom}}};

SweepAxis read_axis(ConfigReader& a, SweepMode mode) {
  SweepAxis x;
  a.req("key", x.key, "the config key path this axis sets (hw.hbm.bandwidth, gemm.m, serving.concurrency)");
  x.where = a.where("key");
  const std::string label = fmt::format("{}: axis '{}'", x.where, x.key);
  if (x.key.empty()) throw InputError(label + ": empty key");
  if (a.has("values")) {
    x.values = a.scalar_list("values", "the values this axis takes");
    if (x.values.empty()) throw InputError(label + ": 'values' is empty");
    for (const char* k : {"from", "to", "steps", "scale", "unit", "integer"}) {
      if (a.has(k))
        throw InputError(fmt::format("{}: give either 'values' or a range (from/to), not both", label));
    }
    return x;
  }
  if (!a.has("from") && !a.has("to")) {
    throw InputError(label + ": needs 'values' = [...] or a range: from = X, to = Y, steps = N");
  }
  x.range = true;
  a.req("from", x.from, "range start");
  a.req("to", x.to, "range end (included)");
  std::string scale;
  a.opt("scale", scale, std::string("linear"), "linear or log spacing / sampling");
  if (scale != "linear" && scale != "log") a.fail("scale", "must be \"linear\" or \"log\"");
  x.log = scale == "log";
  a.opt("integer", x.integer, false, "round values to integers");
  a.opt("unit", x.unit, std::string(), "unit appended to each value (\"TB/s\")");
  if (x.log && (x.from <= 0 || x.to <= 0)) a.fail("from", "a log range needs positive ends");
  if (!std::isfinite(x.from) || !std::isfinite(x.to)) a.fail("from", "must be finite");
  int64_t steps = 0;
  if (mode == SweepMode::kRandom) {
    a.opt("steps", steps, int64_t{0}, "points of the range (grid and zip; random mode samples it)");
    return x;
  }
  a.req("steps", steps, "points of the range, its ends included");
  if (steps < 1) a.fail("steps", "must be at least 1");
  if (steps > static_cast<int64_t>(kMaxSweepPoints))
    a.fail("steps",
           fmt::format("must be at most {} (a sweep's points are listed before it runs)", kMaxSweepPoints));
  if (steps == 1 && x.from != x.to) a.fail("steps", "must be at least 2 for a range with distinct ends");
  for (int64_t i = 0; i < steps; ++i) {
    const double f = steps == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(steps - 1);
    const double v = x.log ? x.from * std::pow(x.to / x.from, f) : x.from + (x.to - x.from) * f;
    x.values.push_back(x.value_at(i == steps - 1 ? x.to : v));
  }
  return x;
}

}  // namespace

std::string_view sweep_kind_name(SweepKind k) {
  for (const auto& [name, kind] : kKinds) {
    if (kind == k) return name;
  }
  return "";
}

ConfigScalar SweepAxis::value_at(double x) const {
  std::string num;
  if (integer) {
    num = fmt::format("{}", static_cast<int64_t>(std::llround(x)));
  } else {
    num = fmt::format("{:.6g}", x);
  }
  if (!unit.empty()) {
    const std::string t = num + " " + unit;
    return {t, "\"" + t + "\""};
  }
  if (!integer && num.find_first_of(".eEn") == std::string::npos) return {num, num + ".0"};
  return {num, num};
}

SweepSpec load_sweep_spec(const std::filesystem::path& file) {
  return read_sweep_spec(ConfigTree::load_file(file), file);
}

SweepSpec read_sweep_spec(const ConfigTree& tree, const std::filesystem::path& file) {
  SweepSpec s;
  s.file = file;
  s.tree = tree;
  ConfigReader r(s.tree);
  r.req("name", s.name, "sweep name, for reports");
  r.req_enum("kind", s.kind, kKinds, "what each point runs");
  r.opt_enum("mode", s.mode, SweepMode::kGrid, kModes, "how axes combine");
  if (s.mode == SweepMode::kRandom) {
    r.req("samples", s.samples, "random mode: points to draw");
    if (s.samples == 0) r.fail("samples", "must be at least 1");
    if (s.samples > kMaxSweepPoints)
      r.fail("samples",
             fmt::format("must be at most {} (split a larger study into sweeps)", kMaxSweepPoints));
    r.opt("seed", s.seed, uint64_t{1}, "random mode: the seed");
  }
  if (s.kind == SweepKind::kRun || s.kind == SweepKind::kServe) {
    ConfigReader run = r.section(s.kind == SweepKind::kRun ? "run" : "serve", "the base scenario");
    std::string scenario;
    run.req("scenario", scenario, "configs/scenarios name or scenario file (relative to this spec)");
    std::filesystem::path p = scenario;
    if (p.is_relative() && p.has_parent_path()) p = file.parent_path() / p;
    try {
      s.scenario = resolve_config_path(p.has_parent_path() ? p.string() : scenario, "scenarios").string();
    } catch (const InputError& e) {
      run.fail("scenario", e.what());
    }
    run.opt("set", s.base_sets, std::vector<std::string>{}, "scenario overrides of every point (KEY=VALUE)");
    run.opt("hw_set", s.base_hw_sets, std::vector<std::string>{},
            "hardware overrides of every point (KEY=VALUE)");
  } else {
    ConfigReader g = r.section("gemm", "the base GEMM");
    GemmJob& j = s.gemm;
    g.req("m", j.m, "rows of A and D (tokens)");
    g.req("n", j.n, "rows of B (output features)");
    g.req("k", j.k, "the reduction dimension");
    for (const auto& [key, v] : {std::pair{"m", j.m}, std::pair{"n", j.n}, std::pair{"k", j.k}}) {
      if (v <= 0) g.fail(key, "must be positive");
    }
    g.opt("format", j.format, std::string("nvfp4"), "A and B format (as bwsim gemm --format)");
    g.opt("out", j.out, std::string("bf16"), "output format");
    g.opt("tile", j.tile, std::string(), "force a configuration (as --tile); empty: the planner's pick");
    g.opt("clock", j.clock, std::string("governed"), "SM clock: governed (power governor) or boost");
    if (const std::string why = clock_setting_problem(j.clock); !why.empty()) g.fail("clock", why);
    g.opt("hw", j.hw, std::string("b200"), "GPU: configs/hw name or file");
    g.opt("functional", j.functional, std::string("off"), "numerics: off or sample:N (N output patches)");
    g.opt("seed", j.seed, uint64_t{1}, "seed of the generated operands (A student-t, B normal)");
    g.opt("hw_set", s.base_hw_sets, std::vector<std::string>{},
          "hardware overrides of every point (KEY=VALUE)");
  }
  std::vector<ConfigReader> axes = r.table_array("axis", "one axis of the sweep");
  if (axes.empty())
    throw InputError(fmt::format("{}: no [[axis]] tables: a sweep needs at least one axis", file.string()));
  for (ConfigReader& a : axes) s.axes.push_back(read_axis(a, s.mode));
  for (size_t i = 0; i < s.axes.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (s.axes[i].key == s.axes[j].key)
        throw InputError(fmt::format("{}: axis '{}' is swept twice (also at {})", s.axes[i].where,
                                     s.axes[i].key, s.axes[j].where));
    }
  }
  if (s.mode == SweepMode::kGrid) {
    uint64_t n = 1;
    for (const SweepAxis& a : s.axes) {
      n = n > kMaxSweepPoints / std::max<uint64_t>(1, a.values.size()) ? kMaxSweepPoints + 1
                                                                       : n * a.values.size();
    }
    if (n > kMaxSweepPoints) {
      throw InputError(fmt::format("{}: the grid has more than {} points: narrow an axis, or split the study",
                                   file.string(), kMaxSweepPoints));
    }
  }
  if (s.mode == SweepMode::kZip) {
    for (const SweepAxis& a : s.axes) {
      if (a.values.size() != s.axes.front().values.size()) {
        throw InputError(fmt::format("{}: zip mode: axis '{}' has {} values but axis '{}' has {}", a.where,
                                     a.key, a.values.size(), s.axes.front().key,
                                     s.axes.front().values.size()));
      }
    }
  }
  r.finish();
  return s;
}

std::vector<SweepPoint> sweep_points(const SweepSpec& s) {
  std::vector<SweepPoint> out;
  switch (s.mode) {
    case SweepMode::kGrid: {
      uint64_t n = 1;
      for (const SweepAxis& a : s.axes) n *= a.values.size();
      for (uint64_t i = 0; i < n; ++i) {
        SweepPoint p{i, std::vector<ConfigScalar>(s.axes.size())};
        uint64_t rest = i;  // the last axis varies fastest
        for (size_t d = s.axes.size(); d-- > 0;) {
          const uint64_t len = s.axes[d].values.size();
          p.values[d] = s.axes[d].values[rest % len];
          rest /= len;
        }
        out.push_back(std::move(p));
      }
      break;
    }
    case SweepMode::kZip:
      for (uint64_t i = 0; i < s.axes.front().values.size(); ++i) {
        SweepPoint p{i, {}};
        for (const SweepAxis& a : s.axes) p.values.push_back(a.values[i]);
        out.push_back(std::move(p));
      }
      break;
    case SweepMode::kRandom:
      for (uint64_t i = 0; i < s.samples; ++i) {
        SweepPoint p{i, {}};
        for (size_t d = 0; d < s.axes.size(); ++d) {
          // One stream per (point, axis): a point's values do not depend on the other points.
          Rng rng(random_at(s.seed, i * 1024 + d));
          const SweepAxis& a = s.axes[d];
          const double u = rng.uniform();
          if (!a.range) {
            p.values.push_back(a.values[std::min<size_t>(
                a.values.size() - 1, static_cast<size_t>(u * static_cast<double>(a.values.size())))]);
          } else {
            p.values.push_back(
                a.value_at(a.log ? a.from * std::pow(a.to / a.from, u) : a.from + (a.to - a.from) * u));
          }
        }
        out.push_back(std::move(p));
      }
      break;
  }
  return out;
}

std::string SweepSpec::text() const {
  std::string axes_text;
  for (const SweepAxis& a : axes) {
    axes_text += fmt::format("{}{} ({} {})", axes_text.empty() ? "" : " x ", a.key,
                             a.range && mode == SweepMode::kRandom ? 0 : a.values.size(),
                             a.range && mode == SweepMode::kRandom ? "sampled" : "values");
  }
  const char* m = mode == SweepMode::kGrid ? "grid" : mode == SweepMode::kZip ? "zip" : "random";
  return fmt::format("{} ({} sweep, {}): {}", name, sweep_kind_name(kind), m, axes_text);
}

}  // namespace bwsim
