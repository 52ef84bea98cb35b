// bwsim validate: every published measurement in validation/ run through the model, predicted
// against measured, with the error of each and the error per group and per GPU.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/json.hpp>

#include <cmath>
#include <iostream>
#include <set>

#include "app/commands.hpp"
#include "app/progress.hpp"
#include "models/hw_spec.hpp"
#include "sim/config.hpp"
#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "sim/table.hpp"
#include "workloads/gemm/format.hpp"
#include "workloads/validate/validation.hpp"

namespace bwsim::app {
namespace {

namespace fs = std::filesystem;

fs::path validation_dir(const cli::po::variables_map& vm) {
  if (vm.count("dir") != 0) return vm["dir"].as<std::string>();
  return config_dir().parent_path() / "validation";
}

std::string pct(double e) { return fmt::format("{:+.1f}%", e * 100); }
std::string number(double v) { return fmt::format("{:.4g}", v); }

// Groups results by a key (the group, the GPU), in first-seen order.
template <class Key>
std::vector<std::pair<std::string, std::vector<const ValidationResult*>>> group_by(
    const std::vector<ValidationResult>& results, Key key) {
  std::vector<std::pair<std::string, std::vector<const ValidationResult*>>> out;
  for (const ValidationResult& r : results) {
    const std::string k = key(r);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == k; });
    if (it == out.end()) {
      out.emplace_back(k, std::vector<const ValidationResult*>{});
      it = out.end() - 1;
    }
    it->second.push_back(&r);
  }
  return out;
}

boost::json::object summary_json(const ErrorSummary& s) {
  return {{"name", s.name}, {"points", s.points}, {"mape", s.mape},
          {"bias", s.bias}, {"worst", s.worst},   {"worst_id", s.worst_id}};
}

void add_summary_row(TextTable& t, const ErrorSummary& s) {
  t.add_row({s.name, std::to_string(s.points), s.points > 0 ? fmt::format("{:.1f}%", s.mape * 100) : "-",
             s.points > 0 ? pct(s.bias) : "-", s.points > 0 ? fmt::format("{:.1f}%", s.worst * 100) : "-",
             s.worst_id});
}

