// Every key of every shipped hardware config belongs to a unit, and moves something.
//
// An architect's sweep over a key that no part of the model reads measures nothing and says so
// nowhere. Two guards: each key read names the unit that consumes it (ConfigReader::owned_by,
// checked again here), and each numeric key set in a shipped config, changed on its own, moves
// some probe's time, bytes or energy: a microbenchmark, a small GEMM or attention kernel, a
// capacity, an all-reduce, the energy model. A key that moves none of them is an error.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "models/hw_spec.hpp"
#include "models/unit.hpp"
#include "sim/errors.hpp"
#include "tests/test_util.hpp"
#include "workloads/attention/timing.hpp"
#include "workloads/gemm/gemm.hpp"
#include "workloads/micro.hpp"
#include "workloads/transformer/capacity.hpp"
#include "workloads/transformer/step.hpp"

namespace bwsim {
namespace {

const std::filesystem::path kHwDir = std::filesystem::path(BWSIM_CONFIG_DIR_FOR_TESTS) / "hw";

std::vector<std::string> shipped_configs() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(kHwDir)) {
    if (e.path().extension() == ".toml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(HwKeys, EveryKeyOfEveryShippedConfigIsOwnedByAUnit) {
  for (const std::string& name : shipped_configs()) {
    std::vector<ParamRecord> records;
    HwSpec::load(name, {}, &records);
    for (const ParamRecord& p : records) {
      if (p.is_table) continue;
      EXPECT_NE(std::find(kUnitNames.begin(), kUnitNames.end(), p.owner), kUnitNames.end())
          << name << ": " << p.path << " owned by '" << p.owner << "'";
    }
  }
}

// Every numeric key has a physical range, checked at load: the shipped value lies inside it, and
// a value a thousand times beyond its top (or below zero for a range starting at 0) is refused
// naming the key and the range, never run.
TEST(HwKeys, EveryNumericKeyHasAPhysicalRangeCheckedAtLoad) {
  for (const std::string& name : shipped_configs()) {
    std::vector<ParamRecord> records;
    HwSpec::load(name, {}, &records);
    for (const ParamRecord& p : records) {
      if (p.is_table || p.type == "string" || p.type == "boolean" || p.path == "l2.impl" ||
          p.path == "hbm.impl" || p.path == "l2.policy" || p.path == "arch" || p.path == "name")
        continue;
      EXPECT_FALSE(p.range.empty()) << name << ": " << p.path << " (" << p.type << ") has no range";
      if (p.range.empty() || p.type == "integer" || p.type == "number") continue;
      // A unit-valued key: its top times 1000 (the range's upper text with the unit kept).
      const std::string top = p.range.substr(p.range.find(" .. ") + 4);
      const size_t space = top.find(' ');
      if (space == std::string::npos) continue;
      const std::string huge =
          fmt::format("{}={} {}", p.path, std::stod(top.substr(0, space)) * 1000, top.substr(space + 1));
      const std::string err = input_error_of([&] { HwSpec::load(name, {huge}); });
      EXPECT_TRUE(err.find(p.path) != std::string::npos &&
                  (err.find("outside its physical range") != std::string::npos ||
                   err.find("too large") != std::string::npos || err.find("must") != std::string::npos))
          << name << ": --set " << huge << " gave: " << err;
    }
  }
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"sm.registers=7"}); }),
                  "'sm.registers' is 7, outside its physical range 1024 .. 4194304");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("h100", {"hbm.bus_efficiency=1.5"}); }),
                  "'hbm.bus_efficiency' is 1.5, outside its physical range 0.05 .. 1");
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"l2.hit_latency=1000000"}); }),
                  "'l2.hit_latency' is 1000000 cycles, outside its physical range 1 cycles .. 10000 cycles");
}

// What the probes measured, in order; two runs compare equal only if every number does.
using Fingerprint = std::vector<double>;

