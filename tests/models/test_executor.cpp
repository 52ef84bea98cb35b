#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <map>

#include "models/gpu.hpp"
#include "sim/config.hpp"
#include "sim/errors.hpp"
#include "tests/test_util.hpp"

namespace bwsim {
namespace {

HwSpec simple_hw(std::vector<std::string> sets = {}) {
  ConfigTree t = ConfigTree::load_file(std::string(BWSIM_TEST_DATA_DIR) + "/hw/simple.toml");
  for (const auto& s : sets) t.set(s);
  return HwSpec::read(t);
}

// One CTA, one role.
Kernel single(std::string name, std::vector<Op> ops, std::vector<uint32_t> barriers = {1},
              uint32_t clusters = 1) {
  Kernel k;
  k.name = std::move(name);
  k.clusters = clusters;
  k.program = [ops, barriers](uint32_t) {
    ClusterProgram p;
    p.ctas.push_back(CtaProgram{{Role{"main", ops}}, barriers});
    return p;
  };
  return k;
}

Tick between_marks(const KernelResult& r) { return r.marks.at(1).second - r.marks.at(0).second; }

MmaShape shape(uint16_t m, uint16_t n, bool a_tmem = false, uint8_t group = 1) {
  MmaShape s;
  s.kind = MmaKind::kF16;
  s.m = m;
  s.n = n;
  s.a_in_tmem = a_tmem;
  s.cta_group = group;
  return s;
}

TEST(Executor, SingleMmaCostsFixedLatencyPlusNOver2) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  // 100 fixed (A, B in SMEM) + 128*64*16 / 4096 = 32 cycles at 1 GHz.
  const KernelResult r =
      gpu.run(single("mma", {Op::mark(0), Op::mma_op(shape(128, 64), 1, 0), Op::wait(0, 0), Op::mark(1)}));
  EXPECT_EQ(between_marks(r), nanoseconds(132));
  EXPECT_EQ(sim.stats().value("gpu.ops.mma_instructions"), 1u);
}

TEST(Executor, BackToBackMmasAreBoundByTensorPipeOrSmem) {
  {
    Simulation sim;
    Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
    // A in TMEM, N=256: 128 cycles each (B fetch 256*16*2/128 = 64 < 128); last: + 80 fixed + 128.
    const KernelResult r = gpu.run(single(
        "tmem", {Op::mark(0), Op::mma_op(shape(128, 256, true), 100, 0), Op::wait(0, 0), Op::mark(1)}));
    EXPECT_EQ(between_marks(r), nanoseconds(99 * 128 + 80 + 128));
  }
  {
    Simulation sim;
    Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
    // A and B in SMEM, N=64: (4096 + 2048) B / 128 B/clk = 48 cycles each, more than the 32 of math.
    const KernelResult r = gpu.run(
        single("smem", {Op::mark(0), Op::mma_op(shape(128, 64), 100, 0), Op::wait(0, 0), Op::mark(1)}));
    EXPECT_EQ(between_marks(r), nanoseconds(99 * 48 + 100 + 32));
  }
}

TEST(Executor, TmaLoadArrivesOnItsBarrier) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  const uint32_t t = gpu.amap.allocate("a", 1, 64);
  // The TMA issue slot (2 cycles), then the lone-miss path of the memory test (143 ns: ends at
  // the SM port); filling SMEM (64 B at 128 B/clk, 1 cycle) overlaps the port transfer.
  const KernelResult r = gpu.run(
      single("tma", {Op::mark(0), Op::tma_load(Region{t, 0, 1, 0, 64}, 0), Op::wait(0, 0), Op::mark(1)}));
  EXPECT_EQ(between_marks(r), nanoseconds(145));
  EXPECT_EQ(sim.stats().value("gpu.ops.tma_loads"), 1u);
}

