// Sweeps: how axes expand into points (grid, zip, seeded random, ranges), the checks that reject a
// spec before anything runs (naming the axis), points that fail without stopping the sweep, and
// the results file's CSV (quoting, reading back, torn last lines, a changed spec).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "sim/errors.hpp"
#include "tests/test_util.hpp"
#include "workloads/serving/serve_scenario.hpp"
#include "workloads/sweep/anomaly.hpp"
#include "workloads/sweep/point.hpp"
#include "workloads/sweep/results.hpp"
#include "workloads/sweep/spec.hpp"

namespace bwsim {
namespace {

namespace fs = std::filesystem;

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_TESTS, 1);
    dir_ = test_temp_dir("bwsim_sweep_");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text, const std::string& name = "s.toml") {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }
  SweepSpec spec(const std::string& axes, const std::string& head = "mode = \"grid\"") {
    return load_sweep_spec(write("name = \"t\"\nkind = \"gemm\"\n" + head +
                                 "\n[gemm]\nm = 128\nn = 256\nk = 256\nformat = \"nvfp4\"\n" + axes));
  }
  std::string error_of(const std::string& axes, const std::string& head = "mode = \"grid\"") {
    try {
      check_sweep_axes(spec(axes, head));
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no error)";
  }
  fs::path dir_;
};

std::vector<std::string> texts(const SweepPoint& p) {
  std::vector<std::string> out;
  for (const ConfigScalar& v : p.values) out.push_back(v.text);
  return out;
}

TEST_F(SweepTest, GridVariesTheLastAxisFastest) {
  const SweepSpec s = spec(R"([[axis]]
key = "gemm.m"
values = [128, 256]
[[axis]]
key = "gemm.format"
values = ["nvfp4", "mxfp8", "bf16"])");
  const auto pts = sweep_points(s);
  ASSERT_EQ(pts.size(), 6u);
  EXPECT_EQ(texts(pts[0]), (std::vector<std::string>{"128", "nvfp4"}));
  EXPECT_EQ(texts(pts[2]), (std::vector<std::string>{"128", "bf16"}));
  EXPECT_EQ(texts(pts[3]), (std::vector<std::string>{"256", "nvfp4"}));
  EXPECT_EQ(pts[5].index, 5u);
  EXPECT_EQ(pts[3].values[0].toml, "256");
  EXPECT_EQ(pts[3].values[1].toml, "\"nvfp4\"");
}

TEST_F(SweepTest, RangesIncludeTheirEndsLinearOrLog) {
  const SweepSpec s = spec(R"([[axis]]
key = "hw.hbm.bandwidth"
from = 4
to = 16
steps = 3
scale = "log"
unit = "TB/s"
[[axis]]
key = "hw.sm.count"
from = 100
to = 148
steps = 4
integer = true)");
  EXPECT_EQ(s.axes[0].values[0].text, "4 TB/s");
  EXPECT_EQ(s.axes[0].values[1].text, "8 TB/s");  // the geometric mean
  EXPECT_EQ(s.axes[0].values[2].text, "16 TB/s");
  EXPECT_EQ(s.axes[0].values[1].toml, "\"8 TB/s\"");
  EXPECT_EQ(s.axes[1].values[1].text, "116");
  EXPECT_EQ(s.axes[1].values[3].text, "148");
  EXPECT_EQ(sweep_points(s).size(), 12u);
}

TEST_F(SweepTest, ZipPairsValuesAndNeedsEqualLengths) {
  const SweepSpec s = spec(R"([[axis]]
key = "gemm.n"
values = [1024, 2048]
[[axis]]
key = "gemm.k"
values = [512, 4096])",
                           "mode = \"zip\"");
  const auto pts = sweep_points(s);
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(texts(pts[1]), (std::vector<std::string>{"2048", "4096"}));
  EXPECT_THROW(
      {
        try {
          (void)spec("[[axis]]\nkey = \"gemm.n\"\nvalues = [1, 2]\n[[axis]]\nkey = \"gemm.k\"\nvalues = [1]",
                     "mode = \"zip\"");
        } catch (const InputError& e) {
          EXPECT_CONTAINS(std::string(e.what()), "axis 'gemm.k' has 1 values but axis 'gemm.n' has 2");
          throw;
        }
      },
      InputError);
}

