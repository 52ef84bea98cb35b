#include "workloads/sweep/point.hpp"

#include <fmt/format.h>

#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "sim/errors.hpp"
#include "workloads/gemm/format.hpp"
#include "workloads/gemm/functional.hpp"
#include "workloads/gemm/gemm.hpp"
#include "workloads/serving/serve_scenario.hpp"
#include "workloads/transformer/scenario.hpp"

namespace bwsim {
namespace {

// Where an axis's values go.
struct Applied {
  ConfigTree tree;                   // gemm: the spec with [gemm] overrides
  std::vector<std::string> hw_sets;  // hw.<key>
  std::vector<std::string> sets;     // run: scenario overrides
};

void apply(const SweepSpec& s, const SweepAxis& a, const ConfigScalar& v, Applied& out) {
  const std::string& key = a.key;
  const std::string label = fmt::format("axis {}", key);
  if (key.starts_with("hw.")) {
    out.hw_sets.push_back(key.substr(3) + "=" + v.toml);
    return;
  }
  if (s.kind == SweepKind::kGemm) {
    if (key == "hw") {
      out.tree.set("gemm.hw=" + v.toml, label);
    } else if (key.starts_with("gemm.")) {
      out.tree.set(key + "=" + v.toml, label);
    } else {
      throw InputError(
          fmt::format("{}: axis '{}': a gemm sweep's keys are gemm.<key> (m, n, k, format, out, "
                      "tile, clock, functional), hw, and hw.<key>",
                      a.where, key));
    }
    return;
  }
  std::string k = key;
  if (k.starts_with("quant.")) k = "quantization." + k.substr(6);
  if (k.starts_with("scenario.")) k = k.substr(9);
  out.sets.push_back(k + "=" + v.toml);
}

Applied base(const SweepSpec& s) { return Applied{s.tree, s.base_hw_sets, s.base_sets}; }

Applied applied(const SweepSpec& s, const SweepPoint& p) {
  Applied out = base(s);
  for (size_t d = 0; d < s.axes.size(); ++d) apply(s, s.axes[d], p.values[d], out);
  return out;
}

struct GemmPoint {
  HwSpec hw;
  GemmProblem problem;
  GemmTimingOptions timing;
  GemmJob job;
};

GemmPoint prepare_gemm(const SweepSpec& s, const Applied& a) {
  const SweepSpec point = read_sweep_spec(a.tree, s.file);
  GemmPoint g{HwSpec::load(point.gemm.hw, a.hw_sets), {}, {}, point.gemm};
  g.problem.m = g.job.m;
  g.problem.n = g.job.n;
  g.problem.k = g.job.k;
  g.problem.format = parse_gemm_format(g.job.format, "gemm.format");
  try {
    g.problem.out = parse_gemm_out(g.job.out);
  } catch (const InputError& e) {
    throw InputError(fmt::format("gemm.out: {}", e.what()));
  }
  g.timing.clock = g.job.clock == "boost" ? ClockMode::kBoost : ClockMode::kGoverned;
  if (!g.job.tile.empty()) g.timing.tile = parse_tile(g.job.tile);
  if (g.job.functional != "off" && !g.job.functional.starts_with("sample:")) {
    throw InputError(
        fmt::format("gemm.functional = \"{}\": a sweep takes off or sample:N", g.job.functional));
  }
  (void)parse_functional(g.job.functional, g.problem);
  return g;
}

Scenario prepare_run(const SweepSpec& s, const Applied& a) {
  return load_scenario(s.scenario, "", "", a.sets, a.hw_sets);
}

std::string num(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.10g}", v);  // ten digits: far below the model's own uncertainty
}

std::vector<std::string> gemm_metrics(const GemmPoint& g) {
  const GemmTiming t = simulate_gemm(g.problem, g.hw, g.timing);
  std::string err_rel;
  std::string err_sqnr;
  std::string err_max;
  if (g.job.functional != "off") {
    FunctionalSpec fs = parse_functional(g.job.functional, g.problem);
    fs.seed = g.job.seed;
    const GemmOperands ops{
        MatrixSource::generated(Distribution::kStudentT, g.problem.m, g.problem.k, g.job.seed),
        MatrixSource::generated(Distribution::kNormal, g.problem.n, g.problem.k, g.job.seed + 1)};
    const GemmFunctional f = gemm_functional(t.plan, g.hw.arch, ops, fs);
    err_rel = num(f.error.rel_frobenius);
    err_sqnr = num(f.error.sqnr_db);
    err_max = num(f.error.max_abs);
  }
  return {t.plan.tile.name(),
          fmt::format("{}", t.kernels.size()),
          num(t.time.seconds() * 1e6),
          num(std::round(t.sm_cycles)),
          num(t.tflops),
          num(t.pct_of_peak),
          t.bound,
          fmt::format("{}", t.hbm_read),
          fmt::format("{}", t.hbm_write),
          fmt::format("{}", t.l2_read),
          num(t.l2_hit_rate()),
          num(t.arithmetic_intensity),
          err_rel,
          err_sqnr,
          err_max,
          num(t.power.clock.ghz()),
          std::string(clock_limit_name(t.power.limit)),
          num(t.power.joules()),
          num(t.power.watts()),
          num(t.flops / t.power.joules() * 1e-12)};
}

std::vector<std::string> run_metrics(const Scenario& s) {
  const ScenarioResult r = run_scenario(s);
  const Capacity& c = r.capacity;
  std::vector<std::string> m{r.fits ? "true" : "false",
                             fmt::format("{}", r.fits ? s.tp : r.smallest_tp),
                             num(c.weights),
                             num(c.kv_per_token),
                             fmt::format("{}", c.max_sequences),
                             fmt::format("{}", r.concurrency)};
  const bool timed = r.fits && r.timed;
  const auto opt = [&](double v) { return timed ? num(v) : std::string(); };
  m.push_back(opt(r.ttft_s * 1e3));
  m.push_back(opt(r.decode.itl_s * 1e3));
  m.push_back(opt(r.decode.tokens_per_s_user));
  m.push_back(opt(r.decode.tokens_per_s_gpu));
  m.push_back(opt(r.decode.step.hbm_bytes / r.decode.step.time.seconds() * 1e-12));
  const bool mtp = timed && r.mtp.has_value();
  m.push_back(mtp ? num(r.mtp->itl_s * 1e3) : "");
  m.push_back(mtp ? num(r.mtp->tokens_per_pass) : "");
  m.push_back(mtp ? num(r.mtp->tokens_per_s_user) : "");
  m.push_back(mtp ? num(r.mtp->tokens_per_s_gpu) : "");
  m.push_back(mtp ? num(r.mtp->tokens_per_s_user / r.decode.tokens_per_s_user) : "");
  m.push_back(opt(r.e2e_s));
  m.push_back(opt(r.decode.avg_power_w));
  m.push_back(opt(r.decode.tokens_per_joule));
  m.push_back(opt(r.decode.joules_per_token * 1e3));
  m.push_back(mtp ? num(r.mtp->tokens_per_joule) : "");
  return m;
}

// Step-cost models shared by the serve points of this process whose scenarios differ only in
// keys no step cost reads (a rate axis: every point; serving::step_cost_free_key): their
// simulated steps are most of a point's time, and a shared model gives each point what it
// would get alone. Points sharing one take turns (the model is not thread-safe).
struct SharedStepCost {
  std::mutex lock;
  std::optional<serving::GpuStepCost> cost;
};

std::shared_ptr<SharedStepCost> shared_step_cost(const SweepSpec& s, const Applied& a) {
  static std::mutex pool_lock;
  static std::map<std::string, std::shared_ptr<SharedStepCost>> pool;
  const std::string key = serving::step_cost_key(s.scenario, "", "", a.hw_sets, a.sets);
  const std::scoped_lock l(pool_lock);
  std::shared_ptr<SharedStepCost>& e = pool[key];
  if (!e) e = std::make_shared<SharedStepCost>();
  return e;
}

std::vector<std::string> serve_metrics(const SweepSpec& spec, const Applied& a) {
  const Scenario s = prepare_run(spec, a);
  const std::shared_ptr<SharedStepCost> shared = shared_step_cost(spec, a);
  const std::scoped_lock l(shared->lock);
  if (!shared->cost) shared->cost.emplace(serving::scenario_step_cost(s));
  const serving::ServeRun r = serving::serve_scenario(s, &*shared->cost);
  const auto gpus = static_cast<double>(s.tp * r.scheduler.total_replicas());
  std::vector<std::string> m{r.fits ? "true" : "false", fmt::format("{}", r.fits ? s.tp : r.smallest_tp),
                             r.fits ? fmt::format("{}", r.scheduler.num_blocks) : ""};
  if (!r.fits) {
    m.resize(sweep_metric_names(SweepKind::kServe).size());
    return m;
  }
  const serving::ServeSummary& x = r.summary;
  const serving::ServeResult& res = r.result;
  for (const double v : {static_cast<double>(x.finished),
                         x.output_tokens_per_s,
                         x.output_tokens_per_s / gpus,
                         x.total_tokens_per_s,
                         x.requests_per_s,
                         x.goodput_requests_per_s,
                         x.slo_attainment,
                         x.ttft_s.mean * 1e3,
                         x.ttft_s.p50 * 1e3,
                         x.ttft_s.p90 * 1e3,
                         x.ttft_s.p99 * 1e3,
                         x.tpot_s.mean * 1e3,
                         x.tpot_s.p50 * 1e3,
                         x.tpot_s.p90 * 1e3,
                         x.tpot_s.p99 * 1e3,
                         x.itl_s.p50 * 1e3,
                         x.itl_s.p99 * 1e3,
                         x.e2e_s.p50,
                         x.e2e_s.p99,
                         static_cast<double>(res.preemptions),
                         serving::kv_mean_share(r),
                         static_cast<double>(res.peak_blocks) / static_cast<double>(r.scheduler.num_blocks),
                         static_cast<double>(res.steps),
                         res.end_s})
    m.push_back(num(v));
  return m;
}

}  // namespace

