// The quantization plan of a model: a format per weight class (attention projections, dense MLP
// and shared experts, routed experts, embedding, lm_head, router), the KV-cache format, and the
// activations' format for the GEMMs; and what the plan costs in bytes.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "isa/quantize.hpp"
#include "workloads/attention/attention.hpp"
#include "workloads/gemm/format.hpp"
#include "workloads/transformer/model.hpp"

namespace bwsim {

class ConfigReader;

struct QuantPlan {
  // Weight storage per class, as a quantization scheme name ("bf16", "nvfp4", "fp8_e4m3",
  // "fp8_block", "mxfp4", ...). Norms are always BF16.
  std::array<Scheme, kWeightClasses> weights{};
  KvFormat kv = KvFormat::kBf16;
  // The GEMMs' A operand: nullopt = the weights' own scheme (W4A4, W8A8, ...); kBf16 = weight-only
  // (weights dequantized on chip, BF16 tensor math).
  std::optional<Scheme> activations;
  /// Classes whose format is "checkpoint": the model's quantization_config decides it, once
  /// resolve_checkpoint() has seen the model (until then `weights` holds bf16 for them).
  std::array<bool, kWeightClasses> from_checkpoint{};
  bool kv_from_checkpoint = false;
  /// Decoder layers kept in higher precision (negative: from the end, -1 the last): their
  /// attention, MLP and expert GEMMs run `keep_format`, weights and activations, as deployments
  /// keep the first and last blocks (#28). Embedding, router and lm_head keep their classes'.
  std::vector<int64_t> keep_layers;
  Scheme keep_format = Scheme::kBf16;

  /// BF16 everywhere.
  static QuantPlan bf16();
  /// `weights` for the GEMM classes (attention, mlp, experts, lm_head unless keep_head_bf16),
  /// BF16 embedding and router, the given KV format.
  static QuantPlan uniform(Scheme weights, KvFormat kv, bool keep_head_bf16 = true);

  [[nodiscard]] Scheme scheme(WeightClass c) const { return weights[static_cast<size_t>(c)]; }
  /// Storage bits per weight element of class `c`, scales included.
  [[nodiscard]] double bits(WeightClass c) const;
  /// The GEMM format the class's projections run in (A:B), or an InputError naming the
  /// combination when no kernel does (e.g. NVFP4 weights with MXFP8 activations).
  [[nodiscard]] GemmFormat gemm_format(WeightClass c) const;
  /// "weights nvfp4 (lm_head bf16, embedding bf16), KV fp8_e4m3, activations as weights".
  [[nodiscard]] std::string text() const;
  /// Whether decoder layer `layer` of `layers` is one of keep_layers.
  [[nodiscard]] bool kept(int64_t layer, int64_t layers) const;
  /// The plan a kept layer follows: this one with its attention, MLP and expert classes in
  /// keep_format (activations as those weights) and no keep_layers.
  [[nodiscard]] QuantPlan kept_plan() const;
  /// The plan of layer `layer` of `layers`.
  [[nodiscard]] QuantPlan layer_plan(int64_t layer, int64_t layers) const;
};

/// Throws InputError naming `where` when a keep_layers index is outside [-layers, layers) or
/// names a layer twice.
void check_keep_layers(const QuantPlan& q, int64_t layers, std::string_view where);

/// Reads a [quantization] table: `weights` (every GEMM class), per-class overrides (attention,
/// mlp, experts, lm_head, embedding, router), `kv_cache`, `activations` ("weights" or a scheme).
/// Any of them may be "checkpoint" (the model's own format). Unknown schemes fail at their key.
QuantPlan read_quant_plan(ConfigReader& r);

/// Gives the "checkpoint" classes (and KV cache) the formats `m` declares, or throws an
/// InputError naming `where` when the model declares none, or none bwsim takes.
void resolve_checkpoint(QuantPlan& q, const ModelSpec& m, std::string_view where);

/// Bytes of a model's weights under a plan, per class (MTP modules apart).
struct WeightBytes {
  std::array<double, kWeightClasses> by_class{};
  double mtp = 0;
  [[nodiscard]] double total() const;
};
WeightBytes weight_bytes(const ModelSpec& m, const QuantPlan& q);

/// KV-cache bytes per token of context, all layers (scales included).
double kv_bytes_per_token(const ModelSpec& m, const QuantPlan& q);

}  // namespace bwsim