TEST_F(SweepTest, RandomSamplesAreSeededAndInRange) {
  const std::string axes = R"([[axis]]
key = "hw.hbm.bandwidth"
from = 4
to = 16
unit = "TB/s"
[[axis]]
key = "gemm.format"
values = ["nvfp4", "mxfp4"])";
  const auto a = sweep_points(spec(axes, "mode = \"random\"\nsamples = 50\nseed = 7"));
  const auto b = sweep_points(spec(axes, "mode = \"random\"\nsamples = 50\nseed = 7"));
  const auto c = sweep_points(spec(axes, "mode = \"random\"\nsamples = 50\nseed = 8"));
  ASSERT_EQ(a.size(), 50u);
  int nvfp4 = 0;
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(texts(a[i]), texts(b[i]));
    differs |= texts(a[i]) != texts(c[i]);
    const double bw = std::stod(a[i].values[0].text);
    EXPECT_GE(bw, 4);
    EXPECT_LE(bw, 16);
    nvfp4 += a[i].values[1].text == "nvfp4" ? 1 : 0;
  }
  EXPECT_TRUE(differs);
  EXPECT_GT(nvfp4, 10);
  EXPECT_LT(nvfp4, 40);
}

TEST_F(SweepTest, BadAxesAreRejectedNamingTheAxis) {
  // An unknown hardware key, a type mismatch, a wrong unit, a key outside the job, an empty axis.
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"hw.hbm.bandwith\"\nvalues = [\"8 TB/s\"]"),
                  "axis 'hw.hbm.bandwith' value \"8 TB/s\"");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"hw.hbm.bandwith\"\nvalues = [\"8 TB/s\"]"), "unknown key");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"gemm.m\"\nvalues = [64, \"many\"]"),
                  "axis 'gemm.m' value \"many\"");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"gemm.m\"\nvalues = [64, \"many\"]"), "must be an integer");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"hw.hbm.bandwidth\"\nvalues = [\"8 TB\"]"),
                  "axis 'hw.hbm.bandwidth' value \"8 TB\"");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"serving.concurrency\"\nvalues = [1]"),
                  "axis 'serving.concurrency': a gemm sweep's keys are");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"gemm.mm\"\nvalues = [1]"), "unknown key 'gemm.mm'");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"gemm.m\"\nvalues = []"), "axis 'gemm.m': 'values' is empty");
  EXPECT_CONTAINS(
      error_of("[[axis]]\nkey = \"gemm.m\"\nvalues = [1]\n[[axis]]\nkey = \"gemm.m\"\nvalues = [2]"),
      "axis 'gemm.m' is swept twice");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"gemm.m\"\nvalues = [1]\nstep = 3"),
                  "unknown key 'axis[0].step'");
  EXPECT_CONTAINS(error_of(""), "no [[axis]] tables");
  // Sizes bounded before any point is listed (10^11 steps used to grow memory until killed).
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"gemm.m\"\nfrom = 64\nto = 4096\nsteps = 100000000000"),
                  "'axis[0].steps' must be at most 1000000");
  EXPECT_CONTAINS(error_of("[[axis]]\nkey = \"gemm.m\"\nfrom = 64\nto = 4096\nsteps = 1000\n"
                           "[[axis]]\nkey = \"gemm.n\"\nfrom = 64\nto = 4096\nsteps = 1001"),
                  "the grid has more than 1000000 points");
  EXPECT_CONTAINS(input_error_of([&] {
                    spec("[[axis]]\nkey = \"gemm.m\"\nvalues = [64]",
                         "mode = \"random\"\nsamples = 100000000000");
                  }),
                  "'samples' must be at most 1000000");
}

TEST_F(SweepTest, AFailingPointIsRecordedNotThrown) {
  const SweepSpec s = spec("[[axis]]\nkey = \"gemm.k\"\nvalues = [256, 100]");
  check_sweep_axes(s);  // 100 is a valid integer: only running the point shows K % 64 != 0
  const auto pts = sweep_points(s);
  const PointResult ok = run_sweep_point(s, pts[0]);
  const PointResult bad = run_sweep_point(s, pts[1]);
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_FALSE(bad.ok);
  EXPECT_FALSE(bad.error.empty());
  EXPECT_EQ(bad.metrics.size(), sweep_metric_names(SweepKind::kGemm).size());
  EXPECT_EQ(sweep_row(pts[1], bad).substr(0, 10), "1,error,10");
}

