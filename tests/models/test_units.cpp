// Units alone: each driven with hand-built neighbours (a mock memory path, standalone ports), no
// GPU or executor around it, against hand-derived times.
#include <gtest/gtest.h>

#include <array>
#include <span>
#include <stdexcept>
#include <vector>

#include "models/dram.hpp"
#include "models/global_flags.hpp"
#include "models/hw_spec.hpp"
#include "models/scalar_pipes.hpp"
#include "models/smem_port.hpp"
#include "models/tensor_pipe.hpp"
#include "models/tma_engine.hpp"
#include "models/tmem_port.hpp"
#include "sim/errors.hpp"
#include "tests/test_util.hpp"

namespace bwsim {
namespace {

// 1 GHz: a cycle is a nanosecond.
struct Clocked {
  ClockDomain clk{"sm", Frequency{1000000000}};
  StatsRegistry stats;
  SmCounters counters{stats};
};

SmemSpec smem_spec(uint32_t latency = 30) {
  SmemSpec s;
  s.capacity = ByteSize{228 * 1024};
  s.max_per_cta = ByteSize{227 * 1024};
  s.bandwidth = BytesPerCycle{128};
  s.latency = Cycles{latency};
  return s;
}

TmemSpec tmem_spec() {
  TmemSpec t;
  t.present = true;
  t.columns = 512;
  t.bandwidth = BytesPerCycle{512};
  return t;
}

TEST(SmemPort, ReadsWaitForTheLatencyWritesOnlyForThePort) {
  Clocked c;
  const SmemSpec spec = smem_spec();
  SmemPort port(spec, c.clk);
  EXPECT_EQ(port.read(Tick{0}, 1280), nanoseconds(10 + 30));  // 10 cycles of port, then 30 of latency
  EXPECT_EQ(port.access(Tick{0}, 1280), nanoseconds(20));     // queued behind the read's port time
  EXPECT_EQ(port.busy(), nanoseconds(20));
}

// One SM's tensor pipe with its own SMEM and TMEM ports, BF16 at 4096 MACs/clk.
struct PipeFixture : Clocked {
  PipeFixture() { spec.macs_per_clk[static_cast<size_t>(MmaKind::kF16)] = 4096; }
  const SmemSpec ss = smem_spec();
  const TmemSpec ts = tmem_spec();
  SmemPort smem{ss, clk};
  TmemPort tmem{ts, clk};
  TensorSpec spec;
  TensorPipe pipe{0, spec, Arch::kSm100, clk, smem, tmem, counters};
};

TEST(TensorPipe, OneMmaIsFixedLatencyPlusSmemLatencyPlusMathAndTheFetchBindsBelowN128) {
  PipeFixture c;
  c.spec.latency_smem = Cycles{70};
  TensorPipe& pipe = c.pipe;
  op::Mma mma;
  mma.shape.m = 128;
  mma.shape.n = 64;
  mma.instructions = 3;
  std::array<TensorPipe*, 1> pipes{&pipe};
  const MmaTiming t = TensorPipe::issue(mma, Tick{0}, pipes);
  // Math 128 x 64 x 16 / 4096 = 32 cycles; operands (4096 + 2048) B / 128 B/clk = 48 cycles bind.
  // The last instruction starts at 96: commit = 96 + 70 fixed + 30 SMEM latency + 32 math.
  EXPECT_EQ(t.commit, nanoseconds(96 + 70 + 30 + 32));
  EXPECT_EQ(t.issued, nanoseconds(3));
  EXPECT_EQ(pipe.busy(), nanoseconds(3 * 48));
  EXPECT_EQ(pipe.math(), nanoseconds(3 * 32));
  EXPECT_EQ(c.stats.value("gpu.ops.mma_macs"), 3u * 128 * 64 * 16);
}

TEST(TensorPipe, ACopyLandsBeforeTheNextMmaAndRidesItsFetch) {
  PipeFixture c;
  c.spec.latency_tmem_a = Cycles{50};
  TensorPipe& pipe = c.pipe;
  c.tmem.copy(Tick{0}, 512 * 100);  // 100 cycles of TMEM port
  op::Mma mma;
  mma.shape.n = 256;
  mma.shape.a_in_tmem = true;
  std::array<TensorPipe*, 1> pipes{&pipe};
  const MmaTiming t = TensorPipe::issue(mma, Tick{0}, pipes);
  // Starts when the copy has landed (100); math 128 cycles; fetch of B (8 KiB, 64 cycles) plus the
  // copy's 51200 B (400 cycles) binds: busy 464.
  EXPECT_EQ(pipe.busy(), nanoseconds(464));
  EXPECT_EQ(t.commit, nanoseconds(100 + 50 + 30 + 128));
}

// A memory path that answers every request `latency` after it is issued.
class FixedLatencyPath : public MemoryPath {
 public:
  explicit FixedLatencyPath(Tick latency) : latency_(latency) {}
  MemResult read(uint32_t, const Region& r, std::span<const uint32_t> multicast, Tick issue) override {
    reads.push_back(issue);
    copies.push_back(multicast.size());
    return {issue + latency_, r.size(), 0, r.size()};
  }
  MemResult write(uint32_t, const Region& r, Tick issue) override {
    return {issue + latency_, r.size(), 0, 0};
  }
  [[nodiscard]] Tick round_trip() const override { return latency_; }
  [[nodiscard]] Tick dram_busy() const override { return Tick{0}; }
  [[nodiscard]] uint32_t die_of_sm(uint32_t) const override { return 0; }
  [[nodiscard]] uint32_t home_partition(uint64_t) const override { return 0; }
  void set_trace(GpuTrace*) override {}
  void set_start(const L2Start&) override {}  // no L2 to be dirty
  std::vector<Tick> reads;
  std::vector<size_t> copies;