TEST(Executor, ProducerConsumerPipelineOverlapsLoadsAndMath) {
  Simulation sim;
  Gpu gpu(sim, simple_hw({"l2.capacity=1 MiB", "l2.ways=32"}), ClockMode::kBoost);
  const uint32_t t = gpu.amap.allocate("a", 64, 4096);
  // Two stages: barriers 0,1 "full", 2,3 "empty". 8 iterations of a 16 KiB load and 8 MMAs.
  Role producer{"tma", {}};
  Role consumer{"mma", {}};
  for (uint32_t i = 0; i < 8; ++i) {
    const uint16_t s = static_cast<uint16_t>(i % 2);
    if (i >= 2) producer.ops.push_back(Op::wait(static_cast<uint16_t>(2 + s), i / 2 - 1));
    producer.ops.push_back(Op::tma_load(Region{t, 4 * i, 4, 0, 4096}, s));
    consumer.ops.push_back(Op::wait(s, i / 2));
    consumer.ops.push_back(Op::mma_op(shape(128, 256), 8, static_cast<uint16_t>(2 + s)));
  }
  Kernel k;
  k.name = "pipe";
  k.program = [&](uint32_t) {
    ClusterProgram p;
    p.ctas.push_back(CtaProgram{{producer, consumer}, {1, 1, 1, 1}});
    return p;
  };
  const KernelResult r = gpu.run(k);
  // Serial would be 8 x (load ~0.7 us + 8 MMAs ~1.1 us); the pipeline overlaps them. The
  // kernel ends when the last commit lands, not when the issuing role runs out of ops.
  EXPECT_GT(r.duration(), nanoseconds(8 * 8 * 128));  // at least all the math
  EXPECT_LT(r.duration(), nanoseconds(8 * (8 * 128 + 700)));
  EXPECT_EQ(sim.stats().value("gpu.ops.mma_instructions"), 64u);
}

TEST(Executor, AProgramBuiltAsItRunsTimesLikeTheWholeProgram) {
  // The pipeline above, handed to the executor whole and then in parts through
  // ClusterProgram::more: one iteration at a time for the producer, and the consumer's ops only
  // every third call (so that some parts give a role nothing). Same result to the picosecond.
  const auto run = [](bool in_parts) {
    Simulation sim;
    Gpu gpu(sim, simple_hw({"l2.capacity=1 MiB", "l2.ways=32"}), ClockMode::kBoost);
    const uint32_t t = gpu.amap.allocate("a", 64, 4096);
    std::vector<std::vector<Op>> prod(8), cons(8);
    for (uint32_t i = 0; i < 8; ++i) {
      const uint16_t s = static_cast<uint16_t>(i % 2);
      if (i >= 2) prod[i].push_back(Op::wait(static_cast<uint16_t>(2 + s), i / 2 - 1));
      prod[i].push_back(Op::tma_load(Region{t, 4 * i, 4, 0, 4096}, s));
      cons[i].push_back(Op::wait(s, i / 2));
      cons[i].push_back(Op::mma_op(shape(128, 256), 8, static_cast<uint16_t>(2 + s)));
    }
    cons[7].push_back(Op::mark(0));
    Kernel k;
    k.name = "pipe";
    k.program = [&, in_parts](uint32_t) {
      ClusterProgram p;
      p.ctas.push_back(CtaProgram{{Role{"tma", {}}, Role{"mma", {}}}, {1, 1, 1, 1}});
      auto next = std::make_shared<std::pair<uint32_t, uint32_t>>(0, 0);  // parts given to each role
      const auto append = [&, next](std::span<CtaProgram* const> ctas) {
        auto& [given_p, given_c] = *next;
        if (given_p == 8) return false;
        auto& pr = ctas[0]->roles[0].ops;
        pr.insert(pr.end(), prod[given_p].begin(), prod[given_p].end());
        ++given_p;
        if (given_p % 3 == 0 || given_p == 8) {
          for (auto& co = ctas[0]->roles[1].ops; given_c < given_p; ++given_c)
            co.insert(co.end(), cons[given_c].begin(), cons[given_c].end());
        }
        return true;
      };
      if (in_parts) {
        p.more = append;
      } else {
        while (append(std::span<CtaProgram* const>(std::array<CtaProgram*, 1>{&p.ctas[0]}))) {
        }
      }
      return p;
    };
    const KernelResult r = gpu.run(k);
    EXPECT_EQ(sim.stats().value("gpu.ops.mma_instructions"), 64u);
    EXPECT_EQ(r.marks.size(), 1u);
    return std::pair{r.duration(), r.marks.at(0).second};
  };
  EXPECT_EQ(run(true), run(false));
}

