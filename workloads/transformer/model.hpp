// A decoder-only transformer as bwsim replays it: dimensions, attention kind (GQA / MQA, or
// DeepSeek's MLA), dense or mixture-of-experts MLP, RoPE, and multi-token-prediction modules.
// Loaded from bwsim's TOML schema (configs/models/*.toml) or imported from a Hugging Face
// config.json (hf_import.hpp). Parameter counts follow the Hugging Face modules tensor by tensor,
// so they can be checked against the published model sizes.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/attention/rope.hpp"

namespace bwsim {

/// Multi-head latent attention (DeepSeek-V2/V3): Q through a low-rank bottleneck (q_lora_rank;
/// 0: projected directly), K and V expanded from a kv_lora_rank latent that, with one shared
/// rope key of rope_dim, is all the KV cache holds.
struct MlaSpec {
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t nope_dim = 0;  // qk_nope_head_dim
  int64_t rope_dim = 0;  // qk_rope_head_dim
  int64_t v_dim = 0;     // v_head_dim
};

/// Mixture of experts in place of the dense MLP, in every `layer_step`-th layer past the first
/// `dense_layers`.
struct MoeSpec {
  int64_t experts = 0;       // routed experts
  int64_t top_k = 0;         // routed experts per token
  int64_t expert_ffn = 0;    // intermediate size of one routed expert
  int64_t shared_ffn = 0;    // intermediate size of the always-active shared expert(s), 0: none
  bool shared_gate = false;  // Qwen2-MoE: a sigmoid gate (hidden -> 1) scales the shared expert
  int64_t dense_layers = 0;  // first layers with a dense MLP (first_k_dense_replace)
  int64_t layer_step = 1;    // MoE in layers l >= dense_layers with (l + 1) % layer_step == 0
  bool router_bias = false;  // a bias per expert on the router (DeepSeek-V3's e_score_correction_bias,
                             // gpt-oss's router Linear bias)
  bool expert_bias = false;  // gpt-oss: each expert's gate_up (2 x expert_ffn) and down (hidden) biases
  /// Parameters of one routed expert: gate, up and down projections, and their biases.
  [[nodiscard]] double expert_params(int64_t hidden) const {
    const auto H = static_cast<double>(hidden);
    const auto I = static_cast<double>(expert_ffn);
    return 3 * H * I + (expert_bias ? 2 * I + H : 0);
  }
};

/// Weight classes the quantization plan assigns formats to.
enum class WeightClass { kEmbedding, kAttention, kMlp, kExperts, kRouter, kNorm, kLmHead };
inline constexpr size_t kWeightClasses = 7;
[[nodiscard]] std::string_view weight_class_name(WeightClass c);
inline constexpr std::array<WeightClass, kWeightClasses> kAllWeightClasses{
    WeightClass::kEmbedding, WeightClass::kAttention, WeightClass::kMlp,   WeightClass::kExperts,
    WeightClass::kRouter,    WeightClass::kNorm,      WeightClass::kLmHead};

/// The formats a checkpoint ships its weights in, as its config.json's quantization_config
/// declares them: a scheme name per weight class ("bf16" where it is not converted).
struct CheckpointFormat {
  std::string method;  // quant_method: "mxfp4", "fp8", "modelopt", ...
  std::array<std::string, kWeightClasses> weights;
  std::string kv;           // the KV-cache format it declares ("" where none)
  std::string unsupported;  // why bwsim cannot take its formats ("" where it can)
};

/// Parameters per weight class.
struct ParamCount {
  std::array<double, kWeightClasses> by_class{};
  [[nodiscard]] double total() const;
  [[nodiscard]] double operator[](WeightClass c) const { return by_class[static_cast<size_t>(c)]; }
  double& operator[](WeightClass c) { return by_class[static_cast<size_t>(c)]; }
  ParamCount& operator+=(const ParamCount& o);
};

struct ModelSpec {
  std::string name;
  std::string source;  // the file it came from
  std::string family;  // Hugging Face model_type, or "custom"
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t vocab = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;  // per head (MLA: unused; see mla)
  int64_t ffn = 0;       // dense MLP intermediate size (gated: gate, up, down)
  bool qkv_bias = false;
  bool o_bias = false;
  bool qk_norm = false;    // Qwen3, Gemma 3: RMSNorm over each head's Q and K
  bool qk_l2norm = false;  // Llama 4: a weightless RMS norm of each head's Q and K, RoPE layers only
  bool gelu_mlp = false;   // Gemma 3: the gate through GELU's tanh form (GeGLU), not SiLU
  double swiglu_limit =
      0;  // gpt-oss: clamped SwiGLU (gate <= limit, |up| <= limit, (up + 1) x gate x sigmoid(1.702 gate))
  bool attention_sinks = false;  // gpt-oss: a learned logit per query head added to the softmax's denominator
  /// Scores scale by 1/sqrt(query_scalar) instead of 1/sqrt(head dim) where > 0 (Gemma's
  /// query_pre_attn_scalar: 168 for Gemma-3-27B's 128-dim heads).
  int64_t query_scalar = 0;
  /// Llama 4's attention temperature tuning: a NoPE layer scales the query at position p by
  /// log(floor((p + 1) / temperature_floor) + 1) x temperature_scale + 1 (0: off).
  int64_t temperature_floor = 0;
  double temperature_scale = 0.1;
  bool scaled_embedding = false;  // Gemma: the embedding times sqrt(hidden), the factor in BF16
  bool tie_embeddings = false;
  /// RMSNorms per decoder layer: 2 (pre-attention, pre-MLP), or 4 with Gemma's post-norms
  /// (post-attention and post-feedforward as well).
  int64_t norms_per_layer = 2;
  int64_t max_positions = 0;
  /// Sliding-window attention: a windowed layer attends to (and caches) only the last `window`
  /// keys (0: no window). Layer l is windowed unless window_every > 0 and (l + 1) % window_every
  /// == 0: Gemma 3 has every 6th layer global, gpt-oss every 2nd; 0 windows every layer (Mistral).
  int64_t window = 0;
  int64_t window_every = 0;
  /// The windowed layers attend within fixed chunks of `window` tokens (Llama 4's chunked local
  /// attention: a query sees its own chunk up to itself) instead of a sliding window. Either way
  /// they cache at most `window` keys.
  bool window_chunked = false;
  /// Layers before this one attend globally whatever the window (Qwen2's max_window_layers).
  int64_t window_first = 0;
  /// The windowed layers' own RoPE where it differs from `rope` (Gemma 3's local layers:
  /// rope_local_base_freq, no scaling).
  std::optional<RopeSpec> window_rope;
  /// Layer l uses no RoPE when nope_every > 0 and (l + 1) % nope_every == 0 (Llama 4's NoPE
  /// layers, every 4th).
  int64_t nope_every = 0;
  std::optional<RopeSpec> rope;
  std::optional<MlaSpec> mla;
  std::optional<MoeSpec> moe;
  int64_t mtp_modules = 0;  // DeepSeek-style sequential MTP modules (num_nextn_predict_layers)
  std::optional<CheckpointFormat> checkpoint;  // from quantization_config
  // What the importer did not carry into the model: unknown keys and unsupported settings.
  std::vector<std::string> notes;
  // Keys of the source that have no bearing on inference time or numbers (ids, dtypes, dropout,
  // training-only losses), listed so nothing is dropped unseen.
  std::vector<std::string> ignored;

