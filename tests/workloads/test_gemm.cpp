// The GEMM workload: its numbers (exact codes, error ordering), its timing properties (compute-bound
// shapes near peak, decode shapes at the DRAM bandwidth, FP4's speedup only where compute binds),
// its input checks, and golden cycle counts that pin the whole timing model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "isa/scalar_format.hpp"
#include "models/hw_spec.hpp"
#include "sim/progress.hpp"
#include "tests/test_util.hpp"
#include "workloads/gemm/functional.hpp"
#include "workloads/gemm/gemm.hpp"
#include "workloads/micro.hpp"

namespace bwsim {
namespace {

class Gemm : public ::testing::Test {
 protected:
  void SetUp() override { setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_TESTS, 1); }
};

GemmProblem problem(int64_t m, int64_t n, int64_t k, const std::string& format,
                    GemmOut out = GemmOut::kBf16) {
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.format = parse_gemm_format(format);
  p.out = out;
  return p;
}

// Timing results are deterministic; several tests share the same runs.
const GemmTiming& timed(const std::string& gpu, int64_t m, int64_t n, int64_t k, const std::string& format) {
  static std::map<std::string, GemmTiming> cache;
  const std::string key =
      gpu + " " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + " " + format;
  auto it = cache.find(key);
  if (it == cache.end()) {
    it = cache.emplace(key, simulate_gemm(problem(m, n, k, format), HwSpec::load(gpu, {}))).first;
  }
  return it->second;
}

// --- functional -------------------------------------------------------------------------------

// Values on the E2M1 grid, times `unit`, with a +-6*unit in every 16-element block: NVFP4 (unit
// 448: per-tensor scale 1, block scales 448) and MXFP4 (unit 512: shared exponent 9) quantize them
// exactly, so D is the exact dot product rounded once to BF16.
Tensor grid_matrix(int64_t rows, int64_t cols, float unit, uint64_t salt) {
  static const float grid[] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  Tensor t = Tensor::matrix(rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint64_t h = (static_cast<uint64_t>(r) * 131 + static_cast<uint64_t>(c) * 29 + salt * 7) % 15;
      const float v =
          c % 16 == (r + static_cast<int64_t>(salt)) % 16 ? ((r + c) % 2 ? 6.0f : -6.0f) : grid[h];
      t.data[static_cast<size_t>(r * cols + c)] = v * unit;
    }
  }
  return t;
}

// A full bit-exact product reports its progress (on a terminal: the bar), in patches done, up to
// all of them; the numbers do not depend on it.
TEST_F(Gemm, AFullFunctionalRunReportsItsProgress) {
  struct Recorder : progress::Listener {
    std::vector<std::pair<std::string, double>> updates;
    void update(std::string_view what, double fraction) override { updates.emplace_back(what, fraction); }
    void begin() override {}
    void done() override {}
  } rec;
  const HwSpec b200 = HwSpec::load("b200", {});
  const int64_t M = 512, N = 512, K = 256;  // 1024 patches: 4 chunks of 256
  const GemmPlan plan = make_plan(problem(M, N, K, "nvfp4"), b200, {});
  const GemmOperands in{MatrixSource::held(grid_matrix(M, K, 448, 1), "A"),
                        MatrixSource::held(grid_matrix(N, K, 448, 2), "B")};
  const GemmFunctional quiet = gemm_functional(plan, b200.arch, in, {FunctionalSpec::Mode::kFull});
  progress::listen(&rec);
  const GemmFunctional shown = gemm_functional(plan, b200.arch, in, {FunctionalSpec::Mode::kFull});
  progress::listen(nullptr);
  ASSERT_EQ(rec.updates.size(), 4u);
  EXPECT_EQ(rec.updates.front().first, "bit-exact GEMM (16x16 output patches)");
  EXPECT_DOUBLE_EQ(rec.updates.front().second, 0.25);
  EXPECT_DOUBLE_EQ(rec.updates.back().second, 1.0);
  EXPECT_EQ(shown.d_codes, quiet.d_codes);
}