TEST(Executor, OccupancyMakesWaves) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  Kernel k = single("waves", {Op::delay(1000)}, {}, 8);
  k.resources.smem_bytes = 120 * 1024;  // one CTA per SM (228 KiB), 4 SMs, 8 CTAs: two waves
  const KernelResult r = gpu.run(k);
  EXPECT_EQ(r.duration(), nanoseconds(2000));
  EXPECT_EQ(r.ctas, 8u);
  Kernel k2 = single("one_wave", {Op::delay(1000)}, {}, 8);
  k2.resources.smem_bytes = 100 * 1024;  // two per SM: one wave
  EXPECT_EQ(gpu.run(k2).duration(), nanoseconds(1000));
  Kernel k3 = single("tmem", {Op::delay(1000)}, {}, 8);
  k3.resources.tmem_columns = 300;  // rounds to 512: one CTA per SM
  EXPECT_EQ(gpu.run(k3).duration(), nanoseconds(2000));
}

TEST(Executor, CtaPairMmaUsesBothSms) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  Kernel k;
  k.name = "pair";
  k.cluster_size = 2;
  k.clusters = 2;
  k.program = [](uint32_t) {
    ClusterProgram p;
    // The leader issues a 256x256 pair MMA; both CTAs' barrier 0 get the commit.
    const Op mma = Op::mma_op(shape(256, 256, false, 2), 1, 0, 0b11);
    p.ctas.push_back(CtaProgram{{Role{"mma", {Op::mark(0), mma, Op::wait(0, 0), Op::mark(1)}}}, {1}});
    p.ctas.push_back(CtaProgram{{Role{"wait", {Op::wait(0, 0)}}}, {1}});
    return p;
  };
  const KernelResult r = gpu.run(k);
  // 120 fixed + 128*256*16/4096 = 128 cycles of math per SM; both pairs run in parallel, on
  // SMs 0-1 and 2-3 (placement is breadth-first).
  ASSERT_EQ(r.marks.size(), 4u);
  for (const auto& [id, t] : r.marks) EXPECT_EQ(t, id == 0 ? Tick{0} : nanoseconds(248));
  EXPECT_EQ(r.duration(), nanoseconds(248));
  EXPECT_EQ(sim.stats().value("gpu.ops.mma_macs"), 2u * 256 * 256 * 16);
}

TEST(Executor, ClustersOfFourMulticastAndPairUp) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  const uint32_t t = gpu.amap.allocate("b", 16, 256);
  Kernel k;
  k.name = "cluster4";
  k.cluster_size = 4;
  k.clusters = 1;
  k.program = [t](uint32_t) {
    ClusterProgram p;
    // Rank 0 multicasts one box to all four CTAs; ranks 2 and 3 then run a pair MMA.
    p.ctas.push_back(
        CtaProgram{{Role{"tma", {Op::tma_load(Region{t, 0, 16, 0, 256}, 0, 0b1111), Op::wait(0, 0)}}}, {1}});
    p.ctas.push_back(CtaProgram{{Role{"wait", {Op::wait(0, 0)}}}, {1}});
    const Op mma = Op::mma_op(shape(256, 128, false, 2), 1, 1, 0b1100);
    p.ctas.push_back(CtaProgram{{Role{"mma", {Op::wait(0, 0), mma, Op::wait(1, 0)}}}, {1, 1}});
    p.ctas.push_back(CtaProgram{{Role{"peer", {Op::wait(0, 0), Op::wait(1, 0)}}}, {1, 1}});
    return p;
  };
  const KernelResult r = gpu.run(k);
  EXPECT_EQ(sim.stats().value("gpu.bytes.l2.read"), 4096u);       // read once ...
  EXPECT_EQ(sim.stats().value("gpu.bytes.tma.load"), 4u * 4096);  // ... delivered to four SMs
  EXPECT_EQ(sim.stats().value("gpu.ops.mma_instructions"), 1u);
  EXPECT_GT(r.duration(), nanoseconds(120 + 64));  // the pair MMA after the load
  Kernel too_big = k;
  too_big.cluster_size = 16;
  EXPECT_CONTAINS(input_error_of([&] { gpu.run(too_big); }), "a cluster of 16 CTAs (sm.max_cluster is 8)");
}

