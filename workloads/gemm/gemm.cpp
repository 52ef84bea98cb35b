#include "workloads/gemm/gemm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <unistd.h>

#include "isa/mma.hpp"
#include "models/governor.hpp"
#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "sim/progress.hpp"

namespace bwsim {
namespace {

struct Run {
  std::vector<KernelResult> kernels;
  Tick time;
  StatsRegistry::Snapshot before, after;
  std::vector<StatInfo> info;
  std::shared_ptr<GpuTrace> trace;
};

uint64_t stat(const Run& r, std::string_view name) {
  for (size_t i = 0; i < r.info.size(); ++i) {
    if (r.info[i].name == name) return r.after[i] - r.before[i];
  }
  return 0;
}

// One plan's simulation. The planner may pause it once every cluster has drained two work
// items (estimate), and later go on with it to the end (finish) if the plan wins: run in parts,
// a kernel times exactly as run whole.
class PlanRun {
 public:
  PlanRun(const GemmPlan& plan, const HwSpec& hw, const GemmTimingOptions& o, const TraceOptions* trace)
      : plan_(plan), hw_(hw), gpu_(sim_, hw, o.clock), t_(allocate_gemm(gpu_, plan)) {
    gpu_.mem.set_start(L2Start{o.l2_dirty, 0});
    if (trace != nullptr) {
      trace_ = std::make_shared<GpuTrace>(*trace, hw.sm.count);
      gpu_.set_trace(trace_.get());
    }
    before_ = sim_.stats().snapshot();
    main_ = gemm_kernel(plan, hw, t_);
    started_ = sim_.now();
    gpu_.start(main_);
  }
  PlanRun(const PlanRun&) = delete;
  PlanRun& operator=(const PlanRun&) = delete;

  /// The whole kernel's time extrapolated from its steady state: runs until every cluster has
  /// drained its first two work items (the gap between the last first-item and the last
  /// second-item drain is one wave, which the remaining waves repeat). Nullopt if the kernel
  /// ended first. Plans whose K loop is shorter than their pipeline are not estimated this way
  /// (see simulate_gemm).
  std::optional<double> estimate() {
    const uint64_t want = uint64_t{main_.clusters} * gemm_marks_per_item(plan_, hw_);
    size_t seen = 0;
    uint64_t second = 0;
    Tick wave_end[2] = {Tick{}, Tick{}};
    const bool paused = gpu_.run_until(
        [&](const std::vector<std::pair<uint32_t, Tick>>& marks) {
          for (; seen < marks.size(); ++seen) {
            const auto& [id, t] = marks[seen];
            if (id > 1) continue;
            wave_end[id] = std::max(wave_end[id], t);
            if (id == 1) ++second;
          }
          return second >= want;
        },
        nanoseconds(250));
    if (!paused || sim_.events().empty()) return std::nullopt;
    return (wave_end[1] - started_).seconds() +
           (static_cast<double>(plan_.waves()) - 2) * (wave_end[1] - wave_end[0]).seconds();
  }

  /// Runs the plan to the end (its split-K reduction too).
  Run finish() {
    Run r;
    r.trace = trace_;
    r.before = before_;
    if (progress::active()) {
      // Drained work items against all of them, in windows of simulated time (the events run in
      // the same order as in one call).
      progress::Scope bar(fmt::format("simulating {}", plan_.tile.name()),
                          static_cast<double>(plan_.work_items) * gemm_marks_per_item(plan_, hw_));
      gpu_.run_until(
          [&](const std::vector<std::pair<uint32_t, Tick>>& marks) {
            bar.set(static_cast<double>(marks.size()));
            return false;
          },
          microseconds(2));
    }
    r.kernels.push_back(gpu_.finish());
    if (plan_.tile.split_k > 1) r.kernels.push_back(gpu_.run(splitk_reduce_kernel(plan_, hw_, t_)));
    r.after = sim_.stats().snapshot();
    r.info = sim_.stats().info();
    r.time = r.kernels.back().end - r.kernels.front().start;
    return r;
  }

