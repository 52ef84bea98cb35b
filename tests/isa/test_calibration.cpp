// Static (calibrated) per-tensor scales (#28): the scale's value, when a block saturates or its
// scale goes subnormal and to zero, bit-exact agreement with dynamic scaling on the calibration
// tensor itself, saturation counts, the calibration methods, and the scales file.
#include "isa/calibration.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "isa/tensor_gen.hpp"
#include "isa/tensor_io.hpp"
#include "sim/json_out.hpp"
#include "tests/test_util.hpp"

namespace bwsim {
namespace {

namespace fs = std::filesystem;

Tensor gen(const std::string& spec) { return *generate_from_spec(spec); }

// A 1 x 16n tensor of blocks, block b all zero but for one element of magnitude amax[b].
Tensor blocks(const std::vector<float>& amax) {
  Tensor t = Tensor::matrix(1, static_cast<int64_t>(16 * amax.size()));
  for (size_t b = 0; b < amax.size(); ++b) t.data[16 * b + 5] = amax[b];
  return t;
}

TEST(Calibration, NvFp4GlobalScaleIsAmaxOver2688) {
  for (const float a : {2688.0f, 26.88f, 1.0f, 123.456f}) {
    const StaticScale s{"x", Scheme::kNvfp4, a};
    EXPECT_EQ(s.scale(), static_cast<float>(static_cast<double>(a) / 2688.0)) << a;
    QuantOptions o;
    o.tensor_amax = a;
    // TransformerEngine: S_enc = 6 x 448 / amax, S_dec = 1 / S_enc (float32).
    EXPECT_EQ(quantize(gen("gen:normal:1x64"), Scheme::kNvfp4, o).tensor_scale, 1.0f / (2688.0f / a)) << a;
  }
  EXPECT_EQ((StaticScale{"x", Scheme::kNvfp4, 2688.0f}.scale()), 1.0f);
  EXPECT_EQ((StaticScale{"x", Scheme::kFp8E4M3, 448.0f}.scale()), 1.0f);
  EXPECT_EQ(static_scale_range(Scheme::kFp8E5M2), 57344.0);
  EXPECT_FALSE(static_scale_applies(Scheme::kMxfp4));
}

// Calibrated range R = 1: S_enc = 2688, a block's E4M3 scale is 448 x (block amax / R) before
// rounding. It saturates (pinned at 448, values beyond R clipped) exactly when the block amax
// exceeds R; it rounds to an E4M3 subnormal below 2^-6 less half a subnormal step (2^-9 / 2),
// i.e. block amax / R < 15 x 2^-10 / 448 = 15/458752; it rounds to zero at or below half the
// smallest subnormal, 2^-10 / 448 = 1/458752.
TEST(Calibration, BlockScaleRegimesFollowFromE4M3sRange) {
  const Tensor x =
      blocks({1.0f, 0.5f, 1.0001f, 2.0f, 1.0f / 20000, 1.0f / 40000, 1.0f / 400000, 1.0f / 500000, 0.0f});
  const StaticReport r = evaluate_static(x, Scheme::kNvfp4, 1.0f);
  EXPECT_EQ(r.blocks, 9u);
  EXPECT_EQ(r.blocks_saturating, 2u);  // 1.0001 and 2
  EXPECT_EQ(r.blocks_normal, 3u);      // 1, 0.5, 1/20000
  EXPECT_EQ(r.blocks_subnormal, 2u);   // 1/40000, 1/400000
  EXPECT_EQ(r.blocks_zeroed, 1u);      // 1/500000
  EXPECT_EQ(r.blocks_empty, 1u);
  EXPECT_EQ(r.saturated, 2u);
  EXPECT_EQ(r.flushed, 1u);  // the zeroed block's one value
  // The saturated values dequantize to the edge of the range: 6 x 448 x S_dec.
  QuantOptions o;
  o.tensor_amax = 1.0f;
  const std::vector<float> d = quantize(x, Scheme::kNvfp4, o).dequantize();
  const float edge = 6.0f * 448.0f * (1.0f / 2688.0f);
  EXPECT_EQ(d[16 * 2 + 5], edge);
  EXPECT_EQ(d[16 * 3 + 5], edge);
  EXPECT_EQ(d[16 * 0 + 5], 1.0f);
  EXPECT_EQ(d[16 * 7 + 5], 0.0f);
  // Just either side of the thresholds.
  const StaticReport edges = evaluate_static(
      blocks({15.0f / 458752 * 1.01f, 15.0f / 458752 * 0.99f, 1.0f / 458752 * 1.01f, 1.0f / 458752 * 0.99f}),
      Scheme::kNvfp4, 1.0f);
  EXPECT_EQ(edges.blocks_normal, 1u);
  EXPECT_EQ(edges.blocks_subnormal, 2u);
  EXPECT_EQ(edges.blocks_zeroed, 1u);
}

TEST(Calibration, CalibratingOnTheTensorItselfIsDynamicScalingBitForBit) {
  for (const Scheme s : {Scheme::kNvfp4, Scheme::kFp8E4M3, Scheme::kFp8E5M2}) {
    const Tensor x = gen("gen:outliers:64x256:seed=3");
    CalibrationSet set;
    set.add(x, "x");
    const float a = set.calibrate({}, s);
    EXPECT_EQ(a, set.amax());
    QuantOptions o;
    o.tensor_amax = a;
    const QuantizedTensor st = quantize(x, s, o);
    const QuantizedTensor dy = quantize(x, s);
    EXPECT_EQ(st.codes, dy.codes) << scheme_name(s);
    EXPECT_EQ(st.scales, dy.scales);
    EXPECT_EQ(st.tensor_scale, dy.tensor_scale);
    const StaticReport r = evaluate_static(x, s, a);
    EXPECT_EQ(r.saturated, 0u);
    EXPECT_EQ(r.blocks_saturating, 0u);
  }
}

// Deployment k-fold beyond the calibration: the saturated count is numpy's
// count_nonzero(abs(x) > amax), recomputed here from the tensor.
TEST(Calibration, OutliersBeyondTheCalibrationSaturate) {
  CalibrationSet set;
  set.add(gen("gen:outliers:128x512:seed=1"), "calib");
  const float a = set.calibrate({}, Scheme::kNvfp4);
  for (const double k : {1.0, 2.0, 4.0, 8.0}) {
    const Tensor x = gen(fmt::format("gen:outliers:128x512:seed=2:k={}", k));
    uint64_t reference = 0;
    for (float v : x.data) reference += std::abs(v) > a ? 1 : 0;
    const StaticReport r = evaluate_static(x, Scheme::kNvfp4, a);
    EXPECT_EQ(r.saturated, reference) << k;
    if (k >= 2) {
      EXPECT_GT(r.saturated, 0u);
    }
    const StaticReport f8 = evaluate_static(x, Scheme::kFp8E4M3, a);
    EXPECT_EQ(f8.saturated, reference);
    // The further beyond, the worse than the dynamic scale.
    const ErrorMetrics dynamic = compare(quantize(x, Scheme::kNvfp4).dequantize(), x.data);
    if (k >= 4) {
      EXPECT_LT(r.error.sqnr_db, dynamic.sqnr_db - 3) << k;
    }
  }
}

TEST(Calibration, MethodsChooseTheirAmax) {
  CalibrationSet set;
  const Tensor a = gen("gen:outliers:64x256:seed=1");
  const Tensor b = gen("gen:normal:64x256:seed=2");
  set.add(a, "a");
  set.add(b, "b");
  EXPECT_EQ(set.count(), 2u * 64 * 256);
  ASSERT_EQ(set.amax_history().size(), 2u);
  EXPECT_GT(set.amax_history()[0], set.amax_history()[1]);
  EXPECT_EQ(set.calibrate(parse_calib_method("most_recent", "--method"), Scheme::kNvfp4),
            set.amax_history()[1]);
  EXPECT_EQ(set.calibrate(parse_calib_method("history:2", "--method"), Scheme::kNvfp4), set.amax());
  EXPECT_EQ(set.channel_amax().size(), 256u);
  EXPECT_EQ(*std::max_element(set.channel_amax().begin(), set.channel_amax().end()), set.amax());
  // Percentile: numpy's linear interpolation on a hand-checkable set, |x| = 1..5.
  CalibrationSet small;
  small.add(Tensor{{1, 5}, {1, -2, 3, -4, 5}}, "s");
  EXPECT_EQ(small.percentile(50), 3.0);
  EXPECT_EQ(small.percentile(100), 5.0);
  EXPECT_DOUBLE_EQ(small.percentile(90), 4.6);  // index 3.6: 4 + 0.6 x (5 - 4)
  // Percentile calibration clips in-distribution data: lower SQNR than max.
  const Tensor x = gen("gen:outliers:64x256:seed=1");
  for (const Scheme s : {Scheme::kNvfp4, Scheme::kFp8E4M3}) {
    const float pmax = set.calibrate(parse_calib_method("max", "--method"), s);
    const float p999 = set.calibrate(parse_calib_method("percentile:99.9", "--method"), s);
    EXPECT_LT(p999, pmax);
    EXPECT_LT(evaluate_static(x, s, p999).error.sqnr_db, evaluate_static(x, s, pmax).error.sqnr_db)
        << scheme_name(s);
    EXPECT_GT(evaluate_static(x, s, p999).saturated, 0u);
  }
  // mse: a multiple of the max from linspace(0.25, 4, 39), no worse than its neighbours.
  const float mse = set.calibrate(parse_calib_method("mse", "--method"), Scheme::kNvfp4);
  const double m = static_cast<double>(mse) / static_cast<double>(set.amax());
  const double step = 3.75 / 38;
  const double i = std::round((m - 0.25) / step);
  EXPECT_NEAR(m, 0.25 + i * step, 1e-6);
  const auto sse = [&](double mult) {
    const auto amax = static_cast<float>(set.amax() * static_cast<float>(mult));
    double e = 0;
    for (const Tensor* t : {&a, &b}) {
      QuantOptions o;
      o.tensor_amax = amax;
      const std::vector<float> d = quantize(*t, Scheme::kNvfp4, o).dequantize();
      for (size_t j = 0; j < d.size(); ++j) e += (d[j] - t->data[j]) * static_cast<double>(d[j] - t->data[j]);
    }
    return e;
  };
  EXPECT_LE(sse(m), sse(m + step));
  if (i > 0) {
    EXPECT_LE(sse(m), sse(m - step));
  }
  // Refusals.
  EXPECT_CONTAINS(input_error_of([] { (void)parse_calib_method("percentile:120", "--method"); }),
                  "--method percentile:120");
  EXPECT_CONTAINS(input_error_of([] { (void)parse_calib_method("kl", "--method"); }), "unknown method");
  CalibrationSet zeros;
  zeros.add(Tensor::matrix(2, 16), "zeros.npy");
  EXPECT_CONTAINS(input_error_of([&] { (void)zeros.calibrate({}, Scheme::kNvfp4); }), "zeros.npy");
  EXPECT_CONTAINS(input_error_of([&] { set.add(Tensor::matrix(2, 16), "narrow.npy"); }),
                  "narrow.npy: 16 channels");
  EXPECT_CONTAINS(input_error_of([&] { (void)evaluate_static(x, Scheme::kMxfp4, 1.0f); }), "mxfp4");
  EXPECT_CONTAINS(input_error_of([&] { (void)evaluate_static(x, Scheme::kNvfp4, NAN); }), "calibrated amax");
}

TEST(Calibration, ShiftGeneratorsTakeTheirParameters) {
  // Spikes: about rate x elements of magnitude mag.
  const Tensor sp = gen("gen:spikes:256x1024:seed=1:rate=0.001:mag=500");
  uint64_t spikes = 0;
  for (float v : sp.data) spikes += std::abs(v) == 500.0f ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(spikes), 262.0, 60.0);
  // Massive channels: 3 columns of ~1e4.
  const Tensor ma = gen("gen:massive:8x96:seed=1:channels=3:mag=1e4");
  std::vector<int64_t> big;
  for (int64_t c = 0; c < 96; ++c) {
    float m = 0;
    for (int64_t r = 0; r < 8; ++r) m = std::max(m, std::abs(ma.data[static_cast<size_t>(r * 96 + c)]));
    if (m > 100) big.push_back(c);
  }
  EXPECT_EQ(big, (std::vector<int64_t>{3, 35, 67}));
  // Outliers grown k-fold: the outlier channel's values exactly k x those of k = 1.
  const Tensor o1 = gen("gen:outliers:4x64:seed=9");
  const Tensor o4 = gen("gen:outliers:4x64:seed=9:k=4");
  EXPECT_EQ(o4.data[7], 4 * o1.data[7]);
  EXPECT_EQ(o4.data[8], o1.data[8]);
  // Heavier tails: a smaller nu.
  const auto amax = [](const Tensor& t) {
    float m = 0;
    for (float v : t.data) m = std::max(m, std::abs(v));
    return m;
  };
  EXPECT_GT(amax(gen("gen:student-t:64x1024:seed=1:nu=1.5")),
            amax(gen("gen:student-t:64x1024:seed=1:nu=30")));
  EXPECT_EQ(gen("gen:student-t:8x8:seed=1:nu=3").data, gen("gen:student-t:8x8:seed=1").data);
  EXPECT_CONTAINS(input_error_of([] { (void)gen("gen:normal:8x8:nu=3"); }),
                  "'nu' is not a parameter of normal");
  EXPECT_CONTAINS(input_error_of([] { (void)gen("gen:spikes:8x8:rate=2"); }), "rate = '2'");
}

// SmoothQuant's scales by hand, and both smoothings moving an outlier channel's range into the
// weights: the product unchanged in exact arithmetic, its quantized error smaller.
TEST(Calibration, SmoothQuantAndAwqMoveOutliersIntoTheWeights) {
  Tensor w = Tensor::matrix(2, 3);
  w.data = {1, -4, 0, 0.5f, 2, 0};
  const std::vector<float> s = smoothquant_scales({4, 1, 3}, w, 0.5);
  EXPECT_EQ(s, (std::vector<float>{2, 0.5f, 1}));  // sqrt(4 / 1), sqrt(1 / 4); a zero column: 1
  EXPECT_EQ(smoothquant_scales({4, 1, 3}, w, 1.0), (std::vector<float>{4, 1, 1}));
  EXPECT_CONTAINS(input_error_of([&] { (void)smoothquant_scales({4, 1}, w, 0.5); }), "2 channels");
  const Tensor x = gen("gen:massive:128x512:seed=1:mag=200");
  const Tensor wt = gen("gen:normal:256x512:seed=3");
  CalibrationSet set;
  set.add(x, "x");
  const std::vector<float> sq = smoothquant_scales(set.channel_amax(), wt, 0.5);
  // BF16 keeps 8 bits however the range is spread; NVFP4 W4A4 gains from smoothing.
  EXPECT_GT(smoothed_gemm_error(x, wt, Scheme::kNvfp4, sq, false).sqnr_db,
            smoothed_gemm_error(x, wt, Scheme::kNvfp4, {}, false).sqnr_db + 3);
  EXPECT_GT(smoothed_gemm_error(x, wt, Scheme::kBf16, sq, false).sqnr_db, 40);
  // AWQ's grid starts at ratio 0 (no smoothing): its choice never errs more than none.
  const Tensor xo = gen("gen:outliers:128x512:seed=1");
  const AwqSearch a = awq_search(xo, wt, Scheme::kNvfp4);
  const ErrorMetrics plain = smoothed_gemm_error(xo, wt, Scheme::kNvfp4, {}, true);
  EXPECT_LE(a.error.rel_frobenius, plain.rel_frobenius);
  EXPECT_GT(a.ratio, 0);
  EXPECT_GT(a.error.sqnr_db, plain.sqnr_db + 3);
  ASSERT_EQ(a.scales.size(), 512u);
}

TEST(Calibration, ScalesFilesRoundTripAndRefuseWhatTheyCannotMean) {
  const fs::path dir = test_temp_dir("bwsim_calib_");
  fs::create_directories(dir);
  const std::string file = (dir / "scales.safetensors").string();
  const float amax = 80.97741f;
  write_file_atomic(
      file, scales_file_bytes({{"model.layers.0.mlp.down_proj.input_scale", Scheme::kNvfp4, amax}}, "max"),
      "--out");
  const StaticScale s = read_static_scale(file, Scheme::kNvfp4, "--scales");
  EXPECT_EQ(s.tensor, "model.layers.0.mlp.down_proj.input_scale");
  EXPECT_EQ(s.amax, amax);  // exact, through the metadata
  EXPECT_EQ(read_safetensors(file, "").tensor.data.front(), amax / 2688.0f);
  EXPECT_EQ(safetensors_metadata(file).at("format"), "nvfp4");
  EXPECT_CONTAINS(input_error_of([&] { (void)read_static_scale(file, Scheme::kFp8E4M3, "--scales"); }),
                  "a scale calibrated for nvfp4, not fp8_e4m3");
  EXPECT_CONTAINS(
      input_error_of([&] { (void)read_static_scale(file + ":nope", Scheme::kNvfp4, "--scales"); }),
      "no tensor named 'nope'");
  EXPECT_CONTAINS(input_error_of([&] { (void)read_static_scale(file, Scheme::kMxfp4, "--scales"); }),
                  "mxfp4");
  // A checkpoint's scale without bwsim's metadata: zero, negative, NaN, or not a scalar.
  for (const float bad : {0.0f, -1.0f, NAN}) {
    const std::string f = (dir / "bad.safetensors").string();
    const NamedF32 t{"k_scale", {}, {bad}};
    write_file_atomic(f, safetensors_f32_bytes(std::span(&t, 1), {}), "--out");
    EXPECT_CONTAINS(input_error_of([&] { (void)read_static_scale(f, Scheme::kFp8E4M3, "--scales"); }),
                    "bad.safetensors:k_scale: scale");
  }
  const std::string v = (dir / "vec.safetensors").string();
  const NamedF32 vec{"input_scale", {2}, {1.0f, 2.0f}};
  write_file_atomic(v, safetensors_f32_bytes(std::span(&vec, 1), {}), "--out");
  EXPECT_CONTAINS(input_error_of([&] { (void)read_static_scale(v, Scheme::kFp8E4M3, "--scales"); }),
                  "holds 2 values");
  const NamedF32 one{"input_scale", {}, {0.5f}};
  write_file_atomic(v, safetensors_f32_bytes(std::span(&one, 1), {}), "--out");
  EXPECT_EQ(read_static_scale(v, Scheme::kFp8E4M3, "--scales").amax, 0.5f * 448);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bwsim
