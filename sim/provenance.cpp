#include "sim/provenance.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <mutex>

namespace bwsim::provenance {
namespace {

struct Config {
  std::string kind, file, hash;
  std::vector<std::string> overrides;
};

constexpr size_t kMaxConfigs = 64;

struct State {
  std::mutex mu;
  Build build;
  std::string command_line;
  std::vector<Config> configs;
  uint64_t configs_left_out = 0;
  std::vector<std::pair<std::string, uint64_t>> seeds;
};

State& state() {
  static State s;
  return s;
}

// Single-quotes an argument a POSIX shell would otherwise split or expand.
std::string shell_quote(std::string_view arg) {
  const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("-_./=:,+@%").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(arg);
  std::string out = "'";
  for (const char c : arg) {
    if (c == '\'') {
      out.append("'\\''");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

}  // namespace

void set_build(Build b) {
  std::lock_guard lock(state().mu);
  state().build = std::move(b);
}

const Build& build() { return state().build; }

void set_command_line(int argc, const char* const* argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) line.push_back(' ');
    line.append(shell_quote(argv[i]));
  }
  std::lock_guard lock(state().mu);
  state().command_line = std::move(line);
}

void note_config(std::string kind, std::string file, std::vector<std::string> overrides, std::string hash) {
  State& s = state();
  std::lock_guard lock(s.mu);
  for (const Config& c : s.configs) {
    if (c.kind == kind && c.file == file && c.hash == hash && c.overrides == overrides) return;
  }
  if (s.configs.size() == kMaxConfigs) {
    ++s.configs_left_out;
    return;
  }
  s.configs.push_back({std::move(kind), std::move(file), std::move(hash), std::move(overrides)});
}

void note_seed(std::string_view what, uint64_t seed) {
  State& s = state();
  std::lock_guard lock(s.mu);
  for (const auto& [w, v] : s.seeds) {
    if (w == what && v == seed) return;
  }
  if (s.seeds.size() < kMaxConfigs) s.seeds.emplace_back(what, seed);
}

std::string hash_text(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

std::string hash_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return hash_text(text);
}

boost::json::object to_json() {
  namespace json = boost::json;
  State& s = state();
  std::lock_guard lock(s.mu);
  json::object b{{"version", s.build.version},
                 {"commit", s.build.commit},
                 {"dirty", s.build.dirty},
                 {"build_type", s.build.build_type}};
  json::object o{
      {"schema_version", kSchemaVersion}, {"bwsim", std::move(b)}, {"command_line", s.command_line}};
  json::array overrides;
  json::array configs;
  for (const Config& c : s.configs) {
    json::array ov;
    for (const std::string& v : c.overrides) {
      ov.emplace_back(v);
      if (std::find(overrides.begin(), overrides.end(), json::value(v)) == overrides.end())
        overrides.emplace_back(v);
    }
    configs.push_back(
        json::object{{"kind", c.kind}, {"file", c.file}, {"overrides", std::move(ov)}, {"hash", c.hash}});
  }
  o["overrides"] = std::move(overrides);
  o["configs"] = std::move(configs);
  if (s.configs_left_out > 0) o["configs_left_out"] = s.configs_left_out;
  json::object seeds;
  for (const auto& [w, v] : s.seeds) seeds[w] = v;
  o["seeds"] = std::move(seeds);
  return o;
}

}  // namespace bwsim::provenance
