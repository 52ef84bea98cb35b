// The tensor pipe of one SM: tcgen05.mma (sm_100/sm_103), wgmma (sm_90) and mma.sync (sm_120).
//
// An MMA instruction occupies the pipe for M/group x N x K / rate cycles and, for tcgen05 and
// wgmma, fetches its SMEM operands through the SMEM port in the same window (A unless it is in
// TMEM or registers, and B): when the fetch takes longer than the math, the port binds. Its
// commit lands a fixed issue -> commit latency after its math starts, plus the math. A CTA-pair
// MMA (cta_group::2) runs on both SMs' pipes at once, each doing half of M.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "isa/arch.hpp"
#include "isa/mma_kind.hpp"
#include "isa/program.hpp"
#include "models/smem_port.hpp"
#include "models/tmem_port.hpp"
#include "models/unit.hpp"
#include "sim/config.hpp"
#include "sim/timeline.hpp"

namespace bwsim {

class GpuTrace;

struct TensorSpec {
  static constexpr size_t kKinds = kMmaKindNames.size();
  std::array<uint64_t, kKinds> macs_per_clk{};  // dense MACs per clock per SM; 0 = kind absent
  Cycles latency_smem{0};                       // issue -> commit fixed part, A and B in SMEM
  Cycles latency_tmem_a{0};                     // issue -> commit fixed part, A in TMEM
  Cycles latency_pair{0};                       // issue -> commit fixed part, CTA pair (cta_group::2)
  Cycles issue{1};                              // cycles the issuing thread spends per MMA instruction
  [[nodiscard]] uint64_t rate(MmaKind k) const { return macs_per_clk[static_cast<size_t>(k)]; }
  void read(ConfigReader& r, Arch arch);
};

/// Bits of one A/B element as the tensor core reads it from SMEM for `kind`.
int mma_operand_bits(MmaKind kind);

struct MmaTiming {
  Tick issued;  // the issuing thread is free again
  Tick commit;  // the last instruction's result is in the accumulator
};

class TensorPipe {
 public:
  TensorPipe(uint32_t sm, const TensorSpec& spec, Arch arch, const ClockDomain& clk, SmemPort& smem,
             TmemPort& tmem, const SmCounters& counters);

  /// Issues `mma` at `now` on `pipes` (this SM's, or a CTA pair's two). The caller checks that
  /// the kind exists (rate > 0).
  static MmaTiming issue(const op::Mma& mma, Tick now, std::span<TensorPipe* const> pipes);

  [[nodiscard]] Tick busy() const { return busy_; }
  /// Of busy(), the time spent on math (not waiting for SMEM operands).
  [[nodiscard]] Tick math() const { return math_; }
  [[nodiscard]] Tick next_free() const { return pipe_.next_free(); }
  [[nodiscard]] const TensorSpec& spec() const { return *spec_; }
  void set_trace(GpuTrace* t) { trace_ = t; }

 private:
  uint32_t sm_;
  const TensorSpec* spec_;
  bool warp_level_;  // mma.sync: operands from registers, filled by separate ld.shared ops
  const ClockDomain* clk_;
  SmemPort* smem_;
  TmemPort* tmem_;
  const SmCounters* counters_;
  GpuTrace* trace_ = nullptr;
  ResourceTimeline pipe_;
  Tick busy_{0};
  Tick math_{0};
};

}  // namespace bwsim
