#include "isa/calibration.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>

#include "isa/scalar_format.hpp"
#include "isa/tensor_io.hpp"
#include "sim/errors.hpp"

namespace bwsim {
namespace {

double parse_number(std::string_view text, std::string_view what) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size()) throw InputError(std::string(what));
  return v;
}

float abs_max(std::span<const float> v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

}  // namespace

CalibMethodSpec parse_calib_method(std::string_view text, std::string_view flag) {
  CalibMethodSpec m;
  const size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  const std::optional<std::string_view> arg =
      colon == std::string_view::npos ? std::nullopt : std::optional(text.substr(colon + 1));
  const auto bad = [&](std::string_view why) {
    return InputError(fmt::format("{} {}: {} (expected max, percentile[:P], mse, most_recent or history[:N])",
                                  flag, text, why));
  };
  if (name == "max" || name == "mse" || name == "most_recent") {
    if (arg) throw bad(fmt::format("{} takes no argument", name));
    m.method = name == "max"   ? CalibMethod::kMax
               : name == "mse" ? CalibMethod::kMse
                               : CalibMethod::kMostRecent;
  } else if (name == "percentile") {
    m.method = CalibMethod::kPercentile;
    if (arg) {
      try {
        m.percentile = parse_number(*arg, "");
      } catch (const InputError&) {
        throw bad("the percentile is not a number");
      }
      if (!(m.percentile > 0 && m.percentile <= 100)) throw bad("the percentile must lie in (0, 100]");
    }
  } else if (name == "history") {
    m.method = CalibMethod::kHistory;
    if (arg) {
      double n = 0;
      try {
        n = parse_number(*arg, "");
      } catch (const InputError&) {
        throw bad("the history length is not a number");
      }
      if (!(n >= 1 && n <= 1e9) || n != std::floor(n))
        throw bad("the history length must be a whole number >= 1");
      m.history = static_cast<int64_t>(n);
    }
  } else {
    throw bad("unknown method");
  }
  return m;
}

std::string calib_method_text(const CalibMethodSpec& m) {
  switch (m.method) {
    case CalibMethod::kMax:
      return "max";
    case CalibMethod::kPercentile:
      return fmt::format("percentile:{:g}", m.percentile);
    case CalibMethod::kMse:
      return "mse";
    case CalibMethod::kMostRecent:
      return "most_recent";
    case CalibMethod::kHistory:
      return fmt::format("history:{}", m.history);
  }
  return "?";
}

bool static_scale_applies(Scheme s) {
  return s == Scheme::kNvfp4 || s == Scheme::kFp8E4M3 || s == Scheme::kFp8E5M2;
}

double static_scale_range(Scheme s) {
  switch (s) {
    case Scheme::kNvfp4:
      return 6.0 * 448.0;
    case Scheme::kFp8E4M3:
      return 448.0;
    case Scheme::kFp8E5M2:
      return 57344.0;
    default:
      return 0;
  }
}

void CalibrationSet::add(const Tensor& sample, const std::string& source) {
  const int64_t cols = sample.shape.empty() ? 1 : sample.shape.back();
  if (!channel_amax_.empty() && static_cast<int64_t>(channel_amax_.size()) != cols) {
    throw InputError(fmt::format("{}: {} channels (last dimension), where {} had {}", source, cols,
                                 sources_.front(), channel_amax_.size()));
  }
  if (channel_amax_.empty()) channel_amax_.assign(static_cast<size_t>(cols), 0.0f);
  for (size_t i = 0; i < sample.data.size(); ++i) {
    const float v = sample.data[i];
    if (!std::isfinite(v))
      throw InputError(fmt::format("{}: value {} at flat index {} is not finite", source, v, i));
    float& c = channel_amax_[i % static_cast<size_t>(cols)];
    c = std::max(c, std::abs(v));
  }
  const float a = abs_max(sample.data);
  history_.push_back(a);
  amax_ = std::max(amax_, a);
  count_ += sample.data.size();
  samples_.push_back(sample);
  sources_.push_back(source);
}

double CalibrationSet::percentile(double p) const {
  std::vector<float> a;
  a.reserve(count_);
  for (const Tensor& t : samples_) {
    for (float v : t.data) a.push_back(std::abs(v));
  }
  if (a.empty()) return 0;
  // numpy.percentile, method "linear": index p/100 x (n - 1) between its two order statistics.
  const double idx = p / 100.0 * static_cast<double>(a.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(idx));
  const size_t hi = std::min(lo + 1, a.size() - 1);
  std::nth_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(lo), a.end());
  const double vlo = a[lo];
  const double vhi =
      lo == hi ? vlo : *std::min_element(a.begin() + static_cast<std::ptrdiff_t>(lo) + 1, a.end());
  return vlo + (vhi - vlo) * (idx - static_cast<double>(lo));
}

