// Configuration: TOML files with units, inheritance and command-line overrides, read through one
// typed reader.
//
//  * ConfigTree::load_file follows `base = "other.toml"` (relative to the file) so a variant is
//    a diff; tables merge key by key, the derived file wins.
//  * ConfigTree::set applies `--set a.b.c=value` (value parsed as TOML, else taken as a string).
//  * ConfigReader reads typed values (quantities carry units) with required/default semantics,
//    records every parameter it reads (value, default, doc, where it came from) so `info` and
//    `info --explain` print exactly what the model uses, and finish() rejects every key nobody
//    read, naming file, line and key path, with a suggestion for near-misses.
//
// toml11 stays inside config.cpp; this header is cheap to include.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/units.hpp"

namespace bwsim {

class ConfigTree {
 public:
  ConfigTree();
  ~ConfigTree();
  ConfigTree(const ConfigTree&);
  ConfigTree& operator=(const ConfigTree&);
  ConfigTree(ConfigTree&&) noexcept;
  ConfigTree& operator=(ConfigTree&&) noexcept;

  /// Parses `file` and its `base` chain. Throws InputError (file, line, what) on any problem.
  static ConfigTree load_file(const std::filesystem::path& file);
  /// Parses TOML text; `name` stands in for the file name in messages. `base` is resolved
  /// relative to `base_dir`.
  static ConfigTree from_string(std::string_view text, const std::string& name,
                                const std::filesystem::path& base_dir = ".");

  /// Applies one "a.b.c=value" override. `flag` names where it came from in messages
  /// (e.g. "--set"). Throws InputError for a malformed assignment.
  void set(std::string_view assignment, std::string_view flag = "--set");

  /// Whether a dotted key path exists (tables or values).
  [[nodiscard]] bool contains(std::string_view dotted) const;
  /// Name of the top file (for messages when no better location exists).
  [[nodiscard]] const std::string& name() const;

  struct Impl;
  [[nodiscard]] const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// One scalar of a heterogeneous array (e.g. a sweep axis's values), kept as text.
struct ConfigScalar {
  std::string text;  // as a user reads it: a string's contents, a number's literal
  std::string toml;  // as a TOML value (strings quoted), for ConfigTree::set
};

/// One parameter as the model resolved it.
struct ParamRecord {
  std::string path;           // "hbm.bandwidth"
  std::string type;           // "bandwidth", "integer", "table", ...
  std::string value;          // canonical text ("7.7 TB/s"); empty for tables
  std::string value_json;     // the value as a JSON literal
  std::string default_value;  // "" when required
  std::string doc;
  std::string source;  // "configs/hw/b200.toml:31", "--set ...", "default"
  bool is_table = false;
  std::string owner;  // the unit that consumes it ("tensor_pipe"); empty for tables and unowned readers
  std::string range;  // its physical range ("1 .. 1024", "1 MHz .. 10 GHz"); empty where none is set
};

class ConfigReader {
 public:
  /// A reader over the root table of `tree`. The tree must outlive the reader.
  explicit ConfigReader(const ConfigTree& tree);
  ~ConfigReader();
  ConfigReader(ConfigReader&&) noexcept;
  ConfigReader& operator=(ConfigReader&&) = delete;
  ConfigReader(const ConfigReader&) = delete;

  /// Reads a required key. Supported T: bool, int, int64_t, uint32_t, uint64_t, double,
  /// std::string, Frequency, ByteSize, Bandwidth, BytesPerCycle, Duration, Cycles,
  /// std::vector<double>, std::vector<int64_t>, std::vector<std::string>.
  template <class T>
  void req(std::string_view key, T& out, std::string_view doc);
  /// Reads an optional key, `dflt` when absent.
  template <class T>
  void opt(std::string_view key, T& out, const T& dflt, std::string_view doc);

  /// Reads a string key that must be one of `names`.
  template <class E, size_t N>
  void req_enum(std::string_view key, E& out, const std::array<std::pair<std::string_view, E>, N>& names,
                std::string_view doc) {
    std::string s;
    req(key, s, std::string(doc) + enum_doc(names));
    out = lookup_enum(key, s, names);
  }
  template <class E, size_t N>
  void opt_enum(std::string_view key, E& out, E dflt,
                const std::array<std::pair<std::string_view, E>, N>& names, std::string_view doc) {
    std::string s;
    std::string d;
    for (const auto& [n, v] : names) {
      if (v == dflt) d = n;
    }
    opt(key, s, d, std::string(doc) + enum_doc(names));
    out = lookup_enum(key, s, names);
  }

