// The validation set: its reader's checks (every bad row exits with its file and line), the
// model's answers on hand-checkable points, and a regression guard on the published set.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "models/hw_spec.hpp"
#include "sim/errors.hpp"
#include "tests/test_util.hpp"
#include "workloads/serving/serve_scenario.hpp"
#include "workloads/validate/validation.hpp"

namespace bwsim {
namespace {

namespace fs = std::filesystem;

class Validation : public TempDirTest {
 protected:
  Validation() : TempDirTest("bwsim_validation_") {}
  void SetUp() override {
    ::setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_TESTS, 1);
    TempDirTest::SetUp();
  }
  static std::string source() {
    return "[source]\ntitle = \"a test source\"\nurl = \"https://example.org (2026-12-06)\"\n";
  }
  static std::string gemm_point(const std::string& extra = "") {
    return "\n[[point]]\nid = \"p\"\nkind = \"gemm\"\nhw = \"h100\"\nm = 4096\nn = 4096\nk = 4096\n"
           "format = \"fp8\"\nmeasured = \"1216.9 TFLOP/s\"\nlocator = \"table 1\"\nquote = \"| 1216.9 "
           "|\"\n" +
           extra;
  }
  std::string error_of(const std::string& text) {
    const fs::path p = write("bad.toml", text);
    return input_error_of([&] { load_validation_set(p); });
  }
};

TEST_F(Validation, ReadsAPointWithItsSource) {
  const ValidationSet set = load_validation_set(write("one.toml", source() + gemm_point()));
  ASSERT_EQ(set.points.size(), 1u);
  const ValidationPoint& p = set.points[0];
  EXPECT_EQ(set.sources[p.source].name, "one");
  EXPECT_EQ(p.group, ValidationGroup::kGemm);
  EXPECT_EQ(p.gemm.m, 4096);
  EXPECT_EQ(p.measured.kind, Measured::Kind::kFlopRate);
  EXPECT_DOUBLE_EQ(p.measured.value, 1216.9e12);
  EXPECT_EQ(p.what, "fp8 4096x4096x4096");
  EXPECT_NE(p.where.find("one.toml:6"), std::string::npos) << p.where;
}

TEST_F(Validation, BadRowsNameTheFileAndLine) {
  const auto expect = [&](const std::string& text, const std::string& message) {
    const std::string e = error_of(text);
    EXPECT_NE(e.find("bad.toml:"), std::string::npos) << e;
    EXPECT_NE(e.find(message), std::string::npos) << e;
  };
  expect(source() + gemm_point("colour = \"red\"\n"), "colour");
  expect(source() + gemm_point("skip = \"x\"\nskip = \"y\"\n"), "");  // malformed TOML: a key twice
  std::string p = gemm_point();
  expect(source() + std::string(p).replace(p.find("h100"), 4, "h900"), "\"h900\", which does not load");
  expect(source() + std::string(p).replace(p.find("TFLOP/s"), 7, "furlongs"), "unknown unit \"furlongs\"");
  expect(source() + std::string(p).replace(p.find("\"fp8\""), 5, "\"fp5\""), "fp5");
  expect(source() + std::string(p).replace(p.find("gemm"), 4, "conv"),
         "expected one of: gemm, attention, memory, power");
  expect(source() + std::string(p).replace(p.find("| 1216.9 |"), 10, ""),
         "a row whose source cannot be named");
  expect(source() + gemm_point() + gemm_point(), "\"p\" is used twice");
  expect(gemm_point(), "missing required table [source]");
  // NVFP4 needs K in whole 16-element scale blocks; Hopper has no FP4 at all.
  const std::string k100 = std::string(p).replace(p.find("k = 4096"), 8, "k = 100");
  expect(source() + k100, "describes a run the model cannot do");
  expect(source() + std::string(p).replace(p.find("\"fp8\""), 5, "\"nvfp4\""),
         "describes a run the model cannot do");
  // Attention is compared by time: FLOP counts of causal attention differ between benchmarks.
  expect(source() +
             "\n[[point]]\nid = \"a\"\nkind = \"attention\"\nhw = \"h200\"\nseq = 2048\nheads = 64\nkv_heads "
             "= 8\n"
             "head_dim = 128\ncausal = true\nmeasured = \"484 TFLOP/s\"\nlocator = \"l\"\nquote = \"q\"\n",
         "must be a time for attention");
  expect(source() +
             "\n[[point]]\nid = \"m\"\nkind = \"memory\"\nhw = \"h200\"\npattern = \"triad\"\nbytes = \"1 "
             "GiB\"\n"
             "measured = \"4 TB/s\"\nlocator = \"l\"\nquote = \"q\"\n",
         "expected one of: read, copy");
}

// A point measured on a GPU that was not stock (a power cap) runs with its own overrides; a bad
// override is refused with the file and line, and --format keeps only GEMMs of that format.
TEST_F(Validation, APointRunsTheGpuAsItRanAndFormatsFilter) {
  const std::string capped = gemm_point("hw_set = [\"power.limit=\\\"300 W\\\"\"]\n");
  const ValidationSet set = load_validation_set(write("c.toml", source() + capped));
  ASSERT_EQ(set.points.at(0).hw_set.size(), 1u);
  const ValidationSet stock = load_validation_set(write("s.toml", source() + gemm_point()));
  const ValidationResult slow = run_validation_point(set.points.at(0));
  const ValidationResult fast = run_validation_point(stock.points.at(0));
  ASSERT_TRUE(slow.ran && fast.ran) << slow.failure << fast.failure;
  EXPECT_LT(slow.predicted, 0.8 * fast.predicted);  // a 4096^3 FP8 GEMM under 300 W of 700
  const std::string e = error_of(source() + gemm_point("hw_set = [\"power.limit=\\\"3 GHz\\\"\"]\n"));
  EXPECT_NE(e.find("bad.toml:"), std::string::npos) << e;
  EXPECT_NE(e.find("power.limit"), std::string::npos) << e;
  ValidationFilter f;
  f.format = "fp8";
  EXPECT_EQ(select_points(stock, f).size(), 1u);
  f.format = "bf16";
  EXPECT_TRUE(select_points(stock, f).empty());
}

// A power point is a GEMM whose SM clock or power was measured: the governor's clock and the
// kernel's average power are compared with it, and a speed is refused as its measured value.
TEST_F(Validation, APowerPointComparesTheGovernorsClockAndPower) {
  std::string clock = gemm_point();
  clock.replace(clock.find("\"gemm\""), 6, "\"power\"");
  std::string watts = clock;
  clock.replace(clock.find("1216.9 TFLOP/s"), 14, "1500 MHz");
  watts.replace(watts.find("id = \"p\""), 8, "id = \"w\"");
  watts.replace(watts.find("1216.9 TFLOP/s"), 14, "700 W");
  const ValidationSet set = load_validation_set(write("p.toml", source() + clock + watts));
  ASSERT_EQ(set.points.size(), 2u);
  EXPECT_EQ(set.points[0].group, ValidationGroup::kPower);
  EXPECT_EQ(set.points[0].measured.kind, Measured::Kind::kClock);
  EXPECT_EQ(set.points[1].measured.kind, Measured::Kind::kPower);
  const ValidationResult c = run_validation_point(set.points[0]);
  const ValidationResult w = run_validation_point(set.points[1]);
  ASSERT_TRUE(c.ran && w.ran) << c.failure << w.failure;
  // A 4096^3 FP8 GEMM on H100 is power-limited: below boost, at the limit.
  EXPECT_LT(c.predicted, 1.98e9);
  EXPECT_GT(c.predicted, 0.9e9);
  EXPECT_NEAR(c.error, c.predicted / 1.5e9 - 1, 1e-12);
  EXPECT_LE(w.predicted, 700.0 + 1e-9);
  EXPECT_GT(w.predicted, 600.0);
  EXPECT_NE(c.detail.find("power-limited"), std::string::npos) << c.detail;
  EXPECT_NE(error_of(source() + std::string(clock).replace(clock.find("1500 MHz"), 8, "1 ms"))
                .find("must be an SM clock (MHz) or a power (W)"),
            std::string::npos);
  // An attention layer's clock: the attention keys, with workload = "attention".
  const std::string attn =
      "\n[[point]]\nid = \"a\"\nkind = \"power\"\nworkload = \"attention\"\nhw = \"b200\"\nbatch = 4\n"
      "seq = 8192\nheads = 16\nhead_dim = 128\nmeasured = \"1580 MHz\"\nlocator = \"l\"\nquote = \"q\"\n";
  const ValidationSet a = load_validation_set(write("a.toml", source() + attn));
  EXPECT_TRUE(a.points.at(0).is_attention);
  EXPECT_EQ(a.points.at(0).attention.seq, 8192);
  EXPECT_NE(error_of(source() + std::string(attn).replace(attn.find("\"attention\""), 11, "\"conv\""))
                .find("expected gemm or attention"),
            std::string::npos);
  // --only power keeps them; --format (GEMM speed points) does not.
  ValidationFilter f;
  f.only = ValidationGroup::kPower;
  EXPECT_EQ(select_points(set, f).size(), 2u);
  ValidationFilter fmt_only;
  fmt_only.format = "fp8";
  EXPECT_TRUE(select_points(set, fmt_only).empty());
}

// A source that timed a loop of back-to-back launches measured each kernel with the launch gap
// after it: the prediction adds launch.gap, and only for such sources.
TEST_F(Validation, ALoopTimedSourceAddsTheLaunchGap) {
  std::string timed = gemm_point();
  timed.replace(timed.find("1216.9 TFLOP/s"), 14, "100 us");
  const std::string loop = "[source]\ntitle = \"t\"\nurl = \"u\"\ntiming = \"loop\"\n";
  const ValidationSet kernel_set = load_validation_set(write("k.toml", source() + timed));
  const ValidationSet loop_set = load_validation_set(write("l.toml", loop + timed));
  EXPECT_FALSE(kernel_set.points.at(0).loop_timed);
  EXPECT_TRUE(loop_set.points.at(0).loop_timed);
  const ValidationResult k = run_validation_point(kernel_set.points.at(0));
  const ValidationResult l = run_validation_point(loop_set.points.at(0));
  ASSERT_TRUE(k.ran && l.ran) << k.failure << l.failure;
  EXPECT_NEAR(l.predicted - k.predicted, HwSpec::load("h100", {}).launch.gap.tick.seconds(), 1e-12);
  EXPECT_NE(error_of("[source]\ntitle = \"t\"\nurl = \"u\"\ntiming = \"graph\"\n" + timed)
                .find("expected kernel or loop"),
            std::string::npos);
}

// A source that flushes L2 by writing a buffer before each timed call: its points start from
// that buffer's dirty lines (a point may say otherwise), and pay for writing them back.
TEST_F(Validation, AnL2FlushOfTheSourceIsPaidByItsPoints) {
  const std::string decode =
      "\n[[point]]\nid = \"d\"\nkind = \"attention\"\nhw = \"b200\"\nbatch = 32\nseq = 2048\nq_len = 1\n"
      "heads = 64\nkv_heads = 8\nhead_dim = 128\nmeasured = \"54.88 us\"\nlocator = \"row\"\nquote = \"q\"\n";
  const std::string flushed = source() + "l2_flush = \"256 MiB\"\n";
  const ValidationSet clean = load_validation_set(write("c.toml", source() + decode));
  const ValidationSet dirty = load_validation_set(write("f.toml", flushed + decode));
  const ValidationSet own = load_validation_set(write("o.toml", flushed + decode + "l2_flush = \"0 B\"\n"));
  EXPECT_EQ(clean.points.at(0).l2_flush, 0u);
  EXPECT_EQ(dirty.points.at(0).l2_flush, uint64_t{256} << 20);
  EXPECT_EQ(own.points.at(0).l2_flush, 0u);
  const ValidationResult c = run_validation_point(clean.points.at(0));
  const ValidationResult d = run_validation_point(dirty.points.at(0));
  ASSERT_TRUE(c.ran && d.ran) << c.failure << d.failure;
  // 126 MiB more to write back: at least that at the B200's 7.7 TB/s.
  EXPECT_GT(d.predicted - c.predicted, 126.0 * (1 << 20) / 7.7e12);
  EXPECT_NE(error_of(source() + "l2_flush = \"256 MHz\"\n" + decode).find("l2_flush"), std::string::npos);
}

TEST_F(Validation, ASkippedPointIsListedNotRunAndNotModelChecked) {
  std::string p = gemm_point("skip = \"needs the power model\"\n");
  p.replace(p.find("k = 4096"), 8, "k = 100");  // not a shape the model can run: fine while skipped
  const ValidationSet set = load_validation_set(write("s.toml", source() + p));
  const ValidationResult r = run_validation_point(set.points.at(0));
  EXPECT_FALSE(r.ran);
  EXPECT_TRUE(r.failure.empty());
}

TEST_F(Validation, TheErrorIsOfTheSpeed) {
  // A measured rate of exactly the model's rate has no error; half of it, +100%.
  const ValidationSet set = load_validation_set(write("one.toml", source() + gemm_point()));
  const ValidationResult r = run_validation_point(set.points[0]);
  ASSERT_TRUE(r.ran) << r.failure;
  EXPECT_NEAR(r.error, r.predicted / 1216.9e12 - 1, 1e-12);
  ValidationPoint half = set.points[0];
  half.measured.value = r.predicted / 2;
  EXPECT_NEAR(run_validation_point(half).error, 1.0, 1e-9);
  const std::vector<ValidationResult> rs{r, run_validation_point(half)};
  const ErrorSummary s = summarize("x", {&rs[0], &rs[1]});
  EXPECT_EQ(s.points, 2u);
  EXPECT_NEAR(s.worst, 1.0, 1e-9);
  EXPECT_NEAR(s.mape, (std::abs(r.error) + 1.0) / 2, 1e-9);
  // A time is a speed's inverse: a measured time twice the model's is the model twice as fast.
  ValidationPoint timed = set.points[0];
  timed.measured = Measured{Measured::Kind::kTime, 2 * timed.gemm.flops() / r.predicted};
  const ValidationResult t = run_validation_point(timed);
  EXPECT_NEAR(t.predicted, timed.gemm.flops() / r.predicted, 1e-15);
  EXPECT_NEAR(t.error, 1.0, 1e-9);
}

// Nothing streams from DRAM faster than DRAM: a copy far larger than L2 is bounded by the HBM
// bandwidth, however the L2 holds its writes.
TEST_F(Validation, AStreamBeyondL2NeverBeatsHbm) {
  for (const char* hw : {"h100", "h200", "b200", "gb200", "rtx5090"}) {
    for (const char* pattern : {"read", "copy"}) {
      const ValidationSet set = load_validation_set(
          write("m.toml",
                source() + fmt::format("\n[[point]]\nid = \"m\"\nkind = \"memory\"\nhw = \"{}\"\npattern = "
                                       "\"{}\"\nbytes = \"256 MiB\"\nmeasured = \"1 TB/s\"\nlocator = \"l\"\n"
                                       "quote = \"q\"\n",
                                       hw, pattern)));
      const ValidationResult r = run_validation_point(set.points.at(0));
      ASSERT_TRUE(r.ran) << r.failure;
      const double peak = static_cast<double>(HwSpec::load(hw, {}).dram.bandwidth.bytes_per_s);
      EXPECT_LE(r.predicted, peak) << hw << " " << pattern;
    }
  }
}

// The subset's MAPE when the bound was last set (2026-12-07, the cuDNN benchmarks' L2 flush
// modelled and cudnn-frontend-attention-inference's 19 decode points added: 8.7%; before, 10.2%
// with loop-timed sources paying the launch gap, 13.0% with the power governor alone, 15.9%
// before it), and a little room.
constexpr double kSubsetMape = 0.095;

// A regression guard, not a timing test: a fixed part of the published set stays within the
// error it has today. Tighten the bound as the model improves; never loosen it to pass.
// A serving point: a scenario beside the file, served on the point's GPU, its output token rate
// against the measured one. Points that differ only in their traffic share one step-cost model
// (and get what each would alone); bad rows name the file and line.
TEST_F(Validation, AServingPointServesItsScenarioOnItsGpu) {
  fs::create_directories(dir_ / "scenarios");
  write("scenarios/s.toml",
        "name = \"t\"\nmodel = \"llama-3.1-8b\"\nhw = \"h100\"\n"
        "[quantization]\nweights = \"nvfp4\"\nkv_cache = \"fp8_e4m3\"\n"
        "[serving]\nconcurrency = 16\nprompt = 128\noutput = 16\n"
        "[simulation]\ngemm_finalists = 1\ndecode_samples = 3\n"
        "[traffic]\nusers = 16\nrequests = 16\n[scheduler]\nmax_num_seqs = 16\n");
  const auto point = [](const std::string& id, const std::string& sets, const std::string& measured) {
    return fmt::format(
        "\n[[point]]\nid = \"{}\"\nkind = \"serving\"\nhw = \"b200\"\nscenario = \"scenarios/s.toml\"\n"
        "set = [{}]\nmeasured = \"{}\"\nlocator = \"table 2\"\nquote = \"| x |\"\n",
        id, sets, measured);
  };
  const fs::path file = write("serve.toml", source() + point("short", "", "5000 tokens/s") +
                                                point("long", "\"traffic.output=32\"", "5000 tokens/s"));
  const ValidationSet set = load_validation_set(file);
  ASSERT_EQ(set.points.size(), 2u);
  EXPECT_EQ(set.points[0].group, ValidationGroup::kServing);
  EXPECT_EQ(set.points[0].what, "Llama-3.1-8B tp1 128/16, 16 requests");
  std::vector<const ValidationPoint*> both{&set.points[0], &set.points[1]};
  const std::vector<ValidationResult> shared = run_validation(both, 1);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(shared[i].ran) << shared[i].failure;
    const ValidationResult alone = run_validation_point(set.points[i]);
    EXPECT_EQ(shared[i].predicted, alone.predicted);
    EXPECT_NEAR(shared[i].error, shared[i].predicted / 5000 - 1, 1e-12);
  }
  // The run it stands for: the scenario on the point's GPU (B200, not the scenario's H100).
  const Scenario s = load_scenario(file.parent_path() / "scenarios/s.toml", "", "b200", {}, {});
  EXPECT_EQ(shared[0].predicted, serving::serve_scenario(s).summary.output_tokens_per_s);
  const auto expect = [&](const std::string& text, const std::string& message) {
    const std::string e = error_of(text);
    EXPECT_CONTAINS(e, "bad.toml:");
    EXPECT_CONTAINS(e, message);
  };
  expect(source() + point("a", "", "5 us"), "must be a token rate");
  expect(source() + point("b", "\"traffic.rat=3\"", "5000 tokens/s"), "traffic.rat");
  const std::string missing = source() + point("c", "", "5000 tokens/s");
  expect(std::string(missing).replace(missing.find("scenarios/s.toml"), 16, "nosuch"), "scenario");
}

