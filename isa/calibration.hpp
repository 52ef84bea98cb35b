// Static scales as deployed (#28): the per-tensor scale of NVFP4 (its global scale, amax / 2688)
// and of FP8 (amax / 448) fixed from a calibration set instead of from each tensor's own amax,
// and what such a scale does to a tensor it was not calibrated on: values beyond the calibrated
// range saturate, NVFP4 block scales saturate, go FP8-subnormal or to zero.
//
// The calibrated amax is all a static scale is: quantize() takes it as QuantOptions::tensor_amax,
// so a scale calibrated on the very tensor it quantizes gives the dynamic result bit for bit.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "isa/error_metrics.hpp"
#include "isa/quantize.hpp"
#include "isa/tensor.hpp"
#include "isa/tensor_io.hpp"

namespace bwsim {

/// How a calibrated amax is chosen from the calibration set, each as a toolchain does it:
///   max          the largest |x| seen (Model Optimizer's MaxCalibrator, TransformerEngine's
///                amax_compute_algo = "max" over the whole history);
///   percentile   the P-th percentile of |x| (default 99.99), exactly as numpy.percentile's
///                linear interpolation (pytorch-quantization / Model Optimizer's
///                HistogramCalibrator approximates it from 2048 bins);
///   mse          the multiple of the max, among 39 evenly spaced from 0.25 to 4.0, that
///                minimizes the squared quantization error summed over the set (Model
///                Optimizer's MseCalibrator defaults: start 0.25, stop 4.0, step 0.1);
///   most_recent  the last sample's amax (TransformerEngine amax_compute_algo = "most_recent");
///   history      the largest amax of the last N samples (TransformerEngine's delayed scaling
///                with amax_history_len = N).
enum class CalibMethod { kMax, kPercentile, kMse, kMostRecent, kHistory };

struct CalibMethodSpec {
  CalibMethod method = CalibMethod::kMax;
  double percentile = 99.99;
  int64_t history = 1024;  // TransformerEngine's default amax_history_len
};
/// "max", "percentile[:P]", "mse", "most_recent" or "history[:N]"; InputError naming `flag`.
CalibMethodSpec parse_calib_method(std::string_view text, std::string_view flag);
std::string calib_method_text(const CalibMethodSpec& m);

/// The schemes a static per-tensor scale applies to: NVFP4 (its global scale) and per-tensor
/// FP8. MX formats have only block scales, computed per block at run time.
bool static_scale_applies(Scheme s);
/// The largest magnitude a per-tensor scale maps amax to: 6 x 448 = 2688 (NVFP4), 448 (E4M3),
/// 57344 (E5M2). The scale the toolchains store is amax / this.
double static_scale_range(Scheme s);

/// Block amax relative to the tensor's amax, as a histogram over powers of two: bucket i holds
/// blocks with ratio in (2^-(i+1), 2^-i], the last bucket everything smaller, zero blocks apart.
inline constexpr int kBlockAmaxBuckets = 24;

/// Statistics of one tensor's calibration set, sample by sample. Memory: the samples are kept
/// (percentile and mse read them all), so as much as the calibration tensors themselves.
class CalibrationSet {
 public:
  /// Adds a sample; its last dimension is the channel axis (every sample must have as many).
  /// Throws InputError naming `source` on a mismatch or a non-finite value.
  void add(const Tensor& sample, const std::string& source);
  [[nodiscard]] bool empty() const { return samples_.empty(); }
  [[nodiscard]] uint64_t count() const { return count_; }
  [[nodiscard]] float amax() const { return amax_; }
  /// The p-th percentile (0..100) of |x| over every value, numpy.percentile's linear rule.
  [[nodiscard]] double percentile(double p) const;
  /// Per channel (last dimension): the largest |x|.
  [[nodiscard]] const std::vector<float>& channel_amax() const { return channel_amax_; }
  /// One amax per sample, in the order added (TransformerEngine's amax history).
  [[nodiscard]] const std::vector<float>& amax_history() const { return history_; }
  /// Histogram of 16-element block amax relative to amax() (kBlockAmaxBuckets buckets; last
  /// entry: all-zero blocks).
  [[nodiscard]] std::array<uint64_t, kBlockAmaxBuckets + 1> block_amax_histogram() const;
  /// The calibrated amax for quantizing with `s` (and `o`, for mse) under `m`.
  [[nodiscard]] float calibrate(const CalibMethodSpec& m, Scheme s, const QuantOptions& o = {}) const;

