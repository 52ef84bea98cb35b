// bwsim sweep: a base job over axes of config keys, points run in parallel (threads, MPI ranks,
// or shards of a job array), results appended to a CSV as they finish and sorted at the end;
// bwsim sweep-merge: shards into one file.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <unistd.h>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "app/commands.hpp"
#include "app/progress.hpp"
#include "app/sweep_mpi.hpp"
#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "workloads/sweep/anomaly.hpp"
#include "workloads/sweep/point.hpp"
#include "workloads/sweep/results.hpp"
#include "workloads/sweep/runner.hpp"
#include "workloads/sweep/spec.hpp"

namespace bwsim::app {
namespace {

namespace fs = std::filesystem;

struct Shard {
  uint64_t index = 0;
  uint64_t count = 1;
};

Shard parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  Shard s;
  const auto number = [&](std::string_view t, uint64_t& out) {
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc{} && p == t.data() + t.size() && !t.empty();
  };
  if (slash == std::string::npos || !number(std::string_view(text).substr(0, slash), s.index) ||
      !number(std::string_view(text).substr(slash + 1), s.count) || s.count == 0 || s.index >= s.count) {
    throw InputError(fmt::format("--shard {}: expected I/N with 0 <= I < N (e.g. 0/4)", text));
  }
  return s;
}

// The status column follows the point index, which has no comma.
// Warnings on stderr for what physics would not do (the CSV's anomaly column has them all).
void report_anomalies(const std::vector<std::string>& anomalies, std::string_view who) {
  constexpr size_t kShown = 10;
  for (size_t i = 0; i < anomalies.size() && i < kShown; ++i)
    std::cerr << fmt::format("{}: warning: anomaly: {}\n", who, anomalies[i]);
  if (anomalies.size() > kShown)
    std::cerr << fmt::format("{}: warning: {} more anomalies in the anomaly column\n", who,
                             anomalies.size() - kShown);
}

bool row_ok(const std::string& line) { return line.substr(line.find(',') + 1).starts_with("ok,"); }

fs::path spec_path(const std::string& given) {
  try {
    return resolve_config_path(given, "sweeps");
  } catch (const InputError& e) {
    throw InputError(std::string("sweep spec: ") + e.what());
  }
}

int run_sweep(const cli::po::variables_map& vm) {
  if (vm.count("spec") == 0)
    throw InputError("a sweep spec is required: bwsim sweep SPEC.toml -o results.csv");
  if (vm.count("output") == 0) throw InputError("-o / --output is required: the results CSV to write");
  const fs::path out = vm["output"].as<std::string>();
  const SweepSpec spec = load_sweep_spec(spec_path(vm["spec"].as<std::string>()));
  const int64_t jobs_flag = vm["jobs"].as<int64_t>();
  if (jobs_flag < 0) throw InputError(fmt::format("-j {}: expected 0 (all cores) or more", jobs_flag));
  const unsigned jobs = jobs_flag == 0 ? worker_threads() : static_cast<unsigned>(jobs_flag);
  const Shard shard = vm.count("shard") != 0 ? parse_shard(vm["shard"].as<std::string>()) : Shard{};
  const bool resume = vm.count("resume") != 0;
  if (!resume && vm.count("force") == 0 && fs::exists(out)) {
    throw InputError(fmt::format(
        "-o {}: exists; --resume goes on with its finished rows, --force replaces it", out.string()));
  }
  const int ranks = mpi_launch_size();
  if (ranks > 1 && vm.count("shard") != 0) {
    throw InputError("--shard and mpirun both split the points: use one of them");
  }
  if (ranks > 1 && !mpi_available()) {
    throw InputError(
        fmt::format("started by mpirun with {} ranks, but this bwsim was built without Boost.MPI "
                    "(install libboost-mpi1.81-dev and rebuild)",
                    ranks));
  }
  // Every axis value checked before any point runs or any file is touched.
  check_sweep_axes(spec);
  const std::vector<SweepPoint> points = sweep_points(spec);
  const std::string header = sweep_header(spec);

  std::vector<uint64_t> mine;  // this shard's points
  for (const SweepPoint& p : points) {
    if (p.index % shard.count == shard.index) mine.push_back(p.index);
  }
  std::map<uint64_t, std::string> rows;
  std::ofstream append;
  std::optional<Progress> progress;
  std::mutex lock;
  const auto prepare = [&] {
    if (resume && fs::exists(out)) {
      SweepResults prev = read_sweep_results(out);
      check_sweep_results(prev, out, header, points);
      for (auto& [i, line] : prev.rows) {
        if (i % shard.count == shard.index) rows.emplace(i, std::move(line));
      }
    }
    if (fs::exists(out) && fs::is_directory(out))
      throw InputError(fmt::format("-o {}: is a directory", out.string()));
    // Start from a clean file (a resumed one without its torn last line), then append.
    write_sweep_results(out, header, rows);
    append.open(out, std::ios::binary | std::ios::app);
    if (!append) throw InputError(fmt::format("-o {}: cannot write", out.string()));
    std::vector<uint64_t> todo;
    for (uint64_t i : mine) {
      if (!rows.contains(i)) todo.push_back(i);
    }
    progress.emplace("sweep", mine.size(), mine.size() - todo.size(), vm.count("quiet") != 0);
    return todo;
  };
  const RowSink sink = [&](uint64_t index, const std::string& line) {
    const std::scoped_lock l(lock);
    append << line << std::flush;
    rows[index] = line;
    progress->point_done(row_ok(line));
  };
  const auto started = std::chrono::steady_clock::now();
  if (ranks > 1) {
    if (!run_sweep_mpi(spec, points, jobs, prepare, sink)) return 0;  // a worker rank
  } else {
    const std::vector<uint64_t> todo = prepare();
    std::vector<SweepPoint> run;
    run.reserve(todo.size());
    for (uint64_t i : todo) run.push_back(points[i]);
    run_sweep_points(spec, run, jobs,
                     [&](const SweepPoint& p, const PointResult& r) { sink(p.index, sweep_row(p, r)); });
  }
  append.close();
  const std::vector<std::string> anomalies = flag_anomalies(header, rows);
  write_sweep_results(out, header, rows);  // sorted by point
  cli::write_provenance_sidecar(out);
  report_anomalies(anomalies, "sweep");
  uint64_t failed = 0;
  for (const auto& [i, line] : rows) failed += row_ok(line) ? 0 : 1;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::ostream& o = cli::text_out(vm);
  o << fmt::format("sweep  {}\n", spec.text());
  o << fmt::format("  {} of {} points{} in {}: {} ok, {} failed{}\n", rows.size(), points.size(),
                   shard.count > 1 ? fmt::format(" (shard {}/{})", shard.index, shard.count) : "",
                   out.string(), rows.size() - failed, failed,
                   ranks > 1 ? fmt::format(" ({} MPI ranks)", ranks) : fmt::format(" (-j {})", jobs));
  o << fmt::format("  {:.1f} s wall\n", wall);
  boost::json::object doc{{"command", "sweep"},
                          {"name", spec.name},
                          {"output", out.string()},
                          {"points", points.size()},
                          {"rows", rows.size()},
                          {"failed", failed},
                          {"shard", fmt::format("{}/{}", shard.index, shard.count)}};
  cli::write_json_option(vm, doc);
  if (vm.count("strict") != 0 && failed > 0) {
    std::cerr << fmt::format("sweep: --strict: {} of {} points failed\n", failed, rows.size());
    return 1;
  }
  return 0;
}

int run_merge(const cli::po::variables_map& vm) {
  if (vm.count("output") == 0) throw InputError("-o / --output is required: the merged CSV to write");
  if (vm.count("shards") == 0)
    throw InputError("no shard files given: bwsim sweep-merge -o OUT.csv SHARD.csv...");
  const fs::path out = vm["output"].as<std::string>();
  const auto files = vm["shards"].as<std::vector<std::string>>();
  std::string header;
  std::map<uint64_t, std::string> rows;
  for (const std::string& f : files) {
    SweepResults r = read_sweep_results(f);
    if (r.header.empty()) throw InputError(fmt::format("{}: empty (no header)", f));
    if (r.torn_tail) std::cerr << fmt::format("sweep-merge: {}: dropped a cut-off last line\n", f);
    if (header.empty()) header = r.header;
    if (r.header != header)
      throw InputError(fmt::format("{}: its header differs from {}'s", f, files.front()));
    for (auto& [i, line] : r.rows) {
      const auto [it, added] = rows.emplace(i, line);
      if (!added && it->second != line)
        throw InputError(fmt::format("{}: point {} is also in another shard, with different results", f, i));
    }
  }
  uint64_t expected = 0;
  if (vm.count("spec") != 0) {
    const SweepSpec spec = load_sweep_spec(spec_path(vm["spec"].as<std::string>()));
    const std::vector<SweepPoint> points = sweep_points(spec);
    SweepResults merged{header, rows, false};
    check_sweep_results(merged, files.front(), sweep_header(spec), points);
    expected = points.size();
    std::vector<uint64_t> missing;
    for (const SweepPoint& p : points) {
      if (!rows.contains(p.index)) missing.push_back(p.index);
    }
    if (!missing.empty() && vm.count("allow-missing") == 0) {
      std::string list;
      for (size_t i = 0; i < missing.size() && i < 10; ++i)
        list += fmt::format("{}{}", i ? ", " : "", missing[i]);
      throw InputError(
          fmt::format("{} of {} points are in no shard (points {}{}); rerun those shards with --resume, "
                      "or merge anyway with --allow-missing",
                      missing.size(), points.size(), list, missing.size() > 10 ? ", ..." : ""));
    }
  }
  const std::vector<std::string> anomalies = flag_anomalies(header, rows);
  write_sweep_results(out, header, rows);
  cli::write_provenance_sidecar(out);
  report_anomalies(anomalies, "sweep-merge");
  cli::text_out(vm) << fmt::format("sweep-merge  {} rows from {} files{} -> {}\n", rows.size(), files.size(),
                                   expected > 0 ? fmt::format(" ({} points in the spec)", expected) : "",
                                   out.string());
  cli::write_json_option(vm, boost::json::object{{"command", "sweep-merge"},
                                                 {"output", out.string()},
                                                 {"rows", rows.size()},
                                                 {"files", files.size()}});
  return 0;
}

}  // namespace