TEST_F(Gemm, GridInputsGiveExactlyRoundedProducts) {
  const HwSpec b200 = HwSpec::load("b200", {});
  const int64_t M = 48, N = 40, K = 256;
  for (const auto& [format, unit] : {std::pair{"nvfp4", 448.0f}, {"mxfp4", 512.0f}, {"bf16", 1.0f}}) {
    SCOPED_TRACE(format);
    const Tensor a = grid_matrix(M, K, unit, 1);
    const Tensor b = grid_matrix(N, K, unit, 2);
    const GemmPlan plan = make_plan(problem(M, N, K, format), b200, {});
    const GemmOperands in{MatrixSource::held(a, "A grid"), MatrixSource::held(b, "B grid")};
    const GemmFunctional f = gemm_functional(plan, b200.arch, in, {FunctionalSpec::Mode::kFull});
    EXPECT_EQ(f.a_error.max_abs, 0.0);
    EXPECT_EQ(f.b_error.max_abs, 0.0);
    EXPECT_EQ(f.alpha, 1.0f);
    ASSERT_EQ(f.d_codes.size(), static_cast<size_t>(M * N));
    int wrong = 0;
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        double dot = 0;
        for (int64_t k = 0; k < K; ++k) dot += static_cast<double>(a.at(i, k)) * b.at(j, k);
        const uint32_t want = encode(ScalarFormat::kBF16, static_cast<float>(dot));
        wrong += f.d_codes[static_cast<size_t>(i * N + j)] != want;
      }
    }
    EXPECT_EQ(wrong, 0);
  }
  // One pinned value: row 0 . column 0 of the NVFP4 case.
  const GemmPlan plan = make_plan(problem(M, N, K, "nvfp4"), b200, {});
  const GemmFunctional f = gemm_functional(plan, b200.arch,
                                           {MatrixSource::held(grid_matrix(M, K, 448, 1), "A"),
                                            MatrixSource::held(grid_matrix(N, K, 448, 2), "B")},
                                           {FunctionalSpec::Mode::kFull});
  EXPECT_EQ(f.d_codes[0], 0xCDABu);  // the BF16 code of the exact dot product, pinned
}

TEST_F(Gemm, HeavyTailedErrorOrderingMatchesTheLiterature) {
  // Student-t activations (A) and normal weights (B): NVFP4's small blocks and E4M3 scales beat
  // MXFP4's power-of-two scales on 32 elements; FP8 beats both.
  const HwSpec b200 = HwSpec::load("b200", {});
  const int64_t M = 256, N = 256, K = 2048;
  const GemmOperands in{MatrixSource::generated(Distribution::kStudentT, M, K, 1),
                        MatrixSource::generated(Distribution::kNormal, N, K, 2)};
  std::map<std::string, double> err;
  for (const char* fmt : {"nvfp4", "mxfp4", "fp8_e4m3", "mxfp8", "bf16"}) {
    const GemmPlan plan = make_plan(problem(M, N, K, fmt), b200, {});
    err[fmt] = gemm_functional(plan, b200.arch, in, {FunctionalSpec::Mode::kFull}).error_fp32.rel_frobenius;
  }
  EXPECT_LT(err["nvfp4"], err["mxfp4"]);
  EXPECT_LT(err["fp8_e4m3"], err["nvfp4"]);
  EXPECT_LT(err["mxfp8"], err["nvfp4"]);
  EXPECT_LT(err["bf16"], err["fp8_e4m3"]);
  // Magnitudes as measured on this input (pinned loosely: a different RNG stream moves them).
  EXPECT_NEAR(err["nvfp4"], 0.13, 0.03);
  EXPECT_NEAR(err["mxfp4"], 0.18, 0.04);
}

TEST_F(Gemm, SampledPatchesEstimateTheFullError) {
  const HwSpec b200 = HwSpec::load("b200", {});
  const int64_t M = 512, N = 512, K = 1024;
  const GemmOperands in{MatrixSource::generated(Distribution::kOutliers, M, K, 3),
                        MatrixSource::generated(Distribution::kNormal, N, K, 4)};
  const GemmPlan plan = make_plan(problem(M, N, K, "nvfp4"), b200, {});
  const double full = gemm_functional(plan, b200.arch, in, {FunctionalSpec::Mode::kFull}).error.rel_frobenius;
  const GemmFunctional s = gemm_functional(plan, b200.arch, in, {FunctionalSpec::Mode::kSample, 32, 7});
  EXPECT_GE(s.outputs, 32u * 256u);  // whole bands of 16x16 patches, at least the 32 asked for
  EXPECT_LT(s.outputs, 64u * 256u);
  EXPECT_TRUE(s.d.empty());
  EXPECT_NEAR(s.error.rel_frobenius / full, 1.0, 0.2);
}

// --- timing properties ------------------------------------------------------------------------