 private:
  const GemmPlan plan_;
  const HwSpec& hw_;
  Simulation sim_;
  Gpu gpu_;
  GemmTensors t_;
  Kernel main_;
  std::shared_ptr<GpuTrace> trace_;
  StatsRegistry::Snapshot before_;
  Tick started_{0};
};

// A first, analytic ranking: waves of work items, each bounded by its tensor time, its L2
// traffic at the L2's share per cluster, or its SMEM traffic (TMA writes and MMA operand reads
// through one port); and the whole bounded by streaming the operands once from DRAM. Only the
// best few are then simulated.
double analytic_estimate(const GemmPlan& pl, const HwSpec& hw) {
  const GemmProblem& p = pl.problem;
  const double f = static_cast<double>(hw.clock.run.hz);
  const double rate = static_cast<double>(hw.tensor.rate(pl.math.kind));
  const double tile_k = static_cast<double>(p.k) / pl.tile.split_k;
  const double tiles_per_item = pl.tile.cluster_n;
  const double macs = static_cast<double>(pl.tile.tile_m) * pl.tile.tile_n * tile_k * tiles_per_item;
  const double t_math = macs / (rate * pl.cluster_size) / f;
  const double a_bytes = pl.tile.tile_m * tile_k * pl.math.a_bits / 8.0;
  const double b_bytes = pl.tile.tile_n * tile_k * pl.math.b_bits / 8.0 * tiles_per_item;
  const double l2_bw = hw.l2.slice_bandwidth.value * hw.l2.slices * static_cast<double>(hw.clock.l2.hz) *
                       hw.simulation.l2_efficiency;
  const double t_l2 = (a_bytes + b_bytes) / (l2_bw / pl.clusters);
  // Per CTA: its A rows (multicast or not, every CTA holds them) and its share of B, written by
  // TMA and read by the MMA.
  const double cta_rows =
      (pl.pair ? pl.tile.tile_m / 2.0 : pl.tile.tile_m) + (pl.pair ? pl.tile.tile_n / 2.0 : pl.tile.tile_n);
  const double cta_bytes = cta_rows * tile_k * std::max(pl.math.a_bits, pl.math.b_bits) / 8.0;
  const double t_smem = 2 * cta_bytes / (hw.smem.bandwidth.value * f);
  // Stream-K evens the last wave out over every cluster (its fix-up is small beside a tile).
  const double waves = pl.tile.stream_k ? static_cast<double>(pl.work_items) / pl.clusters
                                        : std::ceil(static_cast<double>(pl.work_items) / pl.clusters);
  const double unique = static_cast<double>(p.m) * static_cast<double>(p.k) * pl.math.a_bits / 8 +
                        static_cast<double>(p.n) * static_cast<double>(p.k) * pl.math.b_bits / 8;
  const double t_hbm =
      unique / (static_cast<double>(hw.dram.bandwidth.bytes_per_s) * hw.simulation.hbm_efficiency);
  // Among plans that all stream at the DRAM bound, prefer the one with the most slack per wave.
  const double t_items = waves * std::max({t_math, t_l2, t_smem});
  // Each work item a cluster starts refills its pipeline from DRAM: one load latency (DRAM,
  // L2 lookup and the NoC both ways) before its first MMA, which streaming shapes do not hide.
  // It separates plans the DRAM bound ties (a 128-row decode GEMM: 224 items of 128x256 beat 448
  // of 128x128 by 10 us, and the two ranked within 0.3%).
  const double t_fill = hw.dram.latency.tick.seconds() +
                        static_cast<double>(hw.l2.hit_latency.count() + 2 * hw.noc.latency.count()) /
                            static_cast<double>(hw.clock.l2.hz);
  double t = std::max(t_items, t_hbm) + hw.simulation.wave_slack * t_items + std::ceil(waves) * t_fill;
  if (pl.tile.split_k > 1) {
    t += static_cast<double>(p.m) * static_cast<double>(p.n) * 4.0 * pl.tile.split_k /
         (static_cast<double>(hw.dram.bandwidth.bytes_per_s) * hw.simulation.reduce_efficiency);
  }
  if (pl.tile.stream_k) {
    // The fix-up: a flag round trip, then the owner reads each partial of its tile (~100 GB/s
    // for one SM's loads) before its epilogue.
    const double partial =
        static_cast<double>(pl.tile.tile_m) * pl.tile.tile_n * tiles_per_item * 4 / pl.cluster_size;
    t += hw.simulation.fixup_latency.tick.seconds() +
         pl.sk_partials * partial / static_cast<double>(hw.simulation.fixup_bandwidth.bytes_per_s);
  }
  return t;
}

// Whether a finalist is timed from its first two waves (PlanRun::estimate) rather than whole.
// Plans of a few waves are simulated whole, reduction included: their tail wave weighs too much
// to extrapolate from the first two (a 6.9-wave split-K decode plan came out 12% fast that way),
// and a whole run of so few waves costs little more than two. So are stream-K plans, and plans
// whose K loop is shorter than their pipeline: their first waves overlap and their outputs (as
// large as their weights) reach DRAM only once the L2 fills, so no early window is their steady
// state (a 64 x 1835008 x 256 expert GEMM: estimated 157 us, ran 500).
bool extrapolated(const GemmPlan& c, const HwSpec& hw) {
  return c.waves() > hw.simulation.gemm_whole_run_waves && !c.tile.stream_k && c.k_iters() >= c.tile.stages;
}

// A time as a step pays it: the plan's kernels each add a launch gap.
double step_seconds(double kernel_seconds, const GemmPlan& c, const HwSpec& hw) {
  return kernel_seconds + hw.launch.gaps(c.kernels()).seconds();
}

void classify(GemmTiming& g, const HwSpec& hw) {
  const double secs = g.time.seconds();
  const KernelResult& main = g.kernels.front();
  g.util.tensor = main.busy.tensor.seconds() / (main.duration().seconds() * hw.sm.count);
  g.util.tensor_math = main.busy.tensor_math.seconds() / (main.duration().seconds() * hw.sm.count);
  g.util.smem = main.busy.smem.seconds() / (main.duration().seconds() * hw.sm.count);
  g.util.hbm = main.busy.dram.seconds() / (main.duration().seconds() * hw.dram.channels());
  const double l2_rate = static_cast<double>(g.l2_read + g.l2_write) / secs;
  const double l2_peak = hw.l2.slice_bandwidth.value * hw.l2.slices * static_cast<double>(hw.clock.l2.hz);
  g.util.l2 = l2_rate / l2_peak;
  const double waves = static_cast<double>(g.plan.work_items) / g.plan.clusters;
  const double tail = waves > 1 ? (std::ceil(waves) - waves) / std::ceil(waves) : 0;
  g.bound = classify_bound(g.util, tail);
  g.bound_detail =
      fmt::format("{}; {:.2f} waves of {} clusters", utilization_text(g.util), waves, g.plan.clusters);
}

}  // namespace

namespace {
std::string gib(uint64_t bytes) {
  const auto b = static_cast<double>(bytes);
  return b < 0x1p30 ? fmt::format("{:.0f} MiB", b / 0x1p20) : fmt::format("{:.1f} GiB", b / 0x1p30);
}
}  // namespace

uint64_t gemm_simulation_bytes(const GemmProblem& p, const HwSpec& hw) {
  const GemmMath m = gemm_math(p.format, hw.arch, hw.name);
  const auto m_ = static_cast<double>(p.m);
  const auto n_ = static_cast<double>(p.n);
  const auto k_ = static_cast<double>(p.k);
  // A, B and D, plus one FP32 copy of D for a split's or stream-K's partials.
  const double bytes =
      m_ * k_ * m.a_bits / 8 + n_ * k_ * m.b_bits / 8 + m_ * n_ * (gemm_out_bits(p.out) / 8.0 + 4);
  const double blocks = bytes / static_cast<double>(hw.l2.block.bytes) + 1;
  const double total = blocks * kTrackedBlockBytes + kSimulationBaseBytes;
  return total >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(total);
}

namespace {
void check_memory(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o) {
  // A shape the planner refuses anyway (a dimension <= 0 or over kMaxGemmDim) gets its own message.
  if (std::min({p.m, p.n, p.k}) <= 0 || std::max({p.m, p.n, p.k}) > kMaxGemmDim) return;
  const uint64_t budget = o.max_memory != 0 ? o.max_memory : default_memory_budget();
  if (const uint64_t need = gemm_simulation_bytes(p, hw); need > budget) {
    throw InputError(fmt::format(
        "GEMM {} x {} x {} ({}): timing it would hold about {} of simulator memory (the L2 model "
        "tracks every {}-byte block of A, B and D), above the budget of {} ({}); time a smaller "
        "shape (a large GEMM's throughput is its steady state: M, N and K of a few thousand show it) "
        "or raise the budget",
        p.m, p.n, p.k, p.format.name, gib(need), hw.l2.block.bytes, gib(budget),
        o.max_memory != 0 ? "--max-memory" : "half of this machine's memory; --max-memory to change it"));
  }
}
}  // namespace

void check_gemm(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o) {
  check_memory(p, hw, o);
  if (o.tile) {
    make_plan(p, hw, *o.tile);
  } else {
    candidate_plans(p, hw);
  }
}

namespace {

// The GEMM at the SM clock in hw.clock.run: plan, simulate, account.
GemmTiming simulate_at(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o) {
  GemmTiming g;
  std::optional<Run> chosen;  // the chosen plan's whole run, when the finalists' stage made one
  if (o.tile) {
    g.plan = make_plan(p, hw, *o.tile);
  } else {
    std::vector<GemmPlan> cands = candidate_plans(p, hw);
    {  // rank by the analytic estimate, computed once per candidate
      std::vector<std::pair<double, size_t>> order;
      for (size_t i = 0; i < cands.size(); ++i) order.emplace_back(analytic_estimate(cands[i], hw), i);
      std::stable_sort(order.begin(), order.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      std::vector<GemmPlan> ranked;
      ranked.reserve(cands.size());
      for (const auto& [est, i] : order) ranked.push_back(std::move(cands[i]));
      cands = std::move(ranked);
    }
    // Simulate the best few until every cluster has drained two work items (PlanRun::estimate:
    // the second wave, with the third's loads already competing, is the steady state the
    // remaining waves repeat), and go on with the winner's run from there.
    // The finalists are independent simulations: run them on parallel threads (results do not
    // depend on the thread count), then pick in candidate order.
    // Finalists: the three best by the analytic ranking, and the best of each family it may
    // misjudge (swapped or not, multicast clusters or not, stream-K or not, grid capped or not,
    // split-K or not: a split's reduction launch can lose to one kernel the ranking put behind).
    // The K stage is a family too: a short K loop pipelines better in narrow stages, which the
    // ranking can put behind (h100 FP8 320 x 256 x 512: 128x64x128 at 1.97 us was the finalist,
    // 128x64x64 took 1.89 us, as it did for 384 rows).
    std::vector<GemmPlan> fin;
    const auto family = [](const GemmPlan& c) {
      return std::pair{(c.tile.split_k > 1 ? 16 : 0) + (c.tile.grid > 0 ? 8 : 0) + (c.tile.stream_k ? 4 : 0) +
                           (c.tile.swap_ab ? 2 : 0) + (c.tile.cluster_n > 1 ? 1 : 0),
                       c.tile.k_stage};
    };
    std::set<std::pair<int, uint32_t>> seen;
    for (size_t i = 0; i < cands.size(); ++i) {
      if (seen.insert(family(cands[i])).second || i < 3) fin.push_back(cands[i]);
    }
    if (o.max_finalists > 0 && fin.size() > o.max_finalists) fin.resize(o.max_finalists);
    if (o.max_finalists == 0) {
      // Each data-parallel finalist's balanced twin (its waves on ceil(items / waves) clusters),
      // which the analytic ranking cannot tell from the full grid: the plan a GPU with fewer SMs
      // and the same waves runs (8 x 229376 x 4096 NVFP4 took 83.5 us on 132 SMs and 84.6 on
      // 148, where its twin on 128 clusters takes 82.8).
      const size_t ranked = fin.size();
      for (size_t i = 0; i < ranked; ++i) {
        const std::optional<uint32_t> balanced = fin[i].balanced_grid();
        if (!balanced) continue;
        TileConfig t = fin[i].tile;
        t.grid = *balanced;
        const std::string name = t.name();
        if (std::none_of(fin.begin(), fin.end(), [&](const GemmPlan& f) { return f.tile.name() == name; }))
          fin.push_back(make_plan(p, hw, t));
      }
    }
    cands = std::move(fin);
    const size_t finalists = cands.size();
    std::vector<double> est(finalists);
    // A finalist simulated whole is kept: if it wins, that run is the result (a decode GEMM of
    // a few waves would otherwise be simulated twice); so is a paused one, which the winner's
    // run then goes on from. A lone finalist needs no estimate.
    std::vector<std::optional<Run>> whole(finalists);
    std::vector<std::unique_ptr<PlanRun>> paused(finalists);
    if (finalists > 1)
      parallel_for(static_cast<int64_t>(finalists), [&](int64_t i) {
        const auto u = static_cast<size_t>(i);
        const GemmPlan& c = cands[u];
        const bool extrapolate = extrapolated(c, hw);
        // A paused run has no trace: if it wins and a trace is wanted, it is run again.
        auto run = std::make_unique<PlanRun>(c, hw, o, extrapolate ? nullptr : o.trace);
        if (extrapolate) {
          if (const std::optional<double> e = run->estimate()) {
            est[u] = *e;
            paused[u] = std::move(run);
            return;
          }
        }
        whole[u] = run->finish();
        est[u] = whole[u]->time.seconds();
      });
    // Plans are compared as a step runs them: a split-K plan's reduction is a second launch and
    // pays one more launch gap (a 15.2 us split-K plan beat a 15.7 us stream-K one by its kernel
    // times, and lost by 1.5 us in the decode step).
    const auto cost = [&](size_t i) { return step_seconds(est[i], cands[i], hw); };
    size_t best = 0;
    for (size_t i = 0; i < finalists; ++i) {
      if (finalists > 1) g.candidates.emplace_back(cands[i].tile.name(), est[i] * 1e6);
      if (cost(i) < cost(best)) best = i;
    }
    g.plan = cands[best];
    for (size_t i = 0; i < finalists; ++i) {
      if (i != best) paused[i].reset();  // the others' memory, before the winner goes on
    }
    if (whole[best]) {
      chosen = std::move(whole[best]);
    } else if (paused[best] && o.trace == nullptr) {
      chosen = paused[best]->finish();
    }
    paused.clear();
    if (!chosen) chosen = PlanRun(g.plan, hw, o, o.trace).finish();  // traced, or never paused
    // An extrapolated winner is checked against its whole run: where that run is slower than
    // another finalist's estimate, the other is run whole too (at most two), and the faster
    // whole run wins. A steady state the first waves do not show (an output as large as the
    // weights, written back once the L2 fills: a 64 x 1835008 x 256 expert GEMM estimated at
    // 157 us ran 500, against 159 for the runner-up) cannot then pick a plan 3x slow.
    if (!whole[best]) {
      std::vector<size_t> order(finalists);
      for (size_t i = 0; i < finalists; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost(a) < cost(b); });
      int checked = 0;
      for (const size_t i : order) {
        if (i == best || checked == 2) continue;
        const double actual = step_seconds(chosen->time.seconds(), g.plan, hw);
        if (cost(i) >= actual) break;
        ++checked;
        Run other = whole[i] ? std::move(*whole[i]) : PlanRun(cands[i], hw, o, o.trace).finish();
        if (step_seconds(other.time.seconds(), cands[i], hw) < actual) {
          g.plan = cands[i];
          chosen = std::move(other);
        }
      }
    }
    // The winner, if data-parallel over several waves, is also run on 7/8 and 3/4 of its
    // clusters: the grids a smaller GPU would give it, where fewer streams in flight contend
    // less (64 x 1835008 x 256 NVFP4: 159 us on the 40 clusters of a 160-SM GPU, 172 us on the
    // 50 of a 200-SM one, 157 us there on 37 or 43). Estimated first where the plan can be.
    const GemmPlan w = g.plan;
    if (!w.tile.stream_k && w.tile.grid == 0 && w.work_items > w.clusters) {  // several waves
      for (const uint32_t grid : {w.clusters * 7 / 8, w.clusters * 3 / 4}) {
        if (grid == 0) continue;
        TileConfig t = w.tile;
        t.grid = grid;
        const GemmPlan twin = make_plan(p, hw, t);
        PlanRun run(twin, hw, o, o.trace);
        if (extrapolated(twin, hw)) {
          const std::optional<double> e = run.estimate();
          if (e && *e >= chosen->time.seconds()) continue;
        }
        Run r = run.finish();
        if (r.time < chosen->time) {
          g.plan = twin;
          chosen = std::move(r);
        }
      }
    }
  }
  const Run r = chosen ? std::move(*chosen) : PlanRun(g.plan, hw, o, o.trace).finish();
  g.kernels = r.kernels;
  g.time = r.time;
  g.trace = r.trace;
  if (!o.tile && g.candidates.empty()) g.candidates.emplace_back(g.plan.tile.name(), r.time.seconds() * 1e6);
  const Frequency f = hw.clock.run;  // simulate_gemm sets it for boost and governed runs alike
  g.activity = Activity::from_stats(r.before, r.after, r.info);
  for (const KernelResult& k : r.kernels)
    g.activity.active_sms = std::max<double>(g.activity.active_sms, k.sms_used);
  g.activity.mma_macs = p.flops() / 2;  // the problem's MACs (the counter includes the zero padding)
  g.sm_cycles = g.time.seconds() * static_cast<double>(f.hz);
  g.flops = p.flops();
  g.peak_tflops = hw.peak_flops(g.plan.math.kind, f) * 1e-12;
  g.derive_throughput();
  g.hbm_read = stat(r, "gpu.bytes.hbm.read");
  g.hbm_write = stat(r, "gpu.bytes.hbm.write");
  g.l2_read = stat(r, "gpu.bytes.l2.read");
  g.l2_write = stat(r, "gpu.bytes.l2.write");
  g.l2_hit = stat(r, "gpu.bytes.l2.hit");
  g.smem = stat(r, "gpu.bytes.smem") + stat(r, "gpu.bytes.tma.load");
  g.arithmetic_intensity = g.flops / static_cast<double>(std::max<uint64_t>(1, g.hbm_read + g.hbm_write));
  classify(g, hw);
  return g;
}

}  // namespace

GemmTiming simulate_gemm(const GemmProblem& p, const HwSpec& hw, const GemmTimingOptions& o) {
  check_memory(p, hw, o);
  if (o.clock == ClockMode::kBoost) {
    GemmTiming g = simulate_at(p, at_clock(hw, hw.clock.sm), o);
    g.power = power_at(hw, g.plan.math.kind, {g.time, g.activity}, hw.clock.sm, ClockLimit::kUngoverned);
    return g;
  }
  // Planned at the governor's ceiling; the winner is then run at the clocks the governor tries
  // (the plan fixed: a lower clock changes how long it takes, not what it is).
  const Frequency cap = clock_cap(hw);
  const auto governed = [&](GemmTiming at_cap) {
    GemmTimingOptions fixed = o;
    fixed.tile = at_cap.plan.tile;
    const MmaKind kind = at_cap.plan.math.kind;
    return run_governed(hw, kind, std::move(at_cap),
                        [&](const HwSpec& at_f) { return simulate_at(p, at_f, fixed); });
  };
  GemmTiming planned = simulate_at(p, at_clock(hw, cap), o);
  std::vector<std::pair<std::string, double>> candidates = planned.candidates;
  const double cap_seconds = planned.time.seconds();
  GemmTiming best = governed(std::move(planned));
  // Where the power limit binds, the fastest plan at the ceiling need not be the fastest within
  // the limit: a plan that pads M to a CTA pair's 256 rows spends twice the tensor energy of a
  // 128-row one for the same time at boost (128 x 57344 x 8192 NVFP4 on 160 SMs: the padded plan
  // won at boost, 44.3 us, and fell to 51.4 us at 1.35 GHz; the 128-row stream-K plan holds
  // boost at 44.5). The next finalists by the ceiling's estimate are governed too, and the
  // fastest governed plan wins, compared as a step runs it.
  if (!o.tile && (best.power.limit == ClockLimit::kPower || best.power.limit == ClockLimit::kPowerFloor)) {
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [name, us] : candidates) {
      if (name != best.plan.tile.name()) order.emplace_back(us, name);
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    if (order.size() > 2) order.resize(2);
    const auto cost = [&](const GemmTiming& g) { return step_seconds(g.time.seconds(), g.plan, hw); };
    // The tensor MACs a plan executes, padding included: most of a compute-bound kernel's energy.
    const auto macs = [&](const GemmPlan& pl) {
      return static_cast<double>(pl.tiles_m) * pl.tile.tile_m * static_cast<double>(pl.tiles_n) *
             pl.tile.tile_n * static_cast<double>(p.k);
    };
    for (const auto& [us, name] : order) {
      GemmTimingOptions forced = o;
      forced.tile = parse_tile(name);
      // One that executes no fewer MACs and is no faster at the ceiling cannot hold a higher clock
      // for long enough to win (the byte energies differ by little): not run.
      const GemmPlan other_plan = make_plan(p, hw, *forced.tile);
      if (macs(other_plan) >= macs(best.plan) && us * 1e-6 >= cap_seconds) continue;
      GemmTiming other = governed(simulate_at(p, at_clock(hw, cap), forced));
      if (cost(other) < cost(best)) best = std::move(other);
    }
  }
  best.candidates = std::move(candidates);  // the planner's, estimated at the ceiling
  return best;
}

}  // namespace bwsim
