// One attention layer: its shape, RoPE, KV-cache format, and the numbers it computes.
//
// Positions: the KV cache holds `seq` tokens (positions 0 .. seq-1) and the layer computes the
// last `q_len` of them as queries (prefill: q_len = seq; a decode step: q_len = 1; an MTP verify
// pass: q_len = 1 + drafts). Causal queries see keys up to their own position.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "isa/error_metrics.hpp"
#include "isa/tensor_gen.hpp"
#include "isa/tensor_io.hpp"
#include "workloads/attention/rope.hpp"
#include "workloads/functional_spec.hpp"

namespace bwsim {

enum class KvFormat { kBf16, kFp8Tensor, kFp8Head, kMxfp8, kNvfp4, kMxfp4 };

/// "bf16", "fp8_e4m3" (per-tensor scale), "fp8_e4m3:head" (a scale per KV head), "mxfp8",
/// "nvfp4", "mxfp4"; nullopt otherwise.
std::optional<KvFormat> parse_kv_format(std::string_view name);
std::string_view kv_format_name(KvFormat f);
/// Stored bits per element, block scales included (the per-tensor / per-head scales are noise).
double kv_bits_per_element(KvFormat f);
/// Elements per block scale along head_dim (0: none).
int kv_block(KvFormat f);

struct AttentionProblem {
  int64_t batch = 1;
  int64_t seq = 0;    // KV length (context)
  int64_t q_len = 0;  // queries: the last q_len positions
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;  // per head: Q/K dims (besides rope_dim's) and V dims
  // MLA-style decoupled RoPE (DeepSeek-V2/V3: head_dim 128 "nope" + rope_dim 64): Q and K carry
  // rope_dim more dims after head_dim's, and only those are rotated; K's are one per token, shared
  // by every KV head (stored once). 0: the RoPE rotates head_dim's dims (partial_rotary_factor).
  int64_t rope_dim = 0;
  // MLA absorbed into the query (DeepSeek decode): K is [latent of head_dim | rope key of
  // rope_dim], one row per token for every head (the kv_heads are tiles of query heads reading the
  // same rows), and V is the latent itself, K's first head_dim dims. The cache holds head_dim +
  // rope_dim elements per token.
  bool latent_kv = false;
  bool causal = false;
  /// Sliding window (causal only): a query at position p attends to keys (p - window, p]; 0: no
  /// window (Mistral, Gemma 3's local layers, gpt-oss's even layers).
  int64_t window = 0;
  /// Chunked local attention (causal only; Llama 4's RoPE layers, attention_chunk_size): a query
  /// at position p attends to the keys of its own chunk up to itself, [p - p % chunk, p]; 0: none.
  int64_t chunk = 0;
  /// Attention sinks (gpt-oss): each query head has a learned logit that joins the softmax's
  /// denominator as one more key with no value (AttentionData::sinks holds the logits).
  bool sinks = false;
  /// Scores scale by 1/sqrt(query_scalar) instead of 1/sqrt(qk_dim) where > 0 (Gemma's
  /// query_pre_attn_scalar).
  int64_t query_scalar = 0;
  std::optional<RopeSpec> rope;  // none: no rotary embedding
  RopePrecision rope_precision = RopePrecision::kFloat32;
  KvFormat kv = KvFormat::kBf16;

