// bwsim info: the fully resolved hardware config, where each value came from, and the peaks
// it implies.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <iostream>

#include "app/commands.hpp"
#include "models/hw_spec.hpp"
#include "sim/json_out.hpp"
#include "sim/table.hpp"

namespace bwsim::app {
namespace {

// Datasheet names for the formats each MMA kind runs.
std::string_view format_label(MmaKind k) {
  switch (k) {
    case MmaKind::kF16:
      return "bf16";
    case MmaKind::kTf32:
      return "tf32";
    case MmaKind::kF8:
    case MmaKind::kF8F6F4:
      return "fp8";
    case MmaKind::kI8:
      return "int8";
    case MmaKind::kMxF8F6F4:
      return "mxfp8";
    case MmaKind::kMxF4:
      return "mxfp4";
    case MmaKind::kMxF4NvF4:
      return "nvfp4";
  }
  return "?";
}

int run_info(const cli::po::variables_map& vm) {
  const auto& hw_name = vm["hw"].as<std::string>();
  std::vector<std::string> sets;
  if (vm.count("set") != 0) sets = vm["set"].as<std::vector<std::string>>();
  std::vector<ParamRecord> records;
  const HwSpec hw = HwSpec::load(hw_name, sets, &records);
  const bool explain = vm.count("explain") != 0;

  boost::json::object config;
  boost::json::object owners;  // key -> the unit that consumes it
  for (const auto& r : records) {
    if (r.is_table) continue;
    insert_dotted(config, r.path, boost::json::parse(r.value_json));
    owners[r.path] = r.owner;
  }

  const double bw = static_cast<double>(hw.dram.bandwidth.bytes_per_s);
  TextTable peaks({"format", "kind", "MAC/clk/SM", "datasheet", "full-load clock", "at full load", "boost",
                   "ridge FLOP/B"},
                  {TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight,
                   TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
                   TextTable::Align::kRight, TextTable::Align::kRight});
  boost::json::object peak_json;
  boost::json::object peak_datasheet_json;
  boost::json::object peak_boost_json;
  boost::json::object ridge_json;
  for (MmaKind k : kinds_of(hw.arch)) {
    if (hw.tensor.rate(k) == 0) continue;
    const Frequency full = full_load_clock(hw, k);
    const double p = hw.peak_flops(k, full);
    const double pd = hw.peak_flops(k, hw.clock.sm_datasheet);
    const double pb = hw.peak_flops(k, hw.clock.sm);
    const std::string unit = k == MmaKind::kI8 ? "OP/s" : "FLOP/s";
    peaks.add_row({std::string(format_label(k)), std::string(mma_kind_name(k)),
                   std::to_string(hw.tensor.rate(k)), format_si(pd, unit), to_string(full),
                   format_si(p, unit), format_si(pb, unit), fmt::format("{:.0f}", p / bw)});
    peak_json[format_label(k)] = p;
    peak_datasheet_json[format_label(k)] = pd;
    peak_boost_json[format_label(k)] = pb;
    ridge_json[format_label(k)] = p / bw;
  }

  const double sms = hw.sm.count;
  const double smem_bw = hw.smem.bandwidth.value * sms * static_cast<double>(hw.clock.sm.hz);
  const double l2_bw = hw.l2.slice_bandwidth.value * hw.l2.slices * static_cast<double>(hw.clock.l2.hz);
  cli::text_out(vm) << fmt::format("{}  ({}, {} SMs, {})\n\n", hw.name, arch_name(hw.arch), hw.sm.count,
                                   hw_name);
  cli::text_out(vm) << fmt::format(
      "Dense tensor peaks at the datasheet clock {}, at the highest clock a full tensor load holds within "
      "the {} power limit (tensor math, SM clocking and idle power only: real kernels also move data) and at "
      "boost {}; ridge point at the full-load clock\n",
      to_string(hw.clock.sm_datasheet), to_string(hw.power.limit), to_string(hw.clock.sm));
  cli::text_out(vm) << peaks.render() << "\n";
  cli::text_out(vm) << fmt::format("Memory   {} {}, {} peak over {} channels; {:.1f} GB/s per channel\n",
                                   hw.dram.kind, to_string(hw.dram.capacity), to_string(hw.dram.bandwidth),
                                   hw.dram.channels(), bw / hw.dram.channels() * 1e-9);
  cli::text_out(vm) << fmt::format("L2       {} in {} partition(s), {} slices; {} aggregate at {}\n",
                                   to_string(hw.l2.capacity), hw.l2.partitions, hw.l2.slices,
                                   format_si(l2_bw, "B/s"), to_string(hw.clock.l2));
  cli::text_out(vm) << fmt::format("SMEM     {} per SM, {} per SM = {} aggregate at boost\n",
                                   to_string(hw.smem.capacity), to_string(hw.smem.bandwidth),
                                   format_si(smem_bw, "B/s"));
  if (hw.tmem.present) {
    cli::text_out(vm) << fmt::format("TMEM     {} per SM ({} lanes x {} columns x 32 bit)\n",
                                     to_string(ByteSize{hw.tmem.bytes()}), kTmemLanes, hw.tmem.columns);
  }
  if (hw.nvlink.present) {
    cli::text_out(vm) << fmt::format("NVLink   {} (both directions)\n", to_string(hw.nvlink.bandwidth));
  } else if (hw.pcie.present) {
    cli::text_out(vm) << fmt::format("PCIe     {} peer-to-peer (both directions)\n",
                                     to_string(hw.pcie.bandwidth));
  }

  cli::text_out(vm) << "\nResolved parameters\n";
  std::vector<std::string> header{"key", "value", "source"};
  if (explain) header.emplace_back("unit");
  if (explain) header.emplace_back("meaning");
  TextTable params(header);
  for (const auto& r : records) {
    if (r.is_table) {
      if (explain) params.add_section(fmt::format("[{}]  {}", r.path, r.doc));
      continue;
    }
    std::vector<std::string> row{r.path, r.value, r.source};
    if (explain) row.push_back(r.owner);
    if (explain)
      row.push_back(r.doc + (r.default_value.empty() ? "" : fmt::format(" [default {}]", r.default_value)) +
                    (r.range.empty() ? "" : fmt::format(" [range {}]", r.range)));
    params.add_row(std::move(row));
  }
  cli::text_out(vm) << params.render();

  boost::json::object derived;
  derived["peak_flops"] = std::move(peak_json);
  derived["peak_flops_boost"] = std::move(peak_boost_json);
  derived["peak_flops_datasheet"] = std::move(peak_datasheet_json);
  derived["ridge_flop_per_byte"] = std::move(ridge_json);
  derived["hbm_bandwidth_Bps"] = bw;
  derived["l2_bandwidth_Bps"] = l2_bw;
  derived["smem_bandwidth_Bps"] = smem_bw;
  derived["tmem_bytes_per_sm"] = hw.tmem.bytes();
  boost::json::object doc;
  doc["command"] = "info";
  doc["hw"] = hw_name;
  doc["config"] = std::move(config);
  doc["unit_of_key"] = std::move(owners);
  doc["derived"] = std::move(derived);
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command info_command() {
  return cli::Command{
      "info",
      "print a hardware config fully resolved (every key, its value and where it came from) and its peaks",
      "bwsim info [--hw FILE|NAME] [--set KEY=VALUE]... [--explain] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        add_hw_options(desc);
        desc.add_options()("explain", "also print what every key means and its default");
        add_json_option(desc);
      },
      run_info};
}

}  // namespace bwsim::app
