// bwsim calibrate: fix a tensor's per-tensor scale (NVFP4's global scale, FP8's scale) from a
// calibration set, as deployment toolchains do, and show what that static scale does to the
// tensors it meets in deployment: saturation, flushed values, NVFP4 block-scale regimes, SQNR
// against the dynamic scale. Writes the scale as the toolchains name it.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "app/commands.hpp"
#include "app/quant_options.hpp"
#include "isa/calibration.hpp"
#include "isa/tensor_gen.hpp"
#include "isa/tensor_io.hpp"
#include "sim/json_out.hpp"
#include "sim/table.hpp"

namespace bwsim::app {
namespace {

struct Sample {
  Tensor tensor;
  std::string source;
};

Sample load_sample(const std::string& spec, const char* flag) {
  LoadedTensor l = load_or_generate(spec, flag);
  return {std::move(l.tensor), std::move(l.source)};
}

std::string pct(uint64_t n, uint64_t of) {
  if (of == 0) return "-";
  const double f = 100.0 * static_cast<double>(n) / static_cast<double>(of);
  return n == 0 ? "0" : fmt::format("{:.3g}%", f);
}

boost::json::object report_json(const StaticReport& r, const ErrorMetrics& dynamic) {
  boost::json::object o{{"amax", r.amax},
                        {"elements", r.elements},
                        {"saturated", r.saturated},
                        {"saturated_fraction", r.saturated_fraction()},
                        {"flushed", r.flushed},
                        {"flushed_fraction", r.flushed_fraction()},
                        {"error", metrics_json(r.error)},
                        {"dynamic_error", metrics_json(dynamic)}};
  if (r.blocks > 0) {
    o["blocks"] = {
        {"total", r.blocks},
        {"saturating", r.blocks_saturating},
        {"saturating_fraction", static_cast<double>(r.blocks_saturating) / static_cast<double>(r.blocks)},
        {"normal", r.blocks_normal},
        {"subnormal", r.blocks_subnormal},
        {"zeroed", r.blocks_zeroed},
        {"empty", r.blocks_empty}};
  }
  return o;
}

int run_calibrate(const cli::po::variables_map& vm) {
  if (vm.count("scheme") == 0) throw InputError("--scheme S is required (nvfp4, fp8_e4m3 or fp8_e5m2)");
  const std::string scheme_text = vm["scheme"].as<std::string>();
  const std::optional<Scheme> scheme = parse_scheme(scheme_text);
  if (!scheme)
    throw InputError(
        fmt::format("--scheme {}: unknown scheme (one of: {})", scheme_text, scheme_names_text()));
  if (!static_scale_applies(*scheme)) {
    throw InputError(
        fmt::format("--scheme {}: no per-tensor scale to calibrate (nvfp4, fp8_e4m3 or fp8_e5m2; MX "
                    "block scales are computed per block at run time)",
                    scheme_text));
  }
  const CalibMethodSpec method = parse_calib_method(vm["method"].as<std::string>(), "--method");
  const ScaleRole role = parse_scale_role(vm["role"].as<std::string>(), "--role");
  QuantOptions o = quant_flags(vm);
  if (*scheme != Scheme::kNvfp4 && nvfp4_only_flags(vm))
    throw InputError(fmt::format("--2d, --four-over-six and --recipe apply to nvfp4, not {}", scheme_text));
  if (o.rht || o.four_over_six)
    throw InputError("--rht and --four-over-six: not modelled with a static scale");
  if (vm.count("calib") == 0)
    throw InputError("--calib SPEC is required (one or more: FILE.npy, FILE.safetensors[:T], gen:...)");
  // Several names: one global scale shared by a fused GEMM's projections (q/k/v, gate/up), which
  // read one activation and hold one weight_scale_2 in vLLM's and TensorRT-LLM's fused kernels;
  // calibrated over every --calib sample, so the largest amax of the group sets it.
  std::vector<std::string> names =
      vm.count("name") != 0 ? vm["name"].as<std::vector<std::string>>() : std::vector<std::string>{""};
  for (size_t i = 0; i < names.size(); ++i) {
    if (names.size() > 1 && names[i].empty()) throw InputError("--name: an empty name among several");
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) !=
        names.begin() + static_cast<std::ptrdiff_t>(i))
      throw InputError(fmt::format("--name {}: given twice", names[i]));
  }
  const auto scale_name = [&](const std::string& n, std::string_view key) {
    return n.empty() ? std::string(key) : fmt::format("{}.{}", n, key);
  };
  const std::string& name = names.front();
  const std::string tensor = scale_name(name, scale_key(role, *scheme));
  if (vm.count("out") != 0) {
    const std::string file = vm["out"].as<std::string>();
    if (!file.ends_with(".safetensors"))
      throw InputError(fmt::format("--out {}: a scales file is a .safetensors file", file));
    cli::check_output_path(file, "--out");
  }

