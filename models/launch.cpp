#include "models/launch.hpp"

namespace bwsim {

void LaunchSpec::read(ConfigReader& r) {
  r.owned_by("launch");
  r.opt("gap", gap, Duration{microseconds(2)},
        "time from one kernel's end to the next one's start in a CUDA-graph replay (model steps)");
  r.opt("stream_efficiency", stream_efficiency, 0.9,
        "share of peak HBM bandwidth an element-wise kernel of a model step streams at");
  r.check(gap.tick >= Tick{0}, "gap", "must not be negative");
  r.check(stream_efficiency > 0 && stream_efficiency <= 1, "stream_efficiency", "must be in (0, 1]");
}

}  // namespace bwsim