// Runs the probes in order, from the cheapest, and stops at the first that differs from
// `base` (when given): most keys move a cheap one.
class Probes {
 public:
  explicit Probes(const HwSpec& hw, const Fingerprint* base = nullptr) : hw_(hw), base_(base) {}

  Fingerprint run() {
    push(hw_.peak_flops(MmaKind::kF16, hw_.clock.sm_datasheet));  // the datasheet check's clock
    if (stop()) return got_;
    capacity_probe();
    if (stop()) return got_;
    energy_probe();
    if (stop()) return got_;
    if (const NvlinkSpec* link = hw_.tp_link(); link != nullptr)
      push(ring_all_reduce_seconds(*link, 64e6, 8));
    if (stop()) return got_;
    micros();
    if (stop()) return got_;
    gemms();
    if (stop()) return got_;
    attention();
    if (stop()) return got_;
    step();
    return got_;
  }

 private:
  void push(double v) { got_.push_back(v); }
  [[nodiscard]] bool stop() const {
    if (base_ == nullptr) return false;
    for (size_t i = 0; i < got_.size(); ++i) {
      if (i >= base_->size() || got_[i] != (*base_)[i]) return true;
    }
    return false;
  }

  void capacity_probe() {
    const ModelSpec m =
        load_model(std::filesystem::path(BWSIM_CONFIG_DIR_FOR_TESTS) / "models/llama-3.1-8b.toml");
    CapacityOptions o;
    o.context = 8192;
    const Capacity c = capacity(m, QuantPlan::bf16(), hw_, o);
    push(c.usable);
    push(static_cast<double>(c.max_sequences));
  }

  // The energy model on a fixed activity, at boost and at the lowest clock, for every kind; and
  // a GEMM under a quarter of the power budget above idle, where the governor searches the DVFS
  // points.
  void energy_probe() {
    Activity a;
    a.mma_macs = a.fma = a.exp2 = a.smem_bytes = a.tmem_bytes = a.l2_bytes = a.die_link_bytes = a.dram_bytes =
        a.nvlink_bytes = a.pcie_bytes = 1e9;
    for (const auto& [name, kind] : kMmaKindNames) {
      if (hw_.tensor.rate(kind) == 0) continue;
      push(kernel_energy(hw_, kind, a, 1e-3, hw_.clock.sm).total());
    }
    push(kernel_energy(hw_, MmaKind::kF16, a, 1e-3, hw_.clock.sm_min).total());
    HwSpec tight = hw_;
    tight.power.limit.watts = hw_.power.idle.watts + (hw_.power.limit.watts - hw_.power.idle.watts) / 4;
    GemmTimingOptions o;
    o.max_finalists = 1;
    try {
      const GemmTiming g = simulate_gemm(GemmProblem{2048, 2048, 2048, parse_gemm_format("bf16")}, tight, o);
      push(static_cast<double>(g.power.clock.hz));
      push(static_cast<double>(g.time.ps()));
      push(g.power.joules());
    } catch (const InputError&) {
      push(-1);
    }
  }

  void micro(const std::string& name, const MicroOptions& o) {
    try {
      const MicroResult r = run_micro(name, hw_, o);
      for (const MicroRow& row : r.rows) {
        for (const auto& [k, v] : row.values) push(v);
      }
    } catch (const InputError&) {
      push(-1);  // a shape this GPU cannot run: the same under every variant of a key
    }
  }

