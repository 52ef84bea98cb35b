// One streaming multiprocessor: its units (tensor pipe, TMEM and SMEM ports, TMA engine, scalar
// pipes; see unit.hpp) and its occupancy, which decides whether a CTA fits (SMEM, TMEM,
// registers, warps and the CTA limit).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "isa/program.hpp"
#include "models/hw_spec.hpp"
#include "models/memory_path.hpp"
#include "models/scalar_pipes.hpp"
#include "models/smem_port.hpp"
#include "models/tensor_pipe.hpp"
#include "models/tma_engine.hpp"
#include "models/tmem_port.hpp"
#include "models/unit.hpp"

namespace bwsim {

class GpuTrace;

/// What fits on one SM: resident CTAs, warps, registers, SMEM and TMEM columns.
class Occupancy {
 public:
  explicit Occupancy(const HwSpec& hw);
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

class Sm {
 public:
  Sm(uint32_t index, const HwSpec& hw, const ClockDomain& clk, MemoryPath& mem, const SmCounters& counters);
  Sm(const Sm&) = delete;  // units point at their neighbours
  Sm& operator=(const Sm&) = delete;

  void set_trace(GpuTrace* t) {
    tensor.set_trace(t);
    tma.set_trace(t);
  }

  uint32_t index;
  SmemPort smem;
  TmemPort tmem;
  TensorPipe tensor;
  TmaEngine tma;
  ScalarPipes pipes;
  Occupancy occupancy;
};

}  // namespace bwsim