TEST_F(Gemm, ComputeBoundShapesLandBetween65And95PercentOfPeak) {
  struct Case {
    const char* gpu;
    const char* format;
  };
  const Case cases[] = {{"b200", "bf16"},      {"b200", "fp8_e4m3"}, {"b200", "mxfp8"}, {"b200", "mxfp4"},
                        {"b200", "nvfp4"},     {"gb200", "nvfp4"},   {"h100", "bf16"},  {"h100", "fp8_e4m3"},
                        {"h100", "fp8_block"}, {"h200", "fp8_e4m3"}, {"b300", "mxfp8"}, {"b300", "mxfp4"},
                        {"b300", "nvfp4"}};
  for (const Case& c : cases) {
    const GemmTiming& g = timed(c.gpu, 8192, 8192, 8192, c.format);
    EXPECT_GE(g.pct_of_peak, 65) << c.gpu << " " << c.format;
    EXPECT_LE(g.pct_of_peak, 95) << c.gpu << " " << c.format;
  }
  // Known deviations (README, "Known gaps"): B300's BF16 is fed by an SMEM port sized for its
  // 1.5x FP4 rate (192 B/clk) and reaches ~97%; sm_120's register-fed mma.sync has no modelled
  // mainloop overhead and runs at ~93-99% (4096^3: 8192^3 takes seconds of host time per run
  // there; NVFP4 power-limited at 600 W, ~1.9 GHz since its FP4 energy was fitted to gn-kernels'
  // measurement, where the lower clock leaves memory relatively faster: ~94%). Pinned so a change
  // shows.
  EXPECT_NEAR(timed("b300", 8192, 8192, 8192, "bf16").pct_of_peak, 97, 2);
  EXPECT_NEAR(timed("rtx-pro-6000", 4096, 4096, 4096, "bf16").pct_of_peak, 97, 2);
  EXPECT_NEAR(timed("rtx-pro-6000", 4096, 4096, 4096, "nvfp4").pct_of_peak, 94.5, 2);
}

TEST_F(Gemm, DecodeShapesStreamAtTheTmaBandwidth) {
  const HwSpec b200 = HwSpec::load("b200", {});
  MicroOptions o;
  o.inflight = {131072};
  const double tma = run_micro("tma-bandwidth", b200, o).rows[0].at("tb_per_s") * 1e12;
  for (const int64_t m : {1, 16, 64}) {
    for (const char* fmt : {"fp8_e4m3", "nvfp4"}) {
      const GemmTiming& g = timed("b200", m, 32768, 32768, fmt);
      const double bw = static_cast<double>(g.hbm_read + g.hbm_write) / g.time.seconds();
      EXPECT_EQ(g.bound, "HBM") << m << " " << fmt;
      // 92-95% (M = 64's 1.7 waves of swap-AB tiles are evened out by stream-K).
      EXPECT_GE(bw / tma, 0.90) << m << " " << fmt << ": " << bw * 1e-12 << " TB/s";
    }
  }
}

