#include "models/power.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "models/hw_spec.hpp"
#include "sim/errors.hpp"

namespace bwsim {

Activity Activity::axpy(const Activity& a, double f, const Activity& b) {
  Activity c;
  c.mma_macs = a.mma_macs + f * b.mma_macs;
  c.fma = a.fma + f * b.fma;
  c.exp2 = a.exp2 + f * b.exp2;
  c.smem_bytes = a.smem_bytes + f * b.smem_bytes;
  c.tmem_bytes = a.tmem_bytes + f * b.tmem_bytes;
  c.l2_bytes = a.l2_bytes + f * b.l2_bytes;
  c.die_link_bytes = a.die_link_bytes + f * b.die_link_bytes;
  c.dram_bytes = a.dram_bytes + f * b.dram_bytes;
  c.nvlink_bytes = a.nvlink_bytes + f * b.nvlink_bytes;
  c.pcie_bytes = a.pcie_bytes + f * b.pcie_bytes;
  c.active_sms = std::max(a.active_sms, b.active_sms);  // a count of SMs, not an amount of work
  return c;
}

Activity Activity::from_stats(const StatsRegistry::Snapshot& before, const StatsRegistry::Snapshot& after,
                              const std::vector<StatInfo>& info) {
  Activity a;
  for (size_t i = 0; i < info.size() && i < after.size(); ++i) {
    const double v = static_cast<double>(after[i] - (i < before.size() ? before[i] : 0));
    const std::string& n = info[i].name;
    if (n == "gpu.ops.mma_macs") a.mma_macs += v;
    if (n == "gpu.ops.fma") a.fma += v;
    if (n == "gpu.ops.exp2") a.exp2 += v;
    // SMEM: the ports' reads and writes, and the bytes TMA lands in them.
    if (n == "gpu.bytes.smem" || n == "gpu.bytes.tma.load") a.smem_bytes += v;
    if (n == "gpu.bytes.tmem") a.tmem_bytes += v;
    if (n == "gpu.bytes.l2.read" || n == "gpu.bytes.l2.write") a.l2_bytes += v;
    if (n == "gpu.bytes.die_link") a.die_link_bytes += v;
    if (n == "gpu.bytes.hbm.read" || n == "gpu.bytes.hbm.write") a.dram_bytes += v;
  }
  return a;
}

void PowerSpec::read(ConfigReader& r, const std::array<bool, kKinds>& has_kind, bool has_tmem,
                     bool has_nvlink, bool has_pcie, bool multi_die) {
  r.owned_by("power");
  r.req("limit", limit, "board power limit (TDP); the governor keeps each kernel's average power within it");
  r.req("idle", idle, "board power at idle: the static part of every kernel's power");
  r.req("v_min", v_min, "core voltage at clock.sm_min, the lowest DVFS point");
  r.req("v_max", v_max, "core voltage at clock.sm, max boost");
  // Physical ranges: boards draw 30-1400 W at 0.6-1.1 V core.
  r.range("limit", limit, Power{1}, Power{10000});
  r.range("idle", idle, Power{0.1}, Power{10000});
  r.range("v_min", v_min, Voltage{0.2}, Voltage{2});
  r.range("v_max", v_max, Voltage{0.2}, Voltage{2});
  r.check(limit > idle, "limit", fmt::format("must exceed power.idle ({})", to_string(idle)));
  r.check(v_max >= v_min, "v_max", "must not be below power.v_min");
  ConfigReader e = r.section("energy", "dynamic energy per operation, at power.v_max");
  e.owned_by("power");
  e.req("sm_cycle", sm_cycle,
        "per SM per SM clock cycle while a kernel runs: clock tree, schedulers, register files");
  e.req("fma", fma, "per FP32 FMA-pipe operation");
  e.req("exp2", exp2, "per MUFU exp2");
  e.req("smem", smem, "per shared-memory byte read or written");
  if (has_tmem) {
    e.req("tmem", tmem, "per tensor-memory byte moved (tcgen05.ld/st/cp)");
  } else {
    e.check(!e.has("tmem"), "tmem", "describes TMEM energy on a GPU without TMEM");
  }
  e.req("l2", l2, "per byte read or written through L2 (the NoC hop included)");
  if (multi_die) {
    e.req("die_link", die_link, "per byte crossing the die-to-die link");
  } else {
    e.opt("die_link", die_link, EnergyPerByte{}, "per byte crossing the die-to-die link (one die: unused)");
  }
  e.req("dram", dram, "per DRAM byte read or written (device and PHY)");
  if (has_nvlink) {
    e.req("nvlink", nvlink, "per byte sent over NVLink");
  } else {
    e.opt("nvlink", nvlink, EnergyPerByte{}, "per byte sent over NVLink (no NVLink: unused)");
  }
  if (has_pcie) {
    e.req("pcie", pcie, "per byte sent peer-to-peer over PCIe");
  } else {
    e.opt("pcie", pcie, EnergyPerByte{}, "per byte sent over PCIe (no [pcie] link: unused)");
  }
  // Physical ranges: an operation or a byte moved costs femto- to nanojoules; an SM clock cycle
  // of the whole SM's overhead a few tens of picojoules.
  const Energy nj{1e-9};
  const EnergyPerByte nj_per_byte{1e-9};
  e.range("sm_cycle", sm_cycle, Energy{0}, Energy{1e-8});
  e.range("fma", fma, Energy{0}, nj);
  e.range("exp2", exp2, Energy{0}, nj);
  for (const auto& [key, value] : {std::pair<std::string_view, EnergyPerByte>{"smem", smem},
                                   {"tmem", tmem},
                                   {"l2", l2},
                                   {"die_link", die_link},
                                   {"dram", dram},
                                   {"nvlink", nvlink},
                                   {"pcie", pcie}}) {
    e.range(key, value, EnergyPerByte{0}, nj_per_byte);
  }
  ConfigReader f = e.section("flop", "per tensor-core FLOP (2 per MAC) by instruction kind");
  f.owned_by("power");
  for (const auto& [name, kind] : kMmaKindNames) {
    const auto k = static_cast<size_t>(kind);
    if (has_kind[k]) {
      f.req(name, flop[k], fmt::format("per {} FLOP", name));
      f.range(name, flop[k], Energy{1e-16}, nj);
    } else {
      f.check(!f.has(name), name, "gives an energy for a kind this GPU does not have");
    }
  }
}

void EnergyBreakdown::add(const EnergyBreakdown& o, double times) {
  static_j += times * o.static_j;
  tensor_j += times * o.tensor_j;
  pipes_j += times * o.pipes_j;
  clock_j += times * o.clock_j;
  sram_j += times * o.sram_j;
  l2_j += times * o.l2_j;
  dram_j += times * o.dram_j;
  nvlink_j += times * o.nvlink_j;
}

std::string_view clock_limit_name(ClockLimit l) {
  switch (l) {
    case ClockLimit::kBoost:
      return "boost";
    case ClockLimit::kLock:
      return "clock lock";
    case ClockLimit::kPower:
      return "power";
    case ClockLimit::kPowerFloor:
      return "power (at the lowest clock)";
    case ClockLimit::kUngoverned:
      return "boost (power limit not applied)";
  }
  return "";
}

std::string PowerReport::clock_text(const HwSpec& hw) const {
  switch (limit) {
    case ClockLimit::kBoost:
      return fmt::format("{}, max boost (under the {} limit)", to_string(clock), to_string(hw.power.limit));
    case ClockLimit::kLock:
      return fmt::format("{}, clock.lock (under the {} limit)", to_string(clock), to_string(hw.power.limit));
    case ClockLimit::kPower:
      return fmt::format("{}, power-limited ({})", to_string(clock), to_string(hw.power.limit));
    case ClockLimit::kPowerFloor:
      return fmt::format("{}, the lowest clock, still over the {} limit", to_string(clock),
                         to_string(hw.power.limit));
    case ClockLimit::kUngoverned:
      return fmt::format("{}, boost (the power limit not applied)", to_string(clock));
  }
  return to_string(clock);
}

Voltage core_voltage(const HwSpec& hw, Frequency f) {
  const double lo = static_cast<double>(hw.clock.sm_min.hz);
  const double hi = static_cast<double>(hw.clock.sm.hz);
  const double x = hi > lo ? std::clamp((static_cast<double>(f.hz) - lo) / (hi - lo), 0.0, 1.0) : 1.0;
  return {hw.power.v_min.volts + x * (hw.power.v_max.volts - hw.power.v_min.volts)};
}

EnergyBreakdown kernel_energy(const HwSpec& hw, MmaKind kind, const Activity& a, double seconds,
                              Frequency f) {
  const PowerSpec& p = hw.power;
  const double v = core_voltage(hw, f).volts / p.v_max.volts;
  const double s = v * v;  // dynamic energy per operation scales as C V^2
  EnergyBreakdown e;
  e.static_j = p.idle.watts * seconds;
  e.tensor_j = s * 2 * a.mma_macs * p.flop[static_cast<size_t>(kind)].joules;
  e.pipes_j = s * (a.fma * p.fma.joules + a.exp2 * p.exp2.joules);
  const double sms = a.active_sms > 0 ? std::min<double>(a.active_sms, hw.sm.count) : hw.sm.count;
  e.clock_j = s * p.sm_cycle.joules * sms * static_cast<double>(f.hz) * seconds;
  e.sram_j = s * (a.smem_bytes * p.smem.joules + a.tmem_bytes * p.tmem.joules);
  e.l2_j = a.l2_bytes * p.l2.joules + a.die_link_bytes * p.die_link.joules;
  e.dram_j = a.dram_bytes * p.dram.joules;
  e.nvlink_j = a.nvlink_bytes * p.nvlink.joules + a.pcie_bytes * p.pcie.joules;
  return e;
}

Frequency clock_cap(const HwSpec& hw) { return hw.clock.cap(); }

std::vector<Frequency> dvfs_points(const HwSpec& hw) {
  const Frequency cap = clock_cap(hw);
  std::vector<Frequency> out;
  const uint64_t step = std::max<uint64_t>(1, hw.clock.sm_step.hz);
  for (uint64_t f = hw.clock.sm_min.hz; f < cap.hz; f += step) out.push_back(Frequency{f});
  out.push_back(cap);
  return out;
}

HwSpec at_clock(const HwSpec& hw, Frequency f) {
  HwSpec h = hw;
  h.clock.run = f;
  return h;
}

PowerReport power_at(const HwSpec& hw, MmaKind kind, const GovernedRun& run, Frequency f, ClockLimit limit) {
  PowerReport r;
  r.clock = f;
  r.limit = limit;
  r.seconds = run.time.seconds();
  r.energy = kernel_energy(hw, kind, run.activity, r.seconds, f);
  return r;
}

namespace {

// Average power of `a` over `seconds` at `f`, split into the part that does not depend on the
// kernel's time (static and clocking: power) and the energy the operations cost (joules).
struct PowerParts {
  double fixed_w = 0;
  double ops_j = 0;
};

PowerParts power_parts(const HwSpec& hw, MmaKind kind, const Activity& a, Frequency f) {
  const EnergyBreakdown e = kernel_energy(hw, kind, a, 1.0, f);
  return {e.static_j + e.clock_j, e.total() - e.static_j - e.clock_j};
}

}  // namespace

PowerReport govern(const HwSpec& hw, MmaKind kind, const GovernedRun& at_cap,
                   const std::function<GovernedRun(Frequency)>& run_at) {
  const Frequency cap = clock_cap(hw);
  const double limit = hw.power.limit.watts;
  const ClockLimit at_top =
      hw.clock.lock.hz > 0 && hw.clock.lock < hw.clock.sm ? ClockLimit::kLock : ClockLimit::kBoost;
  const auto watts = [&](const GovernedRun& r, Frequency f) {
    const double s = r.time.seconds();
    return s > 0 ? kernel_energy(hw, kind, r.activity, s, f).total() / s : hw.power.idle.watts;
  };
  if (watts(at_cap, cap) <= limit) return power_at(hw, kind, at_cap, cap, at_top);

  // The DVFS points below the cap.
  std::vector<Frequency> grid = dvfs_points(hw);
  if (grid.size() > 1) grid.pop_back();
  const auto n = static_cast<int>(grid.size());

  // With the counts fixed, a run of time t at clock f draws fixed_w(f) + ops_j(f) / t. A run
  // measured at (f_e, t_e) bounds every other point f: a kernel is no faster at a lower clock and
  // no slower at a higher one, and its time scales by at most f_e / f (all compute). So below f_e
  // its time lies in [t_e, t_e f_e / f], above in [t_e f_e / f, t_e]; a point whose highest power
  // fits the limit is feasible, one whose lowest power is over it is not.
  int lo = -1;  // highest point known feasible (-1: none yet)
  int hi = n;   // lowest point known infeasible (n: the cap)
  const auto tighten = [&](int at, Frequency fe, double te, bool feasible) {
    for (int i = 0; i < n; ++i) {
      if (i == at) continue;
      const Frequency fi = grid[static_cast<size_t>(i)];
      const PowerParts pp = power_parts(hw, kind, at_cap.activity, fi);
      const double t_scaled = te * static_cast<double>(fe.hz) / static_cast<double>(fi.hz);
      const double t_long = std::max(te, t_scaled);
      const double t_short = std::min(te, t_scaled);
      if (pp.fixed_w + pp.ops_j / t_short <= limit) lo = std::max(lo, i);
      if (pp.fixed_w + pp.ops_j / t_long > limit) hi = std::min(hi, i);
    }
    if (at < n) {
      if (feasible) lo = std::max(lo, at);
      if (!feasible) hi = std::min(hi, at);
    }
  };
  tighten(n, cap, at_cap.time.seconds(), false);

  int best = -1;  // the highest point simulated and found within the limit
  GovernedRun best_run;
  int runs = 0;
  bool first = true;
  while (true) {
    if (lo >= hi) lo = hi - 1;  // bounds from different runs may cross where timing is not monotone
    int at = 0;
    if (best >= 0 && best == lo && lo + 1 == hi) break;
    if (hi == 0) break;  // nothing within the limit: the floor
    if (lo + 1 == hi) {
      at = std::max(lo, 0);
    } else if (first) {
      at = hi - 1;  // the compute-bound answer, exact when time scales as 1 / f
    } else {
      at = (lo + hi) / 2;
    }
    first = false;
    if (runs == 16) break;  // bounded: never reached on the shipped configs
    const GovernedRun r = run_at(grid[static_cast<size_t>(at)]);
    ++runs;
    const bool ok = watts(r, grid[static_cast<size_t>(at)]) <= limit;
    if (ok && at > best) {
      best = at;
      best_run = r;
    }
    tighten(at, grid[static_cast<size_t>(at)], r.time.seconds(), ok);
    if (!ok && at == 0) break;
  }
  // The bounds assume a kernel is never faster at a lower clock; a multi-wave kernel whose waves
  // fall into step at one clock and out of it at the next breaks that by several percent (b200
  // BF16 8192^3: 957k SM cycles at 1.485 GHz, 1098k at 1.47 and 1.5), and then the point above
  // an over-limit one can fit again. Where the answer leaves more than 5% of the limit unused, the
  // next few points up are tried too.
  if (best >= 0 && watts(best_run, grid[static_cast<size_t>(best)]) < 0.95 * limit) {
    const int from = best;
    for (int at = from + 1; at < n && at <= from + 4; ++at) {
      const GovernedRun r = run_at(grid[static_cast<size_t>(at)]);
      ++runs;
      if (watts(r, grid[static_cast<size_t>(at)]) <= limit) {
        best = at;
        best_run = r;
      }
    }
  }
  PowerReport out;
  if (best >= 0) {
    out = power_at(hw, kind, best_run, grid[static_cast<size_t>(best)], ClockLimit::kPower);
  } else {
    const GovernedRun r = run_at(grid.front());
    ++runs;
    out = power_at(hw, kind, r, grid.front(), ClockLimit::kPowerFloor);
  }
  out.simulations = runs;
  return out;
}

std::string clock_setting_problem(const std::string& v) {
  if (v == "sustained") return std::string(kSustainedGone);
  if (v != "governed" && v != "boost") return "expected governed or boost";
  return "";
}

void check_clock_flag(const std::string& v) {
  if (const std::string why = clock_setting_problem(v); !why.empty())
    throw InputError(fmt::format("--clock {}: {}", v, why));
}

Frequency full_load_clock(const HwSpec& hw, MmaKind kind) {
  const auto macs_per_s = [&](Frequency f) {
    return static_cast<double>(hw.tensor.rate(kind)) * hw.sm.count * static_cast<double>(f.hz);
  };
  Frequency best = hw.clock.sm_min;
  for (const Frequency f : dvfs_points(hw)) {
    Activity a;
    a.mma_macs = macs_per_s(f);
    if (kernel_energy(hw, kind, a, 1.0, f).total() <= hw.power.limit.watts) best = f;
  }
  return best;
}

void trace_power(TraceDoc& doc, uint32_t pid, const PowerReport& p, Tick at) {
  doc.counter(pid, "Power (W)", at, p.watts());
  doc.counter(pid, "SM clock (MHz)", at, static_cast<double>(p.clock.hz) * 1e-6);
}

void trace_idle_power(TraceDoc& doc, uint32_t pid, Power idle, Tick at) {
  doc.counter(pid, "Power (W)", at, idle.watts);
}

std::string energy_text(const PowerReport& p, double flops) {
  const double j = p.joules();
  if (j <= 0) return "-";
  const EnergyBreakdown& e = p.energy;
  std::vector<std::pair<double, std::string_view>> parts{
      {e.static_j, "static"},  {e.tensor_j, "tensor"}, {e.pipes_j, "FMA/exp2"}, {e.clock_j, "SM clocking"},
      {e.sram_j, "SMEM/TMEM"}, {e.l2_j, "L2"},         {e.dram_j, "DRAM"},      {e.nvlink_j, "NVLink/PCIe"}};
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string split;
  for (size_t i = 0; i < 3 && i < parts.size(); ++i) {
    if (parts[i].first <= 0) break;
    split +=
        fmt::format("{}{} {:.0f}%", split.empty() ? "" : ", ", parts[i].second, 100 * parts[i].first / j);
  }
  std::string out = fmt::format("{}, {:.0f} W average ({})", format_si(j, "J", 3), p.watts(), split);
  if (flops > 0) out += fmt::format("; {:.3g} TFLOP/s per W", flops / j * 1e-12);
  return out;
}

boost::json::object power_json(const PowerReport& p, double flops) {
  boost::json::object o;
  o["clock_ghz"] = p.clock.ghz();
  o["limited_by"] = std::string(clock_limit_name(p.limit));
  o["energy_j"] = p.joules();
  o["avg_power_w"] = p.watts();
  if (flops > 0 && p.joules() > 0) o["tflops_per_w"] = flops / p.joules() * 1e-12;
  boost::json::object b;
  b["static"] = p.energy.static_j;
  b["tensor"] = p.energy.tensor_j;
  b["fma_exp2"] = p.energy.pipes_j;
  b["sm_clock"] = p.energy.clock_j;
  b["smem_tmem"] = p.energy.sram_j;
  b["l2"] = p.energy.l2_j;
  b["dram"] = p.energy.dram_j;
  b["nvlink"] = p.energy.nvlink_j;
  o["energy_breakdown_j"] = std::move(b);
  return o;
}

}  // namespace bwsim
