// Tensor memory of one SM (sm_100/sm_103): its allocator (tcgen05.alloc) and its port to the
// registers (tcgen05.ld/st) and from SMEM (tcgen05.cp). A tcgen05.cp is part of the tensor
// core's own operand stream: its TMEM write must land before the next MMA starts, and its SMEM
// read is charged in that MMA's fetch window, so the port keeps both for the tensor pipe.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "models/unit.hpp"
#include "sim/config.hpp"
#include "sim/timeline.hpp"
#include "sim/units.hpp"

namespace bwsim {

/// TMEM lanes per SM: one per accumulator row of an M=128 MMA, on every tcgen05 part (an
/// architectural constant, not a config key: no kernel could use other than 128).
inline constexpr uint32_t kTmemLanes = 128;
/// tcgen05.alloc takes a power of two of at least 32 columns (PTX ISA): likewise a constant.
inline constexpr uint32_t kTmemAllocMinColumns = 32;

struct TmemSpec {
  bool present = false;
  uint32_t columns = 0;     // 32-bit columns
  BytesPerCycle bandwidth;  // tcgen05.ld/st between TMEM and registers, per SM
  [[nodiscard]] uint64_t bytes() const { return uint64_t{kTmemLanes} * columns * 4; }
  void read(ConfigReader& r);
};

/// Power-of-two column chunks of TMEM (tcgen05.alloc), buddy-allocated.
class TmemAllocator {
 public:
  TmemAllocator(uint32_t columns, uint32_t min_columns);
  /// Rounds `columns` up to a power of two >= the minimum; nullopt if it does not fit now.
  std::optional<uint32_t> allocate(uint32_t columns);
  void release(uint32_t offset, uint32_t columns);
  [[nodiscard]] uint32_t rounded(uint32_t columns) const;
  [[nodiscard]] uint32_t free_columns() const;

 private:
  uint32_t columns_;
  uint32_t unit_;
  std::vector<bool> used_;  // per unit of min_columns
};

class TmemPort {
 public:
  TmemPort(const TmemSpec& spec, const ClockDomain& clk) : spec_(&spec), clk_(&clk) {}

  [[nodiscard]] bool present() const { return spec_->present; }
  /// tcgen05.ld or .st of `bytes` issued at `now`; the issuing warps wait until it ends.
  Reservation move(Tick now, uint64_t bytes) { return port_.reserve(now, time_for(bytes)); }
  /// tcgen05.cp of `bytes` from SMEM issued at `now`: asynchronous, in order with later MMAs.
  void copy(Tick now, uint64_t bytes) {
    pending_copy_bytes_ += bytes;
    copy_ready_ = std::max(copy_ready_, port_.reserve(now, time_for(bytes)).end);
  }
  /// When the last tcgen05.cp lands (a later MMA starts after it).
  [[nodiscard]] Tick copy_ready() const { return copy_ready_; }
  /// The SMEM bytes of copies not yet charged to an MMA's fetch; the next MMA takes them.
  uint64_t take_pending_copy_bytes() { return std::exchange(pending_copy_bytes_, uint64_t{0}); }

 private:
  [[nodiscard]] Tick time_for(uint64_t bytes) const {
    return bytes_time(*clk_, bytes, spec_->bandwidth.value);
  }
  const TmemSpec* spec_;
  const ClockDomain* clk_;
  ResourceTimeline port_;
  Tick copy_ready_{0};
  uint64_t pending_copy_bytes_ = 0;
};

}  // namespace bwsim