  [[nodiscard]] int64_t first_query() const { return seq - q_len; }
  [[nodiscard]] int64_t group() const { return heads / kv_heads; }
  /// Dims of Q and K (the score's dot product) and of V and O.
  [[nodiscard]] int64_t qk_dim() const { return head_dim + rope_dim; }
  [[nodiscard]] int64_t v_dim() const { return head_dim; }
  /// The head dim the RoPE's frequencies are built for: rope_dim when decoupled.
  [[nodiscard]] int64_t rope_head_dim() const { return rope_dim > 0 ? rope_dim : head_dim; }
  /// KV-cache elements per token: K and V of every KV head, and the shared rope key.
  [[nodiscard]] int64_t kv_elements_per_token() const {
    return latent_kv ? head_dim + rope_dim : kv_heads * (head_dim + v_dim()) + rope_dim;
  }
  /// 1/sqrt(qk_dim) (or query_scalar), times YaRN's mscale^2 where the RoPE asks for it (DeepSeek).
  [[nodiscard]] double softmax_scale() const;
  /// The keys a query at position p attends to: [key_begin(p), key_end(p)).
  [[nodiscard]] int64_t key_begin(int64_t p) const {
    if (!causal) return 0;
    if (window > 0) return std::max<int64_t>(0, p + 1 - window);
    return chunk > 0 ? p - p % chunk : 0;
  }
  /// The most keys one query attends to: the window or the chunk, else the whole context.
  [[nodiscard]] int64_t span() const {
    return causal && window > 0 ? std::min(window, seq) : (causal && chunk > 0 ? std::min(chunk, seq) : seq);
  }
  [[nodiscard]] int64_t key_end(int64_t p) const { return causal ? p + 1 : seq; }
  [[nodiscard]] int64_t keys_for(int64_t p) const { return key_end(p) - key_begin(p); }
  /// Multiply-adds of QK^T and PV over the whole layer (causal: only the visible keys).
  [[nodiscard]] double macs() const;
};

/// The largest layer bwsim takes: far beyond today's models (check_attention names the limit).
inline constexpr int64_t kMaxAttentionBatch = int64_t{1} << 16;
inline constexpr int64_t kMaxAttentionSeq = int64_t{1} << 24;
inline constexpr int64_t kMaxAttentionHeads = 4096;

/// Throws InputError naming the flag for shapes beyond the limits above and inconsistent ones:
/// heads not a multiple of kv_heads,
/// q_len > seq, head_dim or rope_dim not a multiple of the KV format's block, rotary dims that do
/// not fit, a per-head KV scale with a shared (MLA) rope key.
void check_attention(const AttentionProblem& p);

/// Where Q, K and V come from: seeded generators, one stream per (batch, position, head) row, so
/// any row can be regenerated without storing the cache; or files, each replacing its generator.
/// Files hold the values before RoPE, in FlashAttention's layout:
///   Q [batch, q_len, heads, qk_dim]   (MLA: the head_dim dims, then the rope_dim dims)
///   K [batch, seq, kv_heads, head_dim] (without MLA: head_dim = qk_dim)
///   V [batch, seq, kv_heads, head_dim]
///   K rope [batch, seq, rope_dim]      (MLA's shared rope key)
struct AttentionData {
  Distribution q = Distribution::kNormal;
  Distribution k = Distribution::kOutliers;  // K caches carry outlier channels
  Distribution v = Distribution::kNormal;
  uint64_t seed = 0;
  std::optional<LoadedTensor> q_file, k_file, v_file, k_rope_file;
  /// With AttentionProblem::sinks: one logit per query head, in the units of the scaled scores
  /// (q.k / sqrt(d)), as gpt-oss's `sinks` parameter; empty: every head's is 0.
  std::vector<float> sinks;
};

/// Throws InputError naming the flag (--q-file, --k-file, --v-file, --k-rope-file) and the shape
/// expected where a file does not fit the problem, where --k-rope-file is given without
/// --rope-dim, or where sink logits are given without sinks or not one per query head.
void check_attention_data(const AttentionProblem& p, const AttentionData& d);

/// Query positions are bucketed so the error at far positions shows apart from near ones.
struct PositionBucket {
  int64_t lo = 0, hi = 0;  // [lo, hi)
  std::string label;       // "0-4K", "4K-32K", ...
  uint64_t rows = 0;       // query rows (one head at one position) computed
  ErrorMetrics error;
};

struct AttentionFunctional {
  std::string mode;
  uint64_t rows = 0;     // query rows computed
  uint64_t outputs = 0;  // output elements
  ErrorMetrics error;    // O as stored (BF16) vs the float64 reference
  std::vector<PositionBucket> buckets;
  ErrorMetrics k_error;  // the KV cache as stored vs the BF16 K / V it was written from
  ErrorMetrics v_error;
  float k_amax = 0, v_amax = 0;
  // Full mode: O as BF16 values, [batch][q_len][heads][v_dim].
  std::vector<float> o;
};

/// Multiply-adds up to which "auto" computes every query row.
inline constexpr double kAttentionAutoFullMacs = 1u << 26;

/// The numbers the kernel computes (Q and K rotated in the RoPE's precision and rounded to BF16,
/// K and V stored in the cache format (per-tensor / per-head scales from the amax of up to 4096
/// evenly spaced positions, as serving stacks calibrate them; larger values saturate), QK^T and PV
/// accumulated in float32 per 16-element MMA step, online softmax in float32 over 128-key blocks with P
/// rounded to BF16, O rounded to BF16), against float64 attention on the unquantized, float64-rotated inputs.
AttentionFunctional attention_functional(const AttentionProblem& p, const AttentionData& data,
                                         const FunctionalSpec& spec);

}  // namespace bwsim
