// bwsim plot: charts from a sweep's CSV or a format comparison's JSON (line, scatter, grouped
// bars) and roofline plots (a GEMM sweep's points, a comparison's formats, or a `bwsim run
// --json` report's step kernels, against the GPU's roofs).
// bwsim reads and checks the data; scripts/plot.py draws it with matplotlib.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include <boost/json.hpp>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "app/commands.hpp"
#include "models/hw_spec.hpp"
#include "sim/config.hpp"
#include "sim/errors.hpp"
#include "workloads/sweep/results.hpp"

namespace bwsim::app {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // rows whose status is ok
  size_t skipped = 0;                          // failed points
  [[nodiscard]] size_t column(const std::string& name, const std::string& flag,
                              const std::string& file) const {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return i;
    }
    std::string cols;
    for (const std::string& h : header) cols += (cols.empty() ? "" : ", ") + h;
    throw InputError(fmt::format("{} {}: no such column in {} (columns: {})", flag, name, file, cols));
  }
};

Csv read_csv(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read", file));
  Csv c;
  std::string line;
  size_t line_no = 0;
  std::vector<std::string> f;
  while (std::getline(in, line)) {
    ++line_no;
    if (!parse_csv_line(line, f)) throw InputError(fmt::format("{}:{}: unbalanced quotes", file, line_no));
    if (line_no == 1) {
      c.header = f;
      continue;
    }
    if (f.size() != c.header.size()) {
      throw InputError(
          fmt::format("{}:{}: {} fields, the header has {}", file, line_no, f.size(), c.header.size()));
    }
    if (c.header.size() > 1 && c.header[1] == "status" && f[1] != "ok") {
      ++c.skipped;
      continue;
    }
    c.rows.push_back(f);
  }
  if (c.header.empty()) throw InputError(fmt::format("{}: empty", file));
  return c;
}

json::value read_json(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read", file));
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return json::parse(buf.str());
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: not JSON: {}", file, e.what()));
  }
}

std::string command_of(const json::value& doc) {
  if (!doc.is_object()) return "";
  const auto* c = doc.as_object().if_contains("command");
  return c != nullptr && c->is_string() ? std::string(c->as_string()) : "";
}

// A `bwsim compare gemm --json` report as a table, a row per format, with the GEMM sweep's
// column names (so one set of --x / --y keys works for both).
Csv compare_table(const json::object& doc, const std::string& file) {
  Csv c;
  c.header = {"format",
              "plan.tile",
              "time.us",
              "throughput.tflops",
              "throughput.pct_of_peak",
              "bytes.hbm.total",
              "bytes.l2.hit_rate",
              "intensity.flop_per_hbm_byte",
              "error.rel_frobenius",
              "error.sqnr_db"};
  const auto num = [](const json::value& v) {
    return v.is_number() ? fmt::format("{:.10g}", v.to_number<double>()) : "";
  };
  try {
    for (const json::value& rv : doc.at("results").as_array()) {
      const json::object& r = rv.as_object();
      const json::object& t = r.at("throughput").as_object();
      const json::object& b = r.at("bytes").as_object();
      const json::value& f = r.at("functional");
      const json::object* err = f.is_object() ? &f.as_object().at("error").as_object() : nullptr;
      c.rows.push_back({std::string(r.at("format").as_string()),
                        std::string(r.at("plan").at("tile").as_string()), num(r.at("time").at("us")),
                        num(t.at("tflops")), num(t.at("pct_of_peak")), num(b.at("hbm").at("total")),
                        num(b.at("l2").at("hit_rate")), num(r.at("intensity").at("flop_per_hbm_byte")),
                        err != nullptr ? num(err->at("rel_frobenius")) : "",
                        err != nullptr ? num(err->at("sqnr_db")) : ""});
    }
  } catch (const std::exception& e) {
    throw InputError(
        fmt::format("{}: not a complete `bwsim compare gemm --json` report ({})", file, e.what()));
  }
  if (c.rows.empty()) throw InputError(fmt::format("{}: the comparison has no results", file));
  return c;
}