  void micros() {
    const bool sm120 = hw_.arch == Arch::kSm120;  // mma.sync is m16n8
    MicroOptions o;
    o.count = 4;
    if (sm120) o.m = 16, o.n = 8;
    micro("mma-latency", o);
    if (has_tmem(hw_.arch)) {
      MicroOptions t = o;
      t.a_in_tmem = true;
      t.n = 256;
      micro("mma-latency", t);
      MicroOptions p = o;
      p.pair = true;
      p.m = 256;
      micro("mma-latency", p);
    }
    for (const auto& [kind_name, kind] : kMmaKindNames) {
      if (hw_.tensor.rate(kind) == 0) continue;
      MicroOptions t;
      t.kind = kind;
      t.n = sm120 ? 8 : 64;
      t.count = 16;
      if (hw_.arch == Arch::kSm90) t.m = 64;
      if (sm120) t.m = 16;
      micro("mma-throughput", t);
    }
    if (!sm120) {  // narrow MMAs with A off SMEM: bound by instruction issue
      MicroOptions t;
      t.a_in_tmem = true;
      t.n = 16;
      t.count = 16;
      if (hw_.arch == Arch::kSm90) t.m = 64;
      micro("mma-throughput", t);
    }
    MicroOptions s;
    s.count = 16;
    micro("smem-bandwidth", s);
    MicroOptions tma;
    tma.inflight = {65536};
    tma.buffer_bytes = uint64_t{64} << 20;
    micro("tma-bandwidth", tma);
    tma.copy = true;  // twice the L2: written blocks are evicted to DRAM between reads
    tma.buffer_bytes = 2 * hw_.l2.capacity.bytes;
    micro("tma-bandwidth", tma);
    MicroOptions lat;
    lat.count = 16;
    micro("hbm-latency", lat);
    micro("l2-latency", lat);
    micro("l2-bandwidth", MicroOptions{});
    MicroOptions occ;
    occ.count = 64;
    micro("cta-occupancy", occ);
    occ.cluster = 8;  // the portable cluster size: refused where sm.max_cluster is smaller
    micro("cta-occupancy", occ);
  }

  void gemm(int64_t m, int64_t n, int64_t k, const char* format) {
    GemmProblem p{m, n, k, parse_gemm_format(format)};
    GemmTimingOptions o;
    o.max_finalists = 2;
    try {
      const GemmTiming g = simulate_gemm(p, hw_, o);
      push(static_cast<double>(g.time.ps()));
      for (uint64_t b : {g.hbm_read, g.hbm_write, g.l2_read, g.l2_write, g.l2_hit, g.smem})
        push(static_cast<double>(b));
      push(g.power.joules());
    } catch (const InputError&) {
      push(-1);
    }
  }

  void gemms() {
    const bool fp4 = hw_.tensor.rate(MmaKind::kMxF4NvF4) > 0;
    gemm(2048, 2048, 2048, fp4 ? "nvfp4" : "fp8_e4m3");
    gemm(16, 4096, 4096, fp4 ? "nvfp4" : "fp8_e4m3");
    gemm(1024, 1024, 1024, "bf16");
    gemm(256, 1024, 1024, "w4a16");
  }

  void attention_case(AttentionProblem p) {
    try {
      const AttentionTiming t = simulate_attention(p, hw_, AttentionTimingOptions{});
      push(static_cast<double>(t.time.ps()));
      for (uint64_t b : {t.hbm_read, t.hbm_write, t.l2_read}) push(static_cast<double>(b));
      push(t.exp2);
      push(t.fma);
      push(t.power.joules());
    } catch (const InputError&) {
      push(-1);
    }
  }

  void attention() {
    AttentionProblem decode;
    decode.batch = 8;
    decode.seq = 4096;
    decode.q_len = 1;
    decode.heads = 32;
    decode.kv_heads = 8;
    decode.head_dim = 128;
    attention_case(decode);
    AttentionProblem prefill = decode;
    prefill.batch = 1;
    prefill.seq = 1024;
    prefill.q_len = 1024;
    prefill.causal = true;
    attention_case(prefill);
  }

  // A decode step of a small model: launch gaps, element-wise streams.
  void step() {
    const ModelSpec m =
        load_model(std::filesystem::path(BWSIM_CONFIG_DIR_FOR_TESTS) / "models/llama-3.1-8b.toml");
    StepOptions o;
    o.gemm_finalists = 1;
    StepCache cache;
    const StepTiming t = simulate_step(m, QuantPlan::bf16(), hw_, StepShape{1, 1, 512, false}, o, cache);
    push(static_cast<double>(t.time.ps()));
    push(t.power.joules());
  }

  const HwSpec& hw_;
  const Fingerprint* base_;
  Fingerprint got_;
};

