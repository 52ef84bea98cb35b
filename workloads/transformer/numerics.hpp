// Model-level numerics: how a quantization plan's errors add up through a decoder, on a seeded
// replica of the model small enough to run exactly.
//
// The replica keeps the model's head dim, GQA group, FFN-to-hidden ratio, RoPE and norms, and cuts
// the width (query heads until the hidden size is at most `width`), the depth (`layers`) and the
// vocabulary. Weights are seeded Gaussians (std 1/sqrt(fan-in)); the prompt's hidden states are
// Gaussian with a few outlier channels 20x larger, as real residual streams carry. A prefill of
// `tokens` positions runs twice:
//  - the reference, all in float64 (RoPE in float64 too);
//  - as the GPU computes it: every projection through the GEMM's exact numbers (the plan's
//    formats for A and B, the tensor core's float32 accumulation, BF16 output), attention through
//    attention_functional (Q, K rotated and rounded to BF16, K and V stored in the KV-cache
//    format, float32 online softmax), RMSNorm, SiLU x mul and the residual adds in float32 with
//    BF16 results, the residual stream in BF16.
// Reported: the residual stream's error after every layer and the logits' error, the share of
// positions whose top token matches the reference, and the mean KL divergence of the next-token
// distributions. GQA / MHA decoders (Llama, Qwen, Mistral, Phi-3), dense or MoE (4 x top-k of the
// experts kept, at least 8, each token routed to its top-k by a BF16 router, the renormalized softmax of the
// chosen logits weighting them; shared experts always on), and MLA (DeepSeek; its latent ranks
// scaled with the width, prefill run expanded: Q through its LoRA, K and V from the normed
// latent, the decoupled rope key shared by all heads). Each layer attends through its sliding
// window or chunk with its own RoPE (Gemma 3's local base, Llama 4's NoPE layers), adds
// gpt-oss's sinks (seeded N(0, 1) logits per head), normalizes Q and K per head where the model
// does (Qwen3, Gemma 3, Llama 4), and gates with gpt-oss's clamped SwiGLU where it has one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "isa/error_metrics.hpp"
#include "models/hw_spec.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/quant_plan.hpp"

