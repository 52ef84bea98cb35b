#include "models/nvlink.hpp"

namespace bwsim {

void NvlinkSpec::read(ConfigReader& r) {
  r.owned_by("nvlink");
  present = true;
  r.req("bandwidth", bandwidth, "NVLink bandwidth per GPU, both directions together (datasheet figure)");
  r.req("latency", latency, "one-way GPU-to-GPU latency through NVLink");
  // Physical ranges: NVLink 3-5 moves 0.6-1.8 TB/s per GPU, a hop costs about a microsecond.
  r.range("bandwidth", bandwidth, Bandwidth{1'000'000'000}, Bandwidth{100'000'000'000'000});
  r.range("latency", latency, Duration{nanoseconds(1)}, Duration{microseconds(1000)});
}

double ring_all_reduce_seconds(const NvlinkSpec& link, double bytes, double gpus) {
  const double per_direction = static_cast<double>(link.bandwidth.bytes_per_s) / 2;
  const double n = gpus;
  return 2 * (n - 1) / n * bytes / per_direction + 2 * (n - 1) * link.latency.tick.seconds();
}

}  // namespace bwsim
