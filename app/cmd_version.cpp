#include <boost/json.hpp>

#include <iostream>

#include "app/commands.hpp"
#include "sim/config.hpp"

namespace bwsim::app {

cli::Command version_command() {
  return cli::Command{
      "version", "print the bwsim version, git commit, build type, compiler and dependency versions",
      "bwsim version [--json FILE]   (also: bwsim --version)",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        add_json_option(desc);
      },
      [](const cli::po::variables_map& vm) {
        const provenance::Build& b = provenance::build();
        std::ostream& out = cli::text_out(vm);
        out << "bwsim " << b.version << "\n";
        out << "  commit     " << b.commit << (b.dirty ? " (with uncommitted changes)" : "") << "\n";
        out << "  build      " << b.build_type << ", " << b.compiler << "\n";
        out << "  schema     " << provenance::kSchemaVersion
            << " (JSON, trace and sweep outputs; docs/schema.md)\n";
        std::string configs;
        try {
          configs = config_dir().string();
        } catch (const InputError&) {
          configs = "(none found: bwsim list says where it looked)";
        }
        out << "  configs    " << configs << "\n";
        boost::json::object deps;
        for (const auto& [name, v] : b.dependencies) {
          out << fmt::format("  {:<10} {}\n", name, v);
          deps[name] = v;
        }
        cli::write_json_option(vm, boost::json::object{{"command", "version"},
                                                       {"version", b.version},
                                                       {"commit", b.commit},
                                                       {"dirty", b.dirty},
                                                       {"build_type", b.build_type},
                                                       {"compiler", b.compiler},
                                                       {"schema_version", provenance::kSchemaVersion},
                                                       {"config_dir", configs},
                                                       {"dependencies", std::move(deps)}});
        return 0;
      }};
}

}  // namespace bwsim::app