const std::vector<std::string>& sweep_metric_names(SweepKind kind) {
  static const std::vector<std::string> gemm{"plan.tile",
                                             "plan.kernels",
                                             "time.us",
                                             "time.sm_cycles",
                                             "throughput.tflops",
                                             "throughput.pct_of_peak",
                                             "bound",
                                             "bytes.hbm.read",
                                             "bytes.hbm.write",
                                             "bytes.l2.read",
                                             "bytes.l2.hit_rate",
                                             "intensity.flop_per_hbm_byte",
                                             "error.rel_frobenius",
                                             "error.sqnr_db",
                                             "error.max_abs",
                                             "power.clock_ghz",
                                             "power.limited_by",
                                             "power.energy_j",
                                             "power.avg_power_w",
                                             "power.tflops_per_w"};
  static const std::vector<std::string> run{"memory.fits",
                                            "memory.tp",
                                            "memory.bytes.weights_per_gpu",
                                            "memory.bytes.kv_per_token",
                                            "memory.max_concurrency",
                                            "serving.concurrency_run",
                                            "latency.ttft_ms",
                                            "decode.itl_ms",
                                            "decode.tokens_per_s_user",
                                            "decode.tokens_per_s_gpu",
                                            "decode.hbm_tb_per_s",
                                            "mtp.itl_ms",
                                            "mtp.tokens_per_pass",
                                            "mtp.tokens_per_s_user",
                                            "mtp.tokens_per_s_gpu",
                                            "mtp.speedup",
                                            "e2e_s",
                                            "decode.avg_power_w",
                                            "decode.tokens_per_joule",
                                            "decode.mj_per_token",
                                            "mtp.tokens_per_joule"};
  static const std::vector<std::string> serve{"memory.fits",
                                              "memory.tp",
                                              "serve.kv_blocks",
                                              "serve.finished",
                                              "serve.output_tokens_per_s",
                                              "serve.output_tokens_per_s_gpu",
                                              "serve.total_tokens_per_s",
                                              "serve.requests_per_s",
                                              "serve.goodput_requests_per_s",
                                              "serve.slo_attainment",
                                              "serve.ttft_ms.mean",
                                              "serve.ttft_ms.p50",
                                              "serve.ttft_ms.p90",
                                              "serve.ttft_ms.p99",
                                              "serve.tpot_ms.mean",
                                              "serve.tpot_ms.p50",
                                              "serve.tpot_ms.p90",
                                              "serve.tpot_ms.p99",
                                              "serve.itl_ms.p50",
                                              "serve.itl_ms.p99",
                                              "serve.e2e_s.p50",
                                              "serve.e2e_s.p99",
                                              "serve.preemptions",
                                              "serve.mean_kv_share",
                                              "serve.peak_kv_share",
                                              "serve.steps",
                                              "serve.end_s"};
  return kind == SweepKind::kGemm ? gemm : kind == SweepKind::kRun ? run : serve;
}