  /// A sub-table. Required sections must exist; optional ones read as empty when absent
  /// (their opt() keys take defaults, their req() keys fail naming the section).
  ConfigReader section(std::string_view key, std::string_view doc);
  ConfigReader opt_section(std::string_view key, std::string_view doc);

  /// An array of tables (`[[key]]`), one reader per element, prefixed "key[i]". Absent: empty.
  std::vector<ConfigReader> table_array(std::string_view key, std::string_view doc);
  /// A required array of scalars of any types (strings, integers, floats, booleans).
  std::vector<ConfigScalar> scalar_list(std::string_view key, std::string_view doc);
  /// An optional key that may be a string or a number (`prompt = 2048` or `prompt =
  /// "lognormal:800:0.6"`), as the text a user reads; `dflt` when absent.
  std::string opt_text(std::string_view key, std::string_view dflt, std::string_view doc);

  /// Names the unit that consumes the keys this reader (and the sections it opens) reads from
  /// now on; every ParamRecord carries it, so a key no unit consumes can be found.
  void owned_by(std::string_view unit) { owner_ = unit; }
  [[nodiscard]] const std::string& owner() const { return owner_; }

  [[nodiscard]] bool has(std::string_view key) const;
  /// Dotted path of `key` under this reader ("hbm.bandwidth").
  [[nodiscard]] std::string path_of(std::string_view key) const;
  /// "file:line" of `key` (or of this table when the key is absent).
  [[nodiscard]] std::string where(std::string_view key) const;

  /// Fails with an InputError located at `key` unless `ok`.
  /// The physical range of a key just read (req / opt): `value` must lie in [lo, hi], or the
  /// load fails naming the key, its file and line, and the range. The range is recorded beside
  /// the key (bwsim info --explain). Supported T: the numeric and unit types of req().
  template <class T>
  void range(std::string_view key, const T& value, const T& lo, const T& hi);

  void check(bool ok, std::string_view key, std::string_view message) const {
    if (!ok) fail(key, message);
  }
  [[noreturn]] void fail(std::string_view key, std::string_view message) const;

  /// Root reader only: throws InputError listing every key no reader consumed.
  void finish() const;
  /// Every parameter read so far, in reading order (shared by all readers of one tree).
  [[nodiscard]] const std::vector<ParamRecord>& records() const;

  struct State;  // shared by all readers of one tree; defined in config.cpp

 private:
  ConfigReader(std::shared_ptr<State> state, const void* table, std::string prefix);

  template <class E, size_t N>
  static std::string enum_doc(const std::array<std::pair<std::string_view, E>, N>& names) {
    std::string d = " (one of:";
    for (const auto& entry : names) d.append(" ").append(entry.first);
    d.append(")");
    return d;
  }
  template <class E, size_t N>
  E lookup_enum(std::string_view key, const std::string& s,
                const std::array<std::pair<std::string_view, E>, N>& names) const {
    std::string all;
    for (const auto& [n, v] : names) {
      if (n == s) return v;
      all.append(all.empty() ? "" : ", ").append(n);
    }
    fail(key, "is \"" + s + "\"; expected one of: " + all);
  }

  std::shared_ptr<State> state_;
  const void* table_;  // toml table node, or nullptr for an absent optional section
  std::string prefix_;
  std::string owner_;
};

/// Finds a config file: an existing path as given, else `<config dir>/<kind>/<name>.toml` for a
/// short name like "b200".
std::filesystem::path resolve_config_path(std::string_view name_or_path, std::string_view kind);
/// The configs directory: $BWSIM_CONFIG_DIR when set (and only it); else the first of
/// PREFIX/share/bwsim/configs beside an installed binary, the source tree the binary was built
/// from, and ./configs that has a hw/ directory. None: InputError naming every place looked.
std::filesystem::path config_dir();
/// Those places, each with why it is one.
std::vector<std::pair<std::filesystem::path, std::string>> config_dir_candidates();

}  // namespace bwsim
