#include "models/hw_spec.hpp"

#include <fmt/format.h>

#include "sim/errors.hpp"

namespace bwsim {

void ClockSpec::read(ConfigReader& r) {
  r.req("sm", sm, "SM clock at max boost; light-load runs such as microbenchmarks use it");
  r.req("sm_datasheet", sm_datasheet,
        "SM clock the datasheet's dense tensor peaks imply (peak / rate / SMs)");
  r.req("sm_sustained", sm_sustained,
        "SM clock held under sustained dense tensor load at the power limit; workloads run at it");
  r.opt("l2", l2, sm, "clock of the L2 slices and the NoC");
  r.check(sm_sustained <= sm, "sm_sustained", "must not exceed clock.sm");
  r.check(sm_datasheet <= sm, "sm_datasheet", "must not exceed clock.sm");
}

void SmSpec::read(ConfigReader& r) {
  r.req("count", count, "streaming multiprocessors on the chip");
  r.opt("dies", dies, 1u, "dies the SMs and L2 are split over (B200/B300: 2)");
  r.opt("subpartitions", subpartitions, 4u, "SM sub-partitions (warp schedulers)");
  r.opt("max_ctas", max_ctas, 32u, "resident CTAs per SM");
  r.opt("max_warps", max_warps, 64u, "resident warps per SM");
  r.opt("registers", registers, 65536u, "32-bit registers per SM");
  r.opt("max_cluster", max_cluster, 8u, "largest portable thread-block cluster (CTAs)");
  r.check(count >= 1, "count", "must be at least 1");
  r.check(dies >= 1 && count % dies == 0, "dies", "must be at least 1 and divide sm.count");
  r.check(subpartitions >= 1, "subpartitions", "must be at least 1");
  r.check(max_ctas >= 1, "max_ctas", "must be at least 1");
  r.check(max_cluster >= 1, "max_cluster", "must be at least 1");
}

void TensorSpec::read(ConfigReader& r, Arch arch) {
  ConfigReader rate = r.section("rate", "dense MACs per clock per SM for each instruction kind the SM has");
  for (const auto& [name, kind] : kMmaKindNames) {
    const bool exists = arch_has_kind(arch, kind);
    if (!exists) {
      rate.check(
          !rate.has(name), name,
          fmt::format("is an MMA kind that {} does not have{}", arch_name(arch),
                      arch == Arch::kSm90 ? " (Hopper has no block-scaled or FP4/FP6 tensor math)" : ""));
      continue;
    }
    uint64_t v = 0;
    rate.opt(name, v, uint64_t{0}, fmt::format("kind::{} MACs/clk/SM (0: not supported)", name));
    macs_per_clk[static_cast<size_t>(kind)] = v;
  }
  r.req("latency_smem", latency_smem,
        "MMA issue->commit fixed cycles, A and B in SMEM (plus M*N/256 cycles)");
  r.opt("issue", issue, Cycles{1}, "cycles the issuing thread spends per MMA instruction");
  if (has_tmem(arch)) {
    r.req("latency_tmem_a", latency_tmem_a, "MMA issue->commit fixed cycles with A in TMEM");
    r.req("latency_pair", latency_pair, "MMA issue->commit fixed cycles for a CTA pair (cta_group::2)");
  } else {
    r.check(!r.has("latency_tmem_a"), "latency_tmem_a",
            fmt::format("needs TMEM, which {} lacks", arch_name(arch)));
    r.check(!r.has("latency_pair"), "latency_pair",
            fmt::format("needs CTA-pair MMA, which {} lacks", arch_name(arch)));
  }
  r.check(rate.has("f16") && macs_per_clk[static_cast<size_t>(MmaKind::kF16)] > 0, "rate",
          "needs a non-zero f16 rate");
}

void TmemSpec::read(ConfigReader& r) {
  present = true;
  r.req("lanes", lanes, "TMEM lanes (rows) per SM");
  r.req("columns", columns, "32-bit TMEM columns per lane");
  r.opt("alloc_min_columns", alloc_min_columns, 32u, "smallest allocation; allocations are powers of two");
  r.req("bandwidth", bandwidth, "tcgen05.ld/st bandwidth between TMEM and registers per SM");
  r.check(lanes > 0, "lanes", "must be positive");
  auto pow2 = [](uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
  r.check(pow2(columns), "columns", "must be a power of two");
  r.check(pow2(alloc_min_columns) && alloc_min_columns <= columns, "alloc_min_columns",
          "must be a power of two no larger than tmem.columns");
  r.check(bandwidth.value > 0, "bandwidth", "must be positive");
}

void SmemSpec::read(ConfigReader& r) {
  r.req("capacity", capacity, "shared memory per SM (the SMEM part of the unified L1/SMEM)");
  r.req("max_per_cta", max_per_cta, "largest dynamic shared memory one CTA may use");
  r.req("bandwidth", bandwidth, "shared-memory bandwidth per SM, reads and writes together (banked SRAM)");
  r.opt("latency", latency, Cycles{30}, "shared-memory access latency");
  r.check(capacity.bytes > 0, "capacity", "must be positive");
  r.check(max_per_cta <= capacity, "max_per_cta", "must not exceed smem.capacity");
  r.check(bandwidth.value > 0, "bandwidth", "must be positive");
}

void TmaSpec::read(ConfigReader& r, Arch arch) {
  r.opt("issue", issue, Cycles{2}, "SM cycles to issue one TMA box");
  r.opt("max_inflight_boxes", max_inflight_boxes, 32u, "TMA boxes one SM may have in flight");
  r.opt("multicast", multicast, has_tma_multicast(arch), "TMA multicast to the CTAs of a cluster");
  r.check(!multicast || has_tma_multicast(arch), "multicast",
          fmt::format("is not available on {}", arch_name(arch)));
  r.check(max_inflight_boxes >= 1, "max_inflight_boxes", "must be at least 1");
}

void PipeSpec::read_mufu(ConfigReader& r) {
  r.req("exp2_per_clk", mufu_exp2_per_clk, "MUFU exp2 results per clock per SM");
  r.check(mufu_exp2_per_clk > 0, "exp2_per_clk", "must be positive");
}

void PipeSpec::read_fma(ConfigReader& r) {
  r.req("fp32_per_clk", fma_fp32_per_clk, "FP32 FMAs per clock per SM");
  r.check(fma_fp32_per_clk > 0, "fp32_per_clk", "must be positive");
}

void L2Spec::read(ConfigReader& r) {
  r.req("capacity", capacity, "L2 capacity, whole chip");
  r.opt("partitions", partitions, 1u, "L2 partitions (one per die on B200/B300)");
  r.req("slices", slices, "L2 slices, whole chip; an address hash picks the slice");
  r.opt("line", line, ByteSize{128}, "cache line (tag granularity)");
  r.opt("sector", sector, ByteSize{32}, "sector (fill and transfer granularity)");
  r.opt("block", block, ByteSize{4096},
        "simulation tracking granule: tags, hits and eviction per block of a tensor (a 2D tile of rows x "
        "width); "
        "set to the line size for line-exact tracking at higher simulation cost");
  r.opt("block_width", block_width, ByteSize{128},
        "widest row segment of a 2D tracking block (128 B matches the 128-byte rows of TMA boxes)");
  r.opt("ways", ways, 16u, "associativity (blocks per set)");
  r.opt_enum("policy", policy, ReplacementPolicy::kLru, kReplacementNames, "replacement policy");
  r.req("hit_latency", hit_latency, "L2 hit latency in L2-clock cycles, near partition, excluding the NoC");
  r.opt("cross_partition_latency", cross_partition_latency, Cycles{0},
        "extra cycles when the slice sits in the other partition (die)");
  r.req("slice_bandwidth", slice_bandwidth, "bytes per L2-clock cycle one slice returns");
  r.opt("cross_partition_bandwidth", cross_partition_bandwidth, Bandwidth{0},
        "bandwidth of the die-to-die link (0: not limiting)");
  r.check(partitions >= 1 && partitions <= kMaxPartitions, "partitions",
          fmt::format("must be between 1 and {}", kMaxPartitions));
  r.check(slices >= partitions && slices % partitions == 0, "slices", "must be a multiple of l2.partitions");
  r.check(line.bytes > 0 && sector.bytes > 0 && line.bytes % sector.bytes == 0, "sector",
          "must divide l2.line");
  r.check(block.bytes >= sector.bytes && block.bytes % sector.bytes == 0 && block.bytes / sector.bytes <= 128,
          "block", "must be a multiple of l2.sector and at most 128 sectors");
  r.check(
      block_width.bytes > 0 && block_width.bytes % sector.bytes == 0 && block.bytes % block_width.bytes == 0,
      "block_width", "must be a multiple of l2.sector that divides l2.block");
  r.check(ways >= 1, "ways", "must be at least 1");
  r.check(capacity.bytes % (uint64_t{slices} * ways * block.bytes) == 0, "capacity",
          "must be a whole number of sets: capacity / (slices * ways * block)");
  r.check(slice_bandwidth.value > 0, "slice_bandwidth", "must be positive");
}

void NocSpec::read(ConfigReader& r) {
  r.req("latency", latency, "one-way SM <-> L2 slice latency, L2-clock cycles");
  r.req("sm_port_bandwidth", sm_port_bandwidth, "bytes per L2-clock cycle one SM can receive");
  r.check(sm_port_bandwidth.value > 0, "sm_port_bandwidth", "must be positive");
}

void DramSpec::read(ConfigReader& r) {
  r.req("kind", kind, "memory technology (HBM3, HBM3e, GDDR7); the section is [hbm] on every GPU");
  r.req("capacity", capacity, "usable device memory");
  r.req("stacks", stacks, "HBM stacks (GDDR7: 32-bit devices)");
  r.req("channels_per_stack", channels_per_stack, "independent channels per stack (device)");
  r.req("bandwidth", bandwidth, "peak pin bandwidth, whole chip");
  r.req("latency", latency, "unloaded access latency in the controller and DRAM");
  r.opt("refresh_overhead", refresh_overhead, 0.0, "fraction of time a channel is busy refreshing");
  r.opt("refresh_interval", refresh_interval, Duration{nanoseconds(3900)},
        "refresh period (tREFI); each window lasts refresh_overhead of it");
  r.opt("bus_efficiency", bus_efficiency, 1.0,
        "fraction of pin bandwidth left after command and row overheads");
  r.opt("turnaround", turnaround, Duration{Tick{0}}, "bus turnaround between reads and writes");
  r.opt("access", access, ByteSize{64}, "bytes per channel access (burst)");
  r.check(capacity.bytes > 0, "capacity", "must be positive");
  r.check(stacks >= 1, "stacks", "must be at least 1");
  r.check(channels_per_stack >= 1, "channels_per_stack", "must be at least 1");
  r.check(bandwidth.bytes_per_s > 0, "bandwidth", "must be positive");
  r.check(refresh_overhead >= 0 && refresh_overhead < 1, "refresh_overhead", "must be in [0, 1)");
  r.check(refresh_interval.tick > Tick{0}, "refresh_interval", "must be positive");
  r.check(bus_efficiency > 0 && bus_efficiency <= 1, "bus_efficiency", "must be in (0, 1]");
  r.check(access.bytes > 0, "access", "must be positive");
}

void NvlinkSpec::read(ConfigReader& r) {
  present = true;
  r.req("bandwidth", bandwidth, "NVLink bandwidth per GPU, both directions together (datasheet figure)");
  r.req("latency", latency, "one-way GPU-to-GPU latency through NVLink");
}

HwSpec HwSpec::read(const ConfigTree& tree, std::vector<ParamRecord>* records) {
  static constexpr std::string_view kTmemDoc = "tensor memory per SM (sm_100/sm_103 only)";
  HwSpec hw;
  ConfigReader r(tree);
  r.req("name", hw.name, "product name");
  r.req_enum("arch", hw.arch, kArchNames, "SM architecture");
  {
    ConfigReader c = r.section("clock", "clock domains");
    hw.clock.read(c);
  }
  {
    ConfigReader c = r.section("sm", "streaming multiprocessors");
    hw.sm.read(c);
  }
  {
    ConfigReader c = r.section("tensor", "tensor cores, per SM");
    hw.tensor.read(c, hw.arch);
  }
  if (has_tmem(hw.arch)) {
    ConfigReader c = r.section("tmem", kTmemDoc);
    hw.tmem.read(c);
  } else {
    r.check(!r.has("tmem"), "tmem",
            fmt::format("describes TMEM, which {} does not have", arch_name(hw.arch)));
  }
  {
    ConfigReader c = r.section("smem", "shared memory, per SM");
    hw.smem.read(c);
  }
  {
    ConfigReader c = r.section("tma", "tensor memory accelerator, per SM");
    hw.tma.read(c, hw.arch);
  }
  {
    ConfigReader c = r.section("mufu", "special-function pipe, per SM");
    hw.pipes.read_mufu(c);
  }
  {
    ConfigReader c = r.section("fma", "FP32 pipe, per SM");
    hw.pipes.read_fma(c);
  }
  {
    ConfigReader c = r.section("l2", "L2 cache");
    hw.l2.read(c);
  }
  {
    ConfigReader c = r.section("noc", "network between SMs and L2 slices");
    hw.noc.read(c);
  }
  {
    ConfigReader c = r.section("hbm", "device memory (HBM or GDDR)");
    hw.dram.read(c);
  }
  if (r.has("nvlink")) {
    ConfigReader c = r.section("nvlink", "NVLink, for multi-GPU runs");
    hw.nvlink.read(c);
  }
  r.check(hw.l2.partitions == hw.sm.dies || hw.l2.partitions == 1, "l2",
          "l2.partitions must be 1 or equal sm.dies");
  r.finish();
  if (records != nullptr) *records = r.records();
  return hw;
}

HwSpec HwSpec::load(const std::string& name_or_path, const std::vector<std::string>& overrides,
                    std::vector<ParamRecord>* records) {
  std::filesystem::path file;
  try {
    file = resolve_config_path(name_or_path, "hw");
  } catch (const InputError& e) {
    throw InputError(std::string("--hw: ") + e.what());
  }
  ConfigTree tree = ConfigTree::load_file(file);
  for (const auto& o : overrides) tree.set(o, "--set");
  return read(tree, records);
}

double HwSpec::peak_flops(MmaKind kind, Frequency f) const {
  return 2.0 * static_cast<double>(tensor.rate(kind)) * sm.count * static_cast<double>(f.hz);
}

}  // namespace bwsim