TEST(Executor, DeadlockNamesTheStuckRole) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  try {
    gpu.run(single("stuck", {Op::wait(0, 0)}));
    FAIL() << "expected a deadlock";
  } catch (const DeadlockError& e) {
    EXPECT_CONTAINS(e.what(),
                    "kernel stuck cluster 0 CTA 0 (SM 0) role 'main' op 0 waits for barrier 0 phase 0");
  }
}

TEST(Executor, ImpossibleCtaIsAnInputError) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  Kernel k = single("big", {});
  k.resources.smem_bytes = 300 * 1024;
  EXPECT_CONTAINS(input_error_of([&] { gpu.run(k); }),
                  "kernel big: a CTA needs 307200 B of shared memory per CTA");
  Kernel k2 = single("fp4", {Op::mma_op(MmaShape{MmaKind::kI8, 128, 128, 1, false}, 1, 0)});
  EXPECT_CONTAINS(input_error_of([&] { gpu.run(k2); }), "has no kind::i8 tensor instructions");
}

}  // namespace
}  // namespace bwsim

// ---------------------------------------------------------------------------------------------
// Traces

namespace bwsim {
namespace {

// Stream-K's fix-up: one cluster waits for another's release of a global flag.
TEST(Executor, GlobalFlagsOrderClustersWithAnL2RoundTrip) {
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  Kernel k;
  k.name = "flags";
  k.clusters = 2;
  k.flags = 1;
  k.program = [](uint32_t index) {
    ClusterProgram p;
    const std::vector<Op> ops = index == 0 ? std::vector<Op>{Op::delay(1000), Op::flag_arrive(0)}
                                           : std::vector<Op>{Op::flag_wait(0, 1), Op::mark(0)};
    p.ctas.push_back(CtaProgram{{Role{"main", ops}}, {}});
    return p;
  };
  const KernelResult r = gpu.run(k);
  const Tick poll = gpu.l2_clock.span(gpu.hw.noc.latency * 2 + gpu.hw.l2.hit_latency);
  ASSERT_EQ(r.marks.size(), 1u);
  EXPECT_EQ(r.marks[0].second, nanoseconds(1000) + poll);
  // A wait for an arrival that never comes is a deadlock the watchdog names.
  k.program = [](uint32_t) {
    ClusterProgram p;
    p.ctas.push_back(CtaProgram{{Role{"main", {Op::flag_wait(0, 2)}}}, {}});
    return p;
  };
  Simulation sim2;
  Gpu gpu2(sim2, simple_hw(), ClockMode::kBoost);
  EXPECT_THROW(
      {
        try {
          gpu2.run(k);
        } catch (const std::exception& e) {
          EXPECT_CONTAINS(std::string(e.what()), "waits for flag 0 to reach 2");
          throw;
        }
      },
      std::exception);
}

namespace trace_test {

struct Parsed {
  std::map<uint64_t, std::string> processes;                     // pid -> name
  std::map<std::pair<uint64_t, uint64_t>, std::string> threads;  // (pid, tid) -> name
  std::vector<boost::json::object> spans;                        // "X" events
  std::vector<boost::json::object> counters;                     // "C" events
  boost::json::object metadata;
  // Spans on the thread named `thread` of the process named `process`.
  std::vector<boost::json::object> on(const std::string& process, const std::string& thread) const {
    std::vector<boost::json::object> out;
    for (const auto& s : spans) {
      const uint64_t pid = s.at("pid").to_number<uint64_t>();
      const uint64_t tid = s.at("tid").to_number<uint64_t>();
      if (processes.at(pid) == process && threads.at({pid, tid}) == thread) out.push_back(s);
    }
    return out;
  }
};

Parsed parse(const TraceDoc& doc) {
  Parsed p;
  const boost::json::object root = boost::json::parse(doc.text()).as_object();
  p.metadata = root.at("metadata").as_object();
  for (const auto& v : root.at("traceEvents").as_array()) {
    const boost::json::object& e = v.as_object();
    const std::string ph(e.at("ph").as_string());
    if (ph == "M" && e.at("name") == "process_name") {
      p.processes[e.at("pid").to_number<uint64_t>()] = std::string(e.at("args").at("name").as_string());
    } else if (ph == "M" && e.at("name") == "thread_name") {
      p.threads[{e.at("pid").to_number<uint64_t>(), e.at("tid").to_number<uint64_t>()}] =
          std::string(e.at("args").at("name").as_string());
    } else if (ph == "X") {
      p.spans.push_back(e);
    } else if (ph == "C") {
      p.counters.push_back(e);
    }
  }
  return p;
}

double num(const boost::json::object& o, const char* key) { return o.at(key).to_number<double>(); }

}  // namespace trace_test

TEST(ExecutorTrace, BackToBackMmasAreOneTensorPipeSpan) {
  using namespace trace_test;
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  GpuTrace rec(TraceOptions{}, gpu.hw.sm.count);
  gpu.set_trace(&rec);
  // As BackToBackMmasAreBoundByTensorPipeOrSmem: 100 MMAs of 128 cycles (1 GHz) back to back.
  const KernelResult r = gpu.run(single("tmem", {Op::mma_op(shape(128, 256, true), 100, 0), Op::wait(0, 0)}));
  TraceDoc doc;
  rec.emit(doc, Tick{0}, "kernels", 1000);
  const Parsed p = parse(doc);
  const auto kernels = p.on("GPU", "kernels");
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0].at("name"), "tmem");
  EXPECT_DOUBLE_EQ(num(kernels[0], "dur"), r.duration().seconds() * 1e6);
  const auto mma = p.on("SM 0", "MMA (tensor pipe)");
  ASSERT_EQ(mma.size(), 1u);
  EXPECT_DOUBLE_EQ(num(mma[0], "ts"), 0.0);
  EXPECT_DOUBLE_EQ(num(mma[0], "dur"), 12.8);  // 100 x 128 ns
  EXPECT_EQ(mma[0].at("args").at("instructions").to_number<int>(), 100);
  const auto cta = p.on("SM 0", "CTA slot 0");
  ASSERT_EQ(cta.size(), 1u);
  EXPECT_EQ(cta[0].at("args").at("cluster").to_number<int>(), 0);
  EXPECT_DOUBLE_EQ(num(cta[0], "dur"), r.duration().seconds() * 1e6);
  EXPECT_EQ(p.processes.size(), 2u);  // GPU and SM 0: idle SMs get no tracks
}

