// One streaming multiprocessor: the resources its CTAs' ops occupy, and what makes a CTA fit.
//
// Timelines rather than per-cycle state: the tensor pipe (MMAs are issued in order), the SMEM
// port (32 banks x 4 B, shared by MMA operand fetch, TMA fills and epilogue traffic, which
// arrive out of order, so it back-fills gaps), the TMEM port (tcgen05.ld/st/cp), MUFU and FMA pipes, and the
// TMA unit's issue slot with a bound on boxes in flight. Occupancy follows the CTA's SMEM, TMEM, registers,
// warps and the CTA limit.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "isa/program.hpp"
#include "models/hw_spec.hpp"
#include "sim/gap_timeline.hpp"
#include "sim/timeline.hpp"

namespace bwsim {

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

class Sm {
 public:
  Sm(uint32_t index, const HwSpec& hw);

  uint32_t index;
  ResourceTimeline tensor_pipe;
  GapTimeline smem;  // one port: banked single-ported SRAM, reads and writes share its bandwidth
  ResourceTimeline tmem_port;
  ResourceTimeline mufu;
  ResourceTimeline fma;
  ResourceTimeline tma_issue;
  Tick copy_ready{0};               // when the last tcgen05.cp lands in TMEM (later MMAs start after it)
  uint64_t pending_copy_bytes = 0;  // tcgen05.cp bytes whose SMEM read the next MMA's fetch carries
  Tick tensor_busy{0};              // tensor pipe occupancy, for utilization

  /// Why a CTA with `r` can never run on this SM (too much SMEM, TMEM, ...), or nullopt.
  [[nodiscard]] std::optional<std::string> never_fits(const CtaResources& r) const;
  /// Whether one more CTA with `r` fits now.
  [[nodiscard]] bool fits(const CtaResources& r) const;
  /// Takes the resources; returns the TMEM offset.
  uint32_t admit(const CtaResources& r);
  void release(const CtaResources& r, uint32_t tmem_offset);
  [[nodiscard]] uint32_t resident() const { return ctas_; }

 private:
  const HwSpec* hw_;
  uint32_t ctas_ = 0;
  uint64_t smem_ = 0;
  uint32_t warps_ = 0;
  uint64_t regs_ = 0;
  TmemAllocator tmem_;
};

}  // namespace bwsim
