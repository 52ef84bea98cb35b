// Whether a model fits a GPU (or a tensor-parallel group of them) and how many sequences of a
// given context fit beside it: weights, KV cache and activation workspace per GPU against the
// HBM the serving stack may use.
//
// Tensor parallelism shards attention heads, MLP / expert intermediates and the vocabulary
// (embedding and lm_head) over `tp` GPUs; norms and routers are replicated. KV heads shard while
// there are at least `tp` of them, else each GPU keeps one (as vLLM replicates them); MLA's
// latent cache has no heads and is whole on every GPU.
#pragma once

#include <cstdint>

#include "models/hw_spec.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/quant_plan.hpp"

namespace bwsim {

struct CapacityOptions {
  int tp = 1;
  int64_t context = 8192;                // tokens per sequence (prompt + output)
  int64_t prefill_chunk = 8192;          // tokens per prefill step: sizes the activation workspace
  double gpu_memory_utilization = 0.90;  // share of HBM the stack may use (vLLM's default)
  // > 0: the KV cache is this share of what the whole HBM leaves beside weights and workspace
  // (TensorRT-LLM's kv_cache_free_gpu_mem_fraction), gpu_memory_utilization unused.
  double kv_free_fraction = 0;
};

struct Capacity {
  int tp = 1;
  double hbm = 0;              // per GPU
  double usable = 0;           // hbm x utilization
  double weights = 0;          // per GPU
  double activations = 0;      // workspace per GPU
  double kv_per_token = 0;     // per GPU, all layers
  double kv_per_sequence = 0;  // at the context
  double kv_budget = 0;        // usable - weights - activations (may be negative; x kv_free_fraction)
  int64_t max_sequences = 0;   // sequences of `context` tokens whose KV fits
  [[nodiscard]] bool fits() const { return max_sequences >= 1; }
};

/// Throws InputError when `tp` does not divide the heads (or is < 1).
Capacity capacity(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, const CapacityOptions& o);

/// The smallest TP degree among 1, 2, 4, 8 at which one sequence of the context fits; 0 if none.
int smallest_fitting_tp(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, CapacityOptions o);

}  // namespace bwsim
