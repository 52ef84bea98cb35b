#include "workloads/validate/validation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>

#include "models/hw_spec.hpp"
#include "sim/config.hpp"
#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "workloads/attention/timing.hpp"
#include "workloads/gemm/format.hpp"
#include "workloads/gemm/gemm.hpp"
#include "workloads/micro.hpp"
#include "workloads/serving/serve_scenario.hpp"

namespace bwsim {
namespace {

constexpr std::array kGroups{
    std::pair<std::string_view, ValidationGroup>{"gemm", ValidationGroup::kGemm},
    std::pair<std::string_view, ValidationGroup>{"attention", ValidationGroup::kAttention},
    std::pair<std::string_view, ValidationGroup>{"memory", ValidationGroup::kMemory},
    std::pair<std::string_view, ValidationGroup>{"power", ValidationGroup::kPower},
    std::pair<std::string_view, ValidationGroup>{"serving", ValidationGroup::kServing}};

}  // namespace

std::string_view validation_group_name(ValidationGroup g) {
  for (const auto& [name, group] : kGroups) {
    if (group == g) return name;
  }
  return "";
}

std::optional<ValidationGroup> parse_validation_group(std::string_view name) {
  for (const auto& [n, group] : kGroups) {
    if (n == name) return group;
  }
  return std::nullopt;
}

namespace {

constexpr std::array kPatterns{std::pair<std::string_view, StreamPattern>{"read", StreamPattern::kRead},
                               std::pair<std::string_view, StreamPattern>{"copy", StreamPattern::kCopy}};

// Loaded configs by name: a set names a handful of GPUs many times.
class HwCache {
 public:
  const HwSpec& get(const std::string& name, ConfigReader& r) {
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
    try {
      return cache_.emplace(name, HwSpec::load(name, {})).first->second;
    } catch (const InputError& e) {
      r.fail("hw", fmt::format("is \"{}\", which does not load: {}", name, e.what()));
    }
  }