// A sweep's CSV, or (`doc`: the file as read) a comparison's JSON report as the same kind of table.
Csv read_table(const std::string& file, const json::value* doc) {
  if (doc == nullptr) return read_csv(file);
  if (command_of(*doc) != "compare gemm") {
    throw InputError(
        fmt::format("{}: expected a sweep CSV or a `bwsim compare gemm --json` report{}", file,
                    command_of(*doc) == "run" ? " (a run report plots with --kind roofline)" : ""));
  }
  return compare_table(doc->as_object(), file);
}

// "8 TB/s" -> 8 and unit "TB/s"; "nvfp4" -> not a number.
bool leading_number(const std::string& s, double& v, std::string& unit) {
  if (s.empty()) return false;
  size_t used = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  unit = s.substr(used);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  return unit.empty() || unit.find_first_of("0123456789") == std::string::npos;
}

// Draws `job` into its output with scripts/plot.py (or $BWSIM_PLOT_SCRIPT).
void draw(json::object job, const std::string& output) {
  const std::string ext = fs::path(output).extension().string();
  if (ext != ".svg" && ext != ".png" && ext != ".pdf")
    throw InputError(fmt::format("-o {}: expected a .svg, .png or .pdf file", output));
  // The script draws into a temporary file beside the output (with the output's extension, which
  // chooses the format), renamed over it once complete: a failed or killed run leaves the old
  // file or the new one, never half of one.
  const fs::path final_path = fs::absolute(output);
  const fs::path tmp_path =
      final_path.parent_path() / fmt::format(".{}.tmp-{}{}", final_path.stem().string(), ::getpid(), ext);
  job["output"] = tmp_path.string();
  // The script: $BWSIM_PLOT_SCRIPT, else scripts/plot.py beside the configs (the source tree, or
  // PREFIX/share/bwsim installed).
  const char* env = std::getenv("BWSIM_PLOT_SCRIPT");
  const std::string script = env != nullptr && *env != '\0'
                                 ? std::string(env)
                                 : (config_dir().parent_path() / "scripts" / "plot.py").string();
  if (!fs::exists(script)) {
    throw InputError(
        fmt::format("the plot script {} is missing{} (set BWSIM_PLOT_SCRIPT to scripts/plot.py of a "
                    "bwsim checkout)",
                    script, env != nullptr && *env != '\0' ? " ($BWSIM_PLOT_SCRIPT)" : ""));
  }
  const fs::path job_file = fs::temp_directory_path() / fmt::format("bwsim-plot-{}.json", ::getpid());
  std::ofstream(job_file) << json::serialize(job);
  // Debian's python3 (with python3-matplotlib) before whatever python3 is first on PATH (a
  // pyenv or venv one may lack matplotlib); $BWSIM_PYTHON overrides both.
  const char* py_env = std::getenv("BWSIM_PYTHON");
  const std::string python = py_env != nullptr && *py_env != '\0' ? py_env
                             : fs::exists("/usr/bin/python3")     ? "/usr/bin/python3"
                                                                  : "python3";
  const std::string cmd = fmt::format("'{}' '{}' '{}'", python, script, job_file.string());
  const int rc = std::system(cmd.c_str());
  fs::remove(job_file);
  if (rc != 0) {
    std::error_code ec;
    fs::remove(tmp_path, ec);
    throw std::runtime_error(
        "drawing failed (python3 with matplotlib is needed: scripts/setup-deps.sh installs "
        "python3-matplotlib)");
  }
  std::error_code ec;
  fs::rename(tmp_path, final_path, ec);
  if (ec) {
    fs::remove(tmp_path, ec);
    throw InputError(fmt::format("-o {}: cannot write it ({})", output, ec.message()));
  }
}

json::array numbers(const std::vector<double>& v) {
  json::array a;
  for (double x : v) a.push_back(x);
  return a;
}