void check_sweep_axes(const SweepSpec& s) {
  // The base alone first, so a broken base is not blamed on an axis.
  const auto prepare = [&](const Applied& a) {
    if (s.kind == SweepKind::kGemm) {
      (void)prepare_gemm(s, a);
    } else {
      (void)prepare_run(s, a);
    }
  };
  try {
    prepare(base(s));
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: the base {} is invalid: {}", s.file.string(),
                                 s.kind == SweepKind::kGemm ? "[gemm] job" : "scenario", e.what()));
  }
  for (const SweepAxis& a : s.axes) {
    std::vector<ConfigScalar> vals = a.values;
    if (a.range && vals.empty()) vals = {a.value_at(a.from), a.value_at(a.to)};  // random mode
    for (const ConfigScalar& v : vals) {
      try {
        Applied ap = base(s);
        apply(s, a, v, ap);
        prepare(ap);
      } catch (const InputError& e) {
        throw InputError(fmt::format("{}: axis '{}' value {}: {}", a.where, a.key, v.toml, e.what()));
      }
    }
  }
}

PointResult run_sweep_point(const SweepSpec& s, const SweepPoint& p) {
  PointResult r;
  try {
    const Applied a = applied(s, p);
    switch (s.kind) {
      case SweepKind::kGemm:
        r.metrics = gemm_metrics(prepare_gemm(s, a));
        break;
      case SweepKind::kRun:
        r.metrics = run_metrics(prepare_run(s, a));
        break;
      case SweepKind::kServe:
        r.metrics = serve_metrics(s, a);
        break;
    }
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
    r.metrics.assign(sweep_metric_names(s.kind).size(), "");
  }
  return r;
}

}  // namespace bwsim
