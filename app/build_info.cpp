#include <fmt/format.h>
#include <boost/version.hpp>

#include "app/commands.hpp"
#include "app/git_info.hpp"
#include "app/version.hpp"

namespace bwsim::app {

provenance::Build build_info() {
  provenance::Build b;
  b.version = BWSIM_VERSION;
  b.commit = BWSIM_GIT_COMMIT;
  b.dirty = BWSIM_GIT_DIRTY;
  b.build_type = BWSIM_BUILD_TYPE;
  b.compiler = BWSIM_COMPILER;
  b.dependencies = {
      {"Boost",
       fmt::format("{}.{}.{}", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100)},
      {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
      {"toml11", BWSIM_TOML11_VERSION},
#ifdef BWSIM_HAVE_MPI
      {"Boost.MPI", "yes (sweeps under mpirun)"},
#else
      {"Boost.MPI", "no (sweeps on local threads and shards)"},
#endif
  };
  return b;
}

std::string long_version() {
  const provenance::Build& b = provenance::build();
  return fmt::format("{} (commit {}{}, {})", b.version, b.commit.substr(0, 12), b.dirty ? ", modified" : "",
                     b.build_type);
}

}  // namespace bwsim::app