int run_plot(const cli::po::variables_map& vm) {
  if (vm.count("input") == 0)
    throw InputError("an input is required: bwsim plot RESULTS.csv --x KEY --y METRIC -o FILE");
  if (vm.count("output") == 0) throw InputError("-o / --output is required: the .svg or .png to write");
  const std::string input = vm["input"].as<std::string>();
  const std::string output = vm["output"].as<std::string>();
  const std::string kind = vm["kind"].as<std::string>();
  json::object job{{"logx", vm.count("logx") != 0}, {"logy", vm.count("logy") != 0}};
  // A JSON input (a comparison or a run report) is read once, here; a CSV as a table below.
  std::optional<json::value> doc;
  if (fs::path(input).extension() == ".json") doc = read_json(input);
  json::array series_out;
  if (doc && command_of(*doc) == "validate") {
    // A `bwsim validate --json` report: predicted against measured, a panel per quantity (the
    // groups' units differ), a colour per GPU.
    json::array panels;
    try {
      std::vector<std::string> units;
      std::map<std::string, std::map<std::string, std::array<json::array, 3>>>
          by;  // unit -> gpu -> x, y, names
      std::map<std::string, std::vector<std::string>> gpu_order;
      for (const json::value& v : doc->as_object().at("points").as_array()) {
        const json::object& p = v.as_object();
        if (!p.contains("predicted")) continue;
        const std::string unit = json::value_to<std::string>(p.at("unit"));
        const std::string gpu = json::value_to<std::string>(p.at("hw"));
        if (std::find(units.begin(), units.end(), unit) == units.end()) units.push_back(unit);
        auto& order = gpu_order[unit];
        if (std::find(order.begin(), order.end(), gpu) == order.end()) order.push_back(gpu);
        auto& s = by[unit][gpu];
        s[0].push_back(json::value_to<double>(p.at("measured")));
        s[1].push_back(json::value_to<double>(p.at("predicted")));
        s[2].push_back(p.at("id"));
      }
      for (const std::string& unit : units) {
        json::array series;
        for (const std::string& gpu : gpu_order[unit]) {
          auto& s = by[unit][gpu];
          series.push_back({{"label", gpu}, {"x", s[0]}, {"y", s[1]}, {"names", s[2]}});
        }
        const std::string quantity = unit == "us"     ? "time"
                                     : unit == "GB/s" ? "bandwidth"
                                     : unit == "MHz"  ? "SM clock (power points)"
                                     : unit == "W"    ? "power (power points)"
                                                      : "throughput";
        panels.push_back(
            {{"title", fmt::format("{} ({})", quantity, unit)}, {"unit", unit}, {"series", series}});
      }
    } catch (const std::exception& e) {
      throw InputError(
          fmt::format("{}: not a complete `bwsim validate --json` report ({})", input, e.what()));
    }
    if (panels.empty()) throw InputError(fmt::format("{}: no point with a prediction to plot", input));
    job["kind"] = "validation";
    job["panels"] = std::move(panels);
    job["title"] = vm.count("title") != 0
                       ? vm["title"].as<std::string>()
                       : fmt::format("bwsim vs measured: {}", fs::path(input).filename().string());
    draw(std::move(job), output);
    cli::write_json_option(vm, json::object{{"command", "plot"}, {"input", input}, {"output", output}});
    return 0;
  }
  if (kind == "roofline") {
    const HwSpec hw = HwSpec::load(vm["hw"].as<std::string>(), {});
    const Frequency f = hw.clock.sm_datasheet;
    json::array roofs;
    for (const auto& [label, k] :
         {std::pair{"BF16", MmaKind::kF16}, std::pair{"FP8", MmaKind::kF8F6F4},
          std::pair{"FP8 (Hopper)", MmaKind::kF8}, std::pair{"NVFP4", MmaKind::kMxF4NvF4}}) {
      if (hw.tensor.rate(k) > 0) roofs.push_back({{"label", label}, {"tflops", hw.peak_flops(k, f) * 1e-12}});
    }
    job["roofs"] = std::move(roofs);
    job["bandwidth_tb_s"] = static_cast<double>(hw.dram.bandwidth.bytes_per_s) * 1e-12;
    job["x_label"] = "arithmetic intensity (FLOP per HBM byte)";
    job["y_label"] = "achieved TFLOP/s";
    job["title"] =
        fmt::format("roofline on {} (datasheet clock): {}", hw.name, fs::path(input).filename().string());
    if (doc && command_of(*doc) == "run") {
      // A `bwsim run --json` report: the decode step's kernels (and the first prefill chunk's).
      const auto step = [&](const json::value* s, const std::string& label) {
        if (s == nullptr || !s->is_object() || !s->as_object().contains("kernels")) return;
        std::vector<double> xs, ys;
        json::array names;
        for (const json::value& k : s->as_object().at("kernels").as_array()) {
          const json::object& o = k.as_object();
          if (!o.contains("flops_each")) continue;
          const double fl = json::value_to<double>(o.at("flops_each"));
          const double by = json::value_to<double>(o.at("bytes").at("hbm_each"));
          const double us = json::value_to<double>(o.at("us_each"));
          if (fl <= 0 || by <= 0 || us <= 0) continue;
          xs.push_back(fl / by);
          ys.push_back(fl / (us * 1e-6) * 1e-12);
          names.push_back(o.at("name"));
        }
        if (!xs.empty())
          series_out.push_back({{"label", label}, {"x", numbers(xs)}, {"y", numbers(ys)}, {"names", names}});
      };
      const json::object& d = doc->as_object();
      if (const auto* dec = d.if_contains("decode"))
        step(dec->as_object().if_contains("step"), "decode step kernels");
      if (const auto* pre = d.if_contains("prefill")) {
        const json::array& chunks = pre->as_object().at("chunks").as_array();
        if (!chunks.empty()) step(&chunks.front(), "prefill chunk kernels");
      }
      if (series_out.empty())
        throw InputError(
            fmt::format("{}: no timed kernels (the scenario did not fit, or timing was off)", input));
    } else {
      // A GEMM sweep's points, or a comparison's formats (one series each).
      const Csv c = read_table(input, doc ? &*doc : nullptr);
      const size_t xi = c.column("intensity.flop_per_hbm_byte", "--kind roofline needs", input);
      const size_t yi = c.column("throughput.tflops", "--kind roofline needs", input);
      const bool comparison = c.header.front() == "format";
      const std::string series_key =
          vm.count("series") != 0 ? vm["series"].as<std::string>() : (comparison ? "format" : "");
      const size_t si = series_key.empty() ? 0 : c.column(series_key, "--series", input);
      std::vector<std::string> order;
      std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by;
      for (const auto& r : c.rows) {
        const std::string s = series_key.empty() ? "points" : r[si];
        if (!by.contains(s)) order.push_back(s);
        by[s].first.push_back(std::stod(r[xi]));
        by[s].second.push_back(std::stod(r[yi]));
      }
      for (const std::string& s : order)
        series_out.push_back({{"label", series_key.empty() ? s : fmt::format("{} = {}", series_key, s)},
                              {"x", numbers(by[s].first)},
                              {"y", numbers(by[s].second)}});
    }
  } else {
    if (kind != "line" && kind != "scatter" && kind != "bar")
      throw InputError(fmt::format("--kind {}: expected line, scatter, bar or roofline", kind));
    const Csv c = read_table(input, doc ? &*doc : nullptr);
    const bool comparison = c.header.front() == "format";
    if ((vm.count("x") == 0 && !comparison) || vm.count("y") == 0)
      throw InputError("--x KEY and --y METRIC are required (a comparison's --x defaults to format)");
    const std::string xk = vm.count("x") != 0 ? vm["x"].as<std::string>() : "format";
    const std::string yk = vm["y"].as<std::string>();
    const size_t xi = c.column(xk, "--x", input);
    const size_t yi = c.column(yk, "--y", input);
    const std::string series_key = vm.count("series") != 0 ? vm["series"].as<std::string>() : "";
    const size_t si = series_key.empty() ? 0 : c.column(series_key, "--series", input);
    // x: numbers (with their unit) when every value is one, else categories.
    bool numeric = true;
    std::string x_unit;
    for (const auto& r : c.rows) {
      double v = 0;
      std::string unit;
      if (!leading_number(r[xi], v, unit)) numeric = false;
      if (numeric && !unit.empty()) x_unit = unit;
    }
    std::vector<std::string> order;
    std::map<std::string, std::pair<json::array, std::vector<double>>> by;
    size_t blank = 0;
    for (const auto& r : c.rows) {
      double y = 0;
      std::string unit;
      if (r[yi].empty()) {
        ++blank;
        continue;
      }
      if (!leading_number(r[yi], y, unit))
        throw InputError(fmt::format("--y {}: '{}' is not a number ({})", yk, r[yi], input));
      const std::string s = series_key.empty() ? yk : r[si];
      if (!by.contains(s)) order.push_back(s);
      double x = 0;
      if (numeric) {
        (void)leading_number(r[xi], x, unit);
        by[s].first.push_back(x);
      } else {
        by[s].first.push_back(json::value(r[xi]));
      }
      by[s].second.push_back(y);
    }
    if (order.empty()) throw InputError(fmt::format("{}: no rows with a value of {} to plot", input, yk));
    for (const std::string& s : order)
      series_out.push_back({{"label", series_key.empty() ? s : fmt::format("{} = {}", series_key, s)},
                            {"x", by[s].first},
                            {"y", numbers(by[s].second)}});
    job["x_label"] = x_unit.empty() ? xk : fmt::format("{} ({})", xk, x_unit);
    job["y_label"] = yk;
    job["title"] = vm.count("title") != 0
                       ? vm["title"].as<std::string>()
                       : fmt::format("{} vs {}{}", yk, xk, series_key.empty() ? "" : " by " + series_key);
    if (blank + c.skipped > 0) {
      std::cerr << fmt::format("plot: left out {} failed point(s) and {} row(s) without {}\n", c.skipped,
                               blank, yk);
    }
  }
  if (vm.count("title") != 0) job["title"] = vm["title"].as<std::string>();
  job["kind"] = kind;
  job["series"] = std::move(series_out);
  draw(std::move(job), output);
  cli::text_out(vm) << fmt::format("plot  {} -> {}\n", input, output);
  cli::write_json_option(vm, json::object{{"command", "plot"}, {"input", input}, {"output", output}});
  return 0;
}

}  // namespace