std::array<uint64_t, kBlockAmaxBuckets + 1> CalibrationSet::block_amax_histogram() const {
  std::array<uint64_t, kBlockAmaxBuckets + 1> h{};
  for (const Tensor& t : samples_) {
    for (size_t b = 0; b + 16 <= t.data.size(); b += 16) {
      const float m = abs_max(std::span<const float>(t.data.data() + b, 16));
      if (m == 0) {
        ++h[kBlockAmaxBuckets];
        continue;
      }
      // ratio in (2^-(i+1), 2^-i]: i = floor(-log2(ratio)), clamped to the last bucket.
      const double r = static_cast<double>(m) / static_cast<double>(amax_);
      ++h[static_cast<size_t>(
          std::clamp(static_cast<int>(std::floor(-std::log2(r))), 0, kBlockAmaxBuckets - 1))];
    }
  }
  return h;
}

float CalibrationSet::calibrate(const CalibMethodSpec& m, Scheme s, const QuantOptions& o) const {
  if (samples_.empty()) throw InputError("calibration: no calibration samples");
  if (amax_ == 0)
    throw InputError(fmt::format("calibration: every value of {} is zero: no scale", sources_.front()));
  switch (m.method) {
    case CalibMethod::kMax:
      return amax_;
    case CalibMethod::kPercentile: {
      const auto a = static_cast<float>(percentile(m.percentile));
      if (a == 0)
        throw InputError(
            fmt::format("calibration: the {:g}th percentile of |x| is 0: no scale", m.percentile));
      return a;
    }
    case CalibMethod::kMostRecent:
    case CalibMethod::kHistory: {
      const size_t n = m.method == CalibMethod::kMostRecent
                           ? 1
                           : std::min(history_.size(), static_cast<size_t>(m.history));
      const float a = *std::max_element(history_.end() - static_cast<std::ptrdiff_t>(n), history_.end());
      if (a == 0) throw InputError("calibration: the samples in the history are all zero: no scale");
      return a;
    }
    case CalibMethod::kMse: {
      if (!static_scale_applies(s))
        throw InputError(
            fmt::format("calibration: mse needs a scheme with a per-tensor scale, not {}", scheme_name(s)));
      // torch.linspace(0.25, 4.0, 39) in float32, times the max in float32; the first minimum wins.
      constexpr int kSteps = 39;
      float best = amax_;
      double best_err = INFINITY;
      for (int i = 0; i < kSteps; ++i) {
        const auto mult = static_cast<float>(0.25 + (4.0 - 0.25) * i / (kSteps - 1));
        QuantOptions qo = o;
        qo.tensor_amax = amax_ * mult;
        double err = 0;
        for (const Tensor& t : samples_) {
          const std::vector<float> d = quantize(t, s, qo).dequantize_original_domain();
          for (size_t j = 0; j < d.size(); ++j) {
            const double e = static_cast<double>(d[j]) - static_cast<double>(t.data[j]);
            err += e * e;
          }
        }
        if (err < best_err) {
          best_err = err;
          best = *qo.tensor_amax;
        }
      }
      return best;
    }
  }
  return amax_;
}

double StaticReport::saturated_fraction() const {
  return elements == 0 ? 0 : static_cast<double>(saturated) / static_cast<double>(elements);
}
double StaticReport::flushed_fraction() const {
  return elements == 0 ? 0 : static_cast<double>(flushed) / static_cast<double>(elements);
}

