#include "models/nvlink.hpp"

#include <fmt/format.h>

namespace bwsim {

void NvlinkSpec::read(ConfigReader& r, bool pcie) {
  r.owned_by("nvlink");  // the GPU-to-GPU links unit, whichever link it is
  present = true;
  const char* link = pcie ? "PCIe peer-to-peer" : "NVLink";
  r.req("bandwidth", bandwidth, fmt::format("{} bandwidth per GPU, both directions together", link));
  r.req("latency", latency, fmt::format("one-way GPU-to-GPU latency through {}, per ring hop", link));
  // Physical ranges: NVLink 3-5 moves 0.6-1.8 TB/s per GPU, PCIe 4-6 x16 50-250 GB/s; a hop
  // costs from a fraction of a microsecond to a few.
  r.range("bandwidth", bandwidth, Bandwidth{1'000'000'000}, Bandwidth{100'000'000'000'000});
  r.range("latency", latency, Duration{nanoseconds(1)}, Duration{microseconds(1000)});
}

double ring_all_reduce_seconds(const NvlinkSpec& link, double bytes, double gpus) {
  const double per_direction = static_cast<double>(link.bandwidth.bytes_per_s) / 2;
  const double n = gpus;
  return 2 * (n - 1) / n * bytes / per_direction + 2 * (n - 1) * link.latency.tick.seconds();
}

}  // namespace bwsim