  // Smoothing (--weight and --smooth): the activations' scales are calibrated on X / s.
  if ((vm.count("weight") != 0) != (vm.count("smooth") != 0))
    throw InputError("--weight W and --smooth smoothquant[:ALPHA]|awq go together");
  std::optional<Sample> weight;
  std::string smooth_method;
  double alpha = 0.5;
  if (vm.count("smooth") != 0) {
    const std::string text = vm["smooth"].as<std::string>();
    if (text == "awq") {
      smooth_method = "awq";
    } else if (text == "smoothquant" || text.starts_with("smoothquant:")) {
      smooth_method = "smoothquant";
      if (text.size() > 12) {
        char* end = nullptr;
        alpha = std::strtod(text.c_str() + 12, &end);
        if (end != text.c_str() + text.size() || !(alpha >= 0 && alpha <= 1))
          throw InputError(fmt::format("--smooth {}: alpha must be a number in [0, 1]", text));
      }
    } else {
      throw InputError(fmt::format("--smooth {}: expected smoothquant[:ALPHA] or awq", text));
    }
    weight = load_sample(vm["weight"].as<std::string>(), "--weight");
  }
  CalibrationSet set;
  std::vector<Sample> calib;
  for (const std::string& spec : vm["calib"].as<std::vector<std::string>>())
    calib.push_back(load_sample(spec, "--calib"));
  std::vector<Sample> evals;
  if (vm.count("eval") != 0) {
    for (const std::string& spec : vm["eval"].as<std::vector<std::string>>())
      evals.push_back(load_sample(spec, "--eval"));
  }
  std::vector<float> smooth;  // s per input channel (empty: none)
  std::string smooth_text;
  if (weight) {
    for (const Sample& c : calib) {
      if (c.tensor.cols() != weight->tensor.cols())
        throw InputError(fmt::format("--weight {}: K = {}, but {} has {} channels", weight->source,
                                     weight->tensor.cols(), c.source, c.tensor.cols()));
    }
    if (smooth_method == "smoothquant") {
      CalibrationSet raw;
      for (const Sample& c : calib) raw.add(c.tensor, c.source);
      smooth = smoothquant_scales(raw.channel_amax(), weight->tensor, alpha);
      smooth_text = fmt::format("SmoothQuant, alpha {:g}", alpha);
    } else {
      Tensor x = calib.front().tensor;
      for (size_t i = 1; i < calib.size(); ++i)
        x.data.insert(x.data.end(), calib[i].tensor.data.begin(), calib[i].tensor.data.end());
      x.shape = {static_cast<int64_t>(x.data.size()) / weight->tensor.cols(), weight->tensor.cols()};
      const AwqSearch a = awq_search(x, weight->tensor, *scheme);
      smooth = a.scales;
      smooth_text = fmt::format("AWQ, ratio {:g} of the grid 0..0.95", a.ratio);
    }
  }
  // The tensors as quantized: X / s where smoothing.
  const auto smoothed = [&](const Tensor& t) {
    if (smooth.empty()) return t;
    Tensor r = t;
    for (size_t i = 0; i < r.data.size(); ++i) r.data[i] /= smooth[i % smooth.size()];
    return r;
  };
  for (const Sample& c : calib) set.add(smoothed(c.tensor), c.source);
  const bool on_itself = evals.empty();
  const std::vector<Sample>& targets = on_itself ? calib : evals;
  for (const Sample& t : targets) {
    if (t.tensor.cols() % 16 != 0 && *scheme == Scheme::kNvfp4)
      throw InputError(fmt::format("{}: last dimension {} is not a multiple of NVFP4's 16-element block",
                                   t.source, t.tensor.cols()));
  }
  const float amax = set.calibrate(method, *scheme, o);
  std::vector<StaticScale> scales;
  scales.reserve(names.size());
  for (const std::string& n : names)
    scales.push_back(StaticScale{scale_name(n, scale_key(role, *scheme)), *scheme, amax});
  const StaticScale& sc = scales.front();

