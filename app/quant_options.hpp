// Quantization flags and error reporting shared by `bwsim quantize` and `bwsim gemm`.
#pragma once

#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "isa/error_metrics.hpp"
#include "isa/quantize.hpp"
#include "sim/cli.hpp"

namespace bwsim::app {

/// --scale-mode, --recipe, --four-over-six, --rht, --rht-seed and --2d (described by `help_2d`).
void add_quant_options(cli::po::options_description& desc, const char* help_2d);

/// The flags as options, checked for values but not against any one scheme.
QuantOptions quant_flags(const cli::po::variables_map& vm);

/// Whether the flags ask for anything that applies to NVFP4 only (--2d, --four-over-six, the
/// torchao recipe).
bool nvfp4_only_flags(const cli::po::variables_map& vm);

/// --keep-layers "0,-1": the layer indices, or an InputError naming the flag and the bad piece.
std::vector<int64_t> keep_layers_option(const cli::po::variables_map& vm);

/// "bf16, nvfp4, mxfp4, ...": every scheme name, for messages.
std::string scheme_names_text();

/// An error measurement as a JSON object (rel_frobenius, max_abs, sqnr_db, cosine, count).
boost::json::object metrics_json(const ErrorMetrics& m);

}  // namespace bwsim::app