StaticReport evaluate_static(const Tensor& x, Scheme s, float calibrated_amax, QuantOptions o) {
  if (!static_scale_applies(s)) {
    throw InputError(
        fmt::format("{}: no per-tensor scale to calibrate (static scales apply to nvfp4, fp8_e4m3 "
                    "and fp8_e5m2; MX block scales are computed per block at run time)",
                    scheme_name(s)));
  }
  if (!(calibrated_amax > 0) || !std::isfinite(calibrated_amax))
    throw InputError(fmt::format("calibrated amax {}: must be finite and > 0", calibrated_amax));
  if (o.rht || o.four_over_six)
    throw InputError("a static scale with --rht or --four-over-six is not modelled");
  o.tensor_amax = calibrated_amax;
  const QuantizedTensor q = quantize(x, s, o);
  const std::vector<float> d = q.dequantize_original_domain();
  StaticReport r;
  r.calibrated_amax = calibrated_amax;
  r.amax = abs_max(x.data);
  r.elements = x.data.size();
  for (size_t i = 0; i < d.size(); ++i) {
    if (std::abs(x.data[i]) > calibrated_amax) ++r.saturated;
    if (x.data[i] != 0 && d[i] == 0) ++r.flushed;
  }
  if (s == Scheme::kNvfp4) {
    const int64_t br = q.block_rows, bc = q.block_cols, sc = q.scale_cols();
    for (int64_t r0 = 0; r0 < q.rows; r0 += br) {
      for (int64_t b = 0; b < sc; ++b) {
        float m = 0;
        for (int64_t i = r0; i < std::min(q.rows, r0 + br); ++i)
          m = std::max(m, abs_max(std::span<const float>(x.data.data() + i * q.cols + b * bc,
                                                         static_cast<size_t>(bc))));
        const uint8_t sf = q.scales[static_cast<size_t>(r0 * sc + b)];
        ++r.blocks;
        if (m == 0) {
          ++r.blocks_empty;
        } else if (m > calibrated_amax) {
          ++r.blocks_saturating;
        } else if (sf == 0) {
          ++r.blocks_zeroed;
        } else if ((sf & 0x78) == 0) {  // E4M3 exponent field 0: subnormal
          ++r.blocks_subnormal;
        } else {
          ++r.blocks_normal;
        }
      }
    }
  }
  r.error = compare(d, x.data);
  return r;
}

std::vector<float> smoothquant_scales(const std::vector<float>& x_channel_amax, const Tensor& w,
                                      double alpha) {
  const int64_t k = w.cols();
  if (static_cast<int64_t>(x_channel_amax.size()) != k) {
    throw InputError(fmt::format("smoothing: the activations have {} channels, the weight's K is {}",
                                 x_channel_amax.size(), k));
  }
  if (!(alpha >= 0 && alpha <= 1))
    throw InputError(fmt::format("smoothquant alpha {}: expected 0..1", alpha));
  std::vector<float> wmax(static_cast<size_t>(k), 0.0f);
  for (int64_t r = 0; r < w.rows(); ++r) {
    for (int64_t c = 0; c < k; ++c)
      wmax[static_cast<size_t>(c)] =
          std::max(wmax[static_cast<size_t>(c)], std::abs(w.data[static_cast<size_t>(r * k + c)]));
  }
  std::vector<float> sm(static_cast<size_t>(k), 1.0f);
  for (size_t j = 0; j < sm.size(); ++j) {
    if (x_channel_amax[j] > 0 && wmax[j] > 0)
      sm[j] = static_cast<float>(std::pow(x_channel_amax[j], alpha) / std::pow(wmax[j], 1 - alpha));
  }
  return sm;
}

ErrorMetrics smoothed_gemm_error(const Tensor& x, const Tensor& w, Scheme s, const std::vector<float>& smooth,
                                 bool weight_only) {
  const int64_t k = w.cols();
  if (x.cols() != k)
    throw InputError(fmt::format("smoothing: the activations' K {} is not the weight's {}", x.cols(), k));
  Tensor xs = x, ws = w;
  if (!smooth.empty()) {
    for (size_t i = 0; i < xs.data.size(); ++i) xs.data[i] /= smooth[i % static_cast<size_t>(k)];
    for (size_t i = 0; i < ws.data.size(); ++i) ws.data[i] *= smooth[i % static_cast<size_t>(k)];
  }
  const std::vector<float> xq = weight_only ? xs.data : quantize(xs, s).dequantize();
  const std::vector<float> wq = quantize(ws, s).dequantize();
  const int64_t m = x.rows(), n = w.rows();
  std::vector<double> got(static_cast<size_t>(m * n)), ref(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double a = 0, b = 0;
      for (int64_t c = 0; c < k; ++c) {
        const auto xi = static_cast<size_t>(i * k + c), wj = static_cast<size_t>(j * k + c);
        a += static_cast<double>(xq[xi]) * static_cast<double>(wq[wj]);
        b += static_cast<double>(x.data[xi]) * static_cast<double>(w.data[wj]);
      }
      got[static_cast<size_t>(i * n + j)] = a;
      ref[static_cast<size_t>(i * n + j)] = b;
    }
  }
  return compare(std::span<const double>(got), std::span<const double>(ref));
}