cli::Command plot_command() {
  return cli::Command{
      "plot", "chart a sweep's results (line, scatter, bars) or a roofline of a GEMM sweep or a run report",
      "bwsim plot RESULTS.csv --x KEY --y METRIC [--series KEY] [--kind line|scatter|bar] [--logx] [--logy] "
      "-o FILE.svg|png; bwsim plot COMPARE.json --y METRIC --kind bar -o FILE.svg; "
      "bwsim plot (RESULTS.csv|COMPARE.json|RUN.json) --kind roofline [--hw b200] -o FILE.svg",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        desc.add_options()(
            "input", cli::po::value<std::string>(),
            "sweep results CSV, a bwsim compare gemm --json report, or a bwsim run --json report")(
            "output,o", cli::po::value<std::string>(), "the chart: .svg, .png or .pdf")(
            "x", cli::po::value<std::string>(), "column for the x axis (an axis key)")(
            "y", cli::po::value<std::string>(), "column for the y axis (a metric)")(
            "series", cli::po::value<std::string>(), "column whose values make one line / bar group each")(
            "kind", cli::po::value<std::string>()->default_value("line"), "line, scatter, bar or roofline")(
            "hw", cli::po::value<std::string>()->default_value("b200"),
            "roofline: the GPU whose roofs to draw")("title", cli::po::value<std::string>(), "chart title")(
            "logx", "log-scale x")("logy", "log-scale y");
        pos.add("input", 1);
        add_json_option(desc);
      },
      run_plot};
}

}  // namespace bwsim::app
