// bwsim list hw|models|scenarios|sweeps|formats: what a name on the command line can be.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "app/commands.hpp"
#include "isa/scalar_format.hpp"
#include "sim/config.hpp"
#include "sim/table.hpp"
#include "workloads/gemm/format.hpp"

namespace bwsim::app {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A config's top-level `name = "..."` (before its first table), or "".
std::string config_title(const fs::path& file) {
  std::ifstream in(file);
  static const std::regex name_line(R"(^\s*name\s*=\s*"([^"]*)\")");
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '[') break;  // a table
    if (std::regex_search(line, m, name_line)) return m[1];
  }
  return {};
}

int run_list(const cli::po::variables_map& vm) {
  const std::string kind = vm.count("kind") != 0 ? vm["kind"].as<std::string>() : "";
  static const std::vector<std::string> kinds{"hw", "models", "scenarios", "sweeps", "formats"};
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    throw InputError(fmt::format("{}: list what? one of hw, models, scenarios, sweeps, formats",
                                 kind.empty() ? "no kind given" : "'" + kind + "'"));
  }
  std::ostream& out = cli::text_out(vm);
  json::array items;
  if (kind == "formats") {
    TextTable t({"name", "what"}, {TextTable::Align::kLeft, TextTable::Align::kLeft});
    for (const auto& [name, f] : kScalarFormatNames) {
      t.add_row({std::string(name), fmt::format("element format, {} bits", format_info(f).bits)});
      items.push_back(json::object{{"name", name}, {"kind", "element"}, {"bits", format_info(f).bits}});
    }
    for (const std::string& name : gemm_format_list()) {
      t.add_row({name, "GEMM / quantization scheme (--format, --weights, --kv-format)"});
      items.push_back(json::object{{"name", name}, {"kind", "scheme"}});
    }
    out << t.render();
  } else {
    const fs::path dir = config_dir() / kind;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".toml") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    TextTable t({"name", "title"}, {TextTable::Align::kLeft, TextTable::Align::kLeft});
    for (const fs::path& f : files) {
      const std::string title = config_title(f);
      t.add_row({f.stem().string(), title});
      items.push_back(json::object{{"name", f.stem().string()}, {"title", title}, {"file", f.string()}});
    }
    out << t.render() << fmt::format("({} in {})\n", kind, dir.string());
  }
  cli::write_json_option(vm, json::object{{"command", "list"}, {"kind", kind}, {"items", std::move(items)}});
  return 0;
}

}  // namespace

cli::Command list_command() {
  return cli::Command{
      "list", "list the hardware, models, scenarios, sweeps or formats a command can be given by name",
      "bwsim list hw|models|scenarios|sweeps|formats [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        desc.add_options()("kind", cli::po::value<std::string>(), "hw, models, scenarios, sweeps or formats");
        add_json_option(desc);
        pos.add("kind", 1);
      },
      run_list};
}

}  // namespace bwsim::app
