// HwSpec: the typed, validated hardware description every model is built from.
//
// The config tree mirrors the hardware: per-SM units ([tensor], [tmem], [smem], [tma], [mufu],
// [fma]) are described once and replicated [sm].count times; [l2], [noc], [hbm], [nvlink] are
// chip-wide. Each struct reads itself through ConfigReader, which documents every key (bwsim
// info --explain) and rejects the ones it does not know.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "isa/arch.hpp"
#include "isa/mma_kind.hpp"
#include "sim/config.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct ClockSpec {
  Frequency sm;            // max boost: light-load runs (microbenchmarks)
  Frequency sm_datasheet;  // the clock datasheet peaks are quoted at
  Frequency sm_sustained;  // held under sustained dense tensor load at the power limit (workloads)
  Frequency l2;            // L2 slices and the NoC
  void read(ConfigReader& r);
};

struct SmSpec {
  uint32_t count = 0;
  uint32_t dies = 1;
  uint32_t subpartitions = 4;
  uint32_t max_ctas = 32;
  uint32_t max_warps = 64;
  uint32_t registers = 65536;  // 32-bit registers per SM
  uint32_t max_cluster = 8;
  void read(ConfigReader& r);
};

struct TensorSpec {
  static constexpr size_t kKinds = kMmaKindNames.size();
  std::array<uint64_t, kKinds> macs_per_clk{};  // dense MACs per clock per SM; 0 = kind absent
  Cycles latency_smem{0};                       // issue -> commit fixed part, A and B in SMEM
  Cycles latency_tmem_a{0};                     // issue -> commit fixed part, A in TMEM
  Cycles latency_pair{0};                       // issue -> commit fixed part, CTA pair (cta_group::2)
  Cycles issue{1};                              // cycles the issuing thread spends per MMA instruction
  [[nodiscard]] uint64_t rate(MmaKind k) const { return macs_per_clk[static_cast<size_t>(k)]; }
  void read(ConfigReader& r, Arch arch);
};

struct TmemSpec {
  bool present = false;
  uint32_t lanes = 0;
  uint32_t columns = 0;  // 32-bit columns
  uint32_t alloc_min_columns = 0;
  BytesPerCycle bandwidth;  // tcgen05.ld/st between TMEM and registers, per SM
  [[nodiscard]] uint64_t bytes() const { return uint64_t{lanes} * columns * 4; }
  void read(ConfigReader& r);
};

struct SmemSpec {
  ByteSize capacity;
  ByteSize max_per_cta;
  BytesPerCycle bandwidth;
  Cycles latency{0};
  void read(ConfigReader& r);
};

struct TmaSpec {
  Cycles issue{0};  // SM cycles to issue one box
  uint32_t max_inflight_boxes = 0;
  bool multicast = false;
  void read(ConfigReader& r, Arch arch);
};

struct PipeSpec {
  uint32_t mufu_exp2_per_clk = 0;  // exp2 results per clock per SM
  uint32_t fma_fp32_per_clk = 0;   // FP32 FMAs per clock per SM
  void read_mufu(ConfigReader& r);
  void read_fma(ConfigReader& r);
};

enum class ReplacementPolicy { kLru, kFifo, kRandom };
inline constexpr std::array<std::pair<std::string_view, ReplacementPolicy>, 3> kReplacementNames{
    {{"lru", ReplacementPolicy::kLru},
     {"fifo", ReplacementPolicy::kFifo},
     {"random", ReplacementPolicy::kRandom}}};

struct L2Spec {
  ByteSize capacity;
  static constexpr uint32_t kMaxPartitions = 8;
  uint32_t partitions = 1;
  uint32_t slices = 0;  // whole chip
  ByteSize line;
  ByteSize sector;
  ByteSize block;        // tracking granule: hit/miss, eviction and slice mapping unit
  ByteSize block_width;  // widest row segment of a 2D block (a block is rows x width)
  uint32_t ways = 0;
  ReplacementPolicy policy = ReplacementPolicy::kLru;
  [[nodiscard]] uint64_t sets_per_slice() const {
    return capacity.bytes / (uint64_t{slices} * ways * block.bytes);
  }
  Cycles hit_latency{0};              // L2 clock cycles, near partition
  Cycles cross_partition_latency{0};  // added when the slice is on the other die
  BytesPerCycle slice_bandwidth;
  Bandwidth cross_partition_bandwidth;
  void read(ConfigReader& r);
};

struct NocSpec {
  Cycles latency{0};                // SM <-> L2 slice, one way, L2 clock
  BytesPerCycle sm_port_bandwidth;  // per SM
  void read(ConfigReader& r);
};

struct DramSpec {
  std::string kind;
  ByteSize capacity;
  uint32_t stacks = 0;
  uint32_t channels_per_stack = 0;
  Bandwidth bandwidth;          // peak pin bandwidth, whole chip
  Duration latency;             // controller + array access, unloaded
  double refresh_overhead = 0;  // fraction of time a channel is refreshing
  Duration refresh_interval;    // one refresh window per interval, staggered across channels
  double bus_efficiency = 1;    // fraction of pin bandwidth left after command/row overheads
  Duration turnaround;          // read <-> write bus turnaround
  ByteSize access;              // bytes per channel access (burst)
  [[nodiscard]] uint32_t channels() const { return stacks * channels_per_stack; }
  void read(ConfigReader& r);
};

struct NvlinkSpec {
  bool present = false;
  Bandwidth bandwidth;  // total, both directions, as datasheets quote
  Duration latency;
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

  /// Reads and validates everything; rejects unknown keys. `records` receives every parameter.
  static HwSpec read(const ConfigTree& tree, std::vector<ParamRecord>* records = nullptr);
  /// Loads a file (or short name like "b200") with command-line overrides applied.
  static HwSpec load(const std::string& name_or_path, const std::vector<std::string>& overrides,
                     std::vector<ParamRecord>* records = nullptr);

  /// Dense peak tensor FLOP/s of `kind` at `clock` (2 FLOP per MAC).
  [[nodiscard]] double peak_flops(MmaKind kind, Frequency f) const;
};

}  // namespace bwsim
