// Power and energy: what a kernel's counted operations cost, and the SM clock its power limit
// lets it hold.
//
// A kernel's energy is static plus dynamic:
//  - static: power.idle x time, the board at idle (leakage, DRAM refresh, regulators, fans);
//  - SM domain, scaling with V(f)^2 under DVFS: per tensor FLOP by instruction kind, per FP32
//    FMA, per MUFU exp2, per SMEM and TMEM byte, and per SM clock cycle (the clock tree,
//    schedulers and register files each SM that runs the kernel's CTAs pays; idle SMs are
//    clock-gated);
//  - memory domain, at fixed clocks and voltage: per L2, die-to-die, DRAM and NVLink byte.
// V(f) is linear from (clock.sm_min, power.v_min) to (clock.sm, power.v_max), as the
// voltage-frequency tables of DVFS GPUs are over their range.
//
// The governor picks the SM clock as the firmware does under a power cap: the highest DVFS
// point (clock.sm_min + n x clock.sm_step, up to boost or clock.lock) at which the kernel's
// average power stays within power.limit. It searches with the kernel's own activity: the
// counts at the cap bracket the answer (a compute-bound kernel's time scales as 1/f, a
// memory-bound one's not at all), and simulations at candidate clocks settle it.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "isa/mma_kind.hpp"
#include "sim/config.hpp"
#include "sim/stats.hpp"
#include "sim/time.hpp"
#include "sim/trace.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct HwSpec;

/// What a kernel did, counted by the simulation (whole kernel, extrapolated where sampled).
struct Activity {
  /// Tensor multiply-accumulates on data: the problem's own (a GEMM's M x N x K, attention's
  /// visible keys), not the zero rows that pad a tile (zeros barely toggle the datapath: an
  /// all-zero GEMM draws markedly less power than a random one, Horace He 2024). The clocking
  /// energy of those cycles is in sm_cycle.
  double mma_macs = 0;
  double fma = 0;             // FP32 FMA-pipe operations
  double exp2 = 0;            // MUFU exp2
  double smem_bytes = 0;      // SMEM read + written (TMA fills, MMA operand reads, epilogues)
  double tmem_bytes = 0;      // TMEM moved by tcgen05.ld / st / cp
  double l2_bytes = 0;        // read + written through L2
  double die_link_bytes = 0;  // crossed the die-to-die link
  double dram_bytes = 0;      // DRAM read + written
  double nvlink_bytes = 0;    // sent over NVLink
  double pcie_bytes = 0;      // sent peer-to-peer over PCIe
  double active_sms = 0;      // SMs clocked while the kernel runs (0: all of them); idle ones are gated

  /// a + f * b, field by field.
  static Activity axpy(const Activity& a, double f, const Activity& b);
  /// The counters of the stats registry between two snapshots.
  static Activity from_stats(const StatsRegistry::Snapshot& before, const StatsRegistry::Snapshot& after,
                             const std::vector<StatInfo>& info);
};

struct PowerSpec {
  static constexpr size_t kKinds = kMmaKindNames.size();
  Power limit;                        // board power limit
  Power idle;                         // board power idle: the static part of every kernel's power
  Voltage v_min;                      // core voltage at clock.sm_min
  Voltage v_max;                      // ... at clock.sm (max boost)
  std::array<Energy, kKinds> flop{};  // per tensor FLOP at v_max, by kind; 0 = kind absent
  Energy fma, exp2, sm_cycle;         // at v_max: per FMA, per exp2, per SM per SM clock
  EnergyPerByte smem, tmem, l2, die_link, dram, nvlink, pcie;
  /// `has_kind[k]`: the GPU has instructions of kind k (their energies are then required).
  void read(ConfigReader& r, const std::array<bool, kKinds>& has_kind, bool has_tmem, bool has_nvlink,
            bool has_pcie, bool multi_die);
};

/// A kernel's energy split by where it goes, in joules.
struct EnergyBreakdown {
  double static_j = 0;  // power.idle x time
  double tensor_j = 0;  // tensor FLOPs
  double pipes_j = 0;   // FMA and exp2
  double clock_j = 0;   // SM cycles
  double sram_j = 0;    // SMEM and TMEM bytes
  double l2_j = 0;      // L2 and die-to-die bytes
  double dram_j = 0;    // DRAM bytes
  double nvlink_j = 0;  // bytes over the GPU-to-GPU link (NVLink or PCIe)
  [[nodiscard]] double total() const {
    return static_j + tensor_j + pipes_j + clock_j + sram_j + l2_j + dram_j + nvlink_j;
  }
  void add(const EnergyBreakdown& o, double times = 1);
};