TEST(ExecutorTrace, KeepsOnlyTheSmsAskedForAndCountsWhatItDrops) {
  using namespace trace_test;
  // As OccupancyMakesWaves: 8 CTAs of a 1000-cycle op, one per SM at a time on 4 SMs.
  Kernel k = single("waves", {Op::delay(1000)}, {}, 8);
  k.resources.smem_bytes = 120 * 1024;
  {
    Simulation sim;
    Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
    GpuTrace rec(TraceOptions{{1}, 100}, gpu.hw.sm.count);
    gpu.set_trace(&rec);
    gpu.run(k);
    TraceDoc doc;
    rec.emit(doc, microseconds(5), "kernels", 1000);  // shifted 5 us
    const Parsed p = parse(doc);
    EXPECT_EQ(p.processes.size(), 2u);  // GPU and SM 1 only
    const auto ctas = p.on("SM 1", "CTA slot 0");
    ASSERT_EQ(ctas.size(), 2u);  // two waves on SM 1, the same occupancy slot
    EXPECT_DOUBLE_EQ(num(ctas[0], "ts"), 5.0);
    EXPECT_DOUBLE_EQ(num(ctas[1], "ts"), 6.0);
    EXPECT_DOUBLE_EQ(num(ctas[1], "dur"), 1.0);
    const auto ops = p.on("SM 1", "CTA slot 0 main");
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0].at("name"), "delay");
    EXPECT_EQ(p.metadata.at("dropped_detail_spans").to_number<int>(), 0);
  }
  {
    Simulation sim;
    Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
    GpuTrace rec(TraceOptions{{}, 5}, gpu.hw.sm.count);  // 16 spans (8 CTAs, 8 ops); keep 5
    gpu.set_trace(&rec);
    gpu.run(k);
    EXPECT_EQ(rec.spans(), 5u);
    EXPECT_EQ(rec.dropped(), 11u);
    TraceDoc doc;
    rec.emit(doc, Tick{0}, "kernels", 1000);
    EXPECT_EQ(parse(doc).metadata.at("dropped_detail_spans").to_number<int>(), 11);
  }
}