 private:
  std::map<std::string, HwSpec> cache_;
};

// Rethrows an InputError from a model check located at `key` of the point.
template <class F>
void located(ConfigReader& r, std::string_view key, F&& check) {
  try {
    check();
  } catch (const InputError& e) {
    r.fail(key, fmt::format("describes a run the model cannot do: {}", e.what()));
  }
}

void req_positive(ConfigReader& r, std::string_view key, int64_t& out, std::string_view doc) {
  r.req(key, out, doc);
  r.check(out > 0, key, "must be positive");
}
void opt_positive(ConfigReader& r, std::string_view key, int64_t& out, int64_t dflt, std::string_view doc) {
  r.opt(key, out, dflt, doc);
  r.check(out > 0, key, "must be positive");
}

std::string shape_text(int64_t m, int64_t n, int64_t k) { return fmt::format("{}x{}x{}", m, n, k); }

// A power point's measured value: an SM clock or a power.
void check_power_measured(ConfigReader& r, const ValidationPoint& p) {
  r.check(p.measured.kind == Measured::Kind::kClock || p.measured.kind == Measured::Kind::kPower, "measured",
          "must be an SM clock (MHz) or a power (W) for a power point");
}

void read_gemm(ConfigReader& r, ValidationPoint& p, const HwSpec& hw) {
  req_positive(r, "m", p.gemm.m, "rows of A and D");
  req_positive(r, "n", p.gemm.n, "rows of B (output features)");
  req_positive(r, "k", p.gemm.k, "the reduction dimension");
  std::string format;
  r.req("format", format, "A and B format, as bwsim gemm --format");
  located(r, "format", [&] { p.gemm.format = parse_gemm_format(format, "format"); });
  std::string out;
  r.opt("out", out, std::string("bf16"), "output format, as bwsim gemm --out");
  located(r, "out", [&] { p.gemm.out = parse_gemm_out(out); });
  if (p.skip.empty()) located(r, "m", [&] { check_gemm(p.gemm, hw); });
  if (p.group == ValidationGroup::kPower) {
    check_power_measured(r, p);
  } else {
    r.check(p.measured.kind == Measured::Kind::kTime || p.measured.kind == Measured::Kind::kFlopRate,
            "measured", "must be a time or a FLOP rate for a GEMM");
  }
  p.what = fmt::format("{} {}", format, shape_text(p.gemm.m, p.gemm.n, p.gemm.k));
}

void read_attention(ConfigReader& r, ValidationPoint& p, const HwSpec& hw) {
  p.is_attention = true;
  AttentionProblem& a = p.attention;
  opt_positive(r, "batch", a.batch, int64_t{1}, "sequences");
  req_positive(r, "seq", a.seq, "KV length");
  opt_positive(r, "q_len", a.q_len, a.seq, "queries (default: all, a prefill)");
  req_positive(r, "heads", a.heads, "query heads");
  opt_positive(r, "kv_heads", a.kv_heads, a.heads, "KV heads");
  req_positive(r, "head_dim", a.head_dim, "head dimension");
  r.opt("causal", a.causal, false, "causal mask");
  std::string kv;
  r.opt("kv_format", kv, std::string("bf16"), "KV-cache format, as bwsim attention --kv-format");
  const auto f = parse_kv_format(kv);
  r.check(f.has_value(), "kv_format", fmt::format("is \"{}\", not a KV format bwsim attention knows", kv));
  a.kv = *f;
  located(r, "seq", [&] {
    check_attention(a);
    if (p.skip.empty()) check_attention_timing(a, hw, {});
  });
  if (p.group == ValidationGroup::kPower) {
    check_power_measured(r, p);
  } else {
    r.check(p.measured.kind == Measured::Kind::kTime, "measured",
            "must be a time for attention (benchmarks count causal FLOPs differently; give the time)");
  }
  p.what = fmt::format("b{} s{}{} h{}/{} d{}{}{}", a.batch, a.seq,
                       a.q_len != a.seq ? fmt::format(" q{}", a.q_len) : "", a.heads, a.kv_heads, a.head_dim,
                       a.causal ? " causal" : "", a.kv != KvFormat::kBf16 ? fmt::format(" kv {}", kv) : "");
}

void read_memory(ConfigReader& r, ValidationPoint& p) {
  r.req_enum("pattern", p.pattern, kPatterns, "read: a streaming read; copy: read and write as many bytes");
  ByteSize size;
  r.req("bytes", size, "bytes read (a copy writes as many more)");
  r.check(size.bytes >= (uint64_t{1} << 20), "bytes", "must be at least 1 MiB");
  r.check(size.bytes <= (uint64_t{64} << 30), "bytes", "must be at most 64 GiB");
  p.bytes = size.bytes;
  r.check(p.measured.kind == Measured::Kind::kBandwidth || p.measured.kind == Measured::Kind::kTime,
          "measured", "must be a bandwidth or a time for a memory stream");
  p.what = fmt::format("{} {}", p.pattern == StreamPattern::kCopy ? "copy" : "read", to_string(size));
}

// A serving point: a scenario served on the point's GPU. `dir`: the validation file's folder, where
// a scenario path is looked for first (then configs/scenarios).
void read_serving(ConfigReader& r, ValidationPoint& p, const std::filesystem::path& dir) {
  std::string scenario;
  r.req("scenario", scenario, "the scenario served: a file beside this one, or a configs/scenarios name");
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir / scenario, ec)) {
    p.scenario = (dir / scenario).string();
  } else {
    try {
      p.scenario = resolve_config_path(scenario, "scenarios").string();
    } catch (const InputError& e) {
      r.fail("scenario", e.what());
    }
  }
  r.opt("model", p.model, std::string(), "the model, replacing the scenario's (as bwsim serve --model)");
  r.opt("set", p.sets, std::vector<std::string>{},
        "scenario overrides, as bwsim serve --set (\"traffic.prompt=1000\")");
  located(r, "scenario", [&] {
    const Scenario sc = load_scenario(p.scenario, p.model, p.hw, p.sets, p.hw_set);
    p.what = fmt::format("{} tp{} {}/{}, {} requests", sc.model.name, sc.tp, sc.serve.traffic.prompt.text(),
                         sc.serve.traffic.output.text(), sc.serve.traffic.requests);
  });
  r.check(p.measured.kind == Measured::Kind::kTokenRate, "measured",
          "must be a token rate (output tokens/s) for a serving point");
}