  std::ostream& out = cli::text_out(vm);
  std::string tensors_text = tensor;
  for (size_t i = 1; i < scales.size(); ++i) tensors_text += ", " + scales[i].tensor;
  out << fmt::format("calibrate  {} ({}{}), method {}, {} sample(s), {} values\n", scheme_text, tensors_text,
                     scales.size() > 1 ? ": one scale, shared" : "", calib_method_text(method), calib.size(),
                     set.count());
  const std::vector<float>& ch = set.channel_amax();
  std::vector<float> sorted = ch;
  std::sort(sorted.begin(), sorted.end());
  const float median = sorted[sorted.size() / 2];
  const auto top = static_cast<size_t>(std::max_element(ch.begin(), ch.end()) - ch.begin());
  out << fmt::format(
      "  calibration set  amax {:.6g}; |x| percentiles 99% {:.4g}, 99.9% {:.4g}, 99.99% {:.4g}\n", set.amax(),
      set.percentile(99), set.percentile(99.9), set.percentile(99.99));
  out << fmt::format(
      "  channels         {} (last dimension); largest amax {:.4g} (channel {}), median {:.4g}\n", ch.size(),
      ch[top], top, median);
  out << fmt::format("  calibrated       amax {:.6g} -> {} = {:.6g} (amax / {:g})\n", amax,
                     scale_key(role, *scheme), sc.scale(), static_scale_range(*scheme));
  const auto hist = set.block_amax_histogram();
  std::string h;
  for (int i = 0; i < 8; ++i) {
    if (hist[static_cast<size_t>(i)] > 0)
      h += fmt::format("{}(2^-{}, 2^-{}] {}", h.empty() ? "" : ", ", i + 1, i, hist[static_cast<size_t>(i)]);
  }
  uint64_t below = 0;
  for (int i = 8; i < kBlockAmaxBuckets; ++i) below += hist[static_cast<size_t>(i)];
  out << fmt::format(
      "  block amax / amax (16-element blocks)  {}{}{}\n\n", h,
      below > 0 ? fmt::format(", <= 2^-8 {}", below) : "",
      hist[kBlockAmaxBuckets] > 0 ? fmt::format(", all-zero {}", hist[kBlockAmaxBuckets]) : "");

  const bool nv = *scheme == Scheme::kNvfp4;
  std::vector<std::string> cols{"evaluated on", "amax", "saturated", "flushed"};
  if (nv) cols.insert(cols.end(), {"blocks sat.", "normal", "subnormal", "zeroed"});
  cols.insert(cols.end(), {"SQNR dB", "dynamic SQNR dB"});
  std::vector<TextTable::Align> align(cols.size(), TextTable::Align::kRight);
  align[0] = TextTable::Align::kLeft;
  TextTable table(cols, align);
  boost::json::array evaluated;
  for (const Sample& target : targets) {
    const Sample t{smoothed(target.tensor), target.source};
    const StaticReport r = evaluate_static(t.tensor, *scheme, amax, o);
    QuantOptions dyn = o;
    dyn.tensor_amax.reset();
    const ErrorMetrics dynamic =
        compare(quantize(t.tensor, *scheme, dyn).dequantize_original_domain(), t.tensor.data);
    std::vector<std::string> row{t.source, fmt::format("{:.4g}", r.amax), pct(r.saturated, r.elements),
                                 pct(r.flushed, r.elements)};
    if (nv) {
      for (uint64_t n : {r.blocks_saturating, r.blocks_normal, r.blocks_subnormal, r.blocks_zeroed})
        row.push_back(pct(n, r.blocks));
    }
    row.push_back(fmt::format("{:.2f}", r.error.sqnr_db));
    row.push_back(fmt::format("{:.2f}", dynamic.sqnr_db));
    table.add_row(std::move(row));
    boost::json::object j = report_json(r, dynamic);
    j["source"] = t.source;
    evaluated.push_back(std::move(j));
  }
  out << table.render();
  out << fmt::format(
      "\nsaturated: |x| beyond the calibrated amax (clipped); flushed: non-zero values that "
      "dequantize to 0;{} dynamic: the tensor's own amax\n",
      nv ? " blocks: of 16-element blocks, by E4M3 block scale (sat.: pinned at 448, the block's "
           "amax beyond the range; zeroed: rounded to 0);"
         : "");

