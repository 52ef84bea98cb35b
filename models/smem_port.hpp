// The SMEM port of one SM: banked single-ported SRAM whose bandwidth MMA operand fetches, TMA
// fills, tcgen05.cp and the epilogue's ld/st.shared all share. They arrive out of order (a fill
// is booked when its data will arrive, later than ops issued after it), so the port is a gap
// timeline that back-fills free intervals rather than a queue.
#pragma once

#include <cstdint>

#include "models/unit.hpp"
#include "sim/config.hpp"
#include "sim/gap_timeline.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct SmemSpec {
  ByteSize capacity;
  ByteSize max_per_cta;
  BytesPerCycle bandwidth;
  Cycles latency{0};
  void read(ConfigReader& r);
};

class SmemPort {
 public:
  SmemPort(const SmemSpec& spec, const ClockDomain& clk) : spec_(&spec), clk_(&clk) {}

  /// Port time for `bytes`, whole cycles.
  [[nodiscard]] Tick time_for(uint64_t bytes) const {
    return bytes_time(*clk_, bytes, spec_->bandwidth.value);
  }
  /// An access of `bytes` (ld/st.shared, a TMA store's read) issued at `now`: when the port has
  /// moved them. A tile's ld/st.shared is thousands of warp instructions, which the banks
  /// interleave with TMA fill chunks at fine grain, so it takes every free stretch of the port
  /// from `now` on (reserve_split) rather than waiting for one gap long enough to hold it all:
  /// a contiguous reservation made a 64 KiB epilogue store wait behind every fill chunk already
  /// booked, and the kernel's time jumped by 9% between 1.38 and 1.39 GHz as fill arrivals
  /// shifted against it.
  Tick access(Tick now, uint64_t bytes) { return port_.reserve_split(now, now, time_for(bytes)); }
  /// ld.shared of `bytes` issued at `now`: when the data is in registers (port time, then the
  /// access latency).
  Tick read(Tick now, uint64_t bytes) { return access(now, bytes) + clk_->span(spec_->latency); }
  /// An MMA's operand fetch of `service`, from `start`, split over the port's free gaps.
  Tick fetch(Tick now, Tick start, Tick service) { return port_.reserve_split(now, start, service); }
  /// A TMA fill of `bytes` arriving from `from` in `chunks` pieces of `piece` each.
  Tick fill(Tick now, Tick from, Tick piece, uint64_t chunks) {
    return port_.reserve_stream(now, from, piece, chunks);
  }
  [[nodiscard]] Tick busy() const { return port_.busy(); }
  [[nodiscard]] const SmemSpec& spec() const { return *spec_; }

 private:
  const SmemSpec* spec_;
  const ClockDomain* clk_;
  GapTimeline port_;
};

}  // namespace bwsim