int run_validate(const cli::po::variables_map& vm) {
  const fs::path dir = validation_dir(vm);
  ValidationFilter filter;
  const auto parse_group = [](std::string_view flag, const std::string& name) {
    const std::optional<ValidationGroup> g = parse_validation_group(name);
    if (!g)
      throw InputError(fmt::format("{} {}: expected gemm, attention, memory, power or serving", flag, name));
    return *g;
  };
  if (vm.count("only") != 0) filter.only = parse_group("--only", vm["only"].as<std::string>());
  if (vm.count("skip") != 0) {
    for (const std::string& name : vm["skip"].as<std::vector<std::string>>())
      filter.skip.push_back(parse_group("--skip", name));
  }
  if (vm.count("hw") != 0) filter.hw = vm["hw"].as<std::string>();
  if (vm.count("source") != 0) filter.source = vm["source"].as<std::string>();
  if (vm.count("format") != 0)
    filter.format = parse_gemm_format(vm["format"].as<std::string>(), "--format").name;
  const int64_t jobs_flag = vm["jobs"].as<int64_t>();
  if (jobs_flag < 0) throw InputError(fmt::format("-j {}: expected 0 (all cores) or more", jobs_flag));
  const unsigned jobs = jobs_flag == 0 ? worker_threads() : static_cast<unsigned>(jobs_flag);

  std::vector<std::string> sets;
  if (vm.count("set") != 0) sets = vm["set"].as<std::vector<std::string>>();
  const ValidationSet set = load_validation_set(dir);
  if (!filter.hw.empty() && std::none_of(set.points.begin(), set.points.end(),
                                         [&](const ValidationPoint& p) { return p.hw == filter.hw; })) {
    throw InputError(fmt::format("--hw {}: no point of {} ran on it", filter.hw, dir.string()));
  }
  if (!filter.source.empty() && std::none_of(set.sources.begin(), set.sources.end(),
                                             [&](const auto& s) { return s.name == filter.source; })) {
    std::string names;
    for (const auto& s : set.sources) names.append(names.empty() ? "" : ", ").append(s.name);
    throw InputError(
        fmt::format("--source {}: no such source in {} (sources: {})", filter.source, dir.string(), names));
  }
  const std::vector<const ValidationPoint*> points = select_points(set, filter);
  if (points.empty())
    throw InputError("no validation point matches --only / --skip / --hw / --source / --format");
  if (!sets.empty()) {
    std::set<std::string> gpus;
    for (const ValidationPoint* p : points) {
      if (gpus.insert(p->hw).second) HwSpec::load(p->hw, sets);  // a bad key exits 2 before anything runs
    }
  }

  size_t to_run = 0;
  for (const ValidationPoint* p : points) to_run += p->skip.empty() ? 1 : 0;
  Progress progress("validate", points.size(), points.size() - to_run, vm.count("quiet") != 0);
  const std::vector<ValidationResult> results = run_validation(
      points, jobs,
      [&](const ValidationResult& r) {
        if (r.point->skip.empty()) progress.point_done(true);
      },
      sets);

  std::ostream& out = cli::text_out(vm);
  out << fmt::format("bwsim validate: {} points from {} ({} sources), {} run, {} not run yet\n\n",
                     points.size(), dir.string(), set.sources.size(), to_run, points.size() - to_run);

  using A = TextTable::Align;
  TextTable t({"point", "gpu", "what", "measured", "predicted", "unit", "error", "model"},
              {A::kLeft, A::kLeft, A::kLeft, A::kRight, A::kRight, A::kLeft, A::kRight, A::kLeft});
  boost::json::array jpoints;
  bool failed = false;
  for (const auto& [group, rs] : group_by(results, [](const ValidationResult& r) {
         return std::string(validation_group_name(r.point->group));
       })) {
    t.add_section(group);
    for (const ValidationResult* r : rs) {
      const ValidationPoint& p = *r->point;
      const auto kind = p.measured.kind;
      boost::json::object j{{"id", p.id},
                            {"source", set.sources[p.source].name},
                            {"group", validation_group_name(p.group)},
                            {"hw", p.hw},
                            {"gpu", p.gpu},
                            {"library", p.library},
                            {"what", p.what},
                            {"unit", measured_unit(kind)},
                            {"measured", in_report_unit(kind, p.measured.value)},
                            {"where", p.where}};
      if (!p.skip.empty()) {
        j["skip"] = p.skip;
      } else if (!r->ran) {
        failed = true;
        j["failure"] = r->failure;
        t.add_row({p.id, p.hw, p.what, number(in_report_unit(kind, p.measured.value)), "-",
                   std::string(measured_unit(kind)), "-", "failed: " + r->failure});
      } else {
        j["predicted"] = in_report_unit(kind, r->predicted);
        j["error"] = r->error;
        j["model"] = r->detail;
        t.add_row({p.id, p.hw, p.what, number(in_report_unit(kind, p.measured.value)),
                   number(in_report_unit(kind, r->predicted)), std::string(measured_unit(kind)),
                   pct(r->error), r->detail});
      }
      jpoints.emplace_back(std::move(j));
    }
  }
  out << t.render() << "\n";

  // Summaries: per group, per GPU, and all kernel-level points together.
  TextTable s({"", "points", "MAPE", "bias", "worst", "worst point"},
              {A::kLeft, A::kRight, A::kRight, A::kRight, A::kRight, A::kLeft});
  boost::json::array jgroups;
  boost::json::array jgpus;
  s.add_section("per group");
  for (const auto& [name, rs] : group_by(results, [](const ValidationResult& r) {
         return std::string(validation_group_name(r.point->group));
       })) {
    const ErrorSummary e = summarize(name, rs);
    add_summary_row(s, e);
    jgroups.emplace_back(summary_json(e));
  }
  // Per GPU and in all: kernel speed (the power group's clocks and watts are another quantity,
  // and a serving run's throughput is not a kernel's).
  std::vector<ValidationResult> speed;
  std::vector<ValidationResult> served;
  for (const ValidationResult& r : results) {
    if (r.point->group == ValidationGroup::kServing) {
      served.push_back(r);
    } else if (r.point->group != ValidationGroup::kPower) {
      speed.push_back(r);
    }
  }
  if (!speed.empty()) s.add_section("per GPU (kernel speed)");
  for (const auto& [name, rs] : group_by(speed, [](const ValidationResult& r) { return r.point->hw; })) {
    const ErrorSummary e = summarize(name, rs);
    add_summary_row(s, e);
    jgpus.emplace_back(summary_json(e));
  }
  boost::json::array jserving;
  if (!served.empty()) s.add_section("per GPU (serving throughput)");
  for (const auto& [name, rs] : group_by(served, [](const ValidationResult& r) { return r.point->hw; })) {
    const ErrorSummary e = summarize(name, rs);
    add_summary_row(s, e);
    jserving.emplace_back(summary_json(e));
  }
  std::vector<const ValidationResult*> all;
  all.reserve(speed.size());
  for (const ValidationResult& r : speed) all.push_back(&r);
  const ErrorSummary total = summarize("kernel-level", all);
  if (!speed.empty()) {
    s.add_section("all (kernel speed)");
    add_summary_row(s, total);
  }
  out << s.render();
  out << "error = predicted speed / measured speed - 1 (a time: measured / predicted - 1): "
         "+ is faster than the hardware; power points: predicted / measured - 1 (+: a higher clock, "
         "more watts)\n";

  if (to_run < points.size()) {
    out << "\nnot run yet:\n";
    for (const ValidationPoint* p : points) {
      if (p->skip.empty()) continue;
      out << fmt::format("  {} ({}): {}\n", p->id, p->where, p->skip);
    }
  }
  boost::json::object doc{{"command", "validate"},
                          {"dir", dir.string()},
                          {"points", std::move(jpoints)},
                          {"groups", std::move(jgroups)},
                          {"gpus", std::move(jgpus)},
                          {"serving_gpus", std::move(jserving)},
                          {"kernel_level", summary_json(total)}};
  cli::write_json_option(vm, doc);
  return failed ? 1 : 0;
}

}  // namespace

