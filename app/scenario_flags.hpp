// The flags that name a scenario and change it, shared by run and serve: the scenario file (or
// configs/scenarios name), --hw, --model, --set KEY=VALUE, --hw-set KEY=VALUE.
#pragma once

#include <string_view>

#include "sim/cli.hpp"
#include "workloads/transformer/scenario.hpp"

namespace bwsim::app {

/// Declares the scenario (positional), --hw, --model, --set and --hw-set; `set_example` shows a
/// scenario key --set may change.
void add_scenario_flags(cli::po::options_description& desc, cli::po::positional_options_description& pos,
                        std::string_view set_example);

/// The scenario the flags name, loaded with their changes; `command` for the usage message.
Scenario scenario_from_flags(const cli::po::variables_map& vm, std::string_view command);

}  // namespace bwsim::app