  [[nodiscard]] bool moe_layer(int64_t layer) const;
  [[nodiscard]] bool nope_layer(int64_t layer) const {
    return nope_every > 0 && (layer + 1) % nope_every == 0;
  }
  /// The RoPE layer `layer` applies (none for a NoPE layer).
  [[nodiscard]] std::optional<RopeSpec> layer_rope(int64_t layer) const {
    if (nope_layer(layer)) return std::nullopt;
    return window_layer(layer) && window_rope ? window_rope : rope;
  }
  [[nodiscard]] bool window_layer(int64_t layer) const {
    return window > 0 && layer >= window_first && (window_every == 0 || (layer + 1) % window_every != 0);
  }
  /// Decoder layers with a sliding window.
  [[nodiscard]] int64_t window_layers() const;
  /// KV-cache token slots a sequence of `context` tokens holds, summed over the layers (a
  /// windowed layer keeps at most `window`): layers x context without windows.
  [[nodiscard]] double kv_layer_tokens(int64_t context) const;
  /// Parameters of decoder layer `layer` (0-based).
  [[nodiscard]] ParamCount layer_params(int64_t layer) const;
  /// The whole model: embedding, every layer, final norm, lm_head (unless tied); MTP modules
  /// apart (mtp_params).
  [[nodiscard]] ParamCount params() const;
  /// Parameters one token's forward pass reads: top_k routed experts instead of all.
  [[nodiscard]] ParamCount active_params() const;
  /// The MTP modules as checkpoints store them (DeepSeek-V3: norms, the 2H x H projection, one
  /// decoder layer each; embedding and head shared, not counted).
  [[nodiscard]] ParamCount mtp_params() const;
  /// KV-cache elements per token and layer: K and V of every KV head, or MLA's latent plus its
  /// rope key.
  [[nodiscard]] int64_t kv_elements_per_token() const;
  /// Q/K and V dims per head as attention computes them (MLA: nope + rope, and v_dim).
  [[nodiscard]] int64_t qk_dim() const;
  [[nodiscard]] int64_t v_dim() const;
};

/// Throws InputError (naming `where` and the field) for missing or inconsistent dimensions.
void check_model(const ModelSpec& m, std::string_view where);

/// bwsim's TOML model schema; `base = "..."` inheritance and `overrides` ("a.b=v", from --set)
/// as for hardware configs. Unknown keys are errors naming file and line.
[[nodiscard]] ModelSpec load_model_toml(const std::filesystem::path& file,
                                        const std::vector<std::string>& overrides = {});
/// A .toml model, or a Hugging Face config.json (by extension; `allow_unknown_model`: see
/// HfImportOptions).
[[nodiscard]] ModelSpec load_model(const std::filesystem::path& file,
                                   const std::vector<std::string>& overrides = {},
                                   bool allow_unknown_model = false);

}  // namespace bwsim
