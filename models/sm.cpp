#include "models/sm.hpp"

#include <fmt/format.h>

namespace bwsim {

Occupancy::Occupancy(const HwSpec& hw)
    : hw_(&hw), tmem_(hw.tmem.present ? hw.tmem.columns : 0, kTmemAllocMinColumns) {}

std::optional<std::string> Occupancy::never_fits(const CtaResources& r) const {
  if (r.smem_bytes > hw_->smem.max_per_cta.bytes) {
    return fmt::format("needs {} B of shared memory per CTA; smem.max_per_cta is {}", r.smem_bytes,
                       to_string(hw_->smem.max_per_cta));
  }
  if (r.tmem_columns > 0 && !hw_->tmem.present) return "needs TMEM, which this GPU does not have";
  if (r.tmem_columns > 0 && tmem_.rounded(r.tmem_columns) > hw_->tmem.columns) {
    return fmt::format("needs {} TMEM columns; tmem.columns is {}", r.tmem_columns, hw_->tmem.columns);
  }
  const uint32_t warps = (r.threads + 31) / 32;
  if (warps > hw_->sm.max_warps)
    return fmt::format("needs {} warps; sm.max_warps is {}", warps, hw_->sm.max_warps);
  if (uint64_t{r.threads} * r.registers_per_thread > hw_->sm.registers) {
    return fmt::format("needs {} registers; sm.registers is {}", uint64_t{r.threads} * r.registers_per_thread,
                       hw_->sm.registers);
  }
  return std::nullopt;
}

bool Occupancy::fits(const CtaResources& r) const {
  const uint32_t warps = (r.threads + 31) / 32;
  if (ctas_ + 1 > hw_->sm.max_ctas || smem_ + r.smem_bytes > hw_->smem.capacity.bytes ||
      warps_ + warps > hw_->sm.max_warps ||
      regs_ + uint64_t{r.threads} * r.registers_per_thread > hw_->sm.registers) {
    return false;
  }
  if (r.tmem_columns == 0) return true;
  TmemAllocator probe = tmem_;
  return probe.allocate(r.tmem_columns).has_value();
}

uint32_t Occupancy::admit(const CtaResources& r) {
  ++ctas_;
  smem_ += r.smem_bytes;
  warps_ += (r.threads + 31) / 32;
  regs_ += uint64_t{r.threads} * r.registers_per_thread;
  return r.tmem_columns == 0 ? 0 : tmem_.allocate(r.tmem_columns).value();
}

void Occupancy::release(const CtaResources& r, uint32_t tmem_offset) {
  --ctas_;
  smem_ -= r.smem_bytes;
  warps_ -= (r.threads + 31) / 32;
  regs_ -= uint64_t{r.threads} * r.registers_per_thread;
  tmem_.release(tmem_offset, r.tmem_columns);
}

Sm::Sm(uint32_t i, const HwSpec& hw, const ClockDomain& clk, MemoryPath& mem, const SmCounters& counters)
    : index(i),
      smem(hw.smem, clk),
      tmem(hw.tmem, clk),
      tensor(i, hw.tensor, hw.arch, clk, smem, tmem, counters),
      tma(i, hw.tma, clk, mem, smem, counters),
      pipes(hw.pipes, clk, counters),
      occupancy(hw) {}

}  // namespace bwsim
