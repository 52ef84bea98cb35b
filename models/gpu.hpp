// The modelled GPU: clocks, SMs, the memory system, and the executor that runs kernels on them.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "isa/program.hpp"
#include "models/address_map.hpp"
#include "models/gpu_trace.hpp"
#include "models/hw_spec.hpp"
#include "models/memory_path.hpp"
#include "models/sm.hpp"
#include "models/unit.hpp"
#include "sim/clock.hpp"
#include "sim/simulation.hpp"

namespace bwsim {

/// Which SM clock a run uses: microbenchmarks run light and boost (clock.sm); workloads run at
/// the clock the power governor chose for the kernel (clock.run, models/power.hpp).
enum class ClockMode { kBoost, kGoverned };

/// Busy time of each kind of resource over a kernel, summed over its instances.
struct BusyTime {
  Tick tensor{0};       // tensor pipes (all SMs)
  Tick tensor_math{0};  // of which doing math
  Tick dram{0};         // DRAM channels
  Tick sm_ports{0};     // NoC ingress ports
  Tick l2_slices{0};    // L2 slice ports
  Tick smem{0};         // SMEM read + write ports
};

struct KernelResult {
  std::string name;
  Tick start;
  Tick end;
  double sm_cycles = 0;  // duration in SM cycles
  uint64_t events = 0;
  uint32_t ctas = 0;
  uint32_t sms_used = 0;                         // SMs that ran a CTA (the others are clock-gated)
  std::vector<std::pair<uint32_t, Tick>> marks;  // kMark ops in execution order
  StatsRegistry::Snapshot stats;                 // counters accumulated during the kernel
  BusyTime busy;
  [[nodiscard]] Tick duration() const { return end - start; }
};

class Executor;

class Gpu {
 public:
  Gpu(Simulation& s, HwSpec spec, ClockMode mode = ClockMode::kGoverned);
  ~Gpu();
  Gpu(const Gpu&) = delete;
  Gpu& operator=(const Gpu&) = delete;

  /// Runs `k` to completion, starting now. Throws InputError if a CTA can never fit.
  KernelResult run(const Kernel& k);
  /// The same in parts, so that a caller can look at a kernel's marks part way and decide
  /// whether to go on: start(k) launches it (`k` must outlive finish()); run_until(enough,
  /// window) runs it in windows of `window` simulated time until enough(marks so far) holds
  /// (true) or it ends (false, unless enough then holds); finish() runs it to the end. A kernel
  /// run in parts times exactly as one run whole.
  void start(const Kernel& k);
  bool run_until(const std::function<bool(const std::vector<std::pair<uint32_t, Tick>>&)>& enough,
                 Tick window);
  KernelResult finish();
  /// Busy time of the tensor pipes, SMEM ports and DRAM channels so far (all kernels).
  [[nodiscard]] BusyTime busy_now() const;
  /// Records what later kernels do into `t` (null: stop recording).
  void set_trace(GpuTrace* t);
  [[nodiscard]] GpuTrace* trace() const { return trace_; }

  Simulation& sim;
  const HwSpec hw;
  ClockDomain sm_clock;
  ClockDomain l2_clock;
  AddressMap amap;

 private:
  std::unique_ptr<MemoryPath> mem_path_;

 public:
  MemoryPath& mem;
  const SmCounters counters;
  std::deque<Sm> sms;

 private:
  std::unique_ptr<Executor> exec_;
  GpuTrace* trace_ = nullptr;
};

}  // namespace bwsim
