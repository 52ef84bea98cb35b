// The bwsim subcommands. Each lives in its own file; main.cpp lists them.
#pragma once

#include "sim/cli.hpp"

namespace bwsim::app {

cli::Command info_command();
cli::Command formats_command();
cli::Command quantize_command();
cli::Command micro_command();
cli::Command gemm_command();
cli::Command compare_command();
cli::Command rope_command();
cli::Command attention_command();
cli::Command model_command();
cli::Command numerics_command();
cli::Command run_command();
cli::Command sweep_command();
cli::Command sweep_merge_command();
cli::Command plot_command();
cli::Command validate_command();
cli::Command version_command();

/// --hw FILE and --set KEY=VALUE, shared by every command that builds a GPU.
void add_hw_options(cli::po::options_description& desc);
/// --json FILE.
void add_json_option(cli::po::options_description& desc);

}  // namespace bwsim::app
