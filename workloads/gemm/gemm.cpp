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
  GemmSampling sampling;
};

uint64_t stat(const Run& r, std::string_view name) {
  for (size_t i = 0; i < r.info.size(); ++i) {
    if (r.info[i].name == name) return r.after[i] - r.before[i];
  }
  return 0;
}

// Every busy time a kernel reports, for extrapolating them alike.
constexpr Tick BusyTime::*kBusyFields[] = {&BusyTime::tensor,   &BusyTime::tensor_math, &BusyTime::dram,
                                           &BusyTime::sm_ports, &BusyTime::l2_slices,   &BusyTime::smem};

// One plan's simulation. The planner may pause it once every cluster has drained two work
// items (estimate), and later go on with it to the end (finish) if the plan wins: run in parts,
// a kernel times exactly as run whole.
//
// Steady-state sampling (finish, when the plan is sampled: skip_ set): a persistent GEMM's waves
// repeat once its pipelines and L2 have filled. The run watches the mean time at which the
// clusters drain their j-th item; once the L2 has turned over and two successive windows of waves
// agree closely enough (decide()), every cluster skips the same run of items (GemmSkip), placed
// on raster-band boundaries and ending before the last gemm_steady_tail full waves, which run as
// simulated (so the kernel's tail, its partial last wave and drain, are simulated, not guessed).
// The skipped waves add the later window's per-wave time, and every counter and busy time its
// rate over that window for that time. Cost then grows with the waves it takes to reach a steady
// state, not with the waves the problem has (Photon, MICRO 2023, samples GPU kernels the same
// way: detect the periodic phase from the simulation itself and extrapolate).
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
    // A trace shows every wave, so a traced run is never sampled.
    if (o.sampling && hw.simulation.gemm_sampling && trace == nullptr) {
      const uint64_t clusters =
          plan.tile.stream_k ? plan.clusters : std::min<uint64_t>(plan.clusters, plan.work_items);
      full_ = (plan.tile.stream_k ? plan.dp_items : plan.work_items) / std::max<uint64_t>(1, clusters);
      const uint64_t band =
          uint64_t{std::max(1u, plan.tile.raster)} * (plan.tiles_n / plan.tile.cluster_n) * plan.tile.split_k;
      band_ = band;
      // A window of waves spans whole bands to within 2% if it can (the shortest such, up to four
      // bands' waves; else the nearest): each band's first items load its rows of A, so a window
      // of 1.1 bands counts one such load or two by its phase (32768 x 16384 x 1024 BF16 on the
      // RTX PRO 6000, 6-wave windows of 1128 items over 1024-item bands, extrapolated 2.1% too
      // few DRAM reads).
      period_ = (band + clusters - 1) / clusters;
      const uint64_t shortest = std::max<uint64_t>(hw.simulation.gemm_steady_window, period_);
      double nearest = 2;
      for (uint64_t w = shortest; w <= std::max(shortest, 4 * period_); ++w) {
        const double bands = static_cast<double>(w * clusters) / static_cast<double>(band);
        const double off = std::abs(bands - std::max(1.0, std::round(bands))) / bands;
        if (off < nearest - 1e-9) {
          nearest = off;
          window_ = w;
        }
        if (off <= 0.02) break;
      }
      // Worth it only if the windows and the tail leave waves to skip.
      if (full_ > 2 * window_ + 2 + hw.simulation.gemm_steady_tail + 2) skip_ = std::make_shared<GemmSkip>();
      const std::vector<StatInfo>& info = sim_.stats().info();
      for (size_t i = 0; i < info.size(); ++i) {
        if (info[i].name == "gpu.bytes.hbm.read") hbm_read_ = i;
        if (info[i].name == "gpu.bytes.hbm.write") hbm_write_ = i;
        if (info[i].name == "gpu.bytes.l2.write") l2_write_ = i;
      }
    }
    main_ = gemm_kernel(plan, hw, t_, skip_);
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

  /// Runs the plan to the end (its split-K reduction too), sampled where it may be.
  Run finish() {
    Run r;
    r.trace = trace_;
    r.before = before_;
    const bool bar_on = progress::active();
    if (bar_on || skip_) {
      // Drained work items against all of them, in windows of simulated time (the events run in
      // the same order as in one call).
      std::optional<progress::Scope> bar;
      if (bar_on) {
        bar.emplace(fmt::format("simulating {}", plan_.tile.name()),
                    static_cast<double>(plan_.work_items) * gemm_marks_per_item(plan_, hw_));
      }
      gpu_.run_until(
          [&](const std::vector<std::pair<uint32_t, Tick>>& marks) {
            if (skip_ && !decided_) observe(marks);
            if (bar) bar->set(static_cast<double>(marks.size()) + static_cast<double>(skipped_marks()));
            return !bar && (decided_ || !skip_);
          },
          nanoseconds(250));
    }
    r.kernels.push_back(gpu_.finish());
    if (plan_.tile.split_k > 1) r.kernels.push_back(gpu_.run(splitk_reduce_kernel(plan_, hw_, t_)));
    r.after = sim_.stats().snapshot();
    r.info = sim_.stats().info();
    if (sampling_.skipped > 0) extrapolate(r);
    r.time = r.kernels.back().end - r.kernels.front().start;
    r.sampling = sampling_;
    return r;
  }

 private:
  struct Point {
    Tick now;
    StatsRegistry::Snapshot stats;
    BusyTime busy;
  };

  [[nodiscard]] uint64_t skipped_marks() const {
    return sampling_.skipped * main_.clusters * gemm_marks_per_item(plan_, hw_);
  }

  // New marks: the mean drain time of each item ordinal, and where every counter stood when each
  // ordinal (in order) had drained on every cluster; then whether the waves are steady.
  void observe(const std::vector<std::pair<uint32_t, Tick>>& marks) {
    const uint64_t per_wave = uint64_t{main_.clusters} * gemm_marks_per_item(plan_, hw_);
    for (; seen_ < marks.size(); ++seen_) {
      const auto& [id, t] = marks[seen_];
      if (id >= count_.size()) {
        count_.resize(id + 1, 0);
        sum_.resize(id + 1, 0.0);
      }
      ++count_[id];
      sum_[id] += (t - started_).seconds();
    }
    while (!decided_ && mean_.size() < full_ && mean_.size() < count_.size() &&
           count_[mean_.size()] == per_wave) {
      mean_.push_back(sum_[mean_.size()] / static_cast<double>(per_wave));
      points_.push_back(Point{sim_.now(), sim_.stats().snapshot(), gpu_.busy_now()});
      decide();
    }
  }

  // Windows (b, m] and (m, e] of `window_` waves each, ordinal 0 (the pipelines filling) left out.
  // The waves are steady when a drift between the windows' per-wave times and DRAM byte rates,
  // were it to go on over the waves a skip from here would cover, would err by at most
  // simulation.gemm_steady_tolerance of the whole (desynchronising clusters make a large GEMM's
  // waves a few % faster over its first tens: 16384^3 NVFP4 from 22.1 us to 20.9).
  void decide() {
    const uint64_t j = mean_.size();
    if (j < 2 * window_ + 2) return;
    const uint64_t e = j - 1;
    const uint64_t m = e - window_;
    const uint64_t b = m - window_;
    const uint64_t tail = hw_.simulation.gemm_steady_tail;
    const uint64_t first = skip_->built + 1;  // no cluster has begun this ordinal
    if (first + tail >= full_) {              // too late to skip anything
      decided_ = true;
      return;
    }
    const auto most = static_cast<double>(full_ - tail - first);
    const auto win = static_cast<double>(window_);
    const auto predicted = [&](double x1, double x2) {
      const double spread = x2 > 0 ? std::abs(x2 - x1) / x2 : (x1 > 0 ? 1.0 : 0.0);
      return spread * (most / 2 + win) / win * most / static_cast<double>(full_);
    };
    // The L2's contents are steady only once it has turned over: until as many bytes as it holds
    // have come into it (DRAM fills and D's writes), an output's dirty lines are not yet evicted
    // and no DRAM writes show (65536 x 4096 x 1024 MXFP8 on the RTX PRO 6000 extrapolated none).
    const auto filled = [&](uint64_t p) {
      return points_[p].stats[hbm_read_] - before_[hbm_read_] + points_[p].stats[l2_write_] -
             before_[l2_write_];
    };
    while (turned_ < j && filled(turned_) < hw_.l2.capacity.bytes) ++turned_;
    if (turned_ > b) return;
    const double w1 = (mean_[m] - mean_[b]) / win;
    const double w2 = (mean_[e] - mean_[m]) / win;
    const double tol = hw_.simulation.gemm_steady_tolerance;
    const double error = predicted(w1, w2);
    if (w2 <= 0 || error > tol) return;
    for (const size_t i : {hbm_read_, hbm_write_}) {
      const auto rate = [&](uint64_t from, uint64_t to) {
        return static_cast<double>(points_[to].stats[i] - points_[from].stats[i]) /
               (points_[to].now - points_[from].now).seconds();
      };
      if (predicted(rate(b, m), rate(m, e)) > tol) return;
    }
    decided_ = true;
    // Where and how far to skip: both ends on raster-band boundaries as nearly as whole waves
    // allow. A band's first items load its rows of A (and columns of B not in L2), which the
    // rates of the steady windows spread evenly over the waves. A skip that begins r items into
    // a band and ends r' items into another stands for those loads wrongly by (B - r) + r'
    // items' worth (B items a band; r = 0 counts B - r as 0): the band it leaves was loaded
    // and the one it lands in is loaded again. A 16384^3 NVFP4 skip chosen without this read
    // 1.5% more from HBM than the whole run.
    const uint64_t C = main_.clusters;
    const auto misfit = [&](uint64_t a, uint64_t n) {
      const uint64_t r = a * C % band_;
      const uint64_t r2 = (a + n) * C % band_;
      return (band_ - r) % band_ + r2;
    };
    // The earliest start, within four bands' waves of here, from which a skip ending within four
    // bands' waves of the tail misfits by at most a quarter of a wave's items (the longest such
    // skip from there). Allowing more misfit where a band's A is a small share of the reads
    // (65536^3 NVFP4: 64 MiB of 161 GB; 65 waves simulated instead of 110) let 32768^2 x 2048
    // MXFP8 be sampled, whose DRAM reads swing over more waves than the windows span: 2.4% short.
    // A skip of fewer than four bands, or none that fits, would err by more than it saves (8192 x
    // 28672 x 8192 block FP8 on h100, 14 waves or two bands skipped, read 3.4% less from HBM than
    // its whole run): the run goes on whole. Sampling is for GEMMs of hundreds of waves, whose
    // whole runs cost seconds.
    uint64_t at = 0;
    uint64_t items = 0;
    for (uint64_t a = first; items == 0 && a <= first + 4 * period_ && a + tail < full_; ++a) {
      const uint64_t last = full_ - tail - a;
      for (uint64_t n = last; n >= 1 && n + 4 * period_ >= last; --n) {
        if (4 * misfit(a, n) <= C) {
          at = a;
          items = n;
          break;
        }
      }
    }
    if (items == 0 || items * C < 4 * band_) return;
    skip_->at = at;
    skip_->items = items;
    // The later window, the nearer the steady state, sets the per-wave time and the counters'
    // rates. (Rates over every wave since the L2 turned over are less noisy but carry the slow
    // drift of the model's DRAM reads over hundreds of waves: 32768 x 16384 x 1024 BF16 on the
    // RTX PRO 6000 then read 1.0% too much, against 0.2% with the later window.)
    skipped_ = seconds_to_tick(w2 * static_cast<double>(items));
    const double f = skipped_.seconds() / (points_[e].now - points_[m].now).seconds();
    extra_.resize(points_[e].stats.size());
    for (size_t i = 0; i < extra_.size(); ++i) {
      extra_[i] = static_cast<uint64_t>(
          std::llround(static_cast<double>(points_[e].stats[i] - points_[m].stats[i]) * f));
    }
    const auto scaled = [&](Tick BusyTime::*field) {
      return seconds_to_tick((points_[e].busy.*field - points_[m].busy.*field).seconds() * f);
    };
    for (Tick BusyTime::*field : kBusyFields) extra_busy_.*field = scaled(field);
    sampling_.error = error;
    sampling_.skipped = items;
    sampling_.steady_from = b + 1;
    sampling_.waves = plan_.waves();
  }

  // The skipped waves' time and counts, added to the main kernel (and after it).
  void extrapolate(Run& r) const {
    KernelResult& k = r.kernels.front();
    k.end += skipped_;
    k.sm_cycles = (k.end - k.start).seconds() * static_cast<double>(gpu_.sm_clock.frequency().hz);
    for (size_t i = 1; i < r.kernels.size(); ++i) {
      r.kernels[i].start += skipped_;
      r.kernels[i].end += skipped_;
    }
    for (size_t i = 0; i < extra_.size() && i < r.after.size(); ++i) {
      r.after[i] += extra_[i];
      if (i < k.stats.size()) k.stats[i] += extra_[i];
    }
    for (Tick BusyTime::*field : kBusyFields) k.busy.*field += extra_busy_.*field;
  }

  const GemmPlan plan_;
  const HwSpec& hw_;
  Simulation sim_;
  Gpu gpu_;
  GemmTensors t_;
  std::shared_ptr<GemmSkip> skip_;  // null: not sampled
  Kernel main_;
  std::shared_ptr<GpuTrace> trace_;
  StatsRegistry::Snapshot before_;
  Tick started_{0};
  // Sampling: ordinals every cluster runs (data-parallel), waves per window, what was seen.
  uint64_t full_ = 0;
  uint64_t window_ = 0;
  uint64_t band_ = 1;    // work items per raster band
  uint64_t period_ = 1;  // waves per band, rounded up
  size_t seen_ = 0;
  std::vector<uint64_t> count_;
  std::vector<double> sum_;
  std::vector<double> mean_;
  std::vector<Point> points_;
  bool decided_ = false;
  uint64_t turned_ = 0;  // the first wave by whose end the L2 had turned over
  Tick skipped_{0};
  std::vector<uint64_t> extra_;
  BusyTime extra_busy_;
  size_t hbm_read_ = 0, hbm_write_ = 0, l2_write_ = 0;  // their counters' places in a snapshot
  GemmSampling sampling_;
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

std::string gemm_sampling_text(const GemmSampling& s) {
  return fmt::format(
      "{} of {} waves simulated, the other {} extrapolated from the steady state found from wave {} "
      "(estimated error {:.2f}% of the time; --sampling off to simulate them all)",
      s.waves - s.skipped, s.waves, s.skipped, s.steady_from, 100 * s.error);
}

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
  g.sampling = r.sampling;
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
