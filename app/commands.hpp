// The bwsim subcommands. Each lives in its own file; main.cpp lists them.
#pragma once

#include <memory>

#include <fmt/format.h>

#include <string_view>

#include "sim/cli.hpp"
#include "sim/errors.hpp"
#include "sim/progress.hpp"
#include "sim/provenance.hpp"
#include "sim/units.hpp"

namespace bwsim::app {

cli::Command info_command();
cli::Command formats_command();
cli::Command quantize_command();
cli::Command calibrate_command();
cli::Command micro_command();
cli::Command gemm_command();
cli::Command compare_command();
cli::Command rope_command();
cli::Command attention_command();
cli::Command model_command();
cli::Command numerics_command();
cli::Command run_command();
cli::Command serve_command();
cli::Command sweep_command();
cli::Command sweep_merge_command();
cli::Command plot_command();
cli::Command validate_command();
cli::Command version_command();
cli::Command list_command();

/// This build: version, git commit, build type, compiler, dependency versions.
provenance::Build build_info();
/// "0.1.0 (commit 0123456789ab, Release)", from provenance::build().
std::string long_version();

/// --hw FILE and --set KEY=VALUE, shared by every command that builds a GPU.
void add_hw_options(cli::po::options_description& desc);
/// --json FILE.
void add_json_option(cli::po::options_description& desc);
/// --quiet, for commands that draw a progress bar.
void add_progress_option(cli::po::options_description& desc);
/// --l2-flush BYTES: time the kernel as a benchmark that writes BYTES to flush L2 right before
/// it does (it starts with that buffer's dirty lines in L2, L2Start); l2_flush() reads it (0:
/// absent).
void add_l2_flush_option(cli::po::options_description& desc);
uint64_t l2_flush(const cli::po::variables_map& vm);

/// --sampling auto|off (`doc` says what auto samples) and --exact (= --sampling off);
/// sampling_flag() reads them: true to sample.
void add_sampling_options(cli::po::options_description& desc, const std::string& doc);
bool sampling_flag(const cli::po::variables_map& vm);

/// While alive, a progress bar with an ETA on stderr (sim/progress.hpp) for the simulation the
/// command runs: on a terminal, without --quiet, after the first 2 s.
class ProgressBar {
 public:
  explicit ProgressBar(const cli::po::variables_map& vm);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  std::unique_ptr<progress::StderrBar> bar_;
};

/// A flag's value read with one of the unit parsers (parse_byte_size, parse_duration, ...) in
/// `parse`: a bad value exits 2 as "FLAG TEXT: what is wrong".
template <class Parse>
auto parse_flag(std::string_view flag, std::string_view text, Parse parse) {
  try {
    return parse();
  } catch (const UnitError& e) {
    throw InputError(fmt::format("{} {}: {}", flag, text, e.message));
  }
}

}  // namespace bwsim::app