bool numeric(const ParamRecord& p) {
  return p.type == "integer" || p.type == "number" || p.type == "cycles" || p.type == "frequency" ||
         p.type == "size" || p.type == "bandwidth" || p.type == "bytes per cycle" || p.type == "duration" ||
         p.type == "power" || p.type == "voltage" || p.type == "energy" || p.type == "energy per byte";
}

// `p`'s value times `f`, as a --set assignment; nullopt when the result is not a new value.
std::optional<std::string> scaled(const ParamRecord& p, double f) {
  if (p.type == "integer" || p.type == "cycles") {
    const double v = std::stod(p.value_json);
    const auto n = static_cast<int64_t>(std::max(1.0, std::round(v * f)));
    if (static_cast<double>(n) == v) return std::nullopt;
    return fmt::format("{}={}", p.path, n);
  }
  if (p.type == "number") return fmt::format("{}={}", p.path, std::stod(p.value_json) * f);
  const size_t space = p.value.find(' ');  // "7.7 TB/s"
  if (space == std::string::npos) return std::nullopt;
  const double v = std::stod(p.value.substr(0, space));
  if (v == 0) return std::nullopt;
  return fmt::format("{}=\"{} {}\"", p.path, v * f, p.value.substr(space + 1));
}

// Keys changed together with a key because the reader ties them (a CTA's SMEM within the SM's).
std::vector<std::string> companions(const std::string& key) {
  if (key == "smem.capacity") return {"smem.max_per_cta"};
  return {};
}

// Keys a change must bring along that the config does not set: a second die needs the energy of
// the link between them.
std::vector<std::string> required_with(const std::string& key) {
  if (key == "sm.dies") return {"power.energy.die_link=\"1.3 pJ/bit\""};
  return {};
}

// Each numeric key set in `config` itself (inherited keys are tested with the file that sets
// them), changed on its own (with its companions) by x2, /2, x16, /16 or to its minimum (the first
// that makes a valid config and moves something), must move some probe.
void expect_every_key_moves_something(const std::string& config) {
  std::vector<ParamRecord> records;
  const HwSpec base_hw = HwSpec::load(config, {}, &records);
  const Fingerprint base = Probes(base_hw).run();
  const std::string own = (kHwDir / (config + ".toml")).string();
  size_t tested = 0;
  for (const ParamRecord& p : records) {
    if (p.is_table || !numeric(p) || p.source.rfind(own + ":", 0) != 0) continue;
    bool valid = false;
    bool moved = false;
    for (const double f : {2.0, 0.5, 16.0, 1.0 / 16, 1.0 / 1024}) {
      const std::optional<std::string> set = scaled(p, f);
      if (!set) continue;
      std::vector<std::string> sets{*set};
      for (const std::string& c : companions(p.path)) {
        const auto it =
            std::find_if(records.begin(), records.end(), [&](const ParamRecord& r) { return r.path == c; });
        if (it == records.end()) continue;
        if (auto cs = scaled(*it, f)) sets.push_back(*cs);
      }
      for (const std::string& r : required_with(p.path)) sets.push_back(r);
      std::optional<HwSpec> hw;
      try {
        hw = HwSpec::load(config, sets);
      } catch (const InputError&) {
        continue;  // e.g. a capacity that is no longer a whole number of sets
      }
      valid = true;
      if (Probes(*hw, &base).run() != base) {
        moved = true;
        break;
      }
    }
    ++tested;
    EXPECT_TRUE(moved) << config << ": " << p.path << " = " << p.value
                       << (valid ? " moves no probe's time or bytes" : " has no valid variant to try");
  }
  EXPECT_GT(tested, 0u) << config;
}

class EveryKeyMoves : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryKeyMoves, SomeProbesTimeOrBytes) { expect_every_key_moves_something(GetParam()); }