// Stream-K: the items of the last waves share their K stages over every cluster; a split item's
// owner adds the others' FP32 partials in order, so the numbers follow the pieces exactly.
TEST_F(Gemm, StreamKSharesTheLastWavesAndAddsPartialsInOrder) {
  const HwSpec b200 = HwSpec::load("b200", {"clock.lock=\"1.4 GHz\""});  // the clock it was written at
  // 37 items of 256 weight rows over 74 CTA-pair clusters, 2 K stages each: one stage a
  // cluster, every item split in halves, the first half's cluster finishing it.
  const GemmProblem p = problem(16, 37 * 256, 512, "nvfp4");
  const GemmPlan sk = make_plan(p, b200, parse_tile("256x16x256:stages=8:swap:streamk"));
  EXPECT_EQ(sk.clusters, 74u);
  EXPECT_EQ(sk.dp_items, 0u);
  EXPECT_EQ(sk.sk_partials, 1u);
  using Pieces = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(sk.k_pieces(5 * 256 + 7, 3), (Pieces{{0, 256}, {256, 512}}));
  const std::vector<GemmSegment> c10 = sk.segments(10, sk.work_items);
  ASSERT_EQ(c10.size(), 1u);
  EXPECT_EQ(c10[0].item, 5u);
  EXPECT_EQ(c10[0].piece, 0u);  // cluster 10 holds item 5's first stage: it owns the item
  EXPECT_EQ(sk.segments(11, sk.work_items)[0].piece, 1u);
  // The same halves added in the same order as split-K 2: the same bits.
  const GemmPlan s2 = make_plan(p, b200, parse_tile("256x16x256:stages=8:split=2:swap"));
  const GemmOperands in{MatrixSource::generated(Distribution::kStudentT, 16, 512, 1),
                        MatrixSource::generated(Distribution::kNormal, 37 * 256, 512, 2)};
  const GemmFunctional fk = gemm_functional(sk, b200.arch, in, {FunctionalSpec::Mode::kFull});
  const GemmFunctional f2 = gemm_functional(s2, b200.arch, in, {FunctionalSpec::Mode::kFull});
  ASSERT_EQ(fk.d.size(), 16u * 37 * 256);
  EXPECT_EQ(fk.d_codes, f2.d_codes);
  // Uneven sharing: 1.73 waves of 256-row items, K in 32 stages (two-tile stream-K: every item
  // shared, 128 x 32 stages over 74 clusters). Pieces cover K once, the owner's first.
  const GemmPlan big =
      make_plan(problem(64, 32768, 8192, "nvfp4"), b200, parse_tile("256x64x256:stages=8:swap:streamk"));
  EXPECT_EQ(big.dp_items, 0u);
  for (int64_t row : {0, 256 * 17, 32768 - 1}) {
    const Pieces ps = big.k_pieces(row, 0);
    ASSERT_FALSE(ps.empty());
    EXPECT_EQ(ps.front().first, 0u);
    for (size_t i = 1; i < ps.size(); ++i) EXPECT_EQ(ps[i].first, ps[i - 1].second);
    EXPECT_EQ(ps.back().second, 8192u);
  }
  // Timing: one kernel (no reduction), and the shared last wave beats the tail of data-parallel
  // tiles: 75 items on 74 clusters, where data-parallel runs the 75th alone after the first wave
  // (at one SM pair's bandwidth), stream-K spreads its stages over every cluster. (At 128 items,
  // 1.73 waves, the two are within 1% of each other: 54 clusters nearly saturate HBM, and which
  // is ahead moves with the address hash.)
  GemmTimingOptions o;
  o.tile = parse_tile("256x64x256:stages=8:swap:streamk");
  const GemmTiming t_sk = simulate_gemm(problem(64, 75 * 256, 32768, "nvfp4"), b200, o);
  o.tile = parse_tile("256x64x256:stages=8:swap");
  const GemmTiming t_dp = simulate_gemm(problem(64, 75 * 256, 32768, "nvfp4"), b200, o);
  EXPECT_EQ(t_sk.kernels.size(), 1u);
  EXPECT_LT(t_sk.time.seconds(), 0.8 * t_dp.time.seconds());
  // What stream-K cannot do says why.
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)make_plan(problem(16, 37 * 256, 256, "nvfp4"), b200,
                                    parse_tile("256x16x256:swap:streamk"));
                  }),
                  "cannot give each of 74 clusters a stage");
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)make_plan(problem(16, 74 * 256, 512, "nvfp4"), b200,
                                    parse_tile("256x16x256:swap:streamk"));
                  }),
                  "nothing for stream-K to even out");
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)make_plan(problem(16, 37 * 256, 512, "fp8_e4m3"), HwSpec::load("h100", {}),
                                    parse_tile("128x64:streamk"));
                  }),
                  "Blackwell (tcgen05) kernels only");
}

// A grid capped below the GPU's clusters (CUTLASS's sm_count): the plan a smaller GPU would run.
TEST_F(Gemm, GridCapKeepsTheSmallerGpusPlanAvailable) {
  const HwSpec b200 = HwSpec::load("b200", {});
  const GemmProblem p = problem(32, 10240, 8192, "nvfp4");
  const TileConfig t = parse_tile("256x32x256:swap:streamk:grid=60");
  EXPECT_EQ(t.grid, 60u);
  const GemmPlan capped = make_plan(p, b200, t);
  EXPECT_EQ(capped.clusters, 60u);
  EXPECT_EQ(parse_tile(capped.tile.name()).grid, 60u);  // the reported plan can be forced back
  EXPECT_CONTAINS(input_error_of([&] { (void)make_plan(p, b200, parse_tile("256x32x256:swap:grid=75")); }),
                  "grid=75 clusters of 2 CTAs exceed the 148 SMs");
  // Data-parallel plans cap too: 40 items on 20 clusters are two waves.
  EXPECT_EQ(make_plan(p, b200, parse_tile("256x32x256:swap:grid=20")).clusters, 20u);
  // The planner offers stream-K on 2..4 clusters per item below the GPU's count.
  bool offered = false;
  const HwSpec big = HwSpec::load("b200", {"sm.count=200"});
  for (const GemmPlan& c : candidate_plans(p, big))
    offered = offered || (c.tile.stream_k && c.tile.grid == 80 && c.tile.tile_n == 32);
  EXPECT_TRUE(offered);
}

