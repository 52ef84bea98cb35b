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
  /// moved them.
  Tick access(Tick now, uint64_t bytes) { return port_.reserve(now, now, time_for(bytes)); }
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
