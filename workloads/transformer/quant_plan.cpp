#include "workloads/transformer/quant_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <numeric>

#include "sim/config.hpp"
#include "sim/errors.hpp"

namespace bwsim {
namespace {

constexpr std::string_view kCheckpoint = "checkpoint";

bool is_gemm_class(WeightClass c) {
  return c == WeightClass::kAttention || c == WeightClass::kMlp || c == WeightClass::kExperts ||
         c == WeightClass::kLmHead;
}

std::string scheme_list() {
  std::string s;
  for (const auto& [n, v] : kSchemeNames) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

}  // namespace

QuantPlan QuantPlan::bf16() {
  QuantPlan q;
  q.weights.fill(Scheme::kBf16);
  return q;
}

QuantPlan QuantPlan::uniform(Scheme weights, KvFormat kv, bool keep_head_bf16) {
  QuantPlan q = bf16();
  for (WeightClass c : kAllWeightClasses) {
    if (is_gemm_class(c) && !(keep_head_bf16 && c == WeightClass::kLmHead))
      q.weights[static_cast<size_t>(c)] = weights;
  }
  q.kv = kv;
  return q;
}

double QuantPlan::bits(WeightClass c) const {
  return c == WeightClass::kNorm ? 16.0 : storage_bits(scheme(c));
}

GemmFormat QuantPlan::gemm_format(WeightClass c) const {
  const Scheme w = scheme(c);
  const Scheme a = activations.value_or(w);
  if (a == w) {
    return {a, w, false, std::string(scheme_name(w))};
  }
  if (a == Scheme::kBf16) {
    if (w == Scheme::kNvfp4) return parse_gemm_format("w4a16");
    if (w == Scheme::kFp8E4M3) return parse_gemm_format("w8a16");
    if (w == Scheme::kMxfp4) return parse_gemm_format("w4a16_mxfp4");
    throw InputError(fmt::format(
        "quantization: {} weights with BF16 activations: weight-only kernels exist for nvfp4 (w4a16), mxfp4 "
        "(w4a16_mxfp4) and fp8_e4m3 (w8a16)",
        scheme_name(w)));
  }
  return {a, w, false, fmt::format("{}:{}", scheme_name(a), scheme_name(w))};
}

std::string QuantPlan::text() const {
  const Scheme main = scheme(WeightClass::kAttention);
  std::string s = fmt::format("weights {}", scheme_name(main));
  std::string others;
  for (WeightClass c : kAllWeightClasses) {
    if (c == WeightClass::kNorm || scheme(c) == main) continue;
    if (c == WeightClass::kRouter && scheme(c) == Scheme::kBf16) continue;  // routers stay BF16 unless asked
    others +=
        fmt::format("{}{} {}", others.empty() ? "" : ", ", weight_class_name(c), scheme_name(scheme(c)));
  }
  if (!others.empty()) s += " (" + others + ")";
  if (std::find(from_checkpoint.begin(), from_checkpoint.end(), true) != from_checkpoint.end())
    s += " as the checkpoint ships them";
  s += fmt::format(", KV {}{}, activations {}", kv_format_name(kv), kv_from_checkpoint ? " (checkpoint)" : "",
                   activations ? std::string(scheme_name(*activations)) : "as weights");
  if (!keep_layers.empty()) {
    std::string ls;
    for (const int64_t l : keep_layers) ls += fmt::format("{}{}", ls.empty() ? "" : ", ", l);
    s += fmt::format("; layers {} kept in {}", ls, scheme_name(keep_format));
  }
  return s;
}

bool QuantPlan::kept(int64_t layer, int64_t layers) const {
  return std::any_of(keep_layers.begin(), keep_layers.end(),
                     [&](int64_t k) { return (k < 0 ? k + layers : k) == layer; });
}

QuantPlan QuantPlan::kept_plan() const {
  QuantPlan k = *this;
  k.keep_layers.clear();
  for (WeightClass c : {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts}) {
    k.weights[static_cast<size_t>(c)] = keep_format;
    k.from_checkpoint[static_cast<size_t>(c)] = false;
  }
  // Activations as the kept weights, unless the plan is weight-only and the kept format has a
  // weight-only kernel too.
  if (k.activations && !(*k.activations == Scheme::kBf16 && keep_format != Scheme::kBf16 &&
                         (keep_format == Scheme::kNvfp4 || keep_format == Scheme::kFp8E4M3 ||
                          keep_format == Scheme::kMxfp4))) {
    k.activations.reset();
  }
  return k;
}

QuantPlan QuantPlan::layer_plan(int64_t layer, int64_t layers) const {
  if (keep_layers.empty()) return *this;
  if (kept(layer, layers)) return kept_plan();
  QuantPlan q = *this;
  q.keep_layers.clear();
  return q;
}

void check_keep_layers(const QuantPlan& q, int64_t layers, std::string_view where) {
  std::vector<int64_t> seen;
  for (const int64_t k : q.keep_layers) {
    if (k < -layers || k >= layers) {
      throw InputError(fmt::format("{}: keep_layers {}: the model has layers 0..{} (or -{}..-1 from the end)",
                                   where, k, layers - 1, layers));
    }
    const int64_t l = k < 0 ? k + layers : k;
    if (std::find(seen.begin(), seen.end(), l) != seen.end())
      throw InputError(fmt::format("{}: keep_layers names layer {} twice", where, l));
    seen.push_back(l);
  }
}

QuantPlan read_quant_plan(ConfigReader& r) {
  const auto scheme_at = [&](std::string_view key, const std::string& name) {
    const auto s = parse_scheme(name);
    if (!s) r.fail(key, fmt::format("unknown format '{}' (one of: {})", name, scheme_list()));
    return *s;
  };
  std::string all;
  r.opt("weights", all, std::string("bf16"),
        "format of every GEMM weight (attention, mlp, experts, lm_head), or \"checkpoint\": what the "
        "model's quantization_config declares per class");
  QuantPlan q = QuantPlan::bf16();
  const bool all_checkpoint = all == kCheckpoint;
  const Scheme w = all_checkpoint ? Scheme::kBf16 : scheme_at("weights", all);
  for (WeightClass c : kAllWeightClasses) {
    if (is_gemm_class(c)) q.weights[static_cast<size_t>(c)] = w;
  }
  // Named plans (#28) for what deployments keep in higher precision. "modelopt": the classes NVIDIA
  // Model Optimizer leaves unquantized in every default config (_default_disabled_quantizer_cfg in
  // modelopt/torch/quantization/config.py: "*lm_head*", "*router*", "*mlp.gate.*"; embeddings are
  // no Linear and never quantized), so lm_head stays BF16 and `weights` covers the decoder layers'
  // GEMMs only. "edges": that, and the first and last decoder blocks in keep_format. A class key
  // given explicitly still wins.
  enum class Preset : uint8_t { kNone, kModelopt, kEdges };
  Preset preset = Preset::kNone;
  r.opt_enum("preset", preset, Preset::kNone,
             std::array<std::pair<std::string_view, Preset>, 3>{
                 {{"none", Preset::kNone}, {"modelopt", Preset::kModelopt}, {"edges", Preset::kEdges}}},
             "a named plan: modelopt keeps lm_head (with embedding and routers) in BF16 as Model "
             "Optimizer's default configs do; edges also keeps the first and last decoder blocks in "
             "keep_format (keep_layers [0, -1])");
  if (preset != Preset::kNone) q.weights[static_cast<size_t>(WeightClass::kLmHead)] = Scheme::kBf16;
  for (WeightClass c : {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts,
                        WeightClass::kLmHead, WeightClass::kEmbedding, WeightClass::kRouter}) {
    const std::string key(weight_class_name(c));
    const bool preset_head = preset != Preset::kNone && c == WeightClass::kLmHead;
    const std::string dflt(all_checkpoint && is_gemm_class(c) && !preset_head ? std::string(kCheckpoint)
                                                                              : scheme_name(q.scheme(c)));
    std::string v;
    r.opt(key, v, dflt, fmt::format("format of the {} weights (overrides weights), or \"checkpoint\"", key));
    q.from_checkpoint[static_cast<size_t>(c)] = v == kCheckpoint;
    q.weights[static_cast<size_t>(c)] = v == kCheckpoint ? Scheme::kBf16 : scheme_at(key, v);
  }
  std::string kv;
  r.opt("kv_cache", kv, std::string("bf16"),
        "KV-cache format (bf16, fp8_e4m3, fp8_e4m3:head, mxfp8, nvfp4, mxfp4), or \"checkpoint\"");
  q.kv_from_checkpoint = kv == kCheckpoint;
  const auto k = q.kv_from_checkpoint ? std::optional<KvFormat>(KvFormat::kBf16) : parse_kv_format(kv);
  if (!k) r.fail("kv_cache", fmt::format("unknown KV-cache format '{}'", kv));
  q.kv = *k;
  std::string act;
  r.opt(
      "activations", act, std::string("weights"),
      "the GEMMs' activation format: 'weights' (as the weights: W4A4, W8A8) or a format (bf16: weight-only)");
  if (act != "weights") q.activations = scheme_at("activations", act);
  for (WeightClass c : kAllWeightClasses) {
    if (!is_gemm_class(c)) continue;
    try {
      (void)q.gemm_format(c);
    } catch (const InputError& e) {
      r.fail("activations", e.what());
    }
  }
  r.opt("keep_layers", q.keep_layers, std::vector<int64_t>{},
        "decoder layers kept in keep_format (negative: from the end; [0, -1]: the first and last blocks)");
  if (preset == Preset::kEdges) {
    if (!q.keep_layers.empty()) r.fail("preset", "\"edges\" sets keep_layers: give one or the other");
    q.keep_layers = {0, -1};
  }
  std::string keep;
  r.opt("keep_format", keep, std::string("bf16"),
        "format of the keep_layers' attention, MLP and expert GEMMs");
  q.keep_format = scheme_at("keep_format", keep);
  for (WeightClass c : {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts}) {
    try {
      (void)q.kept_plan().gemm_format(c);
    } catch (const InputError& e) {
      r.fail("keep_format", e.what());
    }
  }
  return q;
}

void resolve_checkpoint(QuantPlan& q, const ModelSpec& m, std::string_view where) {
  const bool any = q.kv_from_checkpoint || std::find(q.from_checkpoint.begin(), q.from_checkpoint.end(),
                                                     true) != q.from_checkpoint.end();
  if (!any) return;
  if (!m.checkpoint) {
    throw InputError(
        fmt::format("{}: [quantization] \"checkpoint\": {} declares no quantization_config (only a "
                    "Hugging Face config.json of a quantized checkpoint does)",
                    where, m.name));
  }
  if (!m.checkpoint->unsupported.empty())
    throw InputError(fmt::format("{}: [quantization] \"checkpoint\": {}", where, m.checkpoint->unsupported));
  for (WeightClass c : kAllWeightClasses) {
    if (!q.from_checkpoint[static_cast<size_t>(c)]) continue;
    const auto s = parse_scheme(m.checkpoint->weights[static_cast<size_t>(c)]);
    if (!s)
      throw InputError(
          fmt::format("{}: checkpoint format '{}'", where, m.checkpoint->weights[static_cast<size_t>(c)]));
    q.weights[static_cast<size_t>(c)] = *s;
  }
  if (q.kv_from_checkpoint) {
    if (m.checkpoint->kv.empty()) {
      throw InputError(
          fmt::format("{}: [quantization] kv_cache = \"checkpoint\": {}'s {} checkpoint declares no "
                      "KV-cache format",
                      where, m.name, m.checkpoint->method));
    }
    q.kv = *parse_kv_format(m.checkpoint->kv);
  }
  for (WeightClass c : kAllWeightClasses) {
    if (!is_gemm_class(c)) continue;
    try {
      (void)q.gemm_format(c);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: [quantization] {} weights from the checkpoint: {}", where,
                                   weight_class_name(c), e.what()));
    }
  }
}

