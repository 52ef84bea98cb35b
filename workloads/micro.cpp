#include "workloads/micro.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>

#include "isa/mma.hpp"
#include "models/gpu.hpp"
#include "models/power.hpp"
#include "sim/errors.hpp"
#include "sim/rng.hpp"

namespace bwsim {

double MicroRow::at(const std::string& name) const {
  for (const auto& [k, v] : values) {
    if (k == name) return v;
  }
  throw std::out_of_range("no value " + name);
}

namespace {

constexpr uint64_t kRowBytes = 128;  // 1D buffers are tensors of 128-byte rows: contiguous 4 KiB blocks

Kernel one_cta(std::string name, const std::vector<Role>& roles, const std::vector<uint32_t>& barriers,
               uint32_t clusters = 1, uint32_t cluster_size = 1) {
  Kernel k;
  k.name = std::move(name);
  k.clusters = clusters;
  k.cluster_size = cluster_size;
  k.program = [roles, barriers, cluster_size](uint32_t) {
    ClusterProgram p;
    for (uint32_t i = 0; i < cluster_size; ++i) {
      p.ctas.push_back(i == 0 ? CtaProgram{roles, barriers}
                              : CtaProgram{{Role{"idle", {Op::wait(0, 0)}}}, barriers});
    }
    return p;
  };
  return k;
}

MmaShape mma_shape(const MicroOptions& o) {
  MmaShape s;
  s.kind = o.kind;
  s.m = static_cast<uint16_t>(o.m);
  s.n = static_cast<uint16_t>(o.n);
  s.a_in_tmem = o.a_in_tmem;
  s.cta_group = o.pair ? 2 : 1;
  return s;
}

void check_mma(const HwSpec& hw, const MicroOptions& o) {
  MmaSpec spec;
  spec.arch = hw.arch;
  spec.kind = o.kind;
  spec.m = o.m;
  spec.n = o.n;
  spec.cta_group = o.pair ? 2 : 1;
  // Operand formats matching the kind, so only arch and shape are checked here.
  switch (o.kind) {
    case MmaKind::kF16:
      spec.a = spec.b = ScalarFormat::kBF16;
      break;
    case MmaKind::kTf32:
      spec.tf32 = true;
      break;
    case MmaKind::kI8:
      spec.a = spec.b = ScalarFormat::kINT8;
      break;
    case MmaKind::kMxF4:
    case MmaKind::kMxF4NvF4:
      spec.a = spec.b = ScalarFormat::kE2M1;
      spec.scale = o.kind == MmaKind::kMxF4 ? ScalarFormat::kUE8M0 : ScalarFormat::kUE4M3;
      spec.scale_block = o.kind == MmaKind::kMxF4 ? 32 : 16;
      break;
    case MmaKind::kMxF8F6F4:
      spec.a = spec.b = ScalarFormat::kE4M3;
      spec.scale = ScalarFormat::kUE8M0;
      spec.scale_block = 32;
      break;
    default:
      spec.a = spec.b = ScalarFormat::kE4M3;
  }
  if (auto why = mma_invalid_reason(spec)) throw InputError(fmt::format("{}: {}", hw.name, *why));
  if (o.a_in_tmem && !has_tcgen05(hw.arch) && !has_wgmma(hw.arch)) {
    throw InputError(fmt::format("{}: --a-tmem needs TMEM (or, on Hopper, A in registers)", hw.name));
  }
}

// The timed kernel's energy and average power, at boost with the power limit not applied (as a
// microbenchmark runs), from what it counted: energy_uj, avg_w.
void add_power(MicroRow& row, const Gpu& gpu, const KernelResult& r, MmaKind kind = MmaKind::kF16) {
  Activity a = Activity::from_stats({}, r.stats, gpu.sim.stats().info());
  a.active_sms = r.sms_used;
  const PowerReport p =
      power_at(gpu.hw, kind, GovernedRun{r.duration(), a}, gpu.hw.clock.sm, ClockLimit::kUngoverned);
  row.values.emplace_back("energy_uj", p.joules() * 1e6);
  row.values.emplace_back("avg_w", p.watts());
}

double cycles(const Gpu& g, Tick t) {
  return static_cast<double>(t.ps()) * static_cast<double>(g.sm_clock.frequency().hz) * 1e-12;
}

MicroResult mma_latency(const HwSpec& hw, const MicroOptions& o) {
  check_mma(hw, o);
  Simulation sim;
  Gpu gpu(sim, hw, ClockMode::kBoost);
  std::vector<Op> ops;
  const uint32_t reps = std::max(1u, std::min(o.count, 64u));
  for (uint32_t i = 0; i < reps; ++i) {
    const Op mma = Op::mma_op(mma_shape(o), 1, 0, o.pair ? 0b11 : 0);
    ops.push_back(Op::mark(2 * i));
    ops.push_back(mma);
    ops.push_back(Op::wait(0, i));
    ops.push_back(Op::mark(2 * i + 1));
  }
  const KernelResult r = gpu.run(one_cta("mma-latency", {Role{"mma", ops}}, {1}, 1, o.pair ? 2 : 1));
  std::vector<double> lat;
  std::map<uint32_t, Tick> t;
  for (const auto& [id, when] : r.marks) t[id] = when;
  for (uint32_t i = 0; i < reps; ++i) lat.push_back(cycles(gpu, t[2 * i + 1] - t[2 * i]));
  std::sort(lat.begin(), lat.end());
  MicroRow row{{{"cycles", lat[lat.size() / 2]}, {"m", o.m}, {"n", o.n}}};
  add_power(row, gpu, r, o.kind);
  return {"mma-latency", "one MMA, issue -> commit -> mbarrier (median over repetitions)", {row}};
}

MicroResult mma_throughput(const HwSpec& hw, const MicroOptions& o) {
  check_mma(hw, o);
  Simulation sim;
  Gpu gpu(sim, hw, ClockMode::kBoost);
  const Op mma = Op::mma_op(mma_shape(o), o.count, 0, o.pair ? 0b11 : 0);
  const KernelResult r =
      gpu.run(one_cta("mma-throughput", {Role{"mma", {Op::mark(0), mma, Op::wait(0, 0), Op::mark(1)}}}, {1},
                      1, o.pair ? 2 : 1));
  const double total = cycles(gpu, r.marks.at(1).second - r.marks.at(0).second);
  const double per = total / o.count;
  const double flop = 2.0 * o.m * o.n * mma_k(o.kind);
  MicroRow row{{{"cycles_per_mma", per}, {"flop_per_clk", flop / per}, {"m", o.m}, {"n", o.n}}};
  add_power(row, gpu, r, o.kind);
  return {"mma-throughput",
          "back-to-back MMAs into one accumulator: cycles each, FLOP per clock (per SM, or per pair)",
          {row}};
}

MicroResult smem_bandwidth(const HwSpec& hw, const MicroOptions& o) {
  Simulation sim;
  Gpu gpu(sim, hw, ClockMode::kBoost);
  const uint64_t chunk = 32768;
  // Four warps' worth of loads in flight, as a bandwidth test keeps the port busy while each
  // load waits out smem.latency.
  constexpr uint32_t kStreams = 4;
  std::vector<Role> roles;
  for (uint32_t w = 0; w < kStreams; ++w) {
    std::vector<Op> ops;
    for (uint32_t i = w; i < o.count; i += kStreams) ops.push_back(Op::smem_read(chunk));
    roles.push_back(Role{"ld.shared", std::move(ops)});
  }
  const KernelResult r = gpu.run(one_cta("smem-bandwidth", roles, {}, hw.sm.count));
  const double secs = r.duration().seconds();
  const double bytes = static_cast<double>(chunk) * o.count * hw.sm.count;
  MicroRow row{{{"bytes_per_clk_per_sm", bytes / hw.sm.count / cycles(gpu, r.duration())},
                {"tb_per_s", bytes / secs * 1e-12}}};
  add_power(row, gpu, r);
  return {"smem-bandwidth", "ld.shared streams on every SM", {row}};
}

// Every SM streams its share of a buffer with `slots` boxes in flight; copy mode stores each
// box to a second buffer before reusing its slot.
KernelResult stream(Gpu& gpu, uint32_t src, uint32_t dst, uint64_t total_rows, uint64_t box_rows,
                    uint32_t slots, bool copy, const std::string& name) {
  const uint32_t sms = gpu.hw.sm.count;
  const uint64_t boxes = total_rows / box_rows;
  Kernel k;
  k.name = name;
  k.clusters = sms;
  k.resources.smem_bytes = std::min<uint64_t>(slots * box_rows * kRowBytes, gpu.hw.smem.max_per_cta.bytes);
  k.program = [=](uint32_t sm) {
    Role producer{"tma", {}};
    Role consumer{"drain", {}};
    uint32_t j = 0;
    for (uint64_t b = sm; b < boxes; b += sms, ++j) {
      const auto s = static_cast<uint16_t>(j % slots);
      if (j >= slots) producer.ops.push_back(Op::wait(static_cast<uint16_t>(slots + s), j / slots - 1));
      producer.ops.push_back(Op::tma_load(Region{src, b * box_rows, box_rows, 0, kRowBytes}, s));
      consumer.ops.push_back(Op::wait(s, j / slots));
      if (copy) {
        consumer.ops.push_back(Op::tma_store(Region{dst, b * box_rows, box_rows, 0, kRowBytes}));
        consumer.ops.push_back(Op::tma_store_wait());
      }
      consumer.ops.push_back(Op::arrive(static_cast<uint16_t>(slots + s)));
    }
    ClusterProgram p;
    p.ctas.push_back(CtaProgram{{producer, consumer}, std::vector<uint32_t>(size_t{2} * slots, 1)});
    return p;
  };
  return gpu.run(k);
}

MicroResult tma_bandwidth(const HwSpec& hw, const MicroOptions& o) {
  std::vector<uint64_t> inflight = o.inflight;
  if (inflight.empty()) inflight = {16384, 32768, 65536, 131072, 262144, 524288};
  const uint64_t box = std::max<uint64_t>(kRowBytes, o.box_bytes / kRowBytes * kRowBytes);
  const uint64_t buffer =
      o.buffer_bytes != 0 ? o.buffer_bytes : std::max<uint64_t>(4 * hw.l2.capacity.bytes, 1ull << 30);
  MicroResult res{"tma-bandwidth",
                  o.copy ? "HBM copy by TMA (bytes read + written per second) against bytes in flight per SM"
                         : "HBM streaming read by TMA against bytes in flight per SM",
                  {}};
  for (uint64_t bytes : inflight) {
    const auto slots = static_cast<uint32_t>(std::clamp<uint64_t>(bytes / box, 1, hw.tma.max_inflight_boxes));
    Simulation sim;
    Gpu gpu(sim, hw, ClockMode::kBoost);
    const uint64_t rows = buffer / kRowBytes;
    const uint32_t src = gpu.amap.allocate("src", rows, kRowBytes);
    const uint32_t dst = o.copy ? gpu.amap.allocate("dst", rows, kRowBytes) : src;
    KernelResult r;
    for (uint32_t rep = 0; rep < std::max<uint32_t>(o.repeat, 1); ++rep)
      r = stream(gpu, src, dst, rows, box / kRowBytes, slots, o.copy, "tma-stream");
    const double moved = static_cast<double>(rows / (box / kRowBytes) * box) * (o.copy ? 2.0 : 1.0);
    MicroRow row{{{"inflight_bytes_per_sm", static_cast<double>(slots * box)},
                  {"tb_per_s", moved / r.duration().seconds() * 1e-12},
                  {"hbm_read_gb", static_cast<double>(sim.stats().value("gpu.bytes.hbm.read")) * 1e-9},
                  {"hbm_write_gb", static_cast<double>(sim.stats().value("gpu.bytes.hbm.write")) * 1e-9}}};
    add_power(row, gpu, r);
    res.rows.push_back(std::move(row));
  }
  return res;
}

MicroResult l2_bandwidth(const HwSpec& hw, const MicroOptions& o) {
  Simulation sim;
  Gpu gpu(sim, hw, ClockMode::kBoost);
  const uint64_t buffer = o.buffer_bytes != 0 ? o.buffer_bytes : hw.l2.capacity.bytes / 4;
  const uint64_t box = std::max<uint64_t>(kRowBytes, o.box_bytes / kRowBytes * kRowBytes);
  const uint64_t rows = buffer / kRowBytes;
  const uint32_t src = gpu.amap.allocate("src", rows, kRowBytes);
  const auto slots = std::min<uint32_t>(hw.tma.max_inflight_boxes, 16);
  stream(gpu, src, src, rows, box / kRowBytes, slots, false, "l2-warm");  // first pass fills L2
  const uint64_t miss_before = sim.stats().value("gpu.bytes.l2.miss");
  const KernelResult r = stream(gpu, src, src, rows, box / kRowBytes, slots, false, "l2-read");
  const double moved = static_cast<double>(rows / (box / kRowBytes) * box);
  MicroRow row{{{"tb_per_s", moved / r.duration().seconds() * 1e-12},
                {"miss_bytes", static_cast<double>(sim.stats().value("gpu.bytes.l2.miss") - miss_before)}}};
  add_power(row, gpu, r);
  return {"l2-bandwidth", "all SMs re-read a buffer that fits in L2", {row}};
}

// A pointer chase from SM 0: `count` dependent 32-byte loads to blocks homed near (on SM 0's
// die) or far; `warm` first touches the same addresses so the chase hits in L2.
struct Chase {
  double cycles = 0;  // per load
  MicroRow power;     // the whole kernel's energy_uj, avg_w
};

Chase chase(const HwSpec& hw, uint32_t count, bool far, bool warm, uint64_t buffer) {
  Simulation sim;
  Gpu gpu(sim, hw, ClockMode::kBoost);
  const uint64_t rows = buffer / kRowBytes;
  const uint32_t t = gpu.amap.allocate("chase", rows, kRowBytes);
  const uint32_t die = gpu.mem.die_of_sm(0);
  std::vector<Region> picks;
  const uint64_t block_rows = gpu.amap.tensor(t).block_rows;
  const uint64_t blocks = rows / block_rows;
  for (uint64_t i = 0; picks.size() < count && i < 64 * uint64_t{count}; ++i) {
    const uint64_t row = (random_at(5, i) % blocks) * block_rows;
    uint64_t ordinal = 0;
    gpu.amap.for_each_block(Region{t, row, 1, 0, 32}, [&](const BlockAccess& b) { ordinal = b.ordinal; });
    const bool home_far = hw.l2.partitions > 1 && gpu.mem.home_partition(ordinal) != die;
    if (home_far != far) continue;
    picks.push_back(Region{t, row, 1, 0, 32});
  }
  if (picks.size() < count) throw std::logic_error("pointer chase found too few addresses");
  std::vector<Op> ops;
  if (warm) {
    for (const Region& r : picks) ops.push_back(Op::load(r));
  }
  ops.push_back(Op::mark(0));
  for (const Region& r : picks) ops.push_back(Op::load(r));
  ops.push_back(Op::mark(1));
  const KernelResult r = gpu.run(one_cta("chase", {Role{"ldg", ops}}, {}));
  Chase c{cycles(gpu, r.marks.at(1).second - r.marks.at(0).second) / count, {}};
  add_power(c.power, gpu, r);
  return c;
}

MicroResult latency_micro(const HwSpec& hw, const MicroOptions& o, bool l2) {
  const uint32_t count = std::max(1u, std::min(o.count, 256u));
  const uint64_t buffer =
      o.buffer_bytes != 0 ? o.buffer_bytes : (l2 ? hw.l2.capacity.bytes / 8 : 16 * hw.l2.capacity.bytes);
  MicroRow row;
  const Chase near = chase(hw, count, false, l2, buffer);
  row.values.emplace_back("near_cycles", near.cycles);
  if (hw.l2.partitions > 1) {
    const double far = chase(hw, count, true, l2, buffer).cycles;
    row.values.emplace_back("far_cycles", far);
    row.values.emplace_back("cross_die_penalty_cycles", far - near.cycles);
  }
  // The near chase's energy: an SM waiting on memory draws close to idle.
  for (const auto& v : near.power.values) row.values.push_back(v);
  return {l2 ? "l2-latency" : "hbm-latency",
          l2 ? "dependent loads that hit in L2, data homed on the SM's die and on the other"
             : "dependent loads that miss L2, data homed on the SM's die and on the other",
          {row}};
}

}  // namespace

// A grid of one-warp CTAs, each busy for a fixed time: how many run at once on an SM (the CTA,
// warp and register limits), from how many waves the grid takes.
MicroResult cta_occupancy(const HwSpec& hw, const MicroOptions& o) {
  Simulation sim;
  Gpu gpu(sim, hw, ClockMode::kBoost);
  constexpr uint32_t kBusy = 1000;  // cycles per CTA
  const uint32_t per_sm = std::max(1u, std::min(o.count, 1024u));
  if (o.cluster < 1 || o.cluster > hw.sm.max_cluster) {
    throw InputError(fmt::format("--cluster {}: {} launches clusters of 1 to sm.max_cluster = {} CTAs",
                                 o.cluster, hw.name, hw.sm.max_cluster));
  }
  // Every CTA of a cluster is busy (one_cta gives ranks after the first an idle role).
  Kernel k;
  k.name = "cta-occupancy";
  k.cluster_size = o.cluster;
  k.clusters = std::max(1u, hw.sm.count * per_sm / o.cluster);
  k.program = [cluster = o.cluster](uint32_t) {
    ClusterProgram p;
    for (uint32_t i = 0; i < cluster; ++i)
      p.ctas.push_back(CtaProgram{{Role{"busy", {Op::delay(kBusy)}}}, {}});
    return p;
  };
  k.resources.threads = 32;
  k.resources.registers_per_thread = 64;
  const KernelResult r = gpu.run(k);
  const double waves = std::round(cycles(gpu, r.duration()) / kBusy);
  MicroRow row{
      {{"ctas_per_sm", std::ceil(per_sm / waves)}, {"waves", waves}, {"cycles", cycles(gpu, r.duration())}}};
  add_power(row, gpu, r);
  return {"cta-occupancy",
          fmt::format(
              "one-warp CTAs (64 registers per thread, no SMEM) resident at once per SM, in clusters of {}",
              o.cluster),
          {row}};
}

std::vector<std::pair<std::string, std::string>> micro_list() {
  return {
      {"mma-latency", "one tensor instruction, issue -> commit (--kind --m --n --a-tmem --pair)"},
      {"mma-throughput", "back-to-back tensor instructions (--kind --m --n --a-tmem --pair --count)"},
      {"smem-bandwidth", "shared-memory read bandwidth on every SM"},
      {"tma-bandwidth", "HBM streaming read (or --copy) by TMA against bytes in flight per SM (--inflight)"},
      {"hbm-latency", "dependent loads that miss L2, near and cross-die"},
      {"l2-bandwidth", "all SMs re-reading an L2-resident buffer"},
      {"l2-latency", "dependent loads that hit in L2, near and cross-die"},
      {"cta-occupancy",
       "one-warp CTAs resident at once per SM (--count CTAs per SM in the grid, --cluster N)"}};
}

MicroResult run_micro(const std::string& name, const HwSpec& hw, const MicroOptions& o) {
  if (name == "mma-latency") return mma_latency(hw, o);
  if (name == "mma-throughput") return mma_throughput(hw, o);
  if (name == "smem-bandwidth") return smem_bandwidth(hw, o);
  if (name == "tma-bandwidth") return tma_bandwidth(hw, o);
  if (name == "hbm-latency") return latency_micro(hw, o, false);
  if (name == "l2-latency") return latency_micro(hw, o, true);
  if (name == "l2-bandwidth") return l2_bandwidth(hw, o);
  if (name == "cta-occupancy") return cta_occupancy(hw, o);
  std::string names;
  for (const auto& [n, d] : micro_list()) names += (names.empty() ? "" : ", ") + n;
  throw InputError(fmt::format("unknown microbenchmark '{}' (one of: {})", name, names));
}

}  // namespace bwsim
