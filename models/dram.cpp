#include "models/dram.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "models/unit.hpp"
#include "sim/timeline.hpp"

namespace bwsim {

DramChannel::DramChannel(uint64_t bytes_per_s, Tick turnaround, Tick refresh_interval, Tick refresh_time,
                         Tick refresh_phase)
    : bytes_per_s_(bytes_per_s),
      turnaround_(turnaround),
      refresh_interval_(refresh_interval),
      refresh_time_(refresh_time),
      refresh_phase_(refresh_phase) {}

// Refresh windows are [k * interval + phase, k * interval + phase + refresh_time). A transfer
// that would overlap one starts after it instead (refresh is not interruptible). A transfer
// longer than the gap between windows cannot avoid them and is not moved.
Tick DramChannel::skip_refresh(Tick start, Tick service) const {
  const int64_t iv = refresh_interval_.ps();
  const int64_t rt = refresh_time_.ps();
  if (rt == 0 || service.ps() > iv - rt) return start;
  for (;;) {
    const int64_t rel = start.ps() - refresh_phase_.ps();
    const int64_t k = rel >= 0 ? rel / iv : -((-rel + iv - 1) / iv);  // floor division
    bool moved = false;
    for (int64_t w = k; w <= k + 1 && !moved; ++w) {
      const int64_t ws = w * iv + refresh_phase_.ps();
      if (start.ps() < ws + rt && start.ps() + service.ps() > ws) {
        start = Tick{ws + rt};
        moved = true;
      }
    }
    if (!moved) return start;  // each move passes a window, and the next fits before the one after
  }
}

Tick DramChannel::serve(Tick ready, uint64_t bytes, bool write) {
  Tick service = transfer_time(bytes, bytes_per_s_);
  Tick start = std::max(ready, next_free_);
  if (write != last_write_ && (read_bytes_ + write_bytes_) > 0) start += turnaround_;
  last_write_ = write;
  start = skip_refresh(start, service);
  next_free_ = start + service;
  busy_ += service;
  (write ? write_bytes_ : read_bytes_) += bytes;
  return next_free_;
}

void DramSpec::read(ConfigReader& r) {
  r.owned_by("dram");
  read_impl(r, impl, dram_impls(), "device-memory model");
  r.req("kind", kind, "memory technology (HBM3, HBM3e, GDDR7); the section is [hbm] on every GPU");
  r.req("capacity", capacity, "usable device memory");
  r.req("stacks", stacks, "HBM stacks (GDDR7: 32-bit devices)");
  r.req("channels_per_stack", channels_per_stack, "independent channels per stack (device)");
  r.req("bandwidth", bandwidth, "peak pin bandwidth, whole chip");
  r.req("latency", latency, "unloaded access latency in the controller and DRAM");
  r.opt("refresh_overhead", refresh_overhead, 0.0, "fraction of time a channel is busy refreshing");
  r.opt("refresh_interval", refresh_interval, Duration{nanoseconds(3900)},
        "refresh period (tREFI); each window lasts refresh_overhead of it");
  r.opt("bus_efficiency", bus_efficiency, 1.0,
        "fraction of pin bandwidth left after command and row overheads");
  r.opt("turnaround", turnaround, Duration{Tick{0}}, "bus turnaround between reads and writes");
  r.opt("access", access, ByteSize{32},
        "bytes per channel access (burst): a transfer moves whole accesses (HBM3: 32-bit pseudo-channel x "
        "BL8)");
  // Physical ranges: today's parts have 16-288 GB in 4-12 stacks (GDDR7: up to 16 32-bit
  // devices) of 8-32 channels, 0.3-16 TB/s, and 100-1000 ns of unloaded latency.
  r.range("capacity", capacity, ByteSize{uint64_t{1} << 20}, ByteSize{uint64_t{64} << 40});
  r.range("stacks", stacks, 1u, 64u);
  r.range("channels_per_stack", channels_per_stack, 1u, 256u);
  r.range("bandwidth", bandwidth, Bandwidth{1'000'000'000}, Bandwidth{1'000'000'000'000'000});
  r.range("latency", latency, Duration{nanoseconds(1)}, Duration{microseconds(100)});
  r.range("refresh_overhead", refresh_overhead, 0.0, 0.5);
  r.range("refresh_interval", refresh_interval, Duration{nanoseconds(100)}, Duration{microseconds(100000)});
  r.range("bus_efficiency", bus_efficiency, 0.05, 1.0);
  r.range("turnaround", turnaround, Duration{Tick{0}}, Duration{microseconds(1)});
  r.range("access", access, ByteSize{1}, ByteSize{4096});
}

const std::vector<DramImpl>& dram_impls() {
  static const std::vector<DramImpl> impls{
      {"channels", "independent FCFS channels with refresh windows and turnaround",
       [](const DramSpec& s) { return std::make_unique<Dram>(s); }},
  };
  return impls;
}

Tick Dram::busy() const {
  Tick b{0};
  for (const DramChannel& c : channels_) b += c.busy();
  return b;
}

Dram::Dram(const DramSpec& spec) : latency_(spec.latency.tick), access_(spec.access.bytes) {
  const uint32_t n = spec.channels();
  channel_bps_ = static_cast<uint64_t>(
      std::llround(static_cast<double>(spec.bandwidth.bytes_per_s) / n * spec.bus_efficiency));
  const Tick interval = spec.refresh_interval.tick;
  const Tick refresh =
      Tick{static_cast<int64_t>(std::llround(static_cast<double>(interval.ps()) * spec.refresh_overhead))};
  channels_.reserve(n);
  for (uint32_t c = 0; c < n; ++c) {
    channels_.emplace_back(channel_bps_, spec.turnaround.tick, interval, refresh,
                           Tick{interval.ps() * c / n});
  }
}

}  // namespace bwsim