// Issue #26's first reproduction, per GEMM: qkv_proj of a 32-sequence Llama-3.1-70B decode took
// 10.2 us on 160 SMs and 11.2 us on 200 (stream-K spread over every cluster, more fix-ups).
TEST_F(Gemm, MoreSmsNeverSlowTheDecodeQkvProjection) {
  const GemmProblem p = problem(32, 10240, 8192, "nvfp4");
  double last = 1;
  for (const char* sms : {"sm.count=148", "sm.count=160", "sm.count=200", "sm.count=256"}) {
    const double t = simulate_gemm(p, HwSpec::load("b200", {sms})).time.seconds();
    EXPECT_LE(t, last * 1.005) << sms;
    last = std::min(last, t);
  }
}

// Time as a step pays it: a split-K reduction is one more launch.
double step_seconds(const GemmTiming& g, const HwSpec& hw) {
  return (g.time + hw.launch.gaps(g.kernels.size() - 1)).seconds();
}

// Counterexamples of issue #26's sweeps, each a named regression.
// DeepSeek-V3's decode experts (K = 256, one K stage per item, shorter than the pipeline): a
// swap plan extrapolated from its first waves at 35 us ran 161 us, and the step went 15.6 ->
// 19.9 ms when the SM clock rose from 1.6 to 1.8 GHz. Such plans are simulated whole.
TEST_F(Gemm, ShortKLoopsAreNotExtrapolated) {
  const GemmProblem p = problem(2, 1161216, 256, "nvfp4");
  const HwSpec slow = HwSpec::load("b200", {"clock.lock=\"1.6 GHz\""});
  const HwSpec fast = HwSpec::load("b200", {"clock.lock=\"1.8 GHz\""});
  const GemmTiming a = simulate_gemm(p, slow);
  const GemmTiming b = simulate_gemm(p, fast);
  EXPECT_LE(step_seconds(b, fast), step_seconds(a, slow) * 1.005);
  EXPECT_LT(b.time.seconds(), 90e-6);  // the 74-78 us plan, not the 161 us one
}

// DeepSeek-V3's kv_a_proj (2048 x 576 x 7168): on 200 SMs the analytic ranking left only
// split-K finalists, 10.1 us plus a reduction launch against 11.3 us in one kernel on 160.
TEST_F(Gemm, TheBestPlanWithoutSplitKStaysAFinalist) {
  const GemmProblem p = problem(2048, 576, 7168, "nvfp4");
  const HwSpec h160 = HwSpec::load("b200", {"sm.count=160"});
  const HwSpec h200 = HwSpec::load("b200", {"sm.count=200"});
  EXPECT_LE(step_seconds(simulate_gemm(p, h200), h200), step_seconds(simulate_gemm(p, h160), h160) * 1.005);
}

TEST_F(Gemm, Fp4DoublesFp8OnlyWhereComputeBinds) {
  // Compute-bound: the tensor pipe's 2x rate shows, less the scale-factor traffic and the lower
  // clock FP4's power allows (at 1000 W: FP8 1.575 GHz at 91% of its peak, NVFP4 1.395 GHz at
  // 80%: 1.56x; it was 1.6x and more while FP8 fell into the slow SMEM-port regime).
  const double big = timed("b200", 8192, 8192, 8192, "fp8_e4m3").time.seconds() /
                     timed("b200", 8192, 8192, 8192, "nvfp4").time.seconds();
  EXPECT_GT(big, 1.5);
  EXPECT_LT(big, 2.1);
  // Decode: the speedup is the ratio of bytes streamed (4.5 vs 8 bits per weight), not of FLOPs.
  const GemmTiming& f8 = timed("b200", 16, 32768, 32768, "fp8_e4m3");
  const GemmTiming& f4 = timed("b200", 16, 32768, 32768, "nvfp4");
  const double bytes = static_cast<double>(f8.hbm_read) / static_cast<double>(f4.hbm_read);
  EXPECT_NEAR(bytes, 8.0 / 4.5, 0.05);
  EXPECT_NEAR(f8.time.seconds() / f4.time.seconds(), bytes, 0.1 * bytes);
  // Latency-bound (one wave of small tiles): neither doubling shows.
  const double small = timed("b200", 256, 256, 512, "fp8_e4m3").time.seconds() /
                       timed("b200", 256, 256, 512, "nvfp4").time.seconds();
  EXPECT_LT(small, 1.3);
}

