// Kernel launches as a serving stack issues them, for the model steps: the gap between two
// kernels of a CUDA-graph replay, and the share of peak HBM bandwidth an element-wise kernel
// (RMSNorm, SiLU x mul, RoPE + KV write) streams at.
#pragma once

#include <cstddef>

#include "sim/config.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct LaunchSpec {
  Duration gap;                  // launch to launch inside a CUDA graph
  double stream_efficiency = 0;  // element-wise kernels: achieved / peak HBM bandwidth
  void read(ConfigReader& r);
  /// The launch gaps `kernels` CUDA kernels pay in a step: what the planners add when they
  /// compare plans of different kernel counts, and what a step adds to each kernel.
  [[nodiscard]] Tick gaps(size_t kernels) const { return gap.tick * static_cast<int64_t>(kernels); }
};

}  // namespace bwsim
