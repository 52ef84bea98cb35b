// One libFuzzer program per target (BWSIM_FUZZ_TARGET names it): built with -DBWSIM_FUZZ=ON by
// clang, run by scripts/fuzz.
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bwsim::fuzz::Target target = [] {
    const bwsim::fuzz::Target t = bwsim::fuzz::find_target(BWSIM_FUZZ_TARGET);
    if (t == nullptr) std::abort();
    return t;
  }();
  bwsim::fuzz::run_one(target, data, size);
  return 0;
}