// A GEMM whose timing would track more blocks than the memory budget holds is refused before
// anything runs, naming the budget (a 1M^3 GEMM grew to 24 GB and was killed by the OS).
TEST_F(Gemm, AGemmTooLargeToTrackIsRefusedBeforeItRuns) {
  const HwSpec b200 = HwSpec::load("b200", {});
  const GemmProblem huge = problem(int64_t{1} << 20, int64_t{1} << 20, int64_t{1} << 20, "bf16");
  EXPECT_GT(gemm_simulation_bytes(huge, b200), uint64_t{1} << 39);  // ~640 GiB
  EXPECT_CONTAINS(input_error_of([&] { (void)simulate_gemm(huge, b200); }), "of simulator memory");
  const GemmProblem p = problem(4096, 4096, 4096, "bf16");
  GemmTimingOptions o;
  o.max_memory = uint64_t{64} << 20;
  EXPECT_CONTAINS(input_error_of([&] { check_gemm(p, b200, o); }),
                  "above the budget of 64 MiB (--max-memory)");
  o.max_memory = uint64_t{1} << 30;
  EXPECT_NO_THROW(check_gemm(p, b200, o));
  EXPECT_LT(gemm_simulation_bytes(p, b200), uint64_t{1} << 30);
}

// A plan near the SMEM port's limit (FP8 256x256x128 CTA pairs, cluster 4: TMA fills and MMA
// operand fetches need ~100% of it) times smoothly with the SM clock: with 4 KiB fill chunks it
// ran 284k or 316k cycles by the phase of fills against fetches (176.5 us at 1.61 GHz, 194.8 at
// 1.62, 174.8 at 1.63), and the power governor landed prefill GEMMs in either regime.
TEST_F(Gemm, AFasterClockNeverFallsIntoASlowerRegime) {
  GemmTimingOptions o;
  o.tile = parse_tile("256x256x128:stages=6:cluster=4");
  double last = 1;
  double first = 0;
  for (const char* mhz : {"1600", "1610", "1620", "1630", "1640", "1650", "1660", "1670"}) {
    const HwSpec hw =
        HwSpec::load("b200", {"power.limit=\"10 kW\"", std::string("clock.lock=\"") + mhz + " MHz\""});
    const double t = simulate_gemm(problem(2048, 16384, 8192, "fp8_e4m3"), hw, o).time.seconds();
    EXPECT_LE(t, last * 1.02) << mhz << " MHz";  // the kernel-level arrival-order bound
    if (first == 0) first = t;
    last = t;
  }
  EXPECT_LT(last, first);
}

// The planner pauses each finalist after two items per cluster and goes on with the winner's
// run: the result is exactly the forced plan's run whole, and the winner's steady-state
// estimate is close to it (Blackwell and Hopper kernels mark items differently). At a locked
// clock the power limit does not lower (the planner's clock is then the run's), the clocks it was
// written at.
TEST_F(Gemm, PlannerGoesOnWithTheWinnersRunExactly) {
  for (const char* gpu : {"b200", "h100"}) {
    const bool b200 = std::string(gpu) == "b200";
    const char* format = b200 ? "nvfp4" : "bf16";
    const HwSpec hw = HwSpec::load(
        gpu, {b200 ? "clock.lock=\"1.4 GHz\"" : "clock.lock=\"1.83 GHz\"", "power.limit=\"10 kW\""});
    const GemmTiming planned = simulate_gemm(problem(8192, 8192, 8192, format), hw);
    ASSERT_GT(planned.plan.work_items / planned.plan.clusters, 8u) << gpu;  // extrapolated, not run whole
    GemmTimingOptions o;
    o.tile = planned.plan.tile;
    const GemmTiming forced = simulate_gemm(problem(8192, 8192, 8192, format), hw, o);
    EXPECT_EQ(planned.time, forced.time) << gpu;
    EXPECT_EQ(planned.kernels.front().events, forced.kernels.front().events) << gpu;
    EXPECT_EQ(planned.hbm_read, forced.hbm_read) << gpu;
    EXPECT_EQ(planned.l2_read, forced.l2_read) << gpu;
    double estimate = 0;
    for (const auto& [name, us] : planned.candidates) {
      if (name == planned.plan.tile.name()) estimate = us;
    }
    // Within 6%: the multicast winner on b200 (256x256x128:stages=8:cluster=2, a finalist since
    // K stages became a family of their own) is estimated at 213.3 us and runs 202.7 whole; h100's
    // 128x256x32:stages=8:grid=128 at 1444.7 and 1396.6. The estimate times the first waves, whose
    // clusters start in lock-step and contend at the same L2 slices, and so moves with the address
    // hash (208.2 us on b200 before tensors got their own hash base): it ranks the finalists, and
    // the winner's time is its whole run.
    EXPECT_NEAR(estimate / (forced.time.seconds() * 1e6), 1.0, 0.06) << gpu;
  }
}

