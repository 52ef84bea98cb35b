// Where an output came from: every JSON document, trace and sweep CSV (through a sidecar) carries
// the bwsim build (version, git commit, dirty flag, build type), the command line, every override
// it applied, the configs it resolved with a hash of each, the seeds, and the output schema
// version. docs/schema.md documents the fields.
//
// The process records as it goes (the command line once, each config as it is loaded); outputs
// take a snapshot when they are written. Thread-safe.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace bwsim::provenance {

/// The version of the output schema (docs/schema.md): bumped when a field changes meaning or
/// disappears; new fields do not bump it.
inline constexpr int kSchemaVersion = 1;

struct Build {
  std::string version;     // "0.1.0"
  std::string commit;      // full hash, or "unknown" outside a git checkout
  bool dirty = false;      // uncommitted changes in the checkout it was built from
  std::string build_type;  // "Release", "RelWithDebInfo", ...
  std::string compiler;    // "GNU 12.2.0"
  std::vector<std::pair<std::string, std::string>> dependencies;  // name -> version
};

/// Set once by main().
void set_build(Build b);
const Build& build();
/// The command line, kept as a shell would take it back (arguments quoted where needed).
void set_command_line(int argc, const char* const* argv);

/// A config this run resolved: its kind ("hw", "model", "scenario", "sweep"), the file, the
/// overrides applied to it, and a hash of its resolved values (config_hash). The first 64
/// distinct ones are kept (a sweep resolves one per point), and a count of the rest.
void note_config(std::string kind, std::string file, std::vector<std::string> overrides, std::string hash);
/// A seed the run used (a sampled functional run, a generated prompt set).
void note_seed(std::string_view what, uint64_t seed);

/// FNV-1a 64 of `text`, as 16 hex digits: the hash of a resolved config's canonical
/// "path = value" lines (units resolved, so "12 TB/s" and "12000 GB/s" hash the same).
std::string hash_text(std::string_view text);
/// hash_text of a file's bytes (a model or scenario file: overrides are listed beside it).
std::string hash_file(const std::filesystem::path& file);

/// The record as of now: {"schema_version", "bwsim": {...}, "command_line", "overrides",
/// "configs", "seeds"}.
boost::json::object to_json();

}  // namespace bwsim::provenance