TEST(ExecutorTrace, TmaLoadSpanAndBytesOverTime) {
  using namespace trace_test;
  Simulation sim;
  Gpu gpu(sim, simple_hw(), ClockMode::kBoost);
  GpuTrace rec(TraceOptions{}, gpu.hw.sm.count);
  gpu.set_trace(&rec);
  const uint32_t t = gpu.amap.allocate("a", 1, 64);
  // As TmaLoadArrivesOnItsBarrier: issued at 0, in SMEM at 145 ns.
  gpu.run(single("tma", {Op::tma_load(Region{t, 0, 1, 0, 64}, 0), Op::wait(0, 0)}));
  EXPECT_EQ(rec.total(MemCounter::kHbmRead), 64u);
  EXPECT_EQ(rec.total(MemCounter::kL2Read), 64u);
  EXPECT_EQ(rec.total(MemCounter::kHbmWrite), 0u);
  TraceDoc doc;
  rec.emit(doc, Tick{0}, "kernels", 1000);
  const Parsed p = parse(doc);
  const auto tma = p.on("SM 0", "TMA 0");
  ASSERT_EQ(tma.size(), 1u);
  EXPECT_EQ(tma[0].at("name"), "TMA load");
  EXPECT_DOUBLE_EQ(num(tma[0], "dur"), 0.145);
  EXPECT_EQ(tma[0].at("args").at("bytes").to_number<int>(), 64);
  // 64 B in one 100 ns bin: 0.64 GB/s, then back to 0.
  double peak = 0;
  for (const auto& c : p.counters) {
    if (c.at("name") == "HBM read (GB/s)")
      peak = std::max(peak, c.at("args").at("value").to_number<double>());
  }
  EXPECT_DOUBLE_EQ(peak, 0.64);
}

TEST(ExecutorTrace, SmListsParseOrNameTheFlag) {
  EXPECT_EQ(parse_sm_list("0-3,7,2", 8, "--trace-sms"), (std::vector<uint32_t>{0, 1, 2, 3, 7}));
  EXPECT_TRUE(parse_sm_list("all", 8, "--trace-sms").empty());
  EXPECT_CONTAINS(input_error_of([] { parse_sm_list("0-8", 8, "--trace-sms"); }),
                  "--trace-sms 0-8: SM 8 does not exist (this GPU has SMs 0-7)");
  EXPECT_CONTAINS(input_error_of([] { parse_sm_list("3-1", 8, "--trace-sms"); }), "range 3-1 runs backwards");
  EXPECT_CONTAINS(input_error_of([] { parse_sm_list("a", 8, "--trace-sms"); }), "'a' is not an SM number");
  EXPECT_CONTAINS(input_error_of([] { parse_sm_list("1,,2", 8, "--trace-sms"); }), "'' is not an SM number");
}

}  // namespace
}  // namespace bwsim
