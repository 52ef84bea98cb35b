#include <gtest/gtest.h>

#include "models/dram.hpp"
#include "models/hw_spec.hpp"
#include "models/l2.hpp"
#include "models/memory_system.hpp"
#include "sim/config.hpp"
#include "tests/test_util.hpp"

namespace bwsim {
namespace {

HwSpec simple_hw(std::vector<std::string> sets = {}) {
  ConfigTree t = ConfigTree::load_file(std::string(BWSIM_TEST_DATA_DIR) + "/hw/simple.toml");
  for (const auto& s : sets) t.set(s);
  return HwSpec::read(t);
}

struct Fixture {
  explicit Fixture(const HwSpec& h)
      : hw(h),
        l2clk("l2", h.clock.l2),
        amap(h.l2.block.bytes, h.l2.block_width.bytes, h.l2.sector.bytes),
        mem(sim, hw, l2clk, amap) {}
  HwSpec hw;
  Simulation sim;
  ClockDomain l2clk;
  AddressMap amap;
  MemorySystem mem;
};

TEST(Dram, LoneTransferAndBackToBackRequests) {
  DramChannel ch(64000000000ull, Tick{0}, nanoseconds(1000), Tick{0}, Tick{0});
  EXPECT_EQ(ch.serve(nanoseconds(5), 64, false), nanoseconds(6));  // 64 B at 64 GB/s = 1 ns
  Tick last;
  for (int i = 0; i < 100; ++i) last = ch.serve(nanoseconds(0), 64, false);
  EXPECT_EQ(last, nanoseconds(106));  // queued behind each other: exactly the channel bandwidth
  EXPECT_EQ(ch.read_bytes(), 101u * 64);
}

TEST(Dram, RefreshWindowsAndTurnaroundCostBandwidth) {
  // 10 ns of refresh every 100 ns: 1 ns transfers that would overlap a window wait for its end.
  DramChannel ch(64000000000ull, nanoseconds(2), nanoseconds(100), nanoseconds(10), Tick{0});
  Tick t;
  for (int i = 0; i < 180; ++i) t = ch.serve(Tick{0}, 64, false);
  EXPECT_EQ(t, nanoseconds(200));  // 180 transfers of 1 ns in the 180 ns outside [0,10) and [100,110)
  // A write after reads pays the 2 ns turnaround; so does the read after it.
  EXPECT_EQ(ch.serve(nanoseconds(250), 64, true), nanoseconds(253));
  EXPECT_EQ(ch.serve(nanoseconds(253), 64, false), nanoseconds(256));
}

TEST(L2Slice, EvictsByTheConfiguredPolicy) {
  for (auto policy : {ReplacementPolicy::kLru, ReplacementPolicy::kFifo}) {
    L2Slice s(1, 2, policy, 1);
    L2Eviction ev;
    s.access(0, 1, 100, ev);
    s.access(0, 2, 200, ev);
    s.access(0, 1, 100, ev);  // touch block 1 again
    EXPECT_FALSE(ev.happened);
    L2Way& w = s.access(0, 3, 300, ev);  // the set is full: evict
    ASSERT_TRUE(ev.happened);
    EXPECT_EQ(ev.ordinal, policy == ReplacementPolicy::kLru ? 200u : 100u);  // LRU keeps 1, FIFO drops it
    EXPECT_EQ(w.key, 3u);
    EXPECT_NE(s.find(0, policy == ReplacementPolicy::kLru ? 1 : 2), nullptr);
  }
  L2Slice r(1, 4, ReplacementPolicy::kRandom, 7);
  L2Eviction ev;
  for (uint64_t k = 0; k < 4; ++k) r.access(0, k, k, ev);
  r.access(0, 9, 9, ev);
  EXPECT_TRUE(ev.happened);  // some way, chosen from the seeded generator
}

TEST(MemorySystem, LoneReadMissThenHitCostTheirPathLatencies) {
  Fixture f(simple_hw());
  const uint32_t t = f.amap.allocate("x", 1, 64);
  // Miss: noc 10 + lookup 20 -> DRAM 1 ns + 100 ns -> (slice port charged at lookup) -> noc 10
  // -> port 64 B @ 32 GB/s = 2 ns.
  MemResult miss = f.mem.read(0, Region{t, 0, 1, 0, 64});
  EXPECT_EQ(miss.ready, nanoseconds(143));
  EXPECT_EQ(miss.miss_bytes, 64u);
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.hbm.read"), 64u);
  // Hit, later: noc 10 + lookup 20 + slice 1 + noc 10 + port 2.
  struct At {
    Fixture* f;
    uint32_t t;
    MemResult r;
    void go() { r = f->mem.read(1, Region{t, 0, 1, 0, 64}); }
  } at{&f, t, {}};
  f.sim.events().schedule(nanoseconds(500), bind<&At::go>(&at));
  f.sim.run();
  EXPECT_EQ(at.r.ready, nanoseconds(543));
  EXPECT_EQ(at.r.hit_bytes, 64u);
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.l2.hit"), 64u);
}

TEST(MemorySystem, ReadDuringAFillWaitsForTheFill) {
  Fixture f(simple_hw());
  const uint32_t t = f.amap.allocate("x", 1, 64);
  MemResult a = f.mem.read(0, Region{t, 0, 1, 0, 64});
  MemResult b = f.mem.read(1, Region{t, 0, 1, 0, 64});  // same block, fill in flight
  EXPECT_EQ(b.miss_bytes, 0u);  // no second DRAM read; the data leaves L2 when the fill lands (131 ns)
  EXPECT_EQ(a.ready, nanoseconds(143));
  EXPECT_EQ(b.ready, nanoseconds(143));  // to another SM's port: no later than the first reader
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.hbm.read"), 64u);
}

TEST(MemorySystem, SectorsAndBlocksOfA2DRegion) {
  Fixture f(simple_hw());
  // 64 rows x 1024 B: blocks are 32 rows x 128 B. A 32 x 200-byte box at (8, 100) spans
  // 2 block rows x 3 block columns; 200 bytes from byte 100 touch bytes 96..319: 7 sectors a row.
  const uint32_t t = f.amap.allocate("w", 64, 1024);
  const auto& L = f.amap.tensor(t);
  EXPECT_EQ(L.block_rows, 32u);
  EXPECT_EQ(L.block_width, 128u);
  int blocks = 0;
  uint64_t sectors = 0;
  f.amap.for_each_block(Region{t, 8, 32, 100, 200}, [&](const BlockAccess& b) {
    ++blocks;
    sectors += static_cast<uint64_t>(std::popcount(static_cast<uint64_t>(b.sectors)) +
                                     std::popcount(static_cast<uint64_t>(b.sectors >> 64)));
  });
  EXPECT_EQ(blocks, 6);
  EXPECT_EQ(sectors, 32u * 7u);  // 7 sectors (bytes 96..319) per row, 32 rows
  MemResult r = f.mem.read(0, Region{t, 8, 32, 100, 200});
  EXPECT_EQ(r.bytes, 32u * 7 * 32);
  EXPECT_THROW(f.amap.for_each_block(Region{t, 60, 8, 0, 64}, [](const BlockAccess&) {}), std::out_of_range);
}

TEST(MemorySystem, BlocksTakeTheShapeOfTheAccessWidth) {
  Fixture f(simple_hw());
  // Narrow boxes (64 B of a 1 KiB row): 64-byte blocks of 64 rows, so a 128 x 64 box is 2 blocks.
  const uint32_t a = f.amap.allocate("a", 256, 1024, 64);
  EXPECT_EQ(f.amap.tensor(a).block_width, 64u);
  EXPECT_EQ(f.amap.tensor(a).block_rows, 64u);
  // Long contiguous pieces (a GEMM stage's 1 KiB of scale factors in a 64 KiB row): blocks as
  // wide as the piece, past block_width, so a piece is one block instead of eight.
  const uint32_t s = f.amap.allocate("sf", 16, 65536, 1024);
  EXPECT_EQ(f.amap.tensor(s).block_width, 1024u);
  EXPECT_EQ(f.amap.tensor(s).block_rows, 4u);
  int blocks = 0;
  f.amap.for_each_block(Region{s, 5, 1, 3072, 1024}, [&](const BlockAccess& b) {
    ++blocks;
    EXPECT_EQ(std::popcount(static_cast<uint64_t>(b.sectors)) +
                  std::popcount(static_cast<uint64_t>(b.sectors >> 64)),
              32);
  });
  EXPECT_EQ(blocks, 1);
  // Never wider than a block.
  EXPECT_EQ(f.amap.tensor(f.amap.allocate("wide", 16, 65536, 16384)).block_width, 4096u);
}

TEST(MemorySystem, ManyReadsInFlightApproachTheChannelBandwidth) {
  // 4 SMs read 2 MiB of distinct blocks at once. Two channels of 64 GB/s: 2 MiB takes 16.4 us;
  // the SM ports (4 x 32 GB/s) and slices (2 x 64 GB/s) are not slower.
  Fixture f(simple_hw({"l2.capacity=4 MiB", "l2.ways=128"}));
  const uint32_t t = f.amap.allocate("stream", 512, 4096);
  Tick last{0};
  for (uint32_t i = 0; i < 512; ++i) last = std::max(last, f.mem.read(i % 4, Region{t, i, 1, 0, 4096}).ready);
  const double seconds = last.seconds();
  const double bw = 512.0 * 4096 / seconds;
  EXPECT_GT(bw, 0.85 * 128e9);  // hash imbalance between the two channels costs a little
  EXPECT_LT(bw, 128e9);
}

TEST(MemorySystem, WritesAllocateAndDirtyEvictionsReachDram) {
  Fixture f(simple_hw());
  const uint32_t t = f.amap.allocate("out", 1024, 4096);  // 4 MiB through a 64 KiB L2
  for (uint32_t i = 0; i < 1024; ++i) f.mem.write(0, Region{t, i, 1, 0, 4096});
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.l2.write"), 1024u * 4096);
  // Everything that no longer fits was written back: at most capacity stays dirty in L2.
  EXPECT_GE(f.sim.stats().value("gpu.bytes.hbm.write"), 1024u * 4096 - 64 * 1024);
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.hbm.read"), 0u);  // full-block writes never read
}

// A benchmark's write flush leaves L2 full of another buffer's dirty lines: a read stream
// longer than L2 writes back exactly the L2's capacity, a byte per byte filled, and nothing
// while it still finds the space a partial flush left free.
TEST(MemorySystem, AFlushedL2WritesItsDirtyLinesBackAsFillsEvictThem) {
  const auto written_back = [](uint64_t dirty, uint32_t blocks) {
    Fixture f(simple_hw());  // 64 KiB: 16 blocks of 4 KiB
    f.mem.set_start(L2Start{dirty, 0});
    const uint32_t t = f.amap.allocate("in", blocks, 4096);
    for (uint32_t i = 0; i < blocks; ++i) f.mem.read(0, Region{t, i, 1, 0, 4096});
    EXPECT_EQ(f.sim.stats().value("gpu.bytes.hbm.read"), uint64_t{blocks} * 4096);
    return f.sim.stats().value("gpu.bytes.l2.writeback");
  };
  EXPECT_EQ(written_back(0, 64), 0u);                  // a clean L2
  EXPECT_EQ(written_back(256 << 20, 64), 64u * 1024);  // a flush larger than L2: all of it, once
  EXPECT_EQ(written_back(256 << 20, 4), 4u * 4096);    // a short kernel: what it filled
  EXPECT_EQ(written_back(32 * 1024, 64), 32u * 1024);  // half of L2 dirty: that half
  EXPECT_EQ(written_back(32 * 1024, 8), 0u);           // ... the first 32 KiB filled take free space
  EXPECT_EQ(written_back(32 * 1024, 12), 4u * 4096);   // the rest evict dirty lines
}

// A sampled run pays the write-back as a share of the bytes it fills, a block at a time.
TEST(MemorySystem, ASampledRunPaysItsShareOfTheFlush) {
  Fixture f(simple_hw());
  f.mem.set_start(L2Start{0, 0.25});
  const uint32_t t = f.amap.allocate("in", 64, 4096);
  for (uint32_t i = 0; i < 64; ++i) f.mem.read(0, Region{t, i, 1, 0, 4096});
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.l2.writeback"), 16u * 4096);
  // Writing back costs the channels time: 16 of 64 blocks more than the same stream from a clean L2.
  Fixture clean(simple_hw());
  const uint32_t u = clean.amap.allocate("in", 64, 4096);
  for (uint32_t i = 0; i < 64; ++i) clean.mem.read(0, Region{u, i, 1, 0, 4096});
  EXPECT_NEAR(f.mem.dram_busy().seconds() / clean.mem.dram_busy().seconds(), 1.25, 0.01);
}

TEST(MemorySystem, MulticastReadsOnceAndDeliversToEachSm) {
  Fixture f(simple_hw());
  const uint32_t t = f.amap.allocate("b", 16, 256);
  const std::vector<uint32_t> dests{0, 1, 2, 3};
  MemResult r = f.mem.read(0, Region{t, 0, 16, 0, 256}, dests);
  EXPECT_EQ(r.bytes, 4096u);
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.l2.read"), 4096u);
  EXPECT_EQ(f.sim.stats().value("gpu.bytes.hbm.read"), 4096u);
}

TEST(MemorySystem, RemoteHomeAddsTheCrossPartitionLatencyOnce) {
  HwSpec hw =
      simple_hw({"sm.dies=2", "hbm.channels_per_stack=2", "hbm.stacks=2", "l2.cross_partition_latency=300"});
  Fixture f(hw);
  const uint32_t t = f.amap.allocate("x", 256, 4096);
  // Find one block homed on die 0 and one on die 1; read both from SM 0 (die 0).
  Tick near{-1};
  Tick far{-1};
  for (uint32_t row = 0; row < 256 && (near.ps() < 0 || far.ps() < 0); row += 16) {
    uint64_t ordinal = 0;
    f.amap.for_each_block(Region{t, row, 1, 0, 32}, [&](const BlockAccess& b) { ordinal = b.ordinal; });
    const bool home0 = f.mem.home_partition(ordinal) == 0;
    if ((home0 && near.ps() >= 0) || (!home0 && far.ps() >= 0)) continue;
    const Tick ready = f.mem.read(0, Region{t, row, 1, 0, 32}).ready;
    (home0 ? near : far) = ready;
  }
  ASSERT_GE(near.ps(), 0);
  ASSERT_GE(far.ps(), 0);
  EXPECT_EQ(far - near, nanoseconds(300));
}

// Block-level tag tracking (4 KiB, 32 rows x 128 B) against line-exact tracking (128 B) on a
// GEMM-like pattern: 128 x 128-byte boxes of a K-loop over A, reused by 8 "CTAs" (tile columns),
// through an L2 large enough for the reuse (hits) and one that is not (capacity misses).
uint64_t gemm_like_hits(const std::string& block, const std::string& capacity) {
  HwSpec hw =
      simple_hw({"l2.block=" + block, "l2.block_width=" + std::string(block == "128 B" ? "128 B" : "256 B"),
                 "l2.capacity=" + capacity, "l2.ways=16", "l2.slices=2"});
  Fixture f(hw);
  const uint32_t a = f.amap.allocate("A", 1024, 4096);  // M=1024 rows x K=4096 bytes
  for (uint32_t tile_n = 0; tile_n < 8; ++tile_n) {
    for (uint32_t tile_m = 0; tile_m < 8; ++tile_m) {
      for (uint32_t k = 0; k < 32; ++k) f.mem.read(tile_m % 4, Region{a, tile_m * 128, 128, k * 128, 128});
    }
  }
  return f.sim.stats().value("gpu.bytes.l2.hit");
}

TEST(MemorySystem, BlockTrackingAgreesWithLineTracking) {
  // 4 MiB of A: an 8 MiB L2 keeps all of it (7 of 8 passes hit), a 1 MiB L2 keeps none across passes.
  const uint64_t big_block = gemm_like_hits("4 KiB", "8 MiB");
  const uint64_t big_line = gemm_like_hits("128 B", "8 MiB");
  EXPECT_EQ(big_block, big_line);
  EXPECT_EQ(big_block, 7u * 4 * 1024 * 1024);
  const uint64_t small_block = gemm_like_hits("4 KiB", "1 MiB");
  const uint64_t small_line = gemm_like_hits("128 B", "1 MiB");
  EXPECT_NEAR(static_cast<double>(small_block), static_cast<double>(small_line), 0.05 * 7 * 4 * 1024 * 1024);
}

}  // namespace
}  // namespace bwsim