void read_file(const std::filesystem::path& file, ValidationSet& set, HwCache& hws,
               std::set<std::string>& ids) {
  const ConfigTree tree = ConfigTree::load_file(file);
  ConfigReader root(tree);
  ValidationSource src;
  src.name = file.stem().string();
  src.file = file.string();
  ConfigReader s = root.section("source", "where the measurements come from");
  s.req("title", src.title, "what the source is (paper and table, repository and file, blog)");
  s.req("url", src.url, "where to find it, pinned by commit or date");
  std::string library, conditions, gpu;
  s.opt("library", library, std::string(), "what ran, for points that do not say");
  s.opt("conditions", conditions, std::string(), "conditions of every point (clock, power limit, data)");
  s.opt("gpu", gpu, std::string(), "the GPU as the source names it, for points that do not say");
  std::string notes;
  s.opt("notes", notes, std::string(), "anything a reader should know");
  std::string timing;
  s.opt("timing", timing, std::string("kernel"),
        "kernel: the kernel's own time; loop: a mean over back-to-back launches (launch.gap added)");
  s.check(timing == "kernel" || timing == "loop", "timing",
          fmt::format("is \"{}\"; expected kernel or loop", timing));
  src.loop_timed = timing == "loop";
  constexpr std::string_view kFlushDoc =
      "bytes the benchmark writes to flush L2 right before each timed call (a zero_ or memset of a "
      "buffer larger than L2): the kernel starts with its dirty lines in L2; absent: no such flush";
  ByteSize flush;
  s.opt("l2_flush", flush, ByteSize{}, kFlushDoc);
  src.l2_flush = flush.bytes;
  const size_t source_index = set.sources.size();
  set.sources.push_back(src);
  for (ConfigReader& r : root.table_array("point", "one measurement")) {
    ValidationPoint p;
    p.source = source_index;
    p.loop_timed = src.loop_timed;
    p.where = r.where("id");
    r.req("id", p.id, "unique name of the point");
    r.check(!p.id.empty(), "id", "must not be empty");
    r.check(ids.insert(p.id).second, "id", fmt::format("\"{}\" is used twice", p.id));
    r.req_enum("kind", p.group, kGroups, "what ran");
    r.req("hw", p.hw, "the configured GPU it ran on (configs/hw)");
    const HwSpec& hw = hws.get(p.hw, r);
    r.opt("hw_set", p.hw_set, std::vector<std::string>{},
          "config overrides for the GPU as it ran, where not stock (a power limit, a clock lock)");
    if (!p.hw_set.empty()) {
      try {
        (void)HwSpec::load(p.hw, p.hw_set);
      } catch (const InputError& e) {
        r.fail("hw_set", e.what());
      }
    }
    r.opt("gpu", p.gpu, gpu, "the GPU as the source names it");
    r.opt("library", p.library, library, "what ran, with its version");
    r.opt("conditions", p.conditions, conditions, "clock, power limit, data, timing method");
    r.req("measured", p.measured_text, "the value as published, with its unit");
    try {
      p.measured = parse_measured(p.measured_text);
    } catch (const UnitError& e) {
      r.fail("measured", e.message);
    }
    r.req("locator", p.locator, "where in the source (table, figure, row)");
    r.req("quote", p.quote, "the source's text that holds the number");
    r.check(!p.locator.empty(), "locator",
            "must not be empty: a row whose source cannot be named does not go in");
    r.check(!p.quote.empty(), "quote",
            "must not be empty: a row whose source cannot be named does not go in");
    r.opt("skip", p.skip, std::string(), "why the model cannot run this point yet (listed, not run)");
    ByteSize point_flush;
    r.opt("l2_flush", point_flush, ByteSize{src.l2_flush}, kFlushDoc);
    p.l2_flush = point_flush.bytes;
    switch (p.group) {
      case ValidationGroup::kGemm:
        read_gemm(r, p, hw);
        break;
      case ValidationGroup::kPower: {  // a GEMM or an attention layer whose clock or power was measured
        std::string workload;
        r.opt("workload", workload, std::string("gemm"), "power points: what ran, gemm or attention");
        r.check(workload == "gemm" || workload == "attention", "workload",
                fmt::format("is \"{}\"; expected gemm or attention", workload));
        if (workload == "attention") {
          read_attention(r, p, hw);
        } else {
          read_gemm(r, p, hw);
        }
        break;
      }
      case ValidationGroup::kAttention:
        read_attention(r, p, hw);
        break;
      case ValidationGroup::kMemory:
        read_memory(r, p);
        break;
      case ValidationGroup::kServing:
        read_serving(r, p, file.parent_path());
        break;
    }
    set.points.push_back(std::move(p));
  }
  root.finish();
}