// Steady-state sampling (#21): a GEMM of hundreds of waves is simulated until its waves repeat and
// the L2 has turned over, then every cluster skips the same run of work items and their time and
// counts are extrapolated. Time and bytes stay within 0.5% of the whole run (bench/sampling checks
// 30 shapes; this is one of the cheap ones), for fewer events.
TEST_F(Gemm, SampledRunsAgreeWithTheirWholeRunsWithinHalfAPercent) {
  const HwSpec hw = HwSpec::load("b200", {});
  const GemmProblem p = problem(65536, 8192, 1024, "w4a16");
  GemmTimingOptions o;
  o.clock = ClockMode::kBoost;
  o.tile = parse_tile("256x256x64:stages=5");
  const GemmTiming sampled = simulate_gemm(p, hw, o);
  o.sampling = false;
  const GemmTiming whole = simulate_gemm(p, hw, o);
  ASSERT_EQ(sampled.sampling.waves, 111u);
  EXPECT_GT(sampled.sampling.skipped, 10u);
  EXPECT_GT(sampled.sampling.steady_from, 1u);
  EXPECT_GT(sampled.sampling.error, 0.0);
  EXPECT_LT(sampled.sampling.error, 0.005);
  EXPECT_EQ(whole.sampling.skipped, 0u);
  EXPECT_LT(sampled.kernels.front().events, whole.kernels.front().events);
  const auto off = [](double a, double b) { return std::abs(a / b - 1); };
  EXPECT_LT(off(sampled.time.seconds(), whole.time.seconds()), 0.005);
  EXPECT_LT(off(static_cast<double>(sampled.hbm_read), static_cast<double>(whole.hbm_read)), 0.005);
  EXPECT_LT(off(static_cast<double>(sampled.hbm_write), static_cast<double>(whole.hbm_write)), 0.005);
  EXPECT_LT(off(static_cast<double>(sampled.l2_read), static_cast<double>(whole.l2_read)), 0.005);
  EXPECT_LT(off(sampled.power.joules(), whole.power.joules()), 0.005);
  EXPECT_LT(off(sampled.util.tensor, whole.util.tensor), 0.005);
  // The config key turns it off as the option does.
  o.sampling = true;
  const GemmTiming keyed = simulate_gemm(p, HwSpec::load("b200", {"simulation.gemm_sampling=false"}), o);
  EXPECT_EQ(keyed.time, whole.time);
  EXPECT_EQ(keyed.hbm_read, whole.hbm_read);
  // A GEMM of few waves is never sampled.
  EXPECT_EQ(timed("b200", 8192, 8192, 8192, "nvfp4").sampling.skipped, 0u);
}

TEST_F(Gemm, ReportsBytesAndIntensityConsistently) {
  const GemmTiming& g = timed("b200", 8192, 8192, 8192, "nvfp4");
  // Every operand byte comes from DRAM at least once, D goes back (or stays dirty in L2).
  EXPECT_GE(g.hbm_read, uint64_t{8192} * 8192 / 2 * 2);
  EXPECT_GT(g.l2_read, g.hbm_read);
  EXPECT_GT(g.smem, g.l2_read);
  EXPECT_NEAR(g.arithmetic_intensity, g.flops / static_cast<double>(g.hbm_read + g.hbm_write), 1e-6);
  EXPECT_NEAR(g.tflops, g.flops / g.time.seconds() * 1e-12, 1e-6);
}