double WeightBytes::total() const { return std::accumulate(by_class.begin(), by_class.end(), 0.0) + mtp; }

WeightBytes weight_bytes(const ModelSpec& m, const QuantPlan& q) {
  WeightBytes b;
  const ParamCount p = m.params();
  const ParamCount mtp = m.mtp_params();
  for (WeightClass c : kAllWeightClasses) {
    b.by_class[static_cast<size_t>(c)] = p[c] * q.bits(c) / 8;
    b.mtp += mtp[c] * q.bits(c) / 8;
  }
  // Kept layers store their classes in the kept format.
  const QuantPlan k = q.kept_plan();
  for (int64_t l = 0; l < m.layers && !q.keep_layers.empty(); ++l) {
    if (!q.kept(l, m.layers)) continue;
    const ParamCount lp = m.layer_params(l);
    for (WeightClass c : {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts})
      b.by_class[static_cast<size_t>(c)] += lp[c] * (k.bits(c) - q.bits(c)) / 8;
  }
  return b;
}

double kv_bytes_per_token(const ModelSpec& m, const QuantPlan& q) {
  return static_cast<double>(m.layers) * static_cast<double>(m.kv_elements_per_token()) *
         kv_bits_per_element(q.kv) / 8;
}

}  // namespace bwsim