AwqSearch awq_search(const Tensor& x, const Tensor& w, Scheme s) {
  const int64_t k = x.cols();
  std::vector<double> mean(static_cast<size_t>(k), 0.0);
  for (size_t i = 0; i < x.data.size(); ++i) mean[i % static_cast<size_t>(k)] += std::abs(x.data[i]);
  for (double& v : mean) v /= static_cast<double>(x.rows());
  AwqSearch best;
  bool first = true;
  constexpr int kGrid = 20;
  for (int g = 0; g < kGrid; ++g) {
    const double r = static_cast<double>(g) / kGrid;
    std::vector<double> sc(mean.size());
    double lo = INFINITY, hi = 0;
    for (size_t j = 0; j < sc.size(); ++j) {
      sc[j] = std::max(std::pow(mean[j], r), 1e-4);
      lo = std::min(lo, sc[j]);
      hi = std::max(hi, sc[j]);
    }
    std::vector<float> f(sc.size());
    for (size_t j = 0; j < sc.size(); ++j) f[j] = static_cast<float>(sc[j] / std::sqrt(hi * lo));
    const ErrorMetrics e = smoothed_gemm_error(x, w, s, f, true);
    if (first || e.rel_frobenius < best.error.rel_frobenius) {
      best = {r, f, e};
      first = false;
    }
  }
  return best;
}

ScaleRole parse_scale_role(std::string_view text, std::string_view flag) {
  if (text == "input") return ScaleRole::kInput;
  if (text == "weight") return ScaleRole::kWeight;
  if (text == "k") return ScaleRole::kK;
  if (text == "v") return ScaleRole::kV;
  throw InputError(fmt::format("{} {}: expected input, weight, k or v", flag, text));
}

std::string_view scale_key(ScaleRole r, Scheme s) {
  switch (r) {
    case ScaleRole::kInput:
      return "input_scale";
    case ScaleRole::kWeight:
      return s == Scheme::kNvfp4 ? "weight_scale_2" : "weight_scale";
    case ScaleRole::kK:
      return "k_scale";
    case ScaleRole::kV:
      return "v_scale";
  }
  return "input_scale";
}

std::string scales_file_bytes(const std::vector<StaticScale>& scales, const std::string& method,
                              const std::vector<NamedF32>& extra) {
  std::map<std::string, std::string> meta{{"producer", "bwsim calibrate"}, {"method", method}};
  std::vector<NamedF32> tensors;
  for (const StaticScale& sc : scales) {
    meta["format"] = std::string(scheme_name(sc.scheme));
    meta["amax:" + sc.tensor] = fmt::format("{:a}", sc.amax);
    tensors.push_back(NamedF32{sc.tensor, {}, {sc.scale()}});
  }
  tensors.insert(tensors.end(), extra.begin(), extra.end());
  return safetensors_f32_bytes(tensors, meta);
}

StaticScale read_static_scale(const std::string& spec, Scheme scheme, std::string_view flag) {
  if (!static_scale_applies(scheme)) {
    throw InputError(
        fmt::format("{} {}: {} has no per-tensor scale (static scales apply to nvfp4, fp8_e4m3 and "
                    "fp8_e5m2)",
                    flag, spec, scheme_name(scheme)));
  }
  const size_t colon = spec.find(".safetensors:");
  const std::string file = colon == std::string::npos ? spec : spec.substr(0, colon + 12);
  if (!file.ends_with(".safetensors"))
    throw InputError(fmt::format("{} {}: expected FILE.safetensors[:TENSOR]", flag, spec));
  LoadedTensor t;
  try {
    t = load_tensor(spec);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{} {}", flag, e.what()));
  }
  const std::string name = t.source.substr(t.source.rfind(':') + 1);
  if (t.tensor.data.size() != 1) {
    throw InputError(fmt::format("{} {}: holds {} values; a per-tensor scale is one", flag, t.source,
                                 t.tensor.data.size()));
  }
  const float v = t.tensor.data.front();
  if (!(v > 0) || !std::isfinite(v))
    throw InputError(fmt::format("{} {}: scale {} must be finite and > 0", flag, t.source, v));
  const std::map<std::string, std::string> meta = safetensors_metadata(file);
  if (const auto f = meta.find("format"); f != meta.end() && f->second != scheme_name(scheme)) {
    throw InputError(fmt::format("{} {}: a scale calibrated for {}, not {}", flag, t.source, f->second,
                                 scheme_name(scheme)));
  }
  StaticScale sc{name, scheme, static_cast<float>(static_cast<double>(v) * static_scale_range(scheme))};
  if (const auto a = meta.find("amax:" + name); a != meta.end()) {
    // The exact amax the scale came from; it must agree with the scale (a file edited by hand
    // changes the scale, not this).
    char* end = nullptr;
    const float exact = std::strtof(a->second.c_str(), &end);
    if (end != a->second.c_str() + a->second.size() || !(exact > 0) || !std::isfinite(exact))
      throw InputError(
          fmt::format("{} {}: metadata amax '{}' is not a positive number", flag, t.source, a->second));
    if (StaticScale{name, scheme, exact}.scale() == v) sc.amax = exact;
  }
  return sc;
}

}  // namespace bwsim
