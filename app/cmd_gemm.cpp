// bwsim gemm: one quantized GEMM on a modelled GPU: the kernel plan, its time, traffic and bound,
// and the numbers it computes with their error. bwsim compare gemm: the same for several formats,
// one table row each.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <iostream>

#include "app/commands.hpp"
#include "app/quant_options.hpp"
#include "app/trace_options.hpp"
#include "isa/calibration.hpp"
#include "isa/tensor_io.hpp"
#include "models/hw_spec.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/strings.hpp"
#include "sim/table.hpp"
#include "sim/units.hpp"
#include "workloads/gemm/functional.hpp"
#include "workloads/gemm/gemm.hpp"

namespace bwsim::app {
namespace {

// ---------------------------------------------------------------------------------------------
// Inputs

// --a / --b: "gen:DIST[:seed=N]" (shape from the GEMM) or a tensor file.
struct OperandSpec {
  std::optional<Distribution> dist;
  uint64_t seed = 0;
  std::optional<LoadedTensor> file;
  std::string text;
};

OperandSpec parse_operand(const std::string& flag, const std::string& text, uint64_t default_seed) {
  OperandSpec s;
  s.text = text;
  if (!text.starts_with("gen:")) {
    s.file = load_tensor(text);
    if (s.file->tensor.shape.size() < 2) {
      throw InputError(fmt::format("{} {}: a GEMM operand needs at least 2 dimensions (got {})", flag, text,
                                   s.file->tensor.shape_text()));
    }
    return s;
  }
  const std::string_view rest = std::string_view(text).substr(4);
  const size_t colon = rest.find(':');
  const std::string_view dist = rest.substr(0, colon);
  s.dist = parse_distribution(dist);
  if (!s.dist) {
    throw InputError(
        fmt::format("{} {}: unknown distribution '{}' (normal, student-t, outliers)", flag, text, dist));
  }
  s.seed = default_seed;
  if (colon != std::string_view::npos) {
    const std::string_view opt = rest.substr(colon + 1);
    if (!opt.starts_with("seed="))
      throw InputError(fmt::format("{} {}: expected gen:DIST[:seed=N]", flag, text));
    auto [p, ec] = std::from_chars(opt.data() + 5, opt.data() + opt.size(), s.seed);
    if (ec != std::errc{} || p != opt.data() + opt.size())
      throw InputError(fmt::format("{} {}: seed is not a number", flag, text));
  }
  return s;
}

MatrixSource make_source(const OperandSpec& s, int64_t rows, int64_t cols) {
  if (s.file) return MatrixSource::held(s.file->tensor, s.file->source);
  return MatrixSource::generated(*s.dist, rows, cols, s.seed);
}

// One dimension from its flag and/or an operand file; they must agree.
int64_t dimension(const cli::po::variables_map& vm, const char* flag, const OperandSpec& from,
                  const char* flag_of, bool rows) {
  std::optional<int64_t> d;
  if (vm.count(flag) != 0) {
    d = vm[flag].as<int64_t>();
    if (*d <= 0) throw InputError(fmt::format("--{} {}: GEMM dimensions must be positive", flag, *d));
  }
  if (from.file) {
    const Tensor& t = from.file->tensor;
    const int64_t v = rows ? t.rows() : t.cols();
    if (d && *d != v) {
      throw InputError(fmt::format("--{} {} disagrees with --{} {} (shape {}: {} = {})", flag, *d, flag_of,
                                   from.text, t.shape_text(), flag, v));
    }
    d = v;
  }
  if (!d) throw InputError(fmt::format("--{} is required (or give the operand as a file)", flag));
  return *d;
}

// The bit-exact product's rate with the default threads on the 2-core development machine
// (--functional full of 2048^3, 2026-12-06: BF16 690 M multiply-adds/s, NVFP4 1.38 G/s; the
// slower one): the estimate a refusal quotes.
constexpr double kFunctionalMacsPerSecond = 7e8;

std::string duration_text(double seconds) {
  if (seconds < 120) return fmt::format("{:.0f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.0f} min", seconds / 60);
  if (seconds < 172800) return fmt::format("{:.1f} h", seconds / 3600);
  return fmt::format("{:.0f} days", seconds / 86400);
}

// --functional full computes every output exactly: refused before it starts when its estimated
// time is over --max-time, with the estimate and what to do instead.
void check_functional_time(const cli::po::variables_map& vm, const GemmProblem& p) {
  const std::string& text = vm["max-time"].as<std::string>();
  const double limit = parse_flag("--max-time", text, [&] { return parse_duration(text); }).tick.seconds();
  const double macs = static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);
  const double estimate = macs / kFunctionalMacsPerSecond;
  if (estimate > limit) {
    throw InputError(fmt::format(
        "--functional full: {} x {} x {} is {:.3g} multiply-adds, about {} at the ~{:.0f} M/s this "
        "machine class computes them bit-exactly, above --max-time {}; use --functional sample:N (N "
        "random 16x16 output patches, the same numbers where they are), a smaller shape, or a larger "
        "--max-time",
        p.m, p.n, p.k, macs, duration_text(estimate), kFunctionalMacsPerSecond / 1e6, text));
  }
}

struct Setup {
  HwSpec hw;
  GemmProblem problem;
  GemmTimingOptions timing;
  FunctionalSpec functional;
  QuantOptions quant;
  std::optional<GemmOperands> operands;
  std::string clock;
};

Setup setup(const cli::po::variables_map& vm, const GemmFormat& first_format) {
  std::vector<std::string> sets;
  if (vm.count("set") != 0) sets = vm["set"].as<std::vector<std::string>>();
  Setup s{HwSpec::load(vm["hw"].as<std::string>(), sets), {}, {}, {}, {}, {}, {}};
  const uint64_t seed = vm["seed"].as<uint64_t>();
  const OperandSpec a = parse_operand("--a", vm["a"].as<std::string>(), seed);
  const OperandSpec b = parse_operand("--b", vm["b"].as<std::string>(), seed + 1);
  s.problem.m = dimension(vm, "m", a, "a", true);
  s.problem.n = dimension(vm, "n", b, "b", true);
  s.problem.k = dimension(vm, "k", a.file ? a : b, a.file ? "a" : "b", false);
  if (a.file && b.file && a.file->tensor.cols() != b.file->tensor.cols()) {
    throw InputError(fmt::format("--a {} has K = {} but --b {} has K = {} (B is N x K, as a Linear weight)",
                                 a.text, a.file->tensor.cols(), b.text, b.file->tensor.cols()));
  }
  s.problem.format = first_format;
  s.problem.out = parse_gemm_out(vm["out"].as<std::string>());
  const auto& clock = vm["clock"].as<std::string>();
  check_clock_flag(clock);
  s.clock = clock;
  s.timing.clock = clock == "boost" ? ClockMode::kBoost : ClockMode::kGoverned;
  if (vm.count("tile") != 0) s.timing.tile = parse_tile(vm["tile"].as<std::string>());
  if (vm.count("max-memory") != 0) {
    const std::string& text = vm["max-memory"].as<std::string>();
    s.timing.max_memory = parse_flag("--max-memory", text, [&] { return parse_byte_size(text); }).bytes;
    if (s.timing.max_memory == 0)
      throw InputError(fmt::format("--max-memory {}: must be more than 0 B", text));
  }
  s.timing.l2_dirty = l2_flush(vm);
  s.timing.sampling = sampling_flag(vm);
  s.functional = parse_functional(vm["functional"].as<std::string>(), s.problem);
  s.functional.seed = seed;
  if (s.functional.mode == FunctionalSpec::Mode::kFull) check_functional_time(vm, s.problem);
  s.quant = quant_flags(vm);
  if (s.functional.mode != FunctionalSpec::Mode::kOff) {
    s.operands =
        GemmOperands{make_source(a, s.problem.m, s.problem.k), make_source(b, s.problem.n, s.problem.k)};
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Results

struct Outcome {
  GemmTiming timing;
  std::optional<GemmFunctional> functional;
};

Outcome run_one(const Setup& s, const GemmProblem& p) {
  Outcome o{simulate_gemm(p, s.hw, s.timing), std::nullopt};
  if (s.operands)
    o.functional = gemm_functional(o.timing.plan, s.hw.arch, *s.operands, s.functional, s.quant);
  return o;
}

std::string bytes_text(uint64_t b) { return format_si(static_cast<double>(b), "B", 3); }

boost::json::object outcome_json(const Outcome& o, const Setup& s) {
  const GemmTiming& t = o.timing;
  const GemmPlan& pl = t.plan;
  boost::json::object j;
  j["format"] = pl.problem.format.name;
  j["out"] = gemm_out_name(pl.problem.out);
  j["mma_kind"] = mma_kind_name(pl.math.kind);
  j["weight_only"] = pl.math.weight_only;
  j["plan"] = {{"tile", pl.tile.name()},
               {"tile_m", pl.tile.tile_m},
               {"tile_n", pl.tile.tile_n},
               {"k_stage", pl.tile.k_stage},
               {"stages", pl.tile.stages},
               {"split_k", pl.tile.split_k},
               {"cluster_n", pl.tile.cluster_n},
               {"raster", pl.tile.raster},
               {"cta_pair", pl.pair},
               {"swap_ab", pl.tile.swap_ab},
               {"cluster_size", pl.cluster_size},
               {"clusters", pl.clusters},
               {"work_items", pl.work_items},
               {"waves", static_cast<double>(pl.work_items) / pl.clusters},
               {"smem_per_cta", pl.resources.smem_bytes},
               {"tmem_columns", pl.resources.tmem_columns}};
  for (auto& [key, value] : kernel_metrics_json(t)) j[key] = value;  // time, throughput, bytes, util, bound
  j["intensity"] = {{"flop_per_hbm_byte", t.arithmetic_intensity}};
  j["sampling"] = {{"sampled", t.sampling.skipped > 0},
                   {"waves", t.sampling.waves},
                   {"waves_skipped", t.sampling.skipped},
                   {"steady_from_wave", t.sampling.steady_from},
                   {"estimated_error", t.sampling.error}};
  boost::json::array kernels;
  for (const KernelResult& k : t.kernels) {
    kernels.push_back(boost::json::object{{"name", k.name},
                                          {"us", k.duration().seconds() * 1e6},
                                          {"sm_cycles", k.sm_cycles},
                                          {"ctas", k.ctas},
                                          {"events", k.events}});
  }
  j["kernels"] = std::move(kernels);
  boost::json::array cands;
  for (const auto& [name, us] : t.candidates)
    cands.push_back(boost::json::object{{"tile", name}, {"estimate_us", us}});
  j["candidates"] = std::move(cands);
  if (o.functional) {
    const GemmFunctional& f = *o.functional;
    j["functional"] = {{"mode", f.mode},
                       {"patches", f.patches},
                       {"outputs", f.outputs},
                       {"reference", "float64 product of the unquantized inputs"},
                       {"error", metrics_json(f.error)},
                       {"error_fp32", metrics_json(f.error_fp32)},
                       {"a_error", metrics_json(f.a_error)},
                       {"b_error", metrics_json(f.b_error)},
                       {"a_bits_per_element", f.a_bits},
                       {"b_bits_per_element", f.b_bits},
                       {"a_amax", f.a_amax},
                       {"b_amax", f.b_amax},
                       {"alpha", f.alpha},
                       {"d_scale", f.d_scale}};
  } else {
    j["functional"] = nullptr;
  }
  (void)s;
  return j;
}

boost::json::object problem_json(const Setup& s) {
  boost::json::object p{{"m", s.problem.m},
                        {"n", s.problem.n},
                        {"k", s.problem.k},
                        {"out", gemm_out_name(s.problem.out)},
                        {"flops", s.problem.flops()}};
  if (s.operands) p["a"] = s.operands->a.description();
  if (s.operands) p["b"] = s.operands->b.description();
  if (s.operands && s.operands->a_amax) p["a_static_amax"] = *s.operands->a_amax;
  if (s.operands && s.operands->b_amax) p["b_static_amax"] = *s.operands->b_amax;
  return p;
}

std::string sci(double v) { return std::isfinite(v) ? fmt::format("{:.3e}", v) : "inf"; }
std::string db(double v) { return std::isfinite(v) ? fmt::format("{:.2f}", v) : "inf"; }

void print_report(std::ostream& out, const Setup& s, const Outcome& o) {
  const GemmTiming& t = o.timing;
  const GemmPlan& pl = t.plan;
  out << fmt::format("GEMM {} x {} x {}  {} -> {}  on {}\n", s.problem.m, s.problem.n, s.problem.k,
                     pl.problem.format.name, gemm_out_name(pl.problem.out), s.hw.name);
  const double waves = static_cast<double>(pl.work_items) / pl.clusters;
  const auto kv = [&](std::string_view key, const std::string& value) {
    out << fmt::format("  {:<12}{}\n", key, value);
  };
  kv("clock", t.power.clock_text(s.hw));
  if (s.timing.l2_dirty != 0)
    kv("l2 start", fmt::format("{} of dirty lines (--l2-flush)", to_string(ByteSize{s.timing.l2_dirty})));
  kv("instruction", fmt::format("kind::{}{}", mma_kind_name(pl.math.kind),
                                pl.math.weight_only ? " (weights dequantized to BF16 on chip)" : ""));
  kv("plan", fmt::format("{}{}; {} clusters of {} CTA{}, {} work items = {:.2f} waves", pl.tile.name(),
                         pl.pair ? " (CTA pairs)" : "", pl.clusters, pl.cluster_size,
                         pl.cluster_size > 1 ? "s" : "", pl.work_items, waves));
  kv("time", fmt::format("{:.2f} us  ({:.0f} SM cycles){}", t.time.seconds() * 1e6, t.sm_cycles,
                         t.kernels.size() > 1 ? fmt::format(" in {} kernels", t.kernels.size()) : ""));
  if (t.sampling.skipped > 0) kv("sampled", gemm_sampling_text(t.sampling));
  kv("throughput",
     fmt::format("{:.1f} TFLOP/s = {:.1f}% of the kind::{} dense peak ({:.0f} TFLOP/s at this clock)",
                 t.tflops, t.pct_of_peak, mma_kind_name(pl.math.kind), t.peak_tflops));
  kv("bound", fmt::format("{} ({})", t.bound, t.bound_detail));
  kv("HBM", fmt::format("read {}, write {}", bytes_text(t.hbm_read), bytes_text(t.hbm_write)));
  kv("L2", fmt::format("read {}, write {}, hit rate {:.1f}%", bytes_text(t.l2_read), bytes_text(t.l2_write),
                       100 * t.l2_hit_rate()));
  kv("SMEM", fmt::format("{} (TMA fills + operand reads)", bytes_text(t.smem)));
  kv("intensity", fmt::format("{:.1f} FLOP per HBM byte", t.arithmetic_intensity));
  kv("energy", energy_text(t.power, t.flops));
  if (!t.candidates.empty()) {
    std::string c;
    for (const auto& [name, us] : t.candidates)
      c += fmt::format("{}{} {:.1f} us", c.empty() ? "" : "; ", name, us);
    kv("candidates", c);
  }
  if (!o.functional) {
    out << "\nfunctional: off\n";
    return;
  }
  const GemmFunctional& fn = *o.functional;
  out << fmt::format(
      "\nfunctional ({}: {} outputs in {} patches; reference: float64 product of the inputs)\n", fn.mode,
      fn.outputs, fn.patches);
  TextTable e({"", "bits/elem", "rel. Frobenius", "max abs", "SQNR dB", "cosine"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight});
  const auto row = [&](std::string name, std::string bits, const ErrorMetrics& m) {
    e.add_row({std::move(name), std::move(bits), sci(m.rel_frobenius), fmt::format("{:.4g}", m.max_abs),
               db(m.sqnr_db), fmt::format("{:.6f}", m.cosine)});
  };
  row(fmt::format("D ({})", gemm_out_name(pl.problem.out)), std::to_string(gemm_out_bits(pl.problem.out)),
      fn.error);
  row("D before output rounding (fp32)", "32", fn.error_fp32);
  row(fmt::format("A ({})", scheme_name(pl.user_problem().format.a)), fmt::format("{:.4g}", fn.a_bits),
      fn.a_error);
  row(fmt::format("B ({})", scheme_name(pl.user_problem().format.b)), fmt::format("{:.4g}", fn.b_bits),
      fn.b_error);
  out << e.render();
}

void write_d(const std::string& path, const Setup& s, const GemmFunctional& f) {
  const std::vector<int64_t> shape{s.problem.m, s.problem.n};
  write_file_atomic(path, npy_bytes("<f4", shape, f.d.data(), f.d.size() * 4), "--d");
}

// ---------------------------------------------------------------------------------------------
// Commands

int run_gemm(const cli::po::variables_map& vm) {
  const ProgressBar bar(vm);
  const GemmFormat format = parse_gemm_format(vm["format"].as<std::string>());
  Setup s = setup(vm, format);
  const std::optional<TraceRequest> trace = trace_request(vm, s.hw.sm.count);
  if (trace) s.timing.trace = &trace->options;
  if (vm.count("d") != 0 && s.functional.mode != FunctionalSpec::Mode::kFull)
    throw InputError("--d writes the whole output: it needs --functional full");
  check_gemm(s.problem, s.hw, s.timing);  // bad shapes and formats fail here, before any work
  // Static scales (bwsim calibrate --out, or a checkpoint's input_scale / weight_scale_2).
  for (const auto& [flag, is_b] : {std::pair{"scales-a", false}, std::pair{"scales-b", true}}) {
    if (vm.count(flag) == 0) continue;
    if (!s.operands)
      throw InputError(fmt::format("--{} applies to the numbers: it needs --functional", flag));
    const Scheme scheme = is_b ? format.b : format.a;
    const StaticScale sc = read_static_scale(vm[flag].as<std::string>(), scheme, fmt::format("--{}", flag));
    (is_b ? s.operands->b_amax : s.operands->a_amax) = sc.amax;
  }
  const Outcome o = run_one(s, s.problem);
  print_report(cli::text_out(vm), s, o);
  if (vm.count("d") != 0) {
    write_d(vm["d"].as<std::string>(), s, *o.functional);
    cli::text_out(vm) << fmt::format("\nwrote D ({} x {} float32) to {}\n", s.problem.m, s.problem.n,
                                     vm["d"].as<std::string>());
  }
  if (trace) {
    TraceDoc td;
    o.timing.trace->emit(td, Tick{0}, "kernels", trace->options.max_events);
    add_power_tracks(td, *o.timing.trace, o.timing.power, s.hw.power.idle);
    td.metadata("problem", json_quote(fmt::format("GEMM {} x {} x {} {} -> {}, plan {}", s.problem.m,
                                                  s.problem.n, s.problem.k, format.name,
                                                  gemm_out_name(s.problem.out), o.timing.plan.tile.name())));
    write_trace(*trace, td, "gemm", s.hw.name, cli::text_out(vm));
  }
  boost::json::object doc{
      {"command", "gemm"}, {"hw", s.hw.name}, {"clock", s.clock}, {"problem", problem_json(s)}};
  if (s.timing.l2_dirty != 0) doc["l2_flush_bytes"] = s.timing.l2_dirty;
  doc["result"] = outcome_json(o, s);
  cli::write_json_option(vm, doc);
  return 0;
}

std::string default_formats(Arch arch) {
  return arch == Arch::kSm90 ? "bf16,fp8_e4m3,fp8_block,w8a16,w4a16" : "bf16,fp8_e4m3,mxfp8,mxfp4,nvfp4";
}

int run_compare(const cli::po::variables_map& vm) {
  const ProgressBar bar(vm);
  if (vm.count("what") == 0 || vm["what"].as<std::string>() != "gemm") {
    throw InputError(
        fmt::format("bwsim compare {}: only 'gemm' can be compared so far (bwsim compare gemm ...)",
                    vm.count("what") != 0 ? vm["what"].as<std::string>() : ""));
  }
  Setup s = setup(vm, parse_gemm_format("bf16"));
  const std::string list =
      vm.count("formats") != 0 ? vm["formats"].as<std::string>() : default_formats(s.hw.arch);
  std::vector<GemmFormat> formats;
  for (const std::string_view name : split(list, ','))
    formats.push_back(parse_gemm_format(name, "--formats"));
  // Every format must work on this GPU and shape before any runs.
  std::vector<GemmProblem> problems;
  for (const GemmFormat& f : formats) {
    GemmProblem p = s.problem;
    p.format = f;
    check_gemm(p, s.hw, s.timing);
    problems.push_back(p);
  }
  std::ostream& out = cli::text_out(vm);
  out << fmt::format("GEMM {} x {} x {} -> {} on {} ({} SM clock); functional: {}\n\n", s.problem.m,
                     s.problem.n, s.problem.k, gemm_out_name(s.problem.out), s.hw.name,
                     s.clock == "boost" ? "boost" : "power-governed", s.functional.name());
  TextTable t(
      {"format", "kind", "plan", "time us", "TFLOP/s", "% peak", "speedup", "bound", "HBM bytes", "L2 hit",
       "clock GHz", "energy uJ", "W", "pJ/FLOP", "rel. error", "SQNR dB"},
      {TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight,
       TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
       TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kLeft,
       TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
       TextTable::Align::kRight});
  boost::json::array results;
  double first = 0;
  for (const GemmProblem& p : problems) {
    const Outcome o = run_one(s, p);
    const GemmTiming& g = o.timing;
    const double us = g.time.seconds() * 1e6;
    if (first == 0) first = us;
    t.add_row({p.format.name, std::string(mma_kind_name(g.plan.math.kind)), g.plan.tile.name(),
               fmt::format("{:.2f}", us), fmt::format("{:.1f}", g.tflops),
               fmt::format("{:.1f}", g.pct_of_peak), fmt::format("{:.2f}x", first / us), g.bound,
               bytes_text(g.hbm_read + g.hbm_write), fmt::format("{:.0f}%", 100 * g.l2_hit_rate()),
               fmt::format("{:.3f}", g.power.clock.ghz()), fmt::format("{:.1f}", g.power.joules() * 1e6),
               fmt::format("{:.0f}", g.power.watts()),
               fmt::format("{:.3f}", g.power.joules() / g.flops * 1e12),
               o.functional ? sci(o.functional->error.rel_frobenius) : "-",
               o.functional ? db(o.functional->error.sqnr_db) : "-"});
    results.push_back(outcome_json(o, s));
  }
  out << t.render();
  out << fmt::format(
      "\nspeedup: against {}; rel. error: ||D - D_ref||_F / ||D_ref||_F against the float64 product "
      "of the unquantized inputs; clock: what the power governor chose (power.limit {}); energy: the "
      "whole GEMM, static power included\n",
      formats.front().name, to_string(s.hw.power.limit));
  boost::json::object doc{
      {"command", "compare gemm"}, {"hw", s.hw.name}, {"clock", s.clock}, {"problem", problem_json(s)}};
  doc["results"] = std::move(results);
  cli::write_json_option(vm, doc);
  return 0;
}

void add_gemm_options(cli::po::options_description& desc) {
  add_progress_option(desc);
  add_l2_flush_option(desc);
  add_hw_options(desc);
  desc.add_options()("m", cli::po::value<int64_t>(), "rows of A and D (tokens)")(
      "n", cli::po::value<int64_t>(), "rows of B (output features) = columns of D")(
      "k", cli::po::value<int64_t>(), "the reduction dimension (input features)")(
      "out", cli::po::value<std::string>()->default_value("bf16"), "output format: bf16, fp8_e4m3 or nvfp4")(
      "tile", cli::po::value<std::string>(),
      "force a configuration: MxN[xK][:stages=S][:split=S][:cluster=C][:raster=R][:swap][:streamk][:grid=G] "
      "(grid: at most G clusters; default: the planner's pick)")(
      "functional", cli::po::value<std::string>()->default_value("auto"),
      "full, sample:N (N random 16x16 output patches), off, or auto (full when M*N*K <= 2^28)")(
      "a", cli::po::value<std::string>()->default_value("gen:student-t"),
      "A (M x K): gen:normal|student-t|outliers[:seed=N], FILE.npy or FILE.safetensors[:TENSOR]")(
      "b", cli::po::value<std::string>()->default_value("gen:normal"),
      "B (N x K, a Linear weight's layout): as --a")("seed", cli::po::value<uint64_t>()->default_value(1),
                                                     "seed of generated A (B: seed + 1) and of the sampling")(
      "max-time", cli::po::value<std::string>()->default_value("600 s"),
      "--functional full is refused when its estimated time is above this")(
      "max-memory", cli::po::value<std::string>(),
      "simulator memory a GEMM's timing may take, e.g. \"8 GiB\" (default: half of this machine's memory); "
      "a larger one is refused before it runs")(
      "clock", cli::po::value<std::string>()->default_value("governed"),
      "SM clock: governed (the highest within power.limit, per kernel) or boost (power limit not applied)");
  add_sampling_options(desc,
                       "auto (a GEMM of many waves: simulated until its waves repeat, the rest "
                       "extrapolated; the report says so) or off (every wave simulated)");
  add_quant_options(desc, "NVFP4 weights (B): one scale per 16x16 tile");
  add_json_option(desc);
}

}  // namespace

cli::Command gemm_command() {
  return cli::Command{
      "gemm", "simulate one quantized GEMM: plan, time, traffic, bound, and its numerical error",
      "bwsim gemm --m M --n N --k K [--format nvfp4] [--out bf16] [--hw b200] [--tile T] "
      "[--functional auto|full|sample:N|off] [--a SPEC --b SPEC] [--d FILE.npy] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        desc.add_options()("format", cli::po::value<std::string>()->default_value("nvfp4"),
                           ("A and B: " + gemm_format_names()).c_str())(
            "d", cli::po::value<std::string>(),
            "write the output D (float32 .npy, M x N); needs --functional full")(
            "scales-a", cli::po::value<std::string>(),
            "A's static per-tensor scale, FILE.safetensors[:TENSOR] (bwsim calibrate --out; an activation's "
            "input_scale): NVFP4 or per-tensor FP8 A")(
            "scales-b", cli::po::value<std::string>(),
            "B's static per-tensor scale, FILE.safetensors[:TENSOR] (a weight's weight_scale_2 / "
            "weight_scale)");
        add_gemm_options(desc);
        add_trace_options(desc);
      },
      run_gemm};
}

cli::Command compare_command() {
  return cli::Command{
      "compare", "compare formats on one GEMM: time, throughput, bytes and error in one table",
      "bwsim compare gemm --m M --n N --k K [--formats bf16,fp8_e4m3,mxfp8,mxfp4,nvfp4] [gemm options]",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        desc.add_options()("what", cli::po::value<std::string>(), "what to compare: gemm")(
            "formats", cli::po::value<std::string>(),
            "comma-separated GEMM formats (default: bf16,fp8_e4m3,mxfp8,mxfp4,nvfp4 on Blackwell; "
            "bf16,fp8_e4m3,fp8_block,w8a16,w4a16 on Hopper)");
        add_gemm_options(desc);
        pos.add("what", 1);
      },
      run_compare};
}

}  // namespace bwsim::app
