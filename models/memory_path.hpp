// The path from an SM to device memory and back, behind one interface so that another model
// of it (a mesh NoC, a bank-level DRAM) can replace today's without touching the executor or
// the TMA engine. The implementation is chosen by name in the config (`l2.impl`; device memory
// inside it by `hbm.impl`), as Ramulator 2 selects its implementations, from a registry that
// names every choice in its error message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "isa/region.hpp"
#include "sim/time.hpp"

namespace bwsim {

class AddressMap;
class ClockDomain;
class GpuTrace;
class Simulation;
struct HwSpec;

struct MemResult {
  Tick ready;               // data in the (last) destination SM / write acknowledged
  uint64_t bytes = 0;       // sector-rounded bytes moved
  uint64_t hit_bytes = 0;   // served by L2
  uint64_t miss_bytes = 0;  // fetched from DRAM
};

/// Simulator memory per L2 tracking block of a tensor a kernel touches (its route, tags and fill
/// state), measured with --functional off on the development machine (peak RSS over blocks,
/// 2026-12-06: 16384^3 NVFP4 GEMM ~180 B, 65536 x 256 x 65536 BF16 ~115 B; rounded up), and
/// the base beside them (~55 MB).
inline constexpr uint64_t kTrackedBlockBytes = 256;
inline constexpr uint64_t kSimulationBaseBytes = uint64_t{64} << 20;
/// Half of this machine's physical memory: the default memory budget of a simulation.
uint64_t default_memory_budget();

/// The L2 as a kernel finds it. A benchmark that flushes L2 by writing a buffer larger than it
/// before each timed call (triton's do_bench and cudnn-frontend zero 256 MiB; nvbench memsets
/// one) leaves it full of that buffer's dirty lines: the kernel's first fills evict them, and
/// each eviction writes its line back to device memory.
struct L2Start {
  /// Bytes of another buffer's dirty lines in L2 (at most its capacity; 0: a clean L2). The
  /// kernel's fills first take the ways those lines leave free, then evict them one for one.
  uint64_t dirty_bytes = 0;
  /// A sampled run (part of a kernel, extrapolated): the write-back spread over the sample,
  /// as this share of every byte the kernel fills (read misses and writes); 0: not.
  double writeback_share = 0;
};

class MemoryPath {
 public:
  virtual ~MemoryPath() = default;
  /// Reads region `r` for SM `sm`; with `multicast`, the data is delivered to each listed SM
  /// (TMA multicast), `sm` included or not as listed. The request leaves the SM at `issue`
  /// (not before now: e.g. when a TMA issue slot ends).
  virtual MemResult read(uint32_t sm, const Region& r, std::span<const uint32_t> multicast = {},
                         Tick issue = Tick{0}) = 0;
  /// Writes region `r` from SM `sm`.
  virtual MemResult write(uint32_t sm, const Region& r, Tick issue = Tick{0}) = 0;
  /// A release store seen by an acquire poll from another SM: an L2 round trip.
  [[nodiscard]] virtual Tick round_trip() const = 0;
  /// Busy time summed over the device-memory channels (utilization).
  [[nodiscard]] virtual Tick dram_busy() const = 0;
  /// The die an SM sits on, and the die whose L2 partition is home to a block.
  [[nodiscard]] virtual uint32_t die_of_sm(uint32_t sm) const = 0;
  [[nodiscard]] virtual uint32_t home_partition(uint64_t block_ordinal) const = 0;
  /// The L2's state when the next kernel starts (before the first access).
  virtual void set_start(const L2Start& s) = 0;
  /// Records bytes per memory level over time into `t` (null: not).
  virtual void set_trace(GpuTrace* t) = 0;
};

/// The memory-path implementations by name (`l2.impl`).
using MemoryPathFactory = std::function<std::unique_ptr<MemoryPath>(Simulation&, const HwSpec&,
                                                                    const ClockDomain& l2, AddressMap&)>;
struct MemoryPathImpl {
  std::string_view name;
  std::string_view doc;
  MemoryPathFactory make;
};
const std::vector<MemoryPathImpl>& memory_path_impls();
std::unique_ptr<MemoryPath> make_memory_path(Simulation& sim, const HwSpec& hw, const ClockDomain& l2_clock,
                                             AddressMap& amap);

}  // namespace bwsim
