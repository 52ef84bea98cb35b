// bwsim micro: the published GPU microbenchmarks, run as CTA programs through the full model.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <iostream>

#include "app/commands.hpp"
#include "models/hw_spec.hpp"
#include "sim/errors.hpp"
#include "sim/strings.hpp"
#include "sim/table.hpp"
#include "workloads/micro.hpp"

namespace bwsim::app {
namespace {

MmaKind kind_option(const std::string& s) {
  for (const auto& [n, k] : kMmaKindNames) {
    if (n == s) return k;
  }
  std::string all;
  for (const auto& entry : kMmaKindNames) all.append(all.empty() ? "" : ", ").append(entry.first);
  throw InputError(fmt::format("--kind {}: unknown MMA kind (one of: {})", s, all));
}

std::vector<uint64_t> inflight_option(const std::string& s) {
  std::vector<uint64_t> out;
  for (const std::string_view item : split(s, ',')) {
    if (item.empty()) throw InputError(fmt::format("--inflight {}: an empty entry in the list", s));
    out.push_back(parse_flag("--inflight", s, [&] { return parse_byte_size(item); }).bytes);
  }
  return out;
}

int run_micro_cmd(const cli::po::variables_map& vm) {
  if (vm.count("name") == 0 || vm["name"].as<std::string>() == "list") {
    TextTable t({"microbenchmark", "what it measures"});
    boost::json::array items;
    for (const auto& [n, d] : micro_list()) {
      t.add_row({n, d});
      items.push_back(boost::json::object{{"name", n}, {"what", d}});
    }
    cli::text_out(vm) << t.render();
    cli::write_json_option(
        vm, boost::json::object{{"command", "micro list"}, {"microbenchmarks", std::move(items)}});
    return 0;
  }
  const std::string name = vm["name"].as<std::string>();
  std::vector<std::string> sets;
  if (vm.count("set") != 0) sets = vm["set"].as<std::vector<std::string>>();
  const HwSpec hw = HwSpec::load(vm["hw"].as<std::string>(), sets);
  MicroOptions o;
  o.kind = kind_option(vm["kind"].as<std::string>());
  o.m = vm["m"].as<int>();
  o.n = vm["n"].as<int>();
  o.a_in_tmem = vm.count("a-tmem") != 0;
  o.pair = vm.count("pair") != 0;
  o.copy = vm.count("copy") != 0;
  o.cluster = vm["cluster"].as<uint32_t>();
  if (vm.count("count") != 0) o.count = vm["count"].as<uint32_t>();
  if (o.count == 0) throw InputError("--count must be at least 1");
  if (vm.count("inflight") != 0) o.inflight = inflight_option(vm["inflight"].as<std::string>());
  const MicroResult r = run_micro(name, hw, o);

  std::ostream& out = cli::text_out(vm);
  out << fmt::format("{} on {} at {} (boost, power limit not applied): {}\n\n", r.name, hw.name,
                     to_string(hw.clock.sm), r.description);
  std::vector<std::string> header;
  for (const auto& [k, v] : r.rows.front().values) header.push_back(k);
  TextTable t(header, std::vector<TextTable::Align>(header.size(), TextTable::Align::kRight));
  boost::json::array rows;
  for (const MicroRow& row : r.rows) {
    std::vector<std::string> cells;
    boost::json::object jrow;
    for (const auto& [k, v] : row.values) {
      cells.push_back(fmt::format("{:.4g}", v));
      jrow[k] = v;
    }
    t.add_row(std::move(cells));
    rows.emplace_back(std::move(jrow));
  }
  out << t.render();
  out << "energy_uj, avg_w: the timed kernel's energy (static power included) and average power\n";
  boost::json::object doc{{"command", "micro"}, {"name", r.name}, {"hw", hw.name}, {"rows", std::move(rows)}};
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command micro_command() {
  return cli::Command{"micro", "run a GPU microbenchmark through the model (bwsim micro list)",
                      "bwsim micro NAME [--hw FILE|NAME] [--kind K --m M --n N --a-tmem --pair --count C] "
                      "[--copy --inflight B,...] [--cluster N] "
                      "[--json FILE]",
                      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
                        add_hw_options(desc);
                        desc.add_options()("name", cli::po::value<std::string>(),
                                           "microbenchmark (or 'list')")(
                            "kind", cli::po::value<std::string>()->default_value("f16"),
                            "MMA kind: f16 tf32 f8 f8f6f4 i8 mxf8f6f4 mxf4 mxf4nvf4")(
                            "m", cli::po::value<int>()->default_value(128), "MMA M (whole instruction)")(
                            "n", cli::po::value<int>()->default_value(128), "MMA N")(
                            "a-tmem", "MMA operand A in TMEM")("pair", "CTA-pair MMA (cta_group::2, M=256)")(
                            "count", cli::po::value<uint32_t>(), "MMAs, loads or repetitions")(
                            "copy", "tma-bandwidth: copy instead of read")(
                            "cluster", cli::po::value<uint32_t>()->default_value(1),
                            "cta-occupancy: CTAs per cluster (on aligned SM groups)")(
                            "inflight", cli::po::value<std::string>(),
                            "tma-bandwidth: bytes in flight per SM, e.g. 16KiB,64KiB");
                        add_json_option(desc);
                        pos.add("name", 1);
                      },
                      run_micro_cmd};
}

}  // namespace bwsim::app