// A trace records the run that was chosen, without changing it, and its bytes add up.
TEST_F(Gemm, TraceRecordsTheChosenRunAndItsBytes) {
  const HwSpec hw = HwSpec::load("b200", {});
  GemmProblem p;
  p.m = 1024;
  p.n = 1024;
  p.k = 4096;
  p.format = parse_gemm_format("nvfp4");
  const GemmTiming plain = simulate_gemm(p, hw);
  TraceOptions to;
  GemmTimingOptions o;
  o.trace = &to;
  const GemmTiming g = simulate_gemm(p, hw, o);
  EXPECT_EQ(plain.trace, nullptr);
  ASSERT_NE(g.trace, nullptr);
  EXPECT_EQ(g.time, plain.time);
  EXPECT_EQ(g.plan.tile.name(), plain.plan.tile.name());
  ASSERT_EQ(g.trace->kernels().size(), g.kernels.size());
  for (size_t i = 0; i < g.kernels.size(); ++i) {
    EXPECT_EQ(g.trace->kernels()[i].name, g.kernels[i].name);
    EXPECT_EQ(g.trace->kernels()[i].end, g.kernels[i].end);
  }
  EXPECT_EQ(g.trace->total(MemCounter::kHbmRead), g.hbm_read);
  EXPECT_EQ(g.trace->total(MemCounter::kL2Read), g.l2_read);
  EXPECT_EQ(g.trace->total(MemCounter::kL2Write), g.l2_write);
  EXPECT_EQ(g.trace->total(MemCounter::kHbmWrite), g.hbm_write);
  EXPECT_GT(g.trace->spans(), 0u);
  EXPECT_EQ(g.trace->dropped(), 0u);
}

// --- bad input --------------------------------------------------------------------------------

TEST_F(Gemm, BadShapesAndFormatsSayWhy) {
  const HwSpec b200 = HwSpec::load("b200", {});
  const HwSpec h100 = HwSpec::load("h100", {});
  EXPECT_CONTAINS(input_error_of([&] { check_gemm(problem(128, 128, 100, "nvfp4"), b200); }),
                  "K = 100 is not a multiple of nvfp4's scale block (16 elements along K)");
  EXPECT_CONTAINS(input_error_of([&] { check_gemm(problem(0, 128, 128, "bf16"), b200); }),
                  "every dimension must be positive");
  EXPECT_CONTAINS(input_error_of([&] { parse_gemm_format("nvfp5"); }), "nvfp5");
  const std::string h = input_error_of([&] { check_gemm(problem(128, 128, 128, "nvfp4"), h100); });
  EXPECT_CONTAINS(h, "H100");
  EXPECT_CONTAINS(h, "w4a16");
  EXPECT_EQ(input_error_of([&] { check_gemm(problem(128, 128, 128, "w4a16"), h100); }), "(no error)");
  GemmTimingOptions o;
  o.tile = parse_tile("128x16:swap");
  EXPECT_CONTAINS(
      input_error_of([&] { check_gemm(problem(16, 256, 256, "nvfp4", GemmOut::kNvfp4), b200, o); }),
      "NVFP4 output");
  EXPECT_CONTAINS(input_error_of([&] { parse_tile("128x16:swop"); }), "'swop' is not key=value");
}

// --- golden cycle counts ----------------------------------------------------------------------
//
// Exact simulated times (picoseconds) of a suite of GEMMs. An intended model change moves them;
// refresh with
//   BWSIM_REFRESH_GOLDEN=1 ./build/tests/test_workloads --gtest_filter='Gemm.Golden*'
// and commit tests/data/golden/gemm.txt with the change that moved them.

struct GoldenCase {
  const char* gpu;
  int64_t m, n, k;
  const char* format;
};
constexpr GoldenCase kGolden[] = {
    {"b200", 2048, 2048, 2048, "nvfp4"},       {"b200", 1024, 4096, 2048, "bf16"},
    {"b200", 16, 8192, 8192, "nvfp4"},         {"gb200", 2048, 4096, 4096, "mxfp8"},
    {"b300", 2048, 2048, 4096, "mxfp4"},       {"h100", 2048, 2048, 2048, "fp8_block"},
    {"h200", 4096, 1024, 2048, "w4a16"},       {"rtx5090", 1024, 1024, 1024, "mxfp4"},
    {"rtx-pro-6000", 512, 2048, 1024, "bf16"},
};

std::string golden_name(const GoldenCase& c) {
  std::ostringstream s;
  s << c.gpu << ":" << c.m << "x" << c.n << "x" << c.k << ":" << c.format;
  return s.str();
}

TEST_F(Gemm, GoldenCycleCounts) {
  std::map<std::string, std::string> got;
  for (const GoldenCase& c : kGolden) {
    const GemmTiming& g = timed(c.gpu, c.m, c.n, c.k, c.format);
    got[golden_name(c)] = std::to_string(g.time.ps()) + " " + g.plan.tile.name();
  }
  check_golden("gemm.txt", "case  picoseconds  plan", got);
}

}  // namespace
}  // namespace bwsim
