#include "models/hw_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "sim/errors.hpp"
#include "sim/provenance.hpp"

namespace bwsim {

void ClockSpec::read(ConfigReader& r) {
  r.owned_by("clocks");
  r.req("sm", sm, "SM clock at max boost; light-load runs such as microbenchmarks use it");
  r.req("sm_datasheet", sm_datasheet,
        "SM clock the datasheet's dense tensor peaks imply (peak / rate / SMs)");
  r.req("sm_min", sm_min, "lowest DVFS point of the SM clock (the power governor's floor)");
  r.opt("sm_step", sm_step, Frequency{15'000'000},
        "DVFS granularity: supported clocks are sm_min + n x this");
  r.opt("lock", lock, Frequency{},
        "lock the SM clock at most here, as nvidia-smi -lgc does (the power limit still applies); "
        "0 Hz: not locked");
  r.opt("l2", l2, sm, "clock of the L2 slices and the NoC");
  // Physical ranges: GPU clocks lie between a few hundred MHz and a few GHz (10 GHz: room to sweep).
  const Frequency lo{100'000'000};
  const Frequency hi{10'000'000'000};
  r.range("sm", sm, lo, hi);
  r.range("sm_datasheet", sm_datasheet, lo, hi);
  r.range("sm_min", sm_min, lo, hi);
  r.range("sm_step", sm_step, Frequency{1'000'000}, Frequency{500'000'000});
  r.range("lock", lock, Frequency{}, hi);
  r.range("l2", l2, lo, hi);
  r.check(sm_datasheet <= sm, "sm_datasheet", "must not exceed clock.sm");
  r.check(sm_min.hz > 0 && sm_min <= sm, "sm_min", "must be positive and not exceed clock.sm");
  r.check(sm_step.hz > 0, "sm_step", "must be positive");
  r.check(lock.hz == 0 || lock >= sm_min, "lock",
          fmt::format("must be at least clock.sm_min ({}) or 0 Hz (not locked)", to_string(sm_min)));
  run = cap();
}

void SmSpec::read(ConfigReader& r) {
  r.owned_by("gpu");  // builds the SMs
  r.req("count", count, "streaming multiprocessors on the chip");
  r.owned_by("memory_path");
  r.opt("dies", dies, 1u, "dies the SMs and L2 are split over, one L2 partition each (B200/B300: 2)");
  r.owned_by("occupancy");
  r.opt("max_ctas", max_ctas, 32u, "resident CTAs per SM");
  r.opt("max_warps", max_warps, 64u, "resident warps per SM");
  r.opt("registers", registers, 65536u, "32-bit registers per SM");
  r.opt("max_cluster", max_cluster, 8u, "largest portable thread-block cluster (CTAs)");
  // Physical ranges (the largest GPUs have under 200 SMs on at most 2 dies, 32 resident CTAs,
  // 64 warps and 64 K registers per SM, clusters of 16); far beyond them a config would only
  // build SMs until memory runs out.
  r.range("count", count, 1u, 1024u);
  r.range("dies", dies, 1u, 8u);
  r.range("max_ctas", max_ctas, 1u, 256u);
  r.range("max_warps", max_warps, 1u, 1024u);
  r.range("registers", registers, 1024u, 1u << 22);
  r.range("max_cluster", max_cluster, 1u, 64u);
  r.check(count % dies == 0, "dies", "must divide sm.count");
}

HwSpec HwSpec::read(const ConfigTree& tree, std::vector<ParamRecord>* records) {
  static constexpr std::string_view kTmemDoc = "tensor memory per SM (sm_100/sm_103 only)";
  HwSpec hw;
  ConfigReader r(tree);
  r.owned_by("gpu");
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
    hw.l2.read(c, hw.sm.dies);
  }
  {
    ConfigReader c = r.section("noc", "network between SMs and L2 slices");
    hw.noc.read(c);
  }
  {
    ConfigReader c = r.section("hbm", "device memory (HBM or GDDR)");
    hw.dram.read(c);
  }
  {
    ConfigReader c = r.opt_section("launch", "kernel launches in model steps (CUDA graphs)");
    hw.launch.read(c);
  }
  {
    ConfigReader c =
        r.opt_section("simulation", "how the simulator searches plans and samples steady states");
    hw.simulation.read(c);
  }
  if (r.has("nvlink")) {
    ConfigReader c = r.section("nvlink", "NVLink, for multi-GPU runs");
    hw.nvlink.read(c);
  }
  if (r.has("pcie")) {
    ConfigReader c = r.section("pcie", "PCIe peer-to-peer, for multi-GPU runs on parts without NVLink");
    hw.pcie.read(c, true);
  }
  {
    ConfigReader c =
        r.section("power", "board power: limit, idle power, DVFS voltages, energy per operation");
    std::array<bool, PowerSpec::kKinds> kinds{};
    for (const auto& [name, kind] : kMmaKindNames)
      kinds[static_cast<size_t>(kind)] = hw.tensor.rate(kind) > 0;
    hw.power.read(c, kinds, has_tmem(hw.arch), hw.nvlink.present, hw.pcie.present, hw.sm.dies > 1);
  }
  r.finish();
  // Every key belongs to the unit that reads it (models/unit.hpp): a key read outside a unit's
  // spec section would be one no unit consumes.
  for (const ParamRecord& p : r.records()) {
    if (p.is_table) continue;
    if (std::find(kUnitNames.begin(), kUnitNames.end(), p.owner) == kUnitNames.end())
      throw std::logic_error(
          fmt::format("config key '{}' is consumed by no unit (owner '{}')", p.path, p.owner));
  }
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
  std::vector<ParamRecord> resolved;
  HwSpec hw = read(tree, &resolved);
  // Provenance: the resolved values (units canonical, so the same GPU written another way
  // hashes the same).
  std::string canonical;
  for (const ParamRecord& p : resolved) {
    if (!p.is_table) canonical += p.path + " = " + p.value_json + "\n";
  }
  provenance::note_config("hw", file.string(), overrides, provenance::hash_text(canonical));
  if (records != nullptr) *records = std::move(resolved);
  return hw;
}

double HwSpec::peak_flops(MmaKind kind, Frequency f) const {
  return 2.0 * static_cast<double>(tensor.rate(kind)) * sm.count * static_cast<double>(f.hz);
}

}  // namespace bwsim
