// Kernel launches as a serving stack issues them, for the model steps: the gap between two
// kernels of a CUDA-graph replay, and the share of peak HBM bandwidth an element-wise kernel
// (RMSNorm, SiLU x mul, RoPE + KV write) streams at.
#pragma once

#include "sim/config.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct LaunchSpec {
  Duration gap;                  // launch to launch inside a CUDA graph
  double stream_efficiency = 0;  // element-wise kernels: achieved / peak HBM bandwidth
  void read(ConfigReader& r);
};

}  // namespace bwsim
