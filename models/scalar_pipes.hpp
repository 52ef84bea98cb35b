// The scalar pipes of one SM: FP32 FMA and MUFU (exp2). Scalar work is spread over the CTA's
// warps; a softmax's exp2s and FMAs interleave in the same warps, so both pipes work at once
// and the op ends with the later of them.
#pragma once

#include <cstdint>

#include "isa/program.hpp"
#include "models/unit.hpp"
#include "sim/config.hpp"
#include "sim/timeline.hpp"

namespace bwsim {

struct PipeSpec {
  uint32_t mufu_exp2_per_clk = 0;  // exp2 results per clock per SM
  uint32_t fma_fp32_per_clk = 0;   // FP32 FMAs per clock per SM
  void read_mufu(ConfigReader& r);
  void read_fma(ConfigReader& r);
};

class ScalarPipes {
 public:
  ScalarPipes(const PipeSpec& spec, const ClockDomain& clk, const SmCounters& counters)
      : spec_(&spec), clk_(&clk), counters_(&counters) {}

  /// Runs `s` from `now`; returns when both pipes are done with it.
  Tick run(const op::Scalar& s, Tick now);
  /// The trace label of `s`.
  static const char* label(const op::Scalar& s) {
    return s.exp2 > 0 && s.fma > 0 ? "exp2 + fma" : (s.exp2 > 0 ? "exp2" : "fma");
  }

 private:
  const PipeSpec* spec_;
  const ClockDomain* clk_;
  const SmCounters* counters_;
  ResourceTimeline mufu_;
  ResourceTimeline fma_;
};

}  // namespace bwsim
