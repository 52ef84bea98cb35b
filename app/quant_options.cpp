#include "app/quant_options.hpp"
#include "sim/strings.hpp"

#include <charconv>

#include <fmt/format.h>

#include "sim/errors.hpp"

namespace bwsim::app {

void add_quant_options(cli::po::options_description& desc, const char* help_2d) {
  desc.add_options()("scale-mode", cli::po::value<std::string>()->default_value("floor"),
                     "MX scales: floor (OCP) or rceil")("2d", help_2d)(
      "rht", "apply the 16x16 random Hadamard transform along K first")(
      "rht-seed", cli::po::value<uint64_t>(),
      "random RHT signs from this seed (default: TransformerEngine's)")(
      "recipe", cli::po::value<std::string>()->default_value("te"), "NVFP4 recipe: te or torchao")(
      "four-over-six", "NVFP4: per block, scale to 4 or 6, whichever errs less");
}

QuantOptions quant_flags(const cli::po::variables_map& vm) {
  QuantOptions o;
  const auto& mode = vm["scale-mode"].as<std::string>();
  if (mode == "rceil") {
    o.mx_scale = MxScaleMode::kRceil;
  } else if (mode != "floor") {
    throw InputError(fmt::format("--scale-mode {}: expected floor or rceil", mode));
  }
  const auto& recipe = vm["recipe"].as<std::string>();
  if (recipe != "te" && recipe != "torchao")
    throw InputError(fmt::format("--recipe {}: expected te or torchao", recipe));
  o.nvfp4_recipe = recipe == "torchao" ? NvFp4Recipe::kTorchAo : NvFp4Recipe::kTransformerEngine;
  o.rht = vm.count("rht") != 0;
  if (vm.count("rht-seed") != 0) {
    if (!o.rht) throw InputError("--rht-seed needs --rht");
    o.rht_seed = vm["rht-seed"].as<uint64_t>();
  }
  o.nvfp4_2d = vm.count("2d") != 0;
  o.four_over_six = vm.count("four-over-six") != 0;
  if (o.nvfp4_recipe == NvFp4Recipe::kTorchAo && (o.nvfp4_2d || o.four_over_six))
    throw InputError("--recipe torchao has no --2d or --four-over-six variant");
  return o;
}

bool nvfp4_only_flags(const cli::po::variables_map& vm) {
  return vm.count("2d") != 0 || vm.count("four-over-six") != 0 || vm["recipe"].as<std::string>() == "torchao";
}

boost::json::object metrics_json(const ErrorMetrics& m) {
  return {{"rel_frobenius", m.rel_frobenius},
          {"max_abs", m.max_abs},
          {"sqnr_db", m.sqnr_db},
          {"cosine", m.cosine},
          {"count", m.count}};
}

std::string scheme_names_text() {
  std::string all;
  for (const auto& entry : kSchemeNames) all.append(all.empty() ? "" : ", ").append(entry.first);
  return all;
}

std::vector<int64_t> keep_layers_option(const cli::po::variables_map& vm) {
  std::vector<int64_t> keep;
  if (vm.count("keep-layers") == 0) return keep;
  const std::string& text = vm["keep-layers"].as<std::string>();
  for (const std::string_view piece : split(text, ',')) {
    int64_t l = 0;
    const auto [p, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), l);
    if (ec != std::errc{} || p != piece.data() + piece.size())
      throw InputError(fmt::format("--keep-layers {}: '{}' is not a layer index", text, piece));
    keep.push_back(l);
  }
  return keep;
}

}  // namespace bwsim::app