 private:
  std::vector<Tensor> samples_;
  std::vector<std::string> sources_;
  std::vector<float> channel_amax_;
  std::vector<float> history_;
  uint64_t count_ = 0;
  float amax_ = 0;
};

/// A tensor quantized with a static (calibrated) amax, against the float values it stands for.
struct StaticReport {
  float calibrated_amax = 0;
  float amax = 0;  // of the tensor quantized
  uint64_t elements = 0;
  uint64_t saturated = 0;  // |x| > calibrated amax: clipped to the range (numpy: sum(abs(x) > a))
  uint64_t flushed = 0;    // non-zero values that dequantize to 0
  // NVFP4 block-scale regimes, counted over 16-element blocks (all zero for FP8):
  uint64_t blocks = 0;
  uint64_t blocks_saturating = 0;  // block amax beyond the range: the E4M3 scale pinned at 448
  uint64_t blocks_normal = 0;
  uint64_t blocks_subnormal = 0;  // scale an E4M3 subnormal (below 2^-6)
  uint64_t blocks_zeroed = 0;     // a non-zero block whose scale rounded to 0: all of it lost
  uint64_t blocks_empty = 0;      // all-zero blocks
  ErrorMetrics error;             // dequantized vs the input (float64)
  [[nodiscard]] double saturated_fraction() const;
  [[nodiscard]] double flushed_fraction() const;
};

/// Quantizes `x` with `s` and the calibrated amax (options `o`, their tensor_amax replaced) and
/// reports what the static scale did. Throws InputError when `s` takes no static scale or the
/// amax is not finite and positive.
StaticReport evaluate_static(const Tensor& x, Scheme s, float calibrated_amax, QuantOptions o = {});

/// Per-input-channel smoothing before quantizing a GEMM Y = X W^T (X: tokens x K, W: N x K):
/// X' = X / s and W' = W s (column j of both) leave the product unchanged and move range from the
/// activations' outlier channels into the weights.
///  - SmoothQuant (Xiao et al., ICML 2023, eq. 4): s_j = max|X_j|^alpha / max|W_j|^(1 - alpha),
///    1 where either max is 0; alpha 0.5 by default.
///  - AWQ (Lin et al., MLSys 2024; llm-awq's scale search): s_j = mean|X_j|^r, normalized by
///    sqrt(max s x min s), clamped below at 1e-4 before; r over the grid 0, 1/20, ..., 19/20,
///    the one whose weight-only product (X / s) Q(W s)^T errs least against X W^T.
/// Model Optimizer exports 1 / s as the layer's `pre_quant_scale` (one per input channel, shared
/// by fused q/k/v or gate/up, as their global amax is).
std::vector<float> smoothquant_scales(const std::vector<float>& x_channel_amax, const Tensor& w,
                                      double alpha);

/// The error of a quantized product against X W^T in float64: both operands quantized with `s`
/// (dynamic scales), or only W (weight_only, X exact), after dividing X's and multiplying W's
/// columns by `smooth` (empty: none). Products of the dequantized values in float64.
ErrorMetrics smoothed_gemm_error(const Tensor& x, const Tensor& w, Scheme s, const std::vector<float>& smooth,
                                 bool weight_only);

struct AwqSearch {
  double ratio = 0;           // the grid point chosen
  std::vector<float> scales;  // s, per input channel
  ErrorMetrics error;         // its weight-only product's error
};
AwqSearch awq_search(const Tensor& x, const Tensor& w, Scheme s);

/// What a calibrated scale stands for, naming it as the toolchains do (Model Optimizer's
/// exported checkpoints, vLLM's loaders): an activation's `input_scale`, a weight's
/// `weight_scale_2` (NVFP4's global scale) or `weight_scale` (FP8), the KV cache's `k_scale` and
/// `v_scale`.
enum class ScaleRole { kInput, kWeight, kK, kV };
ScaleRole parse_scale_role(std::string_view text, std::string_view flag);
std::string_view scale_key(ScaleRole r, Scheme s);

/// One calibrated scale: stored as amax / static_scale_range(scheme), float32, under
/// "NAME.KEY" (or KEY alone where NAME is empty).
struct StaticScale {
  std::string tensor;  // the name in the file
  Scheme scheme = Scheme::kNvfp4;
  float amax = 0;
  [[nodiscard]] float scale() const { return static_cast<float>(amax / static_scale_range(scheme)); }
};

/// A scales file: a .safetensors of float32 scalars. Its __metadata__ records the format, the
/// method and each scale's exact amax (as a hex float, so that reading it back quantizes bit for
/// bit as the calibration did).
/// `extra`: more tensors to store beside the scales (a pre_quant_scale).
std::string scales_file_bytes(const std::vector<StaticScale>& scales, const std::string& method,
                              const std::vector<NamedF32>& extra = {});

/// Reads "FILE.safetensors[:TENSOR]" as a static scale for `scheme`. InputError naming `flag`,
/// the file and the tensor for a missing tensor, one that is not a scalar, a scale that is not
/// finite and > 0, or a file whose declared format is not `scheme`.
StaticScale read_static_scale(const std::string& spec, Scheme scheme, std::string_view flag);

}  // namespace bwsim
