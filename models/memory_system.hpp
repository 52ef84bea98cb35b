// The path from an SM to device memory and back: NoC, L2 partitions and slices, the die-to-die
// link, DRAM channels. Requests are coarse (a whole TMA box or load); their timing is computed
// when they are issued, from the timelines of every resource on the path, so one request costs
// one completion event however many blocks it touches.
//
// Read of one block, issued at t by an SM on die d:
//   arrive   = t + noc.latency (+ cross_partition_latency, the whole round-trip penalty, if the
//              block's home is not die d)
//   lookup   = arrive + l2.hit_latency                      (hit/miss known, data if hit)
//   miss:      DRAM channel transfer from `lookup`, data in L2 after + hbm.latency
//   out      = the slice port (bytes at l2.slice_bandwidth, charged at lookup in request order),
//              and not before the data is in L2
//   back     = out + noc.latency (remote: the die-to-die link's bandwidth too)
//   ready    = the SM's ingress port, bytes at noc.sm_port_bandwidth, from `back`
// A block whose fill is still in flight is a hit that waits for the fill (the merge an MSHR
// does). Writes allocate in L2 without reading DRAM; dirty blocks reach DRAM when evicted.
//
// Interleaving: blocks are spread over partitions, slices, sets and DRAM channels by their
// ordinal in address order, evenly within every group of consecutive blocks and rotated by a
// hash between groups, as the hardware's XOR-based address hashes spread sequential addresses.
// A purely random hash would leave the busiest of 128 channels ~5% above the mean on a
// stream, and a streaming kernel ends when its busiest channel does.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "models/address_map.hpp"
#include "models/dram.hpp"
#include "models/gpu_trace.hpp"
#include "models/l2.hpp"
#include "models/memory_path.hpp"
#include "sim/clock.hpp"
#include "sim/config.hpp"
#include "sim/gap_timeline.hpp"
#include "sim/simulation.hpp"

namespace bwsim {

struct HwSpec;

struct NocSpec {
  Cycles latency{0};                // SM <-> L2 slice, one way, L2 clock
  BytesPerCycle sm_port_bandwidth;  // per SM
  void read(ConfigReader& r);
};

/// `l2.impl = "sliced"`.
class MemorySystem : public MemoryPath {
 public:
  MemorySystem(Simulation& sim, const HwSpec& hw, const ClockDomain& l2_clock, AddressMap& amap);

  MemResult read(uint32_t sm, const Region& r, std::span<const uint32_t> multicast = {},
                 Tick issue = Tick{0}) override;
  MemResult write(uint32_t sm, const Region& r, Tick issue = Tick{0}) override;
  [[nodiscard]] Tick round_trip() const override { return round_trip_; }
  [[nodiscard]] Tick dram_busy() const override { return dram_->busy(); }
  [[nodiscard]] uint32_t die_of_sm(uint32_t sm) const override { return sm / sms_per_die_; }
  [[nodiscard]] uint32_t home_partition(uint64_t block_ordinal) const override;
  [[nodiscard]] AddressMap& address_map() { return amap_; }
  void set_trace(GpuTrace* t) override { trace_ = t; }
  void set_start(const L2Start& s) override;

 private:
  struct Route {
    uint32_t set;
    uint16_t partition;
    uint16_t slice;
    uint32_t channel;
    uint32_t valid;  // 0: not computed yet
  };
  /// The block's home, from the hashes; memoized per ordinal (ordinals are dense), since the
  /// hashes' divisions are a large share of a block access.
  const Route& route(uint64_t block_ordinal);
  [[nodiscard]] Route compute_route(uint64_t block_ordinal) const;
  void write_back(const L2Eviction& ev, Tick at);
  /// The write-back a fill of `filled` bytes into a block of `rt` causes among the dirty lines
  /// the run started with (set_start).
  void start_write_back(const Route& rt, uint64_t filled, Tick at);
  void dram_write(uint32_t channel, Tick at, uint64_t bytes);
  Tick deliver(Tick now, uint32_t dest_sm, Tick back, uint64_t bytes);

  Simulation& sim_;
  AddressMap& amap_;
  GpuTrace* trace_ = nullptr;
  std::unique_ptr<DramModel> dram_;
  std::vector<L2Slice> slices_;
  std::vector<Route> routes_;
  std::vector<GapTimeline> sm_ports_;
  std::vector<GapTimeline> links_;  // die-to-die link per direction (from partition p)
  uint32_t partitions_;
  uint32_t slices_per_partition_;
  uint32_t channels_per_partition_;
  uint32_t sms_per_die_;
  uint64_t sector_;
  Tick noc_latency_;
  Tick hit_latency_;
  Tick cross_latency_;
  Tick round_trip_;  // NoC both ways and an L2 hit, rounded once
  uint64_t slice_bps_;
  uint64_t port_bps_;
  uint64_t link_bps_;
  uint64_t capacity_;
  uint64_t block_;
  // Another buffer's dirty lines the run started with (set_start).
  uint64_t start_free_ = 0;   // bytes of fills that still find a way the dirty lines left free
  uint64_t start_dirty_ = 0;  // dirty bytes not written back yet
  double start_share_ = 0;    // sampled runs: the share of each filled byte written back
  double start_owed_ = 0;     // evicted dirty bytes not yet written (written a block at a time)
  struct {
    StatId read_bytes, write_bytes, hit_bytes, miss_bytes, blocks, cross_bytes, writeback_bytes, hbm_read,
        hbm_write;
  } stats_;
};

}  // namespace bwsim