// The point's own overrides (the GPU as it ran), then the command line's.
std::vector<std::string> with_point_sets(const ValidationPoint& p,
                                         const std::vector<std::string>& overrides) {
  std::vector<std::string> all = p.hw_set;
  all.insert(all.end(), overrides.begin(), overrides.end());
  return all;
}

// The time the source's method would have measured for a kernel of `kernel` time: a loop of
// back-to-back launches adds the launch-to-launch gap to every iteration.
double measured_seconds(const ValidationPoint& p, const HwSpec& hw, Tick kernel) {
  return (kernel + (p.loop_timed ? hw.launch.gap.tick : Tick{0})).seconds();
}

// A power point's prediction: the governor's clock or the kernel's average power (`what` names
// the kernel in the detail).
double governor_prediction(const ValidationPoint& p, const HwSpec& hw, const PowerReport& pr,
                           const std::string& what, std::string& detail) {
  detail = fmt::format("{}, {:.0f} W; {}", pr.clock_text(hw), pr.watts(), what);
  return p.measured.kind == Measured::Kind::kClock ? static_cast<double>(pr.clock.hz) : pr.watts();
}

double gemm_prediction(const ValidationPoint& p, const std::vector<std::string>& overrides,
                       std::string& detail) {
  const HwSpec hw = HwSpec::load(p.hw, with_point_sets(p, overrides));
  GemmTimingOptions o;
  o.l2_dirty = p.l2_flush;
  const GemmTiming t = simulate_gemm(p.gemm, hw, o);
  const double secs = measured_seconds(p, hw, t.time);
  if (p.group == ValidationGroup::kPower) {
    return governor_prediction(
        p, hw, t.power, fmt::format("{:.0f} TFLOP/s, {}", p.gemm.flops() / secs * 1e-12, t.plan.tile.name()),
        detail);
  }
  detail = fmt::format("{} ({})", t.plan.tile.name(), t.bound);
  return p.measured.kind == Measured::Kind::kTime ? secs : p.gemm.flops() / secs;
}

double attention_prediction(const ValidationPoint& p, const std::vector<std::string>& overrides,
                            std::string& detail) {
  const HwSpec hw = HwSpec::load(p.hw, with_point_sets(p, overrides));
  AttentionTimingOptions o;
  o.l2_dirty = p.l2_flush;
  const AttentionTiming t = simulate_attention(p.attention, hw, o);
  if (p.group == ValidationGroup::kPower) return governor_prediction(p, hw, t.power, t.plan.kernel, detail);
  detail = fmt::format("{} ({})", t.plan.kernel, t.bound);
  return measured_seconds(p, hw, t.time);
}

