// How much of a workload's numbers to compute: all of them, a seeded sample, or none.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bwsim {

struct FunctionalSpec {
  enum class Mode { kOff, kFull, kSample };
  Mode mode = Mode::kSample;
  uint64_t samples = 64;  // sampled units (GEMM: 16 x 16 output patches; attention: query rows)
  uint64_t seed = 0;      // which ones
  [[nodiscard]] std::string name() const;
};

/// "off", "full", "sample:N" or "auto" (full when `auto_full` says the whole job is small, else
/// sample:64). Throws InputError naming --functional.
FunctionalSpec parse_functional_spec(std::string_view text, bool auto_full);

}  // namespace bwsim
