#include "workloads/attention/rope.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

#include "sim/errors.hpp"

namespace bwsim {
namespace {

constexpr std::pair<std::string_view, RopeType> kTypes[] = {
    {"default", RopeType::kDefault}, {"linear", RopeType::kLinear}, {"ntk", RopeType::kNtk},
    {"dynamic", RopeType::kDynamic}, {"yarn", RopeType::kYarn},     {"longrope", RopeType::kLongRope},
    {"llama3", RopeType::kLlama3},
};

std::string type_list() {
  std::string s;
  for (const auto& [name, t] : kTypes) s.append(s.empty() ? "" : ", ").append(name);
  return s;
}

double parse_number(std::string_view v, std::string_view flag, std::string_view key, std::string_view text) {
  double d = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc{} || p != v.data() + v.size() || !std::isfinite(d)) {
    throw InputError(fmt::format("{} {}: {}={} is not a number", flag, text, key, v));
  }
  return d;
}

int64_t parse_count(std::string_view v, std::string_view flag, std::string_view key, std::string_view text) {
  const double d = parse_number(v, flag, key, text);
  if (d < 1 || d != std::floor(d) || d > 1e15) {
    throw InputError(fmt::format("{} {}: {}={} must be a whole number of tokens >= 1", flag, text, key, v));
  }
  return static_cast<int64_t>(d);
}

// HF's get_mscale: 0.1 * m * ln(scale) + 1 for scale > 1.
double get_mscale(double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

// YaRN's inverse dimension formula: the dim whose wavelength makes `rotations` turns over `orig`.
double correction_dim(double rotations, double dim, double base, double orig) {
  return dim * std::log(orig / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

}  // namespace

std::string_view rope_type_name(RopeType t) {
  for (const auto& [name, type] : kTypes)
    if (type == t) return name;
  return "?";
}

std::optional<RopePrecision> parse_rope_precision(std::string_view text) {
  if (text == "f32" || text == "float32") return RopePrecision::kFloat32;
  if (text == "f64" || text == "float64") return RopePrecision::kFloat64;
  return std::nullopt;
}

std::string_view rope_precision_name(RopePrecision p) { return p == RopePrecision::kFloat32 ? "f32" : "f64"; }

RopeSpec parse_rope(std::string_view text, std::string_view flag) {
  RopeSpec s;
  s.text = std::string(text);
  const size_t colon = text.find(':');
  const std::string_view type = text.substr(0, colon);
  const auto it =
      std::find_if(std::begin(kTypes), std::end(kTypes), [&](const auto& e) { return e.first == type; });
  if (it == std::end(kTypes)) {
    throw InputError(
        fmt::format("{} {}: unknown RoPE type '{}' (one of: {})", flag, text, type, type_list()));
  }
  s.type = it->second;
  bool has_factor = false;
  std::string_view rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view kv = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      throw InputError(fmt::format("{} {}: '{}' is not key=value", flag, text, kv));
    }
    const std::string_view key = kv.substr(0, eq);
    const std::string_view val = kv.substr(eq + 1);
    const auto num = [&] { return parse_number(val, flag, key, text); };
    const auto list = [&] {
      std::vector<double> out;
      std::string_view r = val;
      while (true) {
        const size_t slash = r.find('/');
        out.push_back(parse_number(r.substr(0, slash), flag, key, text));
        if (slash == std::string_view::npos) break;
        r = r.substr(slash + 1);
      }
      return out;
    };
    const bool yarn = s.type == RopeType::kYarn;
    const bool longrope = s.type == RopeType::kLongRope;
    const bool llama3 = s.type == RopeType::kLlama3;
    if (key == "theta" || key == "base" || key == "rope_theta") {
      s.theta = num();
    } else if (key == "partial" || key == "partial_rotary_factor") {
      s.partial = num();
    } else if (key == "style") {
      if (val == "half" || val == "half-split") {
        s.style = RopeStyle::kHalfSplit;
      } else if (val == "interleaved") {
        s.style = RopeStyle::kInterleaved;
      } else {
        throw InputError(fmt::format("{} {}: style={} (expected half or interleaved)", flag, text, val));
      }
    } else if (key == "factor" && s.type != RopeType::kDefault) {
      s.factor = num();
      has_factor = true;
    } else if ((key == "original" || key == "original_max_position_embeddings") &&
               (yarn || longrope || llama3)) {
      s.original = parse_count(val, flag, key, text);
    } else if ((key == "max_pos" || key == "max_position_embeddings") &&
               (s.type == RopeType::kDynamic || longrope || yarn)) {
      s.max_pos = parse_count(val, flag, key, text);
    } else if (key == "beta_fast" && yarn) {
      s.beta_fast = num();
    } else if (key == "beta_slow" && yarn) {
      s.beta_slow = num();
    } else if (key == "mscale" && yarn) {
      s.mscale = num();
    } else if (key == "mscale_all_dim" && yarn) {
      s.mscale_all_dim = num();
    } else if (key == "truncate" && yarn) {
      if (val != "true" && val != "false")
        throw InputError(fmt::format("{} {}: truncate={} (expected true or false)", flag, text, val));
      s.truncate = val == "true";
    } else if (key == "attention_factor" && (yarn || longrope)) {
      s.attention_factor = num();
    } else if ((key == "short" || key == "short_factor") && longrope) {
      s.short_factor = list();
    } else if ((key == "long" || key == "long_factor") && longrope) {
      s.long_factor = list();
    } else if (key == "low_freq_factor" && llama3) {
      s.low_freq_factor = num();
    } else if (key == "high_freq_factor" && llama3) {
      s.high_freq_factor = num();
    } else {
      throw InputError(fmt::format("{} {}: unknown key '{}' for RoPE type {}", flag, text, key, type));
    }
  }
  // Validation, per type.
  const auto need = [&](bool ok, std::string_view what) {
    if (!ok) throw InputError(fmt::format("{} {}: {} {}", flag, text, rope_type_name(s.type), what));
  };
  need(s.theta > 1, "needs theta > 1");
  need(s.partial > 0 && s.partial <= 1, "needs 0 < partial <= 1");
  const bool scaled = s.type != RopeType::kDefault;
  if (scaled && s.type != RopeType::kLongRope) need(has_factor, "needs factor=F");
  if (has_factor) need(s.factor > 0, fmt::format("needs factor > 0 (got {})", s.factor));
  switch (s.type) {
    case RopeType::kDefault:
    case RopeType::kLinear:
    case RopeType::kNtk:
      break;
    case RopeType::kDynamic:
      need(s.max_pos > 0, "needs max_pos=N (max_position_embeddings)");
      break;
    case RopeType::kYarn:
      need(s.original > 0, "needs original=N (original_max_position_embeddings)");
      need(s.beta_fast > 0 && s.beta_slow > 0, "needs beta_fast, beta_slow > 0");
      if (s.attention_factor) need(*s.attention_factor > 0, "needs attention_factor > 0");
      break;
    case RopeType::kLongRope:
      need(s.original > 0, "needs original=N (original_max_position_embeddings)");
      need(!s.short_factor.empty() && !s.long_factor.empty(),
           "needs short=a/b/... and long=a/b/... factor lists");
      for (double f : s.short_factor) need(f > 0, "factor lists must be > 0");
      for (double f : s.long_factor) need(f > 0, "factor lists must be > 0");
      if (!has_factor && s.max_pos > 0)
        s.factor = static_cast<double>(s.max_pos) / static_cast<double>(s.original);
      if (s.attention_factor) need(*s.attention_factor > 0, "needs attention_factor > 0");
      break;
    case RopeType::kLlama3:
      need(s.original > 0, "needs original=N (original_max_position_embeddings)");
      // Equal factors leave no band between the kept and the divided frequencies (Llama 4 Scout:
      // low = high = 1).
      need(s.low_freq_factor > 0 && s.high_freq_factor >= s.low_freq_factor,
           "needs 0 < low_freq_factor <= high_freq_factor");
      break;
  }
  return s;
}

double yarn_softmax_multiplier(const RopeSpec& spec) {
  if (spec.type != RopeType::kYarn || !spec.mscale_all_dim || *spec.mscale_all_dim == 0) return 1.0;
  const double m = get_mscale(spec.factor, *spec.mscale_all_dim);
  return m * m;
}

RopeTable rope_table(const RopeSpec& spec, int head_dim, int64_t seq_len, RopePrecision precision,
                     std::string_view flag) {
  RopeTable t;
  t.spec = spec;
  t.precision = precision;
  t.head_dim = head_dim;
  const int dim = static_cast<int>(head_dim * spec.partial);  // HF: int(head_dim * partial_rotary_factor)
  if (head_dim <= 0 || dim < 2 || dim % 2 != 0) {
    throw InputError(fmt::format("{} {}: rotary dims int({} x {}) = {} must be even and >= 2", flag,
                                 spec.text, head_dim, spec.partial, dim));
  }
  t.rot_dim = dim;
  const int half = dim / 2;
  const bool f32 = precision == RopePrecision::kFloat32;
  // r(x): a value as the reference stack holds it (float32 rounding in kFloat32).
  const auto r = [f32](double x) { return f32 ? static_cast<double>(static_cast<float>(x)) : x; };
  // base^(2i/dim) as torch computes `base ** (arange(0, dim, 2).float() / dim)`: the exponent and
  // the power each rounded to float32, the base cast to float32.
  const auto pos_freq = [&](double base, int i) { return r(std::pow(r(base), r(r(2.0 * i) / dim))); };
  const auto default_inv = [&](double base) {
    std::vector<double> inv(half);
    for (int i = 0; i < half; ++i) inv[i] = r(1.0 / pos_freq(base, i));
    return inv;
  };
  const double d = dim;
  switch (spec.type) {
    case RopeType::kDefault:
      t.inv_freq = default_inv(spec.theta);
      break;
    case RopeType::kLinear:
      t.inv_freq = default_inv(spec.theta);
      for (double& v : t.inv_freq) v = r(v / r(spec.factor));
      break;
    case RopeType::kNtk:
      t.effective_theta = spec.theta * std::pow(spec.factor, d / (d - 2));
      t.inv_freq = default_inv(t.effective_theta);
      break;
    case RopeType::kDynamic: {
      const double L = static_cast<double>(std::max(seq_len, spec.max_pos));
      t.effective_theta =
          spec.theta *
          std::pow(spec.factor * L / static_cast<double>(spec.max_pos) - (spec.factor - 1), d / (d - 2));
      t.inv_freq = default_inv(t.effective_theta);
      break;
    }
    case RopeType::kYarn: {
      const double orig = static_cast<double>(spec.original);
      double low = correction_dim(spec.beta_fast, d, spec.theta, orig);
      double high = correction_dim(spec.beta_slow, d, spec.theta, orig);
      if (spec.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, d - 1);
      t.yarn_low = low;
      t.yarn_high = high;
      const double span = low == high ? high + 0.001 - low : high - low;  // HF: prevent singularity
      t.inv_freq.resize(half);
      for (int i = 0; i < half; ++i) {
        const double pf = pos_freq(spec.theta, i);
        const double extrap = r(1.0 / pf);
        const double interp = r(1.0 / r(r(spec.factor) * pf));
        const double ramp = std::clamp(r(r(i - low) / r(span)), 0.0, 1.0);
        const double extrap_factor = r(1.0 - ramp);
        t.inv_freq[i] = r(r(interp * r(1.0 - extrap_factor)) + r(extrap * extrap_factor));
      }
      if (spec.attention_factor) {
        t.attention_factor = *spec.attention_factor;
      } else if (spec.mscale && spec.mscale_all_dim && *spec.mscale != 0 && *spec.mscale_all_dim != 0) {
        t.attention_factor =
            get_mscale(spec.factor, *spec.mscale) / get_mscale(spec.factor, *spec.mscale_all_dim);
      } else {
        t.attention_factor = get_mscale(spec.factor, 1.0);
      }
      break;
    }
    case RopeType::kLongRope: {
      const std::vector<double>& ext = seq_len > spec.original ? spec.long_factor : spec.short_factor;
      if (std::ssize(spec.short_factor) != half || std::ssize(spec.long_factor) != half) {
        throw InputError(
            fmt::format("{} {}: longrope short/long factor lists have {} and {} values; rotary dims {} "
                        "need {} (one per frequency)",
                        flag, spec.text, spec.short_factor.size(), spec.long_factor.size(), dim, half));
      }
      t.inv_freq.resize(half);
      for (int i = 0; i < half; ++i) t.inv_freq[i] = r(1.0 / r(r(ext[i]) * pos_freq(spec.theta, i)));
      if (spec.attention_factor) {
        t.attention_factor = *spec.attention_factor;
      } else if (spec.factor > 1) {
        t.attention_factor =
            std::sqrt(1 + std::log(spec.factor) / std::log(static_cast<double>(spec.original)));
      }
      break;
    }
    case RopeType::kLlama3: {
      t.inv_freq = default_inv(spec.theta);
      const double orig = static_cast<double>(spec.original);
      const double low_wavelen = orig / spec.low_freq_factor;
      const double high_wavelen = orig / spec.high_freq_factor;
      for (double& v : t.inv_freq) {
        const double wavelen = r(r(2 * std::numbers::pi) / v);
        if (wavelen < r(high_wavelen)) continue;  // high frequency: kept
        // Low frequency: divided by factor. With equal factors a wavelength exactly at the cut has
        // no band to blend over (transformers divides 0 by 0 there) and is divided too.
        if (wavelen > r(low_wavelen) || spec.high_freq_factor == spec.low_freq_factor) {
          v = r(v / r(spec.factor));
          continue;
        }
        const double smooth = r(r(r(r(orig) / wavelen) - r(spec.low_freq_factor)) /
                                r(spec.high_freq_factor - spec.low_freq_factor));
        v = r(r(r(r(1.0 - smooth) * v) / r(spec.factor)) + r(smooth * v));
      }
      break;
    }
  }
  if (f32) t.attention_factor = r(t.attention_factor);
  return t;
}

void RopeTable::cos_sin(int64_t pos, std::span<double> cos, std::span<double> sin) const {
  const bool f32 = precision == RopePrecision::kFloat32;
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    if (f32) {
      // torch: float32(pos) * inv_freq rounded to float32, then cos/sin of that angle, times the
      // attention factor in float32.
      const float angle = static_cast<float>(pos) * static_cast<float>(inv_freq[i]);
      const auto c = static_cast<float>(std::cos(static_cast<double>(angle)));
      const auto s = static_cast<float>(std::sin(static_cast<double>(angle)));
      cos[i] = static_cast<float>(c * static_cast<float>(attention_factor));
      sin[i] = static_cast<float>(s * static_cast<float>(attention_factor));
    } else {
      const double angle = static_cast<double>(pos) * inv_freq[i];
      cos[i] = std::cos(angle) * attention_factor;
      sin[i] = std::sin(angle) * attention_factor;
    }
  }
}

void RopeTable::apply(int64_t pos, std::span<double> x) const {
  const size_t half = inv_freq.size();
  double cbuf[512];
  double sbuf[512];
  std::vector<double> heap;
  std::span<double> c(cbuf, half);
  std::span<double> s(sbuf, half);
  if (half > 512) {
    heap.resize(2 * half);
    c = std::span<double>(heap.data(), half);
    s = std::span<double>(heap.data() + half, half);
  }
  cos_sin(pos, c, s);
  const bool f32 = precision == RopePrecision::kFloat32;
  const auto r = [f32](double v) { return f32 ? static_cast<double>(static_cast<float>(v)) : v; };
  for (size_t i = 0; i < half; ++i) {
    // Half-split pairs (i, i + half) as rotate_half does; interleaved pairs (2i, 2i + 1).
    const bool inter = spec.style == RopeStyle::kInterleaved;
    const size_t a = inter ? 2 * i : i;
    const size_t b = inter ? 2 * i + 1 : i + half;
    const double x1 = x[a];
    const double x2 = x[b];
    x[a] = r(r(x1 * c[i]) - r(x2 * s[i]));
    x[b] = r(r(x2 * c[i]) + r(x1 * s[i]));
  }
}

}  // namespace bwsim