double memory_prediction(const ValidationPoint& p, const std::vector<std::string>& overrides,
                         std::string& detail) {
  const HwSpec hw = HwSpec::load(p.hw, with_point_sets(p, overrides));
  MicroOptions o;
  o.copy = p.pattern == StreamPattern::kCopy;
  o.buffer_bytes = p.bytes;
  o.repeat = 2;  // timed in a loop: the run pays for the dirty lines the previous one left in L2
  o.inflight = {32768, 131072, 524288};  // a tuned streaming kernel: the best of these
  const MicroResult r = run_micro("tma-bandwidth", hw, o);
  double best = 0;
  double inflight = 0;
  for (const MicroRow& row : r.rows) {
    if (row.at("tb_per_s") > best) {
      best = row.at("tb_per_s");
      inflight = row.at("inflight_bytes_per_sm");
    }
  }
  detail =
      fmt::format("TMA stream, {} in flight per SM", to_string(ByteSize{static_cast<uint64_t>(inflight)}));
  const double moved = static_cast<double>(p.bytes) * (o.copy ? 2.0 : 1.0);
  const double secs = measured_seconds(p, hw, seconds_to_tick(moved / (best * 1e12)));
  return p.measured.kind == Measured::Kind::kBandwidth ? moved / secs : secs;
}

// A serving point's output token rate. `cost`: the step-cost model of the points that share one
// (the same scenario, model, GPU and step-shaping keys), built by the first of them.
double serving_prediction(const ValidationPoint& p, const std::vector<std::string>& overrides,
                          std::optional<serving::GpuStepCost>& cost, std::string& detail) {
  const Scenario s = load_scenario(p.scenario, p.model, p.hw, p.sets, with_point_sets(p, overrides));
  if (!cost) cost.emplace(serving::scenario_step_cost(s));
  const serving::ServeRun run = serving::serve_scenario(s, &*cost);
  if (!run.fits) throw InputError(fmt::format("{}: the model does not fit the GPU at tp {}", p.id, s.tp));
  const serving::ServeSummary& m = run.summary;
  detail = fmt::format(
      "{} steps, {:.0f} seqs a step, {} preemptions; TTFT {:.3g} s, TPOT {:.3g} ms", run.result.steps,
      run.result.steps > 0 ? static_cast<double>(run.result.decode_tokens + run.result.verify_passes) /
                                 static_cast<double>(run.result.steps)
                           : 0.0,
      run.result.preemptions, m.ttft_s.mean, m.tpot_s.mean * 1e3);
  return m.output_tokens_per_s;
}

// Points that may share a step-cost model: serving points whose scenario, model, GPU and
// overrides agree on everything but keys no step cost reads (serving::step_cost_free_key).
// Empty for other points.
std::string step_cost_key(const ValidationPoint& p) {
  if (p.group != ValidationGroup::kServing || !p.skip.empty()) return {};
  return serving::step_cost_key(p.scenario, p.model, p.hw, p.hw_set, p.sets);
}

ValidationResult finish_result(const ValidationPoint& p, ValidationResult r) {
  r.ran = true;
  // As a speed, whatever was measured: + is faster than the hardware, for a time as for a rate.
  r.error = p.measured.kind == Measured::Kind::kTime ? p.measured.value / r.predicted - 1.0
                                                     : r.predicted / p.measured.value - 1.0;
  return r;
}

// Runs one point; serving points share `cost` (see step_cost_key).
ValidationResult run_point(const ValidationPoint& p, const std::vector<std::string>& overrides,
                           std::optional<serving::GpuStepCost>& cost) {
  ValidationResult r;
  r.point = &p;
  if (!p.skip.empty()) return r;
  try {
    switch (p.group) {
      case ValidationGroup::kGemm:
        r.predicted = gemm_prediction(p, overrides, r.detail);
        break;
      case ValidationGroup::kPower:
        r.predicted = p.is_attention ? attention_prediction(p, overrides, r.detail)
                                     : gemm_prediction(p, overrides, r.detail);
        break;
      case ValidationGroup::kAttention:
        r.predicted = attention_prediction(p, overrides, r.detail);
        break;
      case ValidationGroup::kMemory:
        r.predicted = memory_prediction(p, overrides, r.detail);
        break;
      case ValidationGroup::kServing:
        r.predicted = serving_prediction(p, overrides, cost, r.detail);
        break;
    }
    return finish_result(p, std::move(r));
  } catch (const std::exception& e) {
    r.failure = e.what();
  }
  return r;
}

}  // namespace