 private:
  Tick latency_;
};

TEST(TmaEngine, IssueSlotsBoxesInFlightAndTheFillIntoSmem) {
  Clocked c;
  const SmemSpec ss = smem_spec();
  SmemPort smem(ss, c.clk);
  TmaSpec spec;
  spec.issue = Cycles{2};
  spec.max_inflight_boxes = 2;
  FixedLatencyPath mem(nanoseconds(500));
  TmaEngine tma(0, spec, c.clk, mem, smem, c.counters);
  const Region box{0, 0, 64, 0, 128};  // 8 KiB: 64 cycles into SMEM
  EXPECT_FALSE(tma.full_until(Tick{0}));
  EXPECT_EQ(tma.load(box, {}, {}, Tick{0}), nanoseconds(2 + 500));  // leaves after its issue slot
  // The next issue slot; its data is back at 504, but its fill queues behind the first's on the
  // SMEM port (438..502), in two 4 KiB pieces: 502..566.
  EXPECT_EQ(tma.load(box, {}, {}, Tick{0}), nanoseconds(566));
  EXPECT_EQ(mem.reads, (std::vector<Tick>{nanoseconds(2), nanoseconds(4)}));
  EXPECT_EQ(tma.full_until(Tick{0}), nanoseconds(502));  // two in flight: wait for the first to complete
  EXPECT_FALSE(tma.full_until(nanoseconds(502)));
  EXPECT_EQ(c.stats.value("gpu.bytes.tma.load"), 2u * 8192);
}

TEST(TmaEngine, MulticastFillsEveryDestinationAndNeedsTheKey) {
  Clocked c;
  const SmemSpec ss = smem_spec();
  SmemPort own(ss, c.clk);
  SmemPort other(ss, c.clk);
  other.access(Tick{0}, 128 * 1000);  // the other SM's port is busy for 1000 cycles
  TmaSpec spec;
  spec.issue = Cycles{2};
  spec.max_inflight_boxes = 8;
  spec.multicast = true;
  FixedLatencyPath mem(nanoseconds(100));
  TmaEngine tma(0, spec, c.clk, mem, own, c.counters);
  const Region box{0, 0, 64, 0, 128};
  const std::array<uint32_t, 2> sms{0, 1};
  const std::array<SmemPort*, 2> ports{&own, &other};
  // Done when the busier destination has taken its 64 cycles of fill.
  EXPECT_EQ(tma.load(box, sms, ports, Tick{0}), nanoseconds(1000 + 64));
  EXPECT_EQ(c.stats.value("gpu.bytes.tma.load"), 2u * 8192);
  spec.multicast = false;
  EXPECT_THROW(tma.load(box, sms, ports, Tick{0}), std::logic_error);
}

TEST(ScalarPipes, ExpAndFmaOverlapAndQueue) {
  Clocked c;
  PipeSpec spec;
  spec.mufu_exp2_per_clk = 16;
  spec.fma_fp32_per_clk = 128;
  ScalarPipes pipes(spec, c.clk, c.counters);
  EXPECT_EQ(pipes.run(op::Scalar{12800, 1600}, Tick{0}),
            nanoseconds(100));                                          // 100 cycles on each pipe at once
  EXPECT_EQ(pipes.run(op::Scalar{0, 160}, Tick{0}), nanoseconds(110));  // MUFU queues behind itself
  EXPECT_EQ(pipes.run(op::Scalar{128, 0}, Tick{0}), nanoseconds(101));  // FMA behind the first op only
  EXPECT_EQ(c.stats.value("gpu.ops.exp2"), 1760u);
}

TEST(GlobalFlags, ArrivalsWakeWaitersAndCount) {
  GlobalFlags flags(nanoseconds(300));
  flags.reset(2);
  EXPECT_FALSE(flags.passed_or_wait(1, 2, 7));
  EXPECT_TRUE(flags.arrive(1).size() == 1);  // role 7 is woken, sees 1 of 2 and waits again
  EXPECT_FALSE(flags.passed_or_wait(1, 2, 7));
  EXPECT_EQ(flags.arrive(1), std::vector<uint64_t>{7});
  EXPECT_TRUE(flags.passed_or_wait(1, 2, 7));
  EXPECT_EQ(flags.latency(), nanoseconds(300));
  EXPECT_THROW(flags.arrive(2), std::logic_error);
}

TEST(Dram, TransfersMoveWholeAccessesAndImplsAreChosenByName) {
  DramSpec spec;
  spec.stacks = 1;
  spec.channels_per_stack = 1;
  spec.bandwidth = Bandwidth{64000000000};
  spec.latency = Duration{nanoseconds(100)};
  spec.refresh_interval = Duration{nanoseconds(3900)};
  spec.access = ByteSize{64};
  Dram dram(spec);
  EXPECT_EQ(dram.moved(32), 64u);
  EXPECT_EQ(dram.moved(128), 128u);
  EXPECT_EQ(dram.serve(0, Tick{0}, dram.moved(32), false), nanoseconds(1));  // 64 B at 64 GB/s
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"hbm.impl=banks"}); }),
                  "'hbm.impl' is \"banks\"; expected one of: channels");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"l2.impl=mesh"}); }),
                  "'l2.impl' is \"mesh\"; expected one of: sliced");
}

}  // namespace
}  // namespace bwsim
