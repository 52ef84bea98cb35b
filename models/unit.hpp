// Units: the parts of an SM and of the chip that a CTA's ops occupy.
//
// Each unit is one file pair holding its spec section (the config keys it reads, and only
// those), its timelines, its counters and what it records in a trace; the executor hands each
// op to the unit that does it and keeps only launch, roles, barriers and completions. A unit
// sees no roles or barriers, only the neighbour units it is built with, so a test can drive it
// alone (tests/models/test_units.cpp).
//
// Key ownership: a unit's spec section is read through a ConfigReader marked owned_by(its
// name), so every parameter record names the unit that consumes it, and HwSpec::read refuses a
// key whose owner is not one of kUnitNames. A key that is read but moves nothing is caught by
// the key-sensitivity test (tests/models/test_hw_keys.cpp), which changes every numeric key of
// every shipped config and checks that some micro or kernel's time or bytes move.
//
// Adding a unit: a file pair here with its spec struct (read(ConfigReader&)) and class, a member
// in HwSpec and a section in HwSpec::read, an op kind in isa/program.hpp if it is driven by a
// new op, and its name below. docs/architecture.md walks through an example.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "sim/clock.hpp"
#include "sim/config.hpp"

namespace bwsim {

/// Every unit that may own config keys.
inline constexpr std::array<std::string_view, 14> kUnitNames{
    "gpu",           // name, arch: what the reports call the GPU and which instructions exist
    "clocks",        // the SM and L2 clock domains
    "occupancy",     // what makes a CTA fit on an SM (CTA, warp, register, SMEM, TMEM limits)
    "tensor_pipe",   // tcgen05 / wgmma / mma.sync
    "tmem_port",     // tcgen05.ld / st / cp and TMEM allocation
    "smem_port",     // SMEM bandwidth and latency
    "tma_engine",    // TMA box issue, boxes in flight, multicast
    "scalar_pipes",  // FP32 FMA and MUFU
    "memory_path",   // NoC, L2 slices and partitions, the die-to-die link
    "dram",          // device-memory channels (impl-selected)
    "nvlink",        // GPU-to-GPU links (all-reduce in model steps)
    "launch",        // kernel launch gaps and element-wise streams in model steps
    "power",         // energy per operation, the power limit and the clock governor
    "simulation",    // not hardware: the GEMM planner's estimate and the sampling settings
};

/// Reads the `impl` key of a section: the name of one of `impls` (a registry of {name, doc,
/// make}, as dram_impls()), the first by default; any other name is an error listing them all.
template <class Impls>
void read_impl(ConfigReader& r, std::string& out, const Impls& impls, std::string_view what) {
  std::string names;
  for (const auto& i : impls) names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", i.name, i.doc);
  r.opt("impl", out, std::string(impls.front().name), fmt::format("{}: {}", what, names));
  bool known = false;
  for (const auto& i : impls) known = known || i.name == out;
  r.check(known, "impl", fmt::format("is \"{}\"; expected one of: {}", out, names));
}

/// The implementation named `name` in a registry read_impl checked.
template <class Impls>
const auto& find_impl(const Impls& impls, std::string_view name) {
  for (const auto& i : impls) {
    if (i.name == name) return i;
  }
  throw std::logic_error(fmt::format("no implementation named {}", name));
}

/// Time to move `bytes` at `bytes_per_clk` in clock domain `clk`, in whole cycles (rounded up).
inline Tick bytes_time(const ClockDomain& clk, uint64_t bytes, double bytes_per_clk) {
  return clk.span(Cycles{static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / bytes_per_clk))});
}

}  // namespace bwsim

#include "sim/stats.hpp"

namespace bwsim {

/// Counters of the per-SM units, summed over the SMs. The names ("gpu.ops.mma_macs") are the
/// stable ones reports, sweeps and tests read; registration order is the JSON order.
struct SmCounters {
  explicit SmCounters(StatsRegistry& r) : reg(&r) {
    StatGroup g(r, "gpu");
    mma_instructions = g.counter("ops.mma_instructions", "tensor instructions issued");
    mma_macs = g.counter("ops.mma_macs", "multiply-accumulates done by tensor instructions");
    tma_loads = g.counter("ops.tma_loads", "TMA box loads");
    tma_load_bytes = g.counter("bytes.tma.load", "bytes loaded by TMA (per destination SM)", "B");
    tma_store_bytes = g.counter("bytes.tma.store", "bytes stored by TMA", "B");
    loads = g.counter("ops.loads", "global loads (LDG)");
    load_bytes = g.counter("bytes.ldg", "bytes of global loads", "B");
    smem_bytes = g.counter("bytes.smem", "shared-memory bytes read and written", "B");
    tmem_bytes = g.counter("bytes.tmem", "TMEM bytes moved by tcgen05.ld/st/cp", "B");
    exp2 = g.counter("ops.exp2", "MUFU exp2 operations");
    fma = g.counter("ops.fma", "FP32 FMA operations");
    ctas = g.counter("ops.ctas", "CTAs run");
  }
  void add(StatId id, uint64_t n = 1) const { reg->add(id, n); }

  StatsRegistry* reg;
  StatId mma_instructions, mma_macs, tma_loads, tma_load_bytes, tma_store_bytes, loads, load_bytes,
      smem_bytes, tmem_bytes, exp2, fma, ctas;
};

}  // namespace bwsim