cli::Command validate_command() {
  return cli::Command{
      "validate", "run the published hardware measurements in validation/ and report the model's error",
      "bwsim validate [--only gemm|attention|memory|power|serving] [--skip GROUP] [--hw NAME] [--source "
      "NAME] [-j N] [--dir "
      "DIR] "
      "[--set KEY=VALUE] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        desc.add_options()("only", cli::po::value<std::string>(),
                           "one group: gemm, attention, memory, power or serving")(
            "skip", cli::po::value<std::vector<std::string>>()->composing(),
            "leave a group out (repeatable): --skip serving runs the kernel-level set alone")(
            "hw", cli::po::value<std::string>(), "only the points of this configured GPU (b200, h100, ...)")(
            "source", cli::po::value<std::string>(),
            "only the points of this source (a file name in the set)")(
            "format", cli::po::value<std::string>(),
            "only the GEMM points in this format (bf16, fp8, nvfp4, ...)")(
            "jobs,j", cli::po::value<int64_t>()->default_value(0), "points run at once (0: one per core)")(
            "dir", cli::po::value<std::string>(),
            "the validation set: a directory of .toml files or one file (default: the project's "
            "validation/)")("set", cli::po::value<std::vector<std::string>>()->composing(),
                            "override a key of every point's hardware config, e.g. --set "
                            "power.limit=\"600 W\" (repeatable)")("quiet,q", "no progress on stderr");
        add_json_option(desc);
      },
      run_validate};
}

}  // namespace bwsim::app