ValidationSet load_validation_set(const std::filesystem::path& dir_or_file) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::is_directory(dir_or_file, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(dir_or_file, ec)) {
      if (e.is_regular_file() && e.path().extension() == ".toml") files.push_back(e.path());
    }
    if (ec)
      throw InputError(fmt::format("{}: cannot list the directory: {}", dir_or_file.string(), ec.message()));
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw InputError(fmt::format("{}: no .toml validation files here", dir_or_file.string()));
  } else if (std::filesystem::is_regular_file(dir_or_file, ec)) {
    files.push_back(dir_or_file);
  } else {
    throw InputError(fmt::format("{}: no such validation file or directory", dir_or_file.string()));
  }
  ValidationSet set;
  HwCache hws;
  std::set<std::string> ids;
  for (const auto& f : files) read_file(f, set, hws, ids);
  return set;
}

std::vector<const ValidationPoint*> select_points(const ValidationSet& set, const ValidationFilter& f) {
  std::vector<const ValidationPoint*> out;
  for (const ValidationPoint& p : set.points) {
    if (f.only && p.group != *f.only) continue;
    if (std::find(f.skip.begin(), f.skip.end(), p.group) != f.skip.end()) continue;
    if (!f.hw.empty() && p.hw != f.hw) continue;
    if (!f.source.empty() && set.sources[p.source].name != f.source) continue;
    if (!f.format.empty() && (p.group != ValidationGroup::kGemm || p.gemm.format.name != f.format)) continue;
    out.push_back(&p);
  }
  return out;
}

ValidationResult run_validation_point(const ValidationPoint& p, const std::vector<std::string>& overrides) {
  std::optional<serving::GpuStepCost> cost;
  return run_point(p, overrides, cost);
}

std::vector<ValidationResult> run_validation(const std::vector<const ValidationPoint*>& points, unsigned jobs,
                                             const std::function<void(const ValidationResult&)>& progress,
                                             const std::vector<std::string>& overrides) {
  // One job per point, but serving points that can share a step-cost model run in one job, in
  // order, the first building the model the others reuse (its cold points are most of a
  // serving point's time). Those jobs go first: they are the long ones.
  std::vector<std::vector<size_t>> work;
  std::map<std::string, size_t> shared;
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string key = step_cost_key(*points[i]);
    if (key.empty()) continue;
    const auto [it, fresh] = shared.emplace(key, work.size());
    if (fresh) work.emplace_back();
    work[it->second].push_back(i);
  }
  for (size_t i = 0; i < points.size(); ++i) {
    if (step_cost_key(*points[i]).empty()) work.push_back({i});
  }
  std::vector<ValidationResult> results(points.size());
  std::mutex lock;
  run_jobs(work.size(), jobs, [&](size_t w) {
    std::optional<serving::GpuStepCost> cost;
    for (const size_t i : work[w]) {
      results[i] = run_point(*points[i], overrides, cost);  // never throws
      if (progress) {
        const std::scoped_lock l(lock);
        progress(results[i]);
      }
    }
  });
  return results;
}

ErrorSummary summarize(const std::string& name, const std::vector<const ValidationResult*>& results) {
  ErrorSummary s;
  s.name = name;
  double abs_sum = 0;
  double sum = 0;
  for (const ValidationResult* r : results) {
    if (!r->ran) continue;
    ++s.points;
    abs_sum += std::abs(r->error);
    sum += r->error;
    if (std::abs(r->error) > s.worst) {
      s.worst = std::abs(r->error);
      s.worst_id = r->point->id;
    }
  }
  if (s.points > 0) {
    s.mape = abs_sum / static_cast<double>(s.points);
    s.bias = sum / static_cast<double>(s.points);
  }
  return s;
}

}  // namespace bwsim
