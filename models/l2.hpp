// One L2 slice: a set-associative tag store over tracking blocks (see address_map.hpp), with
// per-sector valid and dirty bits, and the slice's data port.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/config.hpp"
#include "sim/rng.hpp"
#include "sim/time.hpp"
#include "sim/timeline.hpp"
#include "sim/units.hpp"
#include "sim/wide_int.hpp"

namespace bwsim {

enum class ReplacementPolicy { kLru, kFifo, kRandom };
inline constexpr std::array<std::pair<std::string_view, ReplacementPolicy>, 3> kReplacementNames{
    {{"lru", ReplacementPolicy::kLru},
     {"fifo", ReplacementPolicy::kFifo},
     {"random", ReplacementPolicy::kRandom}}};

struct L2Spec {
  std::string impl = "sliced";  // which MemoryPath (memory_path_impls())
  ByteSize capacity;
  static constexpr uint32_t kMaxPartitions = 8;
  uint32_t partitions = 1;  // one per die (sm.dies)
  uint32_t slices = 0;      // whole chip
  ByteSize sector;
  ByteSize block;        // tracking granule: hit/miss, eviction and slice mapping unit
  ByteSize block_width;  // widest row segment of a 2D block (a block is rows x width)
  uint32_t ways = 0;
  ReplacementPolicy policy = ReplacementPolicy::kLru;
  [[nodiscard]] uint64_t sets_per_slice() const {
    return capacity.bytes / (uint64_t{slices} * ways * block.bytes);
  }
  Cycles hit_latency{0};              // L2 clock cycles, near partition
  Cycles cross_partition_latency{0};  // added when the slice is on the other die
  BytesPerCycle slice_bandwidth;
  Bandwidth cross_partition_bandwidth;
  void read(ConfigReader& r, uint32_t dies);
};

struct L2Way {
  static constexpr uint64_t kInvalid = ~uint64_t{0};
  uint64_t key = kInvalid;
  uint64_t ordinal = 0;  // the block's interleaving ordinal (routes its write-back)
  u128 valid = 0;        // sectors present (or being filled)
  u128 dirty = 0;        // sectors written and not yet written back
  uint64_t stamp = 0;
  Tick ready{0};  // when in-flight fills of this block complete
};

/// What an allocation pushed out.
struct L2Eviction {
  bool happened = false;
  uint64_t ordinal = 0;
  u128 dirty = 0;
};

class L2Slice {
 public:
  L2Slice(uint64_t sets, uint32_t ways, ReplacementPolicy policy, uint64_t seed);

  /// The way holding `key` in `set`, allocating one (and evicting a victim) if absent.
  L2Way& access(uint64_t set, uint64_t key, uint64_t ordinal, L2Eviction& ev);
  /// The way holding `key`, or nullptr (no state change).
  [[nodiscard]] const L2Way* find(uint64_t set, uint64_t key) const;
  ResourceTimeline& port() { return port_; }
  [[nodiscard]] uint64_t sets() const { return sets_; }

 private:
  uint64_t sets_;
  uint32_t ways_;
  ReplacementPolicy policy_;
  Rng rng_;
  uint64_t clock_ = 0;
  // sets_ x ways_. The keys are kept apart from the rest of the way so that a lookup scans one
  // or two host cache lines, not a whole set of ways (the tag store is megabytes).
  std::vector<uint64_t> keys_;
  std::vector<L2Way> tags_;
  ResourceTimeline port_;
};

}  // namespace bwsim