INSTANTIATE_TEST_SUITE_P(ShippedConfigs, EveryKeyMoves, ::testing::ValuesIn(shipped_configs()),
                         [](const auto& param_info) {
                           std::string s = param_info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
}  // namespace bwsim

namespace bwsim {
namespace {

// The two behaviours the wired keys promise, by hand.
TEST(HwKeys, SmemLatencyShowsInTheMmaLatencyMicro) {
  MicroOptions o;
  o.count = 4;
  const double base = run_micro("mma-latency", HwSpec::load("b200", {}), o).rows.at(0).at("cycles");
  const double slow =
      run_micro("mma-latency", HwSpec::load("b200", {"smem.latency=60"}), o).rows.at(0).at("cycles");
  EXPECT_NEAR(base, 201,
              0.01);  // 106 fixed + 30 SMEM + 128 x 128 x 16 / 4096 = 64 math (+1 to the next edge)
  EXPECT_NEAR(slow, base + 30, 0.01);
}

// At the 1.4 GHz clock it was written at. Without multicast the planner offers no clusters, and
// the same tile without its cluster reads each B tile once per CTA rather than once per cluster.
// (Whether the planner picks a multicast plan with it on depends on the shape and the address
// hash; the plans are forced here.)
TEST(HwKeys, TmaMulticastOffRemovesClustersAndReadsMoreThroughL2) {
  const GemmProblem p{2048, 2048, 2048, parse_gemm_format("nvfp4")};
  const std::string lock = "clock.lock=\"1.4 GHz\"";
  GemmTimingOptions forced;
  forced.tile = parse_tile("256x256x128:stages=8:cluster=2");
  const GemmTiming on = simulate_gemm(p, HwSpec::load("b200", {lock}), forced);
  forced.tile = parse_tile("256x256x128:stages=8");
  const GemmTiming single = simulate_gemm(p, HwSpec::load("b200", {"tma.multicast=false", lock}), forced);
  const GemmTiming off = simulate_gemm(p, HwSpec::load("b200", {"tma.multicast=false", lock}));
  EXPECT_EQ(on.plan.tile.cluster_n, 2u);
  EXPECT_EQ(off.plan.tile.cluster_n, 1u);
  EXPECT_GT(single.l2_read, on.l2_read);
  forced.tile = parse_tile(on.plan.tile.name());
  EXPECT_CONTAINS(input_error_of([&] {
                    simulate_gemm(p, HwSpec::load("b200", {"tma.multicast=false", lock}), forced);
                  }),
                  "tma.multicast is off");
}

}  // namespace
}  // namespace bwsim

namespace bwsim {
namespace {

// The [simulation] keys are not hardware, but they shape the reported times: each is read and
// used (the planner's estimate ranks candidates; sampling decides what is simulated whole).
TEST(HwKeys, SimulationKeysChangeHowTimesAreFound) {
  const GemmProblem g{2048, 2048, 2048, parse_gemm_format("nvfp4")};
  const GemmTiming base = simulate_gemm(g, HwSpec::load("b200", {}));
  const GemmTiming slow_l2 = simulate_gemm(g, HwSpec::load("b200", {"simulation.l2_efficiency=0.2"}));
  ASSERT_FALSE(base.candidates.empty());
  EXPECT_NE(base.candidates.front().second, slow_l2.candidates.front().second);
  AttentionProblem p;
  p.seq = 4096;
  p.q_len = 4096;
  p.heads = 16;
  p.kv_heads = 16;
  p.head_dim = 128;
  p.causal = true;
  const AttentionTiming whole = simulate_attention(p, HwSpec::load("b200", {}), AttentionTimingOptions{});
  const AttentionTiming sampled = simulate_attention(
      p, HwSpec::load("b200", {"simulation.attention_whole_run=100"}), AttentionTimingOptions{});
  EXPECT_FALSE(whole.sampled);
  EXPECT_TRUE(sampled.sampled);
  EXPECT_CONTAINS(input_error_of([] { HwSpec::load("b200", {"simulation.attention_sample_long=4"}); }),
                  "must exceed simulation.attention_sample_short");
}

}  // namespace
}  // namespace bwsim
