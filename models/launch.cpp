#include "models/launch.hpp"

namespace bwsim {

void LaunchSpec::read(ConfigReader& r) {
  r.owned_by("launch");
  r.opt("gap", gap, Duration{microseconds(2)},
        "time from one kernel's end to the next one's start in a CUDA-graph replay (model steps)");
  r.opt("stream_efficiency", stream_efficiency, 0.9,
        "share of peak HBM bandwidth an element-wise kernel of a model step streams at");
  r.range("gap", gap, Duration{Tick{0}}, Duration{microseconds(1000)});
  r.range("stream_efficiency", stream_efficiency, 0.01, 1.0);
}

}  // namespace bwsim