// A serve sweep: each point is bwsim serve on the scenario with its axis values; points that
// differ only in their traffic share one step-cost model and get what each gets alone.
TEST_F(SweepTest, AServeSweepServesEachPoint) {
  write(
      "name = \"t\"\nmodel = \"llama-3.1-8b\"\nhw = \"b200\"\n"
      "[quantization]\nweights = \"nvfp4\"\nkv_cache = \"fp8_e4m3\"\n"
      "[serving]\nconcurrency = 8\nprompt = 256\noutput = 16\n"
      "[simulation]\ngemm_finalists = 1\ndecode_samples = 3\n"
      "[traffic]\narrivals = \"poisson\"\nrate = 1\nrequests = 40\n",
      "scenario.toml");
  const SweepSpec s =
      load_sweep_spec(write("name = \"rate\"\nkind = \"serve\"\n[serve]\nscenario = \"./scenario.toml\"\n"
                            "[[axis]]\nkey = \"traffic.rate\"\nvalues = [2.0, 20.0]\n"));
  check_sweep_axes(s);
  const auto pts = sweep_points(s);
  ASSERT_EQ(pts.size(), 2u);
  const std::vector<std::string>& names = sweep_metric_names(SweepKind::kServe);
  const auto col = [&](const PointResult& r, const std::string& name) {
    const auto i = static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
    return std::stod(r.metrics.at(i));
  };
  const PointResult slow = run_sweep_point(s, pts[0]);
  const PointResult fast = run_sweep_point(s, pts[1]);
  ASSERT_TRUE(slow.ok) << slow.error;
  ASSERT_TRUE(fast.ok) << fast.error;
  EXPECT_EQ(slow.metrics.size(), names.size());
  EXPECT_EQ(col(slow, "serve.finished"), 40);
  // Far below capacity the output rate is the arrival rate's; ten times the rate, more of it.
  EXPECT_GT(col(fast, "serve.output_tokens_per_s"), 3 * col(slow, "serve.output_tokens_per_s"));
  EXPECT_GE(col(fast, "serve.ttft_ms.p90"), col(slow, "serve.ttft_ms.p90"));
  // The same as the scenario served alone at that rate.
  const Scenario alone = load_scenario(dir_ / "scenario.toml", "", "", {"traffic.rate=20.0"}, {});
  const serving::ServeRun r = serving::serve_scenario(alone);
  EXPECT_EQ(fast.metrics[4], fmt::format("{:.10g}", r.summary.output_tokens_per_s));
}

TEST(SweepCsv, QuotesWhatNeedsItAndReadsItBack) {
  const std::vector<std::string> f{"1", "a,b", "say \"hi\"", "two\nlines", ""};
  const std::string line = csv_line(f);
  EXPECT_EQ(line, "1,\"a,b\",\"say \"\"hi\"\"\",two lines,\n");
  std::vector<std::string> back;
  ASSERT_TRUE(parse_csv_line(std::string_view(line).substr(0, line.size() - 1), back));
  EXPECT_EQ(back, (std::vector<std::string>{"1", "a,b", "say \"hi\"", "two lines", ""}));
  EXPECT_FALSE(parse_csv_line("\"open", back));
}

TEST_F(SweepTest, ResultsReadBackDropATornLineAndRefuseAnotherSweep) {
  const SweepSpec s = spec("[[axis]]\nkey = \"gemm.m\"\nvalues = [128, 256, 512]");
  const auto pts = sweep_points(s);
  const std::string header = sweep_header(s);
  PointResult r;
  r.ok = true;
  r.metrics.assign(sweep_metric_names(s.kind).size(), "1");
  const fs::path f = dir_ / "r.csv";
  std::ofstream(f) << header << sweep_row(pts[2], r) << sweep_row(pts[0], r) << "1,ok,25";  // killed mid-line
  const SweepResults got = read_sweep_results(f);
  EXPECT_TRUE(got.torn_tail);
  ASSERT_EQ(got.rows.size(), 2u);
  EXPECT_EQ(got.rows.begin()->first, 0u);
  check_sweep_results(got, f, header, pts);
  // The same file against a spec whose axis changed.
  const SweepSpec other = spec("[[axis]]\nkey = \"gemm.m\"\nvalues = [128, 384, 512]");
  const SweepSpec renamed = spec("[[axis]]\nkey = \"gemm.n\"\nvalues = [128, 256, 512]");
  EXPECT_NO_THROW(check_sweep_results(got, f, sweep_header(other), sweep_points(other)));  // 0, 2 unchanged
  std::ofstream(f, std::ios::app) << "\n" << sweep_row(pts[1], r);  // completes the torn line badly
  EXPECT_THROW((void)read_sweep_results(f), InputError);
  EXPECT_THROW(check_sweep_results(got, f, sweep_header(renamed), sweep_points(renamed)), InputError);
  std::ofstream(f) << header << sweep_row(pts[1], r);
  EXPECT_THROW(check_sweep_results(read_sweep_results(f), f, sweep_header(other), sweep_points(other)),
               InputError);
}

}  // namespace
}  // namespace bwsim