/// Why the governor stopped where it did.
enum class ClockLimit {
  kBoost,       // max boost: the power limit does not bind
  kLock,        // clock.lock (or --clock boost): the power limit does not bind below it
  kPower,       // the highest DVFS point within power.limit
  kPowerFloor,  // over power.limit even at clock.sm_min
  kUngoverned,  // --clock boost and microbenchmarks: boost, the power limit not applied
};
std::string_view clock_limit_name(ClockLimit l);

/// Energy, power and the clock of one kernel (or several, summed: a GEMM and its split-K
/// reduction, a model step).
struct PowerReport {
  Frequency clock;  // the SM clock the governor chose (a step: the slowest kernel's)
  ClockLimit limit = ClockLimit::kBoost;
  double seconds = 0;  // time the energy was spent over
  EnergyBreakdown energy;
  int simulations = 0;  // runs the governor's search took (beyond the first)
  [[nodiscard]] double joules() const { return energy.total(); }
  [[nodiscard]] double watts() const { return seconds > 0 ? joules() / seconds : 0; }
  /// "1.545 GHz, power-limited (700 W)".
  [[nodiscard]] std::string clock_text(const HwSpec& hw) const;
};

/// Core voltage at SM clock `f` (clamped to the DVFS range).
Voltage core_voltage(const HwSpec& hw, Frequency f);
/// The energy of `a` over `seconds` at SM clock `f` running MMAs of `kind`.
EnergyBreakdown kernel_energy(const HwSpec& hw, MmaKind kind, const Activity& a, double seconds, Frequency f);

/// The highest clock the governor may choose: clock.lock if set, else clock.sm.
Frequency clock_cap(const HwSpec& hw);
/// The clocks the governor chooses from, ascending: clock.sm_min + n x clock.sm_step below
/// clock_cap(hw), then the cap itself.
std::vector<Frequency> dvfs_points(const HwSpec& hw);
/// `hw` with its workloads' run clock set to `f`.
HwSpec at_clock(const HwSpec& hw, Frequency f);

struct GovernedRun {
  Tick time;
  Activity activity;
};

/// The governor: given a kernel's run at clock_cap(hw), finds the highest DVFS point within
/// power.limit, calling `run_at(f)` to simulate candidates (each call's result is kept by the
/// caller; the last call is not necessarily the chosen clock's). Returns the report of the
/// chosen clock.
PowerReport govern(const HwSpec& hw, MmaKind kind, const GovernedRun& at_cap,
                   const std::function<GovernedRun(Frequency)>& run_at);
/// The report of a run at `f` without a search (limit says why it ran there).
PowerReport power_at(const HwSpec& hw, MmaKind kind, const GovernedRun& run, Frequency f, ClockLimit limit);

/// What a "sustained" clock setting (gone with the governor) is told.
inline constexpr std::string_view kSustainedGone =
    "\"sustained\" is gone: the power governor now picks each kernel's clock within power.limit; "
    "write governed (the default), boost (no power limit), or set clock.lock";
/// What is wrong with an SM clock setting (--clock, a sweep's gemm.clock): empty for governed
/// or boost.
std::string clock_setting_problem(const std::string& v);
/// Throws InputError naming --clock unless `v` is governed or boost.
void check_clock_flag(const std::string& v);
/// The highest DVFS point at which a kernel keeping every tensor pipe busy with `kind` stays
/// within power.limit, counting the tensor math, clocking and static power only (real kernels
/// also move data, so they hold this clock at best): what `bwsim info` shows per kind.
Frequency full_load_clock(const HwSpec& hw, MmaKind kind);

/// Trace counter tracks on process `pid`: "Power (W)" at `p`'s average power and "SM clock
/// (MHz)" at its clock, from `at` on (counters are step functions).
void trace_power(TraceDoc& doc, uint32_t pid, const PowerReport& p, Tick at);
/// "Power (W)" back to `idle` from `at` on, after the last kernel.
void trace_idle_power(TraceDoc& doc, uint32_t pid, Power idle, Tick at);

/// "1.23 mJ, 688 W average (static 10%, tensor 61%, DRAM 12%); 1.45 TFLOP/s per W" (the
/// efficiency when flops > 0).
std::string energy_text(const PowerReport& p, double flops);

/// {"clock_ghz", "limited_by", "energy_j", "avg_power_w", "breakdown_j": {...}} plus, when
/// flops > 0, "tflops_per_w".
boost::json::object power_json(const PowerReport& p, double flops);

}  // namespace bwsim
