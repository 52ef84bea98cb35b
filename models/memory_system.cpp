#include "models/memory_system.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

#include <fmt/format.h>

#include "models/hw_spec.hpp"
#include "models/unit.hpp"

#include "sim/rng.hpp"
#include "sim/timeline.hpp"

namespace bwsim {

void L2Spec::read(ConfigReader& r, uint32_t dies) {
  partitions = dies;  // one partition per die, addresses interleaved over all of them
  r.owned_by("memory_path");
  read_impl(r, impl, memory_path_impls(), "memory-path model (NoC, L2, die link)");
  r.req("capacity", capacity, "L2 capacity, whole chip");
  r.req("slices", slices, "L2 slices, whole chip; an address hash picks the slice");
  r.opt("sector", sector, ByteSize{32}, "sector (fill and transfer granularity)");
  r.opt("block", block, ByteSize{4096},
        "simulation tracking granule: tags, hits and eviction per block of a tensor (a 2D tile of rows x "
        "width); "
        "set to 128 B for line-exact tracking at higher simulation cost");
  r.opt("block_width", block_width, ByteSize{128},
        "widest row segment of a 2D tracking block (128 B matches the 128-byte rows of TMA boxes)");
  r.opt("ways", ways, 16u, "associativity (blocks per set)");
  r.opt_enum("policy", policy, ReplacementPolicy::kLru, kReplacementNames, "replacement policy");
  r.req("hit_latency", hit_latency, "L2 hit latency in L2-clock cycles, near partition, excluding the NoC");
  r.opt("cross_partition_latency", cross_partition_latency, Cycles{0},
        "extra cycles when the slice sits in the other partition (die)");
  r.req("slice_bandwidth", slice_bandwidth, "bytes per L2-clock cycle one slice returns");
  r.opt("cross_partition_bandwidth", cross_partition_bandwidth, Bandwidth{0},
        "bandwidth of the die-to-die link (0: not limiting)");
  // Physical ranges: today's L2s hold 2-256 MB in 32-200 slices of 16-32 ways, 32-byte sectors,
  // 100-300 cycles from a hit, 32-128 bytes per slice and clock.
  r.range("capacity", capacity, ByteSize{uint64_t{64} << 10}, ByteSize{uint64_t{16} << 30});
  r.range("slices", slices, 1u, 4096u);
  r.range("sector", sector, ByteSize{8}, ByteSize{1024});
  r.range("ways", ways, 1u, 1024u);
  r.range("block", block, ByteSize{8}, ByteSize{uint64_t{128} << 10});
  r.range("block_width", block_width, ByteSize{8}, ByteSize{uint64_t{128} << 10});
  r.range("hit_latency", hit_latency, Cycles{1}, Cycles{10000});
  r.range("cross_partition_latency", cross_partition_latency, Cycles{0}, Cycles{10000});
  r.range("slice_bandwidth", slice_bandwidth, BytesPerCycle{1}, BytesPerCycle{4096});
  r.range("cross_partition_bandwidth", cross_partition_bandwidth, Bandwidth{0},
          Bandwidth{1'000'000'000'000'000});
  r.check(partitions > 1 || !r.has("cross_partition_latency"), "cross_partition_latency",
          "describes the link between the dies' L2 partitions, and sm.dies is 1");
  r.check(partitions > 1 || !r.has("cross_partition_bandwidth"), "cross_partition_bandwidth",
          "describes the link between the dies' L2 partitions, and sm.dies is 1");
  r.check(partitions <= kMaxPartitions, "slices",
          fmt::format("are split over one L2 partition per die, and sm.dies is above {}", kMaxPartitions));
  r.check(slices >= partitions && slices % partitions == 0, "slices",
          "must be a multiple of sm.dies (one L2 partition per die)");
  r.check(block.bytes >= sector.bytes && block.bytes % sector.bytes == 0 && block.bytes / sector.bytes <= 128,
          "block", "must be a multiple of l2.sector and at most 128 sectors");
  r.check(
      block_width.bytes > 0 && block_width.bytes % sector.bytes == 0 && block.bytes % block_width.bytes == 0,
      "block_width", "must be a multiple of l2.sector that divides l2.block");
  r.check(capacity.bytes % (uint64_t{slices} * ways * block.bytes) == 0, "capacity",
          "must be a whole number of sets: capacity / (slices * ways * block)");
}

void NocSpec::read(ConfigReader& r) {
  r.owned_by("memory_path");
  r.req("latency", latency, "one-way SM <-> L2 slice latency, L2-clock cycles");
  r.req("sm_port_bandwidth", sm_port_bandwidth, "bytes per L2-clock cycle one SM can receive");
  r.range("latency", latency, Cycles{0}, Cycles{10000});
  r.range("sm_port_bandwidth", sm_port_bandwidth, BytesPerCycle{1}, BytesPerCycle{4096});
}

uint64_t default_memory_budget() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return uint64_t{8} << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2;
}

const std::vector<MemoryPathImpl>& memory_path_impls() {
  static const std::vector<MemoryPathImpl> impls{
      {"sliced", "address-hashed L2 slices in partitions per die, NoC ports, die-to-die link",
       [](Simulation& sim, const HwSpec& hw, const ClockDomain& l2, AddressMap& amap) {
         return std::make_unique<MemorySystem>(sim, hw, l2, amap);
       }}};
  return impls;
}

std::unique_ptr<MemoryPath> make_memory_path(Simulation& sim, const HwSpec& hw, const ClockDomain& l2_clock,
                                             AddressMap& amap) {
  return find_impl(memory_path_impls(), hw.l2.impl).make(sim, hw, l2_clock, amap);
}

namespace {

int popcount128(u128 v) {
  return std::popcount(static_cast<uint64_t>(v)) + std::popcount(static_cast<uint64_t>(v >> 64));
}

std::unique_ptr<DramModel> make_dram(const DramSpec& spec) {
  return find_impl(dram_impls(), spec.impl).make(spec);
}

uint64_t per_second(double bytes_per_cycle, Frequency f) {
  return static_cast<uint64_t>(bytes_per_cycle * static_cast<double>(f.hz));
}

}  // namespace

MemorySystem::MemorySystem(Simulation& sim, const HwSpec& hw, const ClockDomain& l2_clock, AddressMap& amap)
    : sim_(sim),
      amap_(amap),
      dram_(make_dram(hw.dram)),
      partitions_(hw.l2.partitions),
      slices_per_partition_(hw.l2.slices / hw.l2.partitions),
      channels_per_partition_(dram_->channels() / hw.l2.partitions),
      sms_per_die_(hw.sm.count / hw.sm.dies),
      sector_(hw.l2.sector.bytes),
      noc_latency_(l2_clock.span(hw.noc.latency)),
      hit_latency_(l2_clock.span(hw.l2.hit_latency)),
      cross_latency_(l2_clock.span(hw.l2.cross_partition_latency)),
      round_trip_(l2_clock.span(hw.noc.latency * 2 + hw.l2.hit_latency)),
      slice_bps_(per_second(hw.l2.slice_bandwidth.value, l2_clock.frequency())),
      port_bps_(per_second(hw.noc.sm_port_bandwidth.value, l2_clock.frequency())),
      link_bps_(hw.l2.cross_partition_bandwidth.bytes_per_s),
      capacity_(hw.l2.capacity.bytes),
      block_(hw.l2.block.bytes) {
  const uint64_t sets = hw.l2.sets_per_slice();
  slices_.reserve(hw.l2.slices);
  for (uint32_t s = 0; s < hw.l2.slices; ++s)
    slices_.emplace_back(sets, hw.l2.ways, hw.l2.policy, random_at(17, s));
  sm_ports_.resize(hw.sm.count);
  links_.resize(partitions_);
  StatGroup g(sim.stats(), "gpu");
  stats_.read_bytes = g.counter("bytes.l2.read", "bytes read through L2 (sector-rounded)", "B");
  stats_.write_bytes = g.counter("bytes.l2.write", "bytes written into L2", "B");
  stats_.hit_bytes = g.counter("bytes.l2.hit", "read bytes served by L2", "B");
  stats_.miss_bytes = g.counter("bytes.l2.miss", "read bytes fetched from DRAM", "B");
  stats_.blocks = g.counter("ops.l2_block_lookups", "tracking-block lookups");
  stats_.writeback_bytes = g.counter("bytes.l2.writeback", "dirty bytes written back on eviction", "B");
  stats_.cross_bytes = g.counter("bytes.die_link", "bytes that crossed the die-to-die link", "B");
  stats_.hbm_read = g.counter("bytes.hbm.read", "bytes read from DRAM (whole accesses)", "B");
  stats_.hbm_write = g.counter("bytes.hbm.write", "bytes written to DRAM (whole accesses)", "B");
}

namespace {
// i rotated within its group of n consecutive values by a per-group hash: every group of n
// consecutive inputs maps onto 0..n-1 exactly once.
uint64_t spread(uint64_t i, uint64_t n, uint64_t salt) { return (i + mix64((i / n) ^ salt)) % n; }
}  // namespace

uint32_t MemorySystem::home_partition(uint64_t ordinal) const {
  return static_cast<uint32_t>(spread(amap_.interleave_index(ordinal), partitions_, 1));
}

const MemorySystem::Route& MemorySystem::route(uint64_t ordinal) {
  if (ordinal >= routes_.size()) routes_.resize(std::max<uint64_t>(ordinal + 1, routes_.size() * 2));
  Route& r = routes_[ordinal];
  if (r.valid == 0) r = compute_route(ordinal);
  return r;
}

MemorySystem::Route MemorySystem::compute_route(uint64_t ordinal) const {
  const uint64_t index = amap_.interleave_index(ordinal);
  const auto p = static_cast<uint32_t>(spread(index, partitions_, 1));
  const uint64_t q = index / partitions_;  // consecutive within a partition
  const auto s = static_cast<uint32_t>(spread(q, slices_per_partition_, 2));
  const auto c = static_cast<uint32_t>(spread(q, channels_per_partition_, 3));
  const uint32_t slice = p * slices_per_partition_ + s;
  const uint64_t set = spread(q / slices_per_partition_, slices_[slice].sets(), 4);
  return {static_cast<uint32_t>(set), static_cast<uint16_t>(p), static_cast<uint16_t>(slice),
          p * channels_per_partition_ + c, 1};
}

void MemorySystem::dram_write(uint32_t channel, Tick at, uint64_t bytes) {
  bytes = dram_->moved(bytes);
  const Tick done = dram_->serve(channel, at, bytes, true);
  if (trace_ != nullptr) trace_->mem(MemCounter::kHbmWrite, done, bytes);
  sim_.stats().add(stats_.writeback_bytes, bytes);
  sim_.stats().add(stats_.hbm_write, bytes);
}

void MemorySystem::write_back(const L2Eviction& ev, Tick at) {
  if (!ev.happened || ev.dirty == 0) return;
  dram_write(route(ev.ordinal).channel, at, static_cast<uint64_t>(popcount128(ev.dirty)) * sector_);
}

void MemorySystem::set_start(const L2Start& s) {
  start_dirty_ = std::min(s.dirty_bytes, capacity_);
  start_free_ = capacity_ - start_dirty_;
  start_share_ = s.writeback_share;
  start_owed_ = 0;
}

// The dirty lines sit where a clean L2 would have had free space, so once the truly free space
// is used, every byte a fill brings in evicts a dirty byte of the flush (its lines were written
// whole). Their write-back goes out a block at a time, on the channel of the block filled (the
// evicted line was in the same set, so the same slice). A sampled run instead pays its share of
// every filled byte (L2Start).
void MemorySystem::start_write_back(const Route& rt, uint64_t filled, Tick at) {
  if (start_share_ > 0) {
    start_owed_ += start_share_ * static_cast<double>(filled);
  } else {
    const uint64_t free = std::min(start_free_, filled);
    start_free_ -= free;
    const uint64_t evicted = std::min(filled - free, start_dirty_);
    start_dirty_ -= evicted;
    start_owed_ += static_cast<double>(evicted);
  }
  if (start_owed_ < static_cast<double>(block_)) return;
  const auto bytes = static_cast<uint64_t>(start_owed_ / static_cast<double>(sector_)) * sector_;
  start_owed_ -= static_cast<double>(bytes);
  dram_write(rt.channel, at, bytes);
}

Tick MemorySystem::deliver(Tick now, uint32_t dest_sm, Tick back, uint64_t bytes) {
  return sm_ports_[dest_sm].reserve(now, back, transfer_time(bytes, port_bps_));
}

MemResult MemorySystem::read(uint32_t sm, const Region& r, std::span<const uint32_t> multicast, Tick issue) {
  const Tick now = sim_.now();  // timelines forget what ended before now
  const Tick t0 = std::max(now, issue);
  const uint32_t die = die_of_sm(sm);
  MemResult res{t0};
  Tick first_back = Tick::max();
  Tick last_back{0};
  uint64_t last_bytes = 0;
  // Blocks from another die cross the die-to-die link; like the SM port, the link is reserved
  // once per request and source partition (streaming from the first block out), not per block.
  struct Remote {
    Tick first_out = Tick::max();
    Tick last_out{0};
    uint64_t bytes = 0;
    uint64_t last_bytes = 0;
  };
  Remote remote_acc[L2Spec::kMaxPartitions];
  uint64_t blocks = 0;
  amap_.for_each_block(r, [&](const BlockAccess& b) {
    ++blocks;
    const Route& rt = route(b.ordinal);
    const bool remote = partitions_ > 1 && rt.partition != die;
    const Tick arrive = t0 + noc_latency_ + (remote ? cross_latency_ : Tick{0});
    const Tick lookup = arrive + hit_latency_;
    L2Eviction ev;
    L2Way& w = slices_[rt.slice].access(rt.set, b.key, b.ordinal, ev);
    write_back(ev, lookup);
    const uint64_t bytes = static_cast<uint64_t>(popcount128(b.sectors)) * sector_;
    const u128 missing = b.sectors & ~w.valid;
    const uint64_t miss = static_cast<uint64_t>(popcount128(missing)) * sector_;
    if (start_dirty_ != 0 || start_share_ > 0) start_write_back(rt, miss, lookup);
    Tick in_l2 = std::max(lookup, w.ready);
    if (miss > 0) {
      const uint64_t moved = dram_->moved(miss);
      const Tick served = dram_->serve(rt.channel, lookup, moved, false);
      if (trace_ != nullptr) trace_->mem(MemCounter::kHbmRead, served, moved);
      const Tick fetched = served + dram_->latency();
      w.valid |= missing;
      w.ready = std::max(w.ready, fetched);
      in_l2 = std::max(in_l2, fetched);
      sim_.stats().add(stats_.hbm_read, moved);
    }
    // The slice port is charged at lookup, in request order; the data leaves once it is in L2.
    const Tick out =
        std::max(in_l2, slices_[rt.slice].port().reserve(lookup, transfer_time(bytes, slice_bps_)).end);
    if (trace_ != nullptr) trace_->mem(MemCounter::kL2Read, out, bytes);
    res.bytes += bytes;
    res.miss_bytes += miss;
    res.hit_bytes += bytes - miss;
    if (remote && link_bps_ > 0) {  // the cross-die latency was paid once, on the way in
      Remote& x = remote_acc[rt.partition];
      x.first_out = std::min(x.first_out, out);
      if (out >= x.last_out) {
        x.last_out = out;
        x.last_bytes = bytes;
      }
      x.bytes += bytes;
      return;
    }
    if (remote) sim_.stats().add(stats_.cross_bytes, bytes);
    const Tick back = out + noc_latency_;
    first_back = std::min(first_back, back);
    if (back >= last_back) {
      last_back = back;
      last_bytes = bytes;
    }
  });
  sim_.stats().add(stats_.blocks, blocks);
  for (uint32_t p = 0; p < partitions_ && partitions_ > 1 && link_bps_ > 0; ++p) {
    const Remote& x = remote_acc[p];
    if (x.bytes == 0) continue;
    const Tick streamed = links_[p].reserve(now, x.first_out, transfer_time(x.bytes, link_bps_));
    const Tick done = std::max(streamed, x.last_out + transfer_time(x.last_bytes, link_bps_)) + noc_latency_;
    first_back = std::min(first_back, x.first_out + noc_latency_);
    if (done >= last_back) {
      last_back = done;
      last_bytes = x.last_bytes;
    }
    sim_.stats().add(stats_.cross_bytes, x.bytes);
  }
  // The SM ingress port takes the request's bytes once (per destination), streaming from the
  // first block's return; the data is complete no earlier than the last block's return plus its
  // own transfer. One reservation per request rather than one per block.
  if (res.bytes > 0) {
    const auto port = [&](uint32_t d) {
      const Tick streamed = deliver(now, d, first_back, res.bytes);
      return std::max(streamed, last_back + transfer_time(last_bytes, port_bps_));
    };
    if (multicast.empty()) {
      res.ready = port(sm);
    } else {
      for (uint32_t d : multicast) res.ready = std::max(res.ready, port(d));
    }
  }
  sim_.stats().add(stats_.read_bytes, res.bytes);
  sim_.stats().add(stats_.hit_bytes, res.hit_bytes);
  sim_.stats().add(stats_.miss_bytes, res.miss_bytes);
  return res;
}

MemResult MemorySystem::write(uint32_t sm, const Region& r, Tick issue) {
  const Tick now = sim_.now();
  const Tick t0 = std::max(now, issue);
  const uint32_t die = die_of_sm(sm);
  MemResult res{t0};
  amap_.for_each_block(r, [&](const BlockAccess& b) {
    const Route rt = route(b.ordinal);
    const bool remote = partitions_ > 1 && rt.partition != die;
    const uint64_t bytes = static_cast<uint64_t>(popcount128(b.sectors)) * sector_;
    Tick arrive = t0 + noc_latency_;
    if (remote) {
      arrive += cross_latency_;
      if (link_bps_ > 0)
        arrive = std::max(arrive, links_[die].reserve(now, now, transfer_time(bytes, link_bps_)));
      sim_.stats().add(stats_.cross_bytes, bytes);
    }
    L2Eviction ev;
    L2Way& w = slices_[rt.slice].access(rt.set, b.key, b.ordinal, ev);
    write_back(ev, arrive);
    if (start_dirty_ != 0 || start_share_ > 0)
      start_write_back(rt, static_cast<uint64_t>(popcount128(b.sectors & ~w.valid)) * sector_, arrive);
    w.valid |= b.sectors;
    w.dirty |= b.sectors;
    const Tick written = slices_[rt.slice].port().reserve(arrive, transfer_time(bytes, slice_bps_)).end;
    if (trace_ != nullptr) trace_->mem(MemCounter::kL2Write, written, bytes);
    res.ready = std::max(res.ready, written + hit_latency_ + noc_latency_);
    res.bytes += bytes;
    sim_.stats().add(stats_.blocks);
  });
  sim_.stats().add(stats_.write_bytes, res.bytes);
  return res;
}

}  // namespace bwsim