namespace bwsim {
namespace {

// Rows under a header: point, status, two axes, time.us, throughput.tflops, error, anomaly.
std::map<uint64_t, std::string> rows_of(const std::vector<std::vector<std::string>>& fields) {
  std::map<uint64_t, std::string> rows;
  for (const auto& f : fields) rows[std::stoull(f[0])] = csv_line(f);
  return rows;
}

TEST(SweepAnomalies, MoreOfAResourceThatSlowsAPointDownIsFlagged) {
  const std::string header = csv_line({"point", "status", "gemm.format", "hw.hbm.bandwidth", "time.us",
                                       "throughput.tflops", "error", "anomaly"});
  auto rows =
      rows_of({{"0", "ok", "nvfp4", "8 TB/s", "10", "100", "", ""},
               {"1", "ok", "nvfp4", "16000 GB/s", "9", "111", "", ""},  // the same unit spelled otherwise
               {"2", "ok", "nvfp4", "12 TB/s", "9.5", "105", "", "stale"},
               {"3", "ok", "fp8_e4m3", "8 TB/s", "20", "50", "", ""},
               {"4", "ok", "fp8_e4m3", "12 TB/s", "20.05", "49.9", "", ""},  // +0.25%: within tolerance
               {"5", "ok", "fp8_e4m3", "16 TB/s", "22", "45", "", ""},
               {"6", "error", "bf16", "8 TB/s", "", "", "no kernel", ""}});
  const std::vector<std::string> found = flag_anomalies(header, rows);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0],
            "point 5: more 8 TB/s -> 16 TB/s makes time.us 20 -> 22 (+10.0%); more 8 TB/s -> 16 TB/s makes "
            "throughput.tflops 50 -> 45 (-10.0%)");
  std::vector<std::string> f;
  ASSERT_TRUE(parse_csv_line(std::string_view(rows[2]).substr(0, rows[2].size() - 1), f));
  EXPECT_EQ(f.back(), "");  // recomputed from scratch: the stale text is gone
  ASSERT_TRUE(parse_csv_line(std::string_view(rows[5]).substr(0, rows[5].size() - 1), f));
  EXPECT_EQ(f.back().substr(0, 20), "more 8 TB/s -> 16 TB");
}

// Small steps the wrong way, each within the tolerance, are flagged once they add up past it:
// every point is held against the best that less of the resource reached.
TEST(SweepAnomalies, DriftThatAddsUpIsFlagged) {
  const std::string header =
      csv_line({"point", "status", "hw.sm.count", "time.us", "throughput.tflops", "error", "anomaly"});
  auto rows = rows_of({{"0", "ok", "132", "20", "", "", ""},
                       {"1", "ok", "148", "20.08", "", "", ""},
                       {"2", "ok", "160", "20.16", "", "", ""},
                       {"3", "ok", "200", "19", "", "", ""}});
  const std::vector<std::string> found = flag_anomalies(header, rows);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], "point 2: more 132 -> 160 makes time.us 20 -> 20.16 (+0.8%)");
}

TEST(SweepAnomalies, LatenciesRunTheOtherWayAndOtherAxesAreNotResources) {
  EXPECT_EQ(resource_direction("hw.hbm.latency"), -1);
  EXPECT_EQ(resource_direction("hw.sm.count"), 1);
  EXPECT_EQ(resource_direction("hw.tensor.rate.mxf4nvf4"), 1);
  EXPECT_FALSE(resource_direction("gemm.m"));
  EXPECT_FALSE(resource_direction("hw.l2.block"));  // a simulation granule, not a resource
  EXPECT_EQ(metric_direction("decode.itl_ms"), -1);
  EXPECT_EQ(metric_direction("decode.tokens_per_s_gpu"), 1);
  EXPECT_FALSE(metric_direction("bytes.hbm.read"));
  const std::string header =
      csv_line({"point", "status", "hw.hbm.latency", "latency.ttft_ms", "decode.itl_ms", "error", "anomaly"});
  auto rows =
      rows_of({{"0", "ok", "400 ns", "50", "10", "", ""}, {"1", "ok", "300 ns", "50", "10.2", "", ""}});
  const std::vector<std::string> found = flag_anomalies(header, rows);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], "point 1: less 400 ns -> 300 ns makes decode.itl_ms 10 -> 10.2 (+2.0%)");
}

}  // namespace
}  // namespace bwsim