cli::Command sweep_command() {
  return cli::Command{
      "sweep",
      "run a base GEMM or scenario over axes of config keys (grid, zip, random), in parallel, into a CSV",
      "bwsim sweep SPEC.toml -o results.csv [-j N] [--resume|--force] [--strict] [--shard I/N] [--quiet] "
      "[--json FILE]; "
      "under mpirun -np N the points spread over the ranks",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        desc.add_options()("spec", cli::po::value<std::string>(),
                           "sweep spec: a file or a configs/sweeps name")(
            "output,o", cli::po::value<std::string>(), "results CSV (rows sorted by point when done)")(
            "jobs,j", cli::po::value<int64_t>()->default_value(0), "points run at once (0: one per core)")(
            "resume", "keep the finished rows of an interrupted run of the same sweep and run the rest")(
            "force", "replace an existing results CSV (without it, or --resume, an existing one is refused)")(
            "strict", "exit 1 when any point failed (CI)")(
            "shard", cli::po::value<std::string>(),
            "run only points with index % N == I (a job array's task I of N); merge with sweep-merge")(
            "quiet,q", "no progress on stderr");
        pos.add("spec", 1);
        add_json_option(desc);
      },
      run_sweep};
}

cli::Command sweep_merge_command() {
  return cli::Command{
      "sweep-merge", "combine the shard files of a sweep (--shard I/N) into one results file",
      "bwsim sweep-merge -o results.csv SHARD.csv... [--spec SPEC.toml [--allow-missing]] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        desc.add_options()("shards", cli::po::value<std::vector<std::string>>(), "shard result files")(
            "output,o", cli::po::value<std::string>(), "merged CSV")(
            "spec", cli::po::value<std::string>(), "the sweep's spec: check that every point is present")(
            "allow-missing", "with --spec: merge even if some points are in no shard");
        pos.add("shards", -1);
        add_json_option(desc);
      },
      run_merge};
}

}  // namespace bwsim::app