  // Smoothing: the GEMM's output error with and without it (dynamic scales, so the smoothing alone
  // is compared), and the per-channel scale Model Optimizer exports.
  boost::json::object smoothing;
  std::vector<NamedF32> extra;
  if (weight) {
    const bool wo = smooth_method == "awq";
    TextTable gt({"X", "GEMM SQNR dB (plain)", "GEMM SQNR dB (smoothed)"},
                 {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight});
    boost::json::array rows;
    for (const Sample& t : targets) {
      if (t.tensor.cols() != weight->tensor.cols())
        throw InputError(
            fmt::format("{}: K = {}, the weight's is {}", t.source, t.tensor.cols(), weight->tensor.cols()));
      const ErrorMetrics plain = smoothed_gemm_error(t.tensor, weight->tensor, *scheme, {}, wo);
      const ErrorMetrics sm = smoothed_gemm_error(t.tensor, weight->tensor, *scheme, smooth, wo);
      gt.add_row({t.source, fmt::format("{:.2f}", plain.sqnr_db), fmt::format("{:.2f}", sm.sqnr_db)});
      rows.push_back({{"source", t.source}, {"plain", metrics_json(plain)}, {"smoothed", metrics_json(sm)}});
    }
    out << fmt::format("\nsmoothing  {} against {} ({}): Y = X W^T, {} in {}, dynamic scales\n", smooth_text,
                       weight->source, weight->tensor.shape_text(), wo ? "W only" : "X and W", scheme_text);
    out << gt.render();
    std::vector<float> pre(smooth.size());
    for (size_t j = 0; j < pre.size(); ++j) pre[j] = 1.0f / smooth[j];
    const std::string pre_name = scale_name(name, "pre_quant_scale");
    for (const std::string& n : names)
      extra.push_back(NamedF32{scale_name(n, "pre_quant_scale"), {static_cast<int64_t>(pre.size())}, pre});
    smoothing = {{"method", smooth_method},
                 {"text", smooth_text},
                 {"weight", weight->source},
                 {"pre_quant_scale", pre_name},
                 {"gemm", std::move(rows)}};
  }
  if (vm.count("out") != 0) {
    const std::string file = vm["out"].as<std::string>();
    write_file_atomic(file, scales_file_bytes(scales, calib_method_text(method), extra), "--out");
    std::string written = tensors_text;
    for (const NamedF32& e : extra) written += ", " + e.name;
    out << fmt::format("wrote {} ({})\n", file, written);
  }
  boost::json::object doc{{"command", "calibrate"},
                          {"scheme", scheme_text},
                          {"method", calib_method_text(method)},
                          {"tensor", tensor},
                          {"tensors",
                           [&] {
                             boost::json::array a;
                             for (const StaticScale& x : scales) a.emplace_back(x.tensor);
                             return a;
                           }()},
                          {"calibrated_amax", amax},
                          {"scale", sc.scale()},
                          {"calibration",
                           {{"samples", calib.size()},
                            {"values", set.count()},
                            {"amax", set.amax()},
                            {"p99", set.percentile(99)},
                            {"p99_9", set.percentile(99.9)},
                            {"p99_99", set.percentile(99.99)},
                            {"amax_history", boost::json::value_from(set.amax_history())},
                            {"channel_amax", boost::json::value_from(ch)},
                            {"block_amax_histogram", boost::json::value_from(hist)}}},
                          {"evaluated", std::move(evaluated)},
                          {"smoothing", std::move(smoothing)}};
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command calibrate_command() {
  return cli::Command{
      "calibrate",
      "fix a static per-tensor scale from a calibration set and show what it does to deployment tensors",
      "bwsim calibrate --scheme nvfp4|fp8_e4m3|fp8_e5m2 --calib SPEC [--calib SPEC ...] [--eval SPEC ...] "
      "[--method M] [--out SCALES.safetensors]\n"
      "  SPEC: FILE.npy, FILE.safetensors[:TENSOR] or gen:DIST:RxC[:seed=N][:k=..|:nu=..|:rate=..:mag=..|"
      ":channels=..:mag=..]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        desc.add_options()("scheme", cli::po::value<std::string>(), "nvfp4, fp8_e4m3 or fp8_e5m2")(
            "calib", cli::po::value<std::vector<std::string>>()->multitoken(),
            "calibration samples, in order (the amax history's order): files or seeded generators")(
            "eval", cli::po::value<std::vector<std::string>>()->multitoken(),
            "tensors to quantize with the calibrated scale (default: the calibration samples)")(
            "method", cli::po::value<std::string>()->default_value("max"),
            "max, percentile[:P] (99.99), mse, most_recent or history[:N] (1024)")(
            "role", cli::po::value<std::string>()->default_value("input"),
            "what the tensor is, for the scale's name: input (input_scale), weight (weight_scale_2 / "
            "weight_scale), k (k_scale) or v (v_scale)")(
            "name", cli::po::value<std::vector<std::string>>()->multitoken(),
            "the tensor's name, prefixed to the scale's (e.g. "
            "model.layers.0.mlp.down_proj); several names "
            "share one scale, as a fused GEMM's q/k/v or "
            "gate/up projections do")("out", cli::po::value<std::string>(),
                                      "write the scale to this .safetensors file")(
            "weight", cli::po::value<std::string>(),
            "with --smooth: the GEMM's weight W (N x K; the activations are X, tokens x K)")(
            "smooth", cli::po::value<std::string>(),
            "smooth X's channels into W before quantizing: smoothquant[:ALPHA] (0.5) or awq (weight-only "
            "scale search); writes pre_quant_scale = 1/s");
        add_quant_options(desc, "NVFP4: one scale per 16x16 tile (weights)");
        add_json_option(desc);
      },
      run_calibrate};
}

}  // namespace bwsim::app
