// HwSpec: the typed, validated hardware description every model is built from.
//
// The config tree mirrors the hardware: per-SM units ([tensor], [tmem], [smem], [tma], [mufu],
// [fma]) are described once and replicated [sm].count times; [l2], [noc], [hbm], [nvlink] are
// chip-wide. Each unit's spec struct lives in the unit's own header (models/unit.hpp) and reads
// itself through ConfigReader marked with the unit's name, which documents every key (bwsim
// info --explain), records which unit consumes it, and rejects the keys nobody reads.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "isa/arch.hpp"
#include "isa/mma_kind.hpp"
#include "models/dram.hpp"
#include "models/l2.hpp"
#include "models/launch.hpp"
#include "models/memory_system.hpp"
#include "models/nvlink.hpp"
#include "models/power.hpp"
#include "models/scalar_pipes.hpp"
#include "models/simulation_spec.hpp"
#include "models/smem_port.hpp"
#include "models/tensor_pipe.hpp"
#include "models/tma_engine.hpp"
#include "models/tmem_port.hpp"
#include "sim/config.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct ClockSpec {
  Frequency sm;            // max boost: light-load runs (microbenchmarks), the governor's ceiling
  Frequency sm_datasheet;  // the clock datasheet peaks are quoted at
  Frequency sm_min;        // lowest DVFS point
  Frequency sm_step;       // DVFS granularity (supported clocks are sm_min + n x sm_step)
  Frequency lock;          // nvidia-smi -lgc: caps the governor (0: not locked)
  Frequency l2;            // L2 slices and the NoC (fixed: not under the governor)
  /// Not a config key: the SM clock the kernels of a run use, which the power governor
  /// (models/power.hpp) sets per kernel; boost until it does.
  Frequency run;
  /// The highest SM clock the governor may choose: lock if set, else sm.
  [[nodiscard]] Frequency cap() const { return lock.hz > 0 ? std::min(lock, sm) : sm; }
  void read(ConfigReader& r);
};

struct SmSpec {
  uint32_t count = 0;
  uint32_t dies = 1;
  uint32_t max_ctas = 32;
  uint32_t max_warps = 64;
  uint32_t registers = 65536;  // 32-bit registers per SM
  uint32_t max_cluster = 8;
  void read(ConfigReader& r);
};

struct HwSpec {
  std::string name;
  Arch arch = Arch::kSm100;
  ClockSpec clock;
  SmSpec sm;
  TensorSpec tensor;
  TmemSpec tmem;
  SmemSpec smem;
  TmaSpec tma;
  PipeSpec pipes;
  L2Spec l2;
  NocSpec noc;
  DramSpec dram;
  NvlinkSpec nvlink;
  NvlinkSpec pcie;  // peer-to-peer over PCIe: the TP link of parts without NVLink
  /// The link tensor parallelism runs over: NVLink where there is one, else PCIe; null: none.
  [[nodiscard]] const NvlinkSpec* tp_link() const {
    return nvlink.present ? &nvlink : (pcie.present ? &pcie : nullptr);
  }
  PowerSpec power;
  LaunchSpec launch;
  SimulationSpec simulation;

  /// Reads and validates everything; rejects unknown keys. `records` receives every parameter.
  static HwSpec read(const ConfigTree& tree, std::vector<ParamRecord>* records = nullptr);
  /// Loads a file (or short name like "b200") with command-line overrides applied.
  static HwSpec load(const std::string& name_or_path, const std::vector<std::string>& overrides,
                     std::vector<ParamRecord>* records = nullptr);

  /// Dense peak tensor FLOP/s of `kind` at `clock` (2 FLOP per MAC).
  [[nodiscard]] double peak_flops(MmaKind kind, Frequency f) const;
};

}  // namespace bwsim