TEST_F(Validation, PublishedSubsetStaysWithinItsBound) {
  const ValidationSet set = load_validation_set(fs::path(BWSIM_CONFIG_DIR_FOR_TESTS) / ".." / "validation");
  std::vector<const ValidationPoint*> subset;
  for (const ValidationPoint& p : set.points) {
    const std::string& src = set.sources[p.source].name;
    // Quick points from the sources the bound was first set on, and since the L2 flush is
    // modelled the decode points of cudnn-frontend-attention-inference (its prefills are not in
    // the subset: the 2048-token ones are still 29-45% slower than the model).
    const bool small_attention =
        src == "cudnn-frontend-sdpa" && p.group == ValidationGroup::kAttention && p.attention.seq <= 2048;
    const bool decode = src == "cudnn-frontend-attention-inference" && p.attention.q_len == 1;
    if (p.skip.empty() &&
        (src == "azure-ai-benchmarking-guide" || src == "deepgemm-readme" || src == "mamf-ml-engineering" ||
         src == "cudnn-frontend-norms" || small_attention || decode)) {
      subset.push_back(&p);
    }
  }
  ASSERT_GE(subset.size(), 30u);
  const std::vector<ValidationResult> results = run_validation(subset, 2);
  std::vector<const ValidationResult*> all;
  for (const ValidationResult& r : results) {
    ASSERT_TRUE(r.ran) << r.point->id << ": " << r.failure;
    all.push_back(&r);
  }
  const ErrorSummary s = summarize("subset", all);
  std::cout << fmt::format("{} points: MAPE {:.1f}%, worst {:.1f}% ({})\n", s.points, s.mape * 100,
                           s.worst * 100, s.worst_id);
  EXPECT_LE(s.mape, kSubsetMape) << "worst: " << s.worst_id;
}

}  // namespace
}  // namespace bwsim
