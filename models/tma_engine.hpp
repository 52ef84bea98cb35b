// The TMA engine of one SM: issues box loads and stores to the memory path, one every
// tma.issue cycles, with at most tma.max_inflight_boxes loads in flight, and streams the
// arriving data into the SMEM of every destination (its own SM, or with multicast each CTA of
// the cluster that the load names).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "isa/arch.hpp"
#include "isa/region.hpp"
#include "models/memory_path.hpp"
#include "models/smem_port.hpp"
#include "models/unit.hpp"
#include "sim/config.hpp"
#include "sim/timeline.hpp"

namespace bwsim {

class GpuTrace;

struct TmaSpec {
  Cycles issue{0};  // SM cycles to issue one box
  uint32_t max_inflight_boxes = 0;
  bool multicast = false;
  void read(ConfigReader& r, Arch arch);
};

class TmaEngine {
 public:
  TmaEngine(uint32_t sm, const TmaSpec& spec, const ClockDomain& clk, MemoryPath& mem, SmemPort& smem,
            const SmCounters& counters);

  /// nullopt when a load may issue at `now`; otherwise when to try again (the first of the
  /// boxes in flight completes).
  std::optional<Tick> full_until(Tick now);
  /// Loads `r` into the SMEM of `dest_sms` (with their ports `dest_ports`; both empty: this SM's
  /// own), issued at `now`. Returns when the data is in every destination's SMEM.
  Tick load(const Region& r, std::span<const uint32_t> dest_sms, std::span<SmemPort* const> dest_ports,
            Tick now);
  /// Stores `r` from this SM's SMEM, issued at `now`. Returns when the write is acknowledged.
  Tick store(const Region& r, Tick now);

  void set_trace(GpuTrace* t) { trace_ = t; }

 private:
  uint32_t sm_;
  const TmaSpec* spec_;
  const ClockDomain* clk_;
  MemoryPath* mem_;
  SmemPort* smem_;
  const SmCounters* counters_;
  GpuTrace* trace_ = nullptr;
  ResourceTimeline issue_;
  std::vector<Tick> inflight_;  // when each load in flight completes
};

}  // namespace bwsim
