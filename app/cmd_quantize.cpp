// bwsim quantize: quantize a tensor (from .npy, .safetensors or a seeded generator) with one
// scheme and write its codes, scales and dequantized values; or compare several schemes.
#include <fmt/format.h>

#include <filesystem>

#include <boost/json.hpp>

#include <iostream>

#include "app/commands.hpp"
#include "app/quant_options.hpp"
#include "isa/calibration.hpp"
#include "isa/error_metrics.hpp"
#include "isa/packing.hpp"
#include "isa/quantize.hpp"
#include "isa/tensor_gen.hpp"
#include "isa/tensor_io.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/strings.hpp"
#include "sim/table.hpp"

namespace bwsim::app {
namespace {

struct Input {
  Tensor tensor;
  std::string source;
  std::string dtype;
};

Input load_input(const cli::po::variables_map& vm) {
  if (vm.count("in") == 0) throw InputError("--in FILE is required (.npy, .safetensors[:TENSOR] or gen:...)");
  const auto& spec = vm["in"].as<std::string>();
  LoadedTensor l = load_or_generate(spec, "--in");
  return {std::move(l.tensor), l.source, std::string(stored_dtype_name(l.dtype))};
}

Scheme scheme_from(std::string_view name, const char* flag) {
  if (auto s = parse_scheme(name)) return *s;
  throw InputError(fmt::format("{} {}: unknown scheme (one of: {})", flag, name, scheme_names_text()));
}

// Options from the flags; those that do not apply to `s` are dropped in --compare mode and
// refused in single-scheme mode.
QuantOptions options_for(const cli::po::variables_map& vm, Scheme s, bool comparing) {
  const QuantOptions flags = quant_flags(vm);
  QuantOptions o;
  o.mx_scale = flags.mx_scale;
  o.rht = flags.rht;
  o.rht_seed = flags.rht_seed;
  const auto& block = vm["fp8-block"].as<std::string>();
  if (block != "1x128" && block != "128x128")
    throw InputError(fmt::format("--fp8-block {}: expected 1x128 or 128x128", block));
  o.fp8_block = block == "128x128" ? Fp8BlockShape::k128x128 : Fp8BlockShape::k1x128;
  const bool nvfp4 = s == Scheme::kNvfp4;
  if (nvfp4_only_flags(vm) && !nvfp4 && !comparing) {
    throw InputError(
        fmt::format("--2d, --four-over-six and --recipe apply to nvfp4, not {}", scheme_name(s)));
  }
  if (nvfp4) {
    o.nvfp4_2d = flags.nvfp4_2d;
    o.four_over_six = flags.four_over_six;
    o.nvfp4_recipe = flags.nvfp4_recipe;
  }
  return o;
}

struct Result {
  QuantizedTensor q;
  std::vector<float> dequant;
  ErrorMetrics error;
};

Result run_one(const Input& in, Scheme s, const QuantOptions& o) {
  Result r{quantize(in.tensor, s, o), {}, {}};
  r.dequant = r.q.dequantize_original_domain();
  r.error = compare(r.dequant, in.tensor.data);
  return r;
}

std::vector<std::string> metric_cells(const Result& r) {
  return {fmt::format("{:.4g}", r.q.bits_per_element()), fmt::format("{:.4e}", r.error.rel_frobenius),
          fmt::format("{:.4g}", r.error.max_abs), fmt::format("{:.2f}", r.error.sqnr_db),
          fmt::format("{:.6f}", r.error.cosine)};
}

boost::json::object result_json(const Result& r) {
  boost::json::object o;
  o["scheme"] = scheme_name(r.q.scheme);
  o["bits_per_element"] = r.q.bits_per_element();
  o["amax"] = r.q.amax;
  if (r.q.info().tensor_scale) o["tensor_scale"] = r.q.tensor_scale;
  o["block"] = boost::json::array{r.q.block_rows, r.q.block_cols};
  o["error"] = metrics_json(r.error);
  return o;
}

void write_outputs(const std::string& prefix, const Input& in, const Result& r, boost::json::object meta) {
  const QuantizedTensor& q = r.q;
  StagedFiles files("--out");
  const std::vector<int64_t> mat{q.rows, q.cols};
  const size_t n = q.size();
  if (q.scheme == Scheme::kBf16) {
    std::vector<uint16_t> c(n);
    for (size_t i = 0; i < n; ++i) c[i] = static_cast<uint16_t>(q.code(i));
    files.add(prefix + ".codes.npy", npy_bytes("<u2", mat, c.data(), c.size() * 2));
  } else {
    std::vector<uint8_t> c(n);
    for (size_t i = 0; i < n; ++i) c[i] = static_cast<uint8_t>(q.code(i));
    files.add(prefix + ".codes.npy", npy_bytes("|u1", mat, c.data(), c.size()));
  }
  const std::vector<uint8_t> packed = q.packed_codes();
  const std::vector<int64_t> packed_shape{static_cast<int64_t>(packed.size())};
  files.add(prefix + ".packed.npy", npy_bytes("|u1", packed_shape, packed.data(), packed.size()));
  if (!q.scales.empty()) {
    const std::vector<int64_t> sshape{q.rows, q.scale_cols()};
    files.add(prefix + ".scales.npy", npy_bytes("|u1", sshape, q.scales.data(), q.scales.size()));
    const auto sw =
        swizzle_scales(q.scales, static_cast<size_t>(q.rows), static_cast<size_t>(q.scale_cols()));
    const std::vector<int64_t> swshape{static_cast<int64_t>(sw.size())};
    files.add(prefix + ".scales_swizzled.npy", npy_bytes("|u1", swshape, sw.data(), sw.size()));
  }
  if (!q.float_scales.empty()) {
    const std::vector<int64_t> fshape{q.rows / q.block_rows, q.cols / q.block_cols};
    files.add(prefix + ".scales.npy",
              npy_bytes("<f4", fshape, q.float_scales.data(), q.float_scales.size() * 4));
  }
  files.add(prefix + ".dequant.npy",
            npy_bytes("<f4", in.tensor.shape, r.dequant.data(), r.dequant.size() * 4));
  boost::json::array names;
  for (const auto& p : files.paths()) names.emplace_back(p.string());
  names.emplace_back(prefix + ".json");
  meta["files"] = std::move(names);
  files.add(prefix + ".json", to_json_text(meta));
  files.commit();
}

int run_quantize(const cli::po::variables_map& vm) {
  const bool comparing = vm.count("compare") != 0;
  if (comparing == (vm.count("scheme") != 0))
    throw InputError("give exactly one of --scheme S or --compare S1,S2,...");
  if (comparing && vm.count("out") != 0)
    throw InputError("--out writes one scheme's files; it does not combine with --compare");
  if (!comparing && vm.count("out") == 0)
    throw InputError("--scheme needs --out PREFIX for the files it writes");
  if (!comparing) {  // PREFIX.codes.npy and the rest go beside the prefix: checked before any work
    std::filesystem::path probe = vm["out"].as<std::string>();
    probe += ".codes.npy";
    cli::check_output_path(probe, "--out");
  }
  std::vector<Scheme> schemes;
  if (comparing) {
    for (const std::string_view name : split(vm["compare"].as<std::string>(), ','))
      schemes.push_back(scheme_from(name, "--compare"));
  } else {
    schemes.push_back(scheme_from(vm["scheme"].as<std::string>(), "--scheme"));
  }
  // Validate every scheme's options before doing any work.
  std::vector<QuantOptions> opts;
  opts.reserve(schemes.size());
  for (Scheme s : schemes) opts.push_back(options_for(vm, s, comparing));
  // A static scale (bwsim calibrate --out, or a checkpoint's input_scale / weight_scale_2).
  std::optional<StaticScale> fixed;
  if (vm.count("scales") != 0) {
    if (comparing) throw InputError("--scales fixes one scheme's scale; it does not combine with --compare");
    fixed = read_static_scale(vm["scales"].as<std::string>(), schemes.front(), "--scales");
    if (opts.front().rht || opts.front().four_over_six)
      throw InputError("--scales with --rht or --four-over-six: not modelled with a static scale");
    opts.front().tensor_amax = fixed->amax;
  }

  const Input in = load_input(vm);
  boost::json::object doc;
  doc["command"] = "quantize";
  doc["input"] = {
      {"source", in.source}, {"dtype", in.dtype}, {"shape", boost::json::value_from(in.tensor.shape)}};
  cli::text_out(vm) << fmt::format("{}  {} {}  ({} x {} as a matrix, K = {})\n\n", in.source, in.dtype,
                                   in.tensor.shape_text(), in.tensor.rows(), in.tensor.cols(),
                                   in.tensor.cols());
  TextTable table({"scheme", "bits/elem", "rel. Frobenius", "max abs", "SQNR dB", "cosine"},
                  {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
                   TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight});
  boost::json::array results;
  for (size_t i = 0; i < schemes.size(); ++i) {
    Result r = run_one(in, schemes[i], opts[i]);
    std::vector<std::string> row{std::string(scheme_name(schemes[i]))};
    for (auto& c : metric_cells(r)) row.push_back(std::move(c));
    table.add_row(std::move(row));
    results.push_back(result_json(r));
    if (!comparing) {
      boost::json::object meta = result_json(r);
      meta["input"] = doc["input"];
      meta["shape"] = boost::json::value_from(in.tensor.shape);
      meta["note"] =
          "codes.npy: one code per element; packed.npy: codes as stored (FP4 two per byte, low nibble "
          "first); "
          "scales.npy: block scale codes [rows][K/block] (fp8_block: float32 per block); "
          "scales_swizzled.npy: the 128x4-tiled cuBLAS/CUTLASS layout; dequant.npy: float32";
      write_outputs(vm["out"].as<std::string>(), in, r, std::move(meta));
    }
  }
  cli::text_out(vm) << table.render();
  if (fixed) {
    const StaticReport st = evaluate_static(in.tensor, schemes.front(), fixed->amax, opts.front());
    std::string blocks;
    if (st.blocks > 0) {
      blocks = fmt::format("; blocks saturating {}, subnormal scale {}, zeroed {} of {}",
                           st.blocks_saturating, st.blocks_subnormal, st.blocks_zeroed, st.blocks);
    }
    cli::text_out(vm) << fmt::format(
        "\nstatic scale {} (amax {:.6g}; this tensor's {:.6g}): saturated {} of {} values, flushed to 0 "
        "{}{}\n",
        fixed->tensor, fixed->amax, st.amax, st.saturated, st.elements, st.flushed, blocks);
    results.back().as_object()["static"] = {{"tensor", fixed->tensor},
                                            {"calibrated_amax", fixed->amax},
                                            {"saturated", st.saturated},
                                            {"flushed", st.flushed},
                                            {"blocks", st.blocks},
                                            {"blocks_saturating", st.blocks_saturating},
                                            {"blocks_subnormal", st.blocks_subnormal},
                                            {"blocks_zeroed", st.blocks_zeroed}};
  }
  if (!comparing)
    cli::text_out(vm) << fmt::format(
        "\nwrote {}.{{codes,packed,scales,scales_swizzled,dequant}}.npy and {}.json\n",
        vm["out"].as<std::string>(), vm["out"].as<std::string>());
  doc["results"] = std::move(results);
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command quantize_command() {
  return cli::Command{
      "quantize",
      "quantize a tensor (NVFP4, MX, FP8, ...) bit-exactly and report its error; or compare schemes",
      "bwsim quantize --scheme S --in FILE.npy|FILE.safetensors[:TENSOR]|gen:DIST:RxC --out PREFIX "
      "[options]\n"
      "       bwsim quantize --compare nvfp4,mxfp4,fp8_e4m3 --in ... [options]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        desc.add_options()(
            "scheme", cli::po::value<std::string>(),
            "bf16 nvfp4 mxfp4 mxfp6_e2m3 mxfp6_e3m2 mxfp8_e4m3 mxfp8_e5m2 fp8_e4m3 fp8_e5m2 fp8_block")(
            "compare", cli::po::value<std::string>(), "comma-separated schemes: one table row each")(
            "in", cli::po::value<std::string>(), "input tensor; its last dimension is K (blocked)")(
            "out", cli::po::value<std::string>(), "prefix of the files to write")(
            "fp8-block", cli::po::value<std::string>()->default_value("1x128"),
            "fp8_block: 1x128 or 128x128")(
            "scales", cli::po::value<std::string>(),
            "a static per-tensor scale, FILE.safetensors[:TENSOR] (bwsim calibrate --out, or a checkpoint's "
            "input_scale / weight_scale_2 / k_scale): nvfp4 and per-tensor fp8 only");
        add_quant_options(desc, "NVFP4: one scale per 16x16 tile (weights)");
        add_json_option(desc);
      },
      run_quantize};
}

}  // namespace bwsim::app
