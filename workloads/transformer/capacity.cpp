#include "workloads/transformer/capacity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/errors.hpp"

namespace bwsim {

Capacity capacity(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, const CapacityOptions& o) {
  if (o.tp < 1 || m.heads % o.tp != 0) {
    throw InputError(
        fmt::format("--tp {}: must be >= 1 and divide the model's {} attention heads", o.tp, m.heads));
  }
  if (!(o.gpu_memory_utilization > 0 && o.gpu_memory_utilization <= 1)) {
    throw InputError(
        fmt::format("gpu_memory_utilization {}: expected a fraction in (0, 1]", o.gpu_memory_utilization));
  }
  const auto tp = static_cast<double>(o.tp);
  Capacity c;
  c.tp = o.tp;
  c.hbm = static_cast<double>(hw.dram.capacity.bytes);
  if (!(o.kv_free_fraction >= 0 && o.kv_free_fraction <= 1)) {
    throw InputError(
        fmt::format("kv_cache_free_fraction {}: expected a fraction in (0, 1]", o.kv_free_fraction));
  }
  c.usable = o.kv_free_fraction > 0 ? c.hbm : c.hbm * o.gpu_memory_utilization;
  const WeightBytes w = weight_bytes(m, q);
  for (WeightClass k : kAllWeightClasses) {
    const double b = w.by_class[static_cast<size_t>(k)];
    const bool replicated = k == WeightClass::kNorm || k == WeightClass::kRouter;
    c.weights += replicated ? b : b / tp;
  }
  c.weights += w.mtp / tp;
  // KV: the share of KV heads one GPU holds (at least one head), or MLA's whole latent.
  const double kv_share =
      m.mla ? 1.0 : std::max(1.0, static_cast<double>(m.kv_heads) / tp) / static_cast<double>(m.kv_heads);
  c.kv_per_token = kv_bytes_per_token(m, q) * kv_share;
  // A windowed layer keeps only its window's keys (a ring buffer).
  c.kv_per_sequence =
      c.kv_per_token * m.kv_layer_tokens(o.context) / static_cast<double>(std::max<int64_t>(1, m.layers));
  // Activation workspace of one prefill chunk in BF16: the residual stream and its normed copy,
  // Q / K / V, the MLP's gate and up outputs (the widest of dense and routed), and FP32 logits of
  // one row per sequence-sized slice of the chunk (the last token of each prompt).
  const auto H = static_cast<double>(m.hidden);
  const double qkv = static_cast<double>(m.heads * m.qk_dim() + 2 * m.kv_heads * m.v_dim()) / tp;
  const double inner = static_cast<double>(
      std::max(m.ffn, m.moe ? m.moe->top_k * m.moe->expert_ffn + m.moe->shared_ffn : int64_t{0}));
  const auto chunk = static_cast<double>(o.prefill_chunk);
  c.activations = chunk * 2 * (2 * H + qkv + 2 * inner / tp) +
                  std::ceil(chunk / static_cast<double>(std::max<int64_t>(1, o.context))) *
                      static_cast<double>(m.vocab) / tp * 4;
  c.kv_budget = c.usable - c.weights - c.activations;
  if (o.kv_free_fraction > 0 && c.kv_budget > 0) c.kv_budget *= o.kv_free_fraction;
  c.max_sequences = c.kv_budget <= 0 || c.kv_per_sequence <= 0
                        ? 0
                        : static_cast<int64_t>(std::floor(c.kv_budget / c.kv_per_sequence));
  return c;
}

int smallest_fitting_tp(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, CapacityOptions o) {
  for (int tp : {1, 2, 4, 8}) {
    if (m.heads % tp != 0) continue;
    o.tp = tp;
    if (capacity(m, q, hw, o).fits()) return tp;
  }
  return 0;
}

}  // namespace bwsim
