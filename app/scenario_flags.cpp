#include "app/scenario_flags.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "sim/errors.hpp"

namespace bwsim::app {
namespace {

std::vector<std::string> strings(const cli::po::variables_map& vm, const char* flag) {
  if (vm.count(flag) == 0) return {};
  return vm[flag].as<std::vector<std::string>>();
}

std::string text(const cli::po::variables_map& vm, const char* flag) {
  return vm.count(flag) != 0 ? vm[flag].as<std::string>() : std::string();
}

}  // namespace

void add_scenario_flags(cli::po::options_description& desc, cli::po::positional_options_description& pos,
                        std::string_view set_example) {
  desc.add_options()("scenario", cli::po::value<std::string>(), "scenario file or configs/scenarios name")(
      "hw", cli::po::value<std::string>(), "GPU, replacing the scenario's")(
      "model", cli::po::value<std::string>(), "model, replacing the scenario's")(
      "set", cli::po::value<std::vector<std::string>>()->composing(),
      fmt::format("override a scenario key: KEY=VALUE (e.g. {}; repeatable)", set_example).c_str())(
      "hw-set", cli::po::value<std::vector<std::string>>()->composing(),
      "override a hardware key: KEY=VALUE (repeatable)");
  pos.add("scenario", 1);
}

Scenario scenario_from_flags(const cli::po::variables_map& vm, std::string_view command) {
  if (vm.count("scenario") == 0)
    throw InputError(fmt::format("a scenario file is required: bwsim {} SCENARIO.toml", command));
  std::filesystem::path file;
  try {
    file = resolve_config_path(vm["scenario"].as<std::string>(), "scenarios");
  } catch (const InputError& e) {
    throw InputError(std::string("scenario: ") + e.what());
  }
  return load_scenario(file, text(vm, "model"), text(vm, "hw"), strings(vm, "set"), strings(vm, "hw-set"));
}

}  // namespace bwsim::app