namespace bwsim {

struct NumericsOptions {
  int layers = 2;        // decoder layers of the replica
  int64_t tokens = 64;   // prompt positions (a prefill; every position's logits compared)
  int64_t width = 512;   // hidden size at most (query heads x head dim)
  int64_t vocab = 2048;  // vocabulary at most
  uint64_t seed = 0;
  /// Static activation scales (#28): 0 leaves every GEMM input's per-tensor scale dynamic; N > 0
  /// fixes each (NVFP4 and per-tensor FP8 activations) at the largest amax its site saw over N
  /// seeded calibration prompts, as Model Optimizer's max calibration does, then evaluates.
  int calib_prompts = 0;
  /// Static activation scales given instead (a scales file, site -> amax; see site_of_module):
  /// GEMM sites it has run static, the others dynamic.
  std::map<std::string, float> static_amax;
  /// The evaluated prompt's outlier channels (1 in 64, 20x) grown this much more: a deployment
  /// beyond the calibration.
  double deploy_outliers = 1.0;
  /// Only this decoder layer runs the plan's formats; the others and the head run BF16 (the
  /// per-layer sensitivity).
  std::optional<int> only_layer;
  /// An injected outlier-heavy layer: in layer outlier_layer (-1: none), 1 in 64 of the MLP's
  /// intermediate channels are outlier_factor x larger.
  int outlier_layer = -1;
  double outlier_factor = 1;
};

struct NumericsResult {
  // The replica's shape.
  int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0, vocab = 0;
  int layers = 0;
  int64_t experts = 0, top_k = 0, expert_ffn = 0;  // MoE replicas
  std::vector<ErrorMetrics> residual;              // the residual stream after each layer vs float64
  ErrorMetrics logits;
  double top1 = 0;     // share of positions whose argmax token is the reference's
  double kl_mean = 0;  // mean KL(p_ref || p) of the softmaxed logits, nats
  double kl_max = 0;
  std::vector<float> logits_values;  // the computed logits, tokens x vocab (for comparing runs)
  // Static activation scales: GEMM sites calibrated, sites met only in deployment (left
  // dynamic), and the share of activation values beyond their calibrated amax.
  size_t static_sites = 0;
  size_t uncalibrated_sites = 0;
  double static_saturated = 0;
  std::vector<double> static_saturated_layers;   // the same, per decoder layer
  std::map<std::string, float> calibrated_amax;  // per GEMM site ("l3.down", "l1.e5.gate_up", "head")
  size_t unused_sites = 0;                       // static_amax sites the replica has no GEMM for
};

/// The replica GEMM site ("l3.qkv", "l1.e5.gate_up", "l0.shared.down", "l2.mla.q_a", "head") whose
/// input a Hugging Face module's is ("model.layers.3.self_attn.k_proj" -> "l3.qkv": q, k and v
/// share their fused GEMM; "lm_head" -> "head"), and back. nullopt for a name of no such module.
std::optional<std::string> site_of_module(std::string_view module);
std::vector<std::string> modules_of_site(const std::string& site);

/// Top-1 agreement and mean KL(p_a || p_b) of two runs' logits (tokens x vocab): a plan against
/// the BF16 plan, as a sensitivity measures it.
struct LogitsAgreement {
  double top1 = 0;
  double kl_mean = 0;
};
LogitsAgreement compare_logits(const std::vector<float>& a, const std::vector<float>& b, int64_t vocab);

/// A mixed-precision plan under a bits budget (#28): which decoder layers to keep in a more
/// precise format than the plan's, searched on the replica.
///  - Each replica layer's sensitivity: the mean logit KL against the all-BF16 run with that
///    layer alone in the plan's format (the rest BF16).
///  - Replica layer i of N stands for the model's layers [i L / N, (i + 1) L / N) (depth bands;
///    the replica's random weights carry no trained layer's character, so bands are what it can
///    rank).
///  - The most sensitive bands are kept in `keep` while the average storage bits of the decoder
///    layers' GEMM weights (attention, MLP, experts; NVFP4 4.5, MXFP4 4.25, FP8 8, BF16 16) stay
///    within the budget (greedy: a band that does not fit is skipped for a smaller one).
///  - Checked on the replica against the uniform plan of the same budget (the most precise of the
///    two formats that fits it): where the mixed plan does no better, the uniform one is the
///    answer.
struct PlanSearchResult {
  std::vector<double> layer_kl;      // per replica layer, alone in the plan's format
  std::vector<int> kept_replica;     // replica layers kept
  std::vector<int64_t> keep_layers;  // the model's layers kept (empty: none)
  double bits = 0;                   // the plan's average bits over the decoder layers' GEMM weights
  double kl = 0;                     // the mixed plan on the replica vs BF16
  double uniform_kl = 0;             // the uniform plan of the budget on the replica vs BF16
  double uniform_bits = 0;
  Scheme uniform = Scheme::kBf16;
  bool uniform_chosen = false;  // the uniform plan is the answer
  QuantPlan plan;               // the answer, for bwsim model and run
};
/// `q`: the plan whose GEMM classes are searched (uniform weights, its KV format); `keep` the
/// kept layers' format. Throws InputError when even `q` alone exceeds `budget_bits`.
PlanSearchResult search_plan(const ModelSpec& m, const QuantPlan& q, Scheme keep, double budget_bits,
                             const HwSpec& hw, const NumericsOptions& o);

/// Throws InputError for what the replica cannot run (formats the GPU lacks, a shape the formats'
/// blocks do not divide, MLA with v_head_dim != qk_nope_head_dim) or bad options.
NumericsResult model_numerics(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw,
                              const NumericsOptions& o);

}  // namespace bwsim
