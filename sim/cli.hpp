// The bwsim command-line framework: subcommands over Boost.Program_options, one exit-code
// policy (0 ok, 2 bad input, 1 internal error), `--help` on every subcommand, and the output
// helpers every command shares (`--json FILE`, `--set KEY=VALUE`).
#pragma once

#include <boost/json/value.hpp>
#include <boost/program_options.hpp>

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bwsim::cli {

namespace po = boost::program_options;

struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // e.g. "bwsim info [--hw FILE] [--explain] [--json FILE]"
  std::function<void(po::options_description&, po::positional_options_description&)> add_options;
  /// Returns the exit code. Throws InputError for bad input.
  std::function<int(const po::variables_map&)> run;
};

/// Parses argv, dispatches to the named command, and maps exceptions to exit codes. `version`
/// heads the overview; `long_version` is what -v prints (version, commit).
int main(int argc, const char* const* argv, std::span<const Command> commands, const std::string& version,
         const std::string& long_version);

/// Writes the command's JSON document to the --json target if one was given ("-" = stdout),
/// with the run's provenance (sim/provenance.hpp) added as "provenance".
void write_json_option(const po::variables_map& vm, const boost::json::value& doc);

/// Refuses (InputError naming `flag`) an output path that cannot be written: a directory, a
/// missing or read-only parent directory, a read-only file. Called for --json, --trace, -o and
/// --d before any command runs.
void check_output_path(const std::filesystem::path& path, std::string_view flag);
/// Writes FILE.provenance.json beside an output that cannot carry its own (a CSV).
void write_provenance_sidecar(const std::filesystem::path& file);

/// Where a command's human-readable report goes: stdout, or nowhere when `--json -` puts the
/// JSON document there (so stdout stays parseable).
std::ostream& text_out(const po::variables_map& vm);

}  // namespace bwsim::cli
