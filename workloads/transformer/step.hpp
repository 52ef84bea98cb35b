// One forward step of a whole model on one GPU of a tensor-parallel group: a prefill chunk or a
// decode (or MTP verify) step of `batch` sequences, as the kernels a serving stack launches per
// decoder layer — fused RMSNorm + residual, QKV GEMM, RoPE and KV-cache write, attention, output
// GEMM, all-reduce, gate/up GEMM (or the MoE router and grouped expert GEMMs), SiLU x mul, down
// GEMM, all-reduce — then the final norm, lm_head and sampling.
//
// GEMMs and attention run on the GPU model (workloads/gemm, workloads/attention); every distinct
// kernel is simulated once per step and reused by all layers that launch it. Element-wise kernels
// are HBM streams (bytes / sustained bandwidth); all-reduces are NVLink rings; every launch pays
// `kernel_gap` (CUDA-graph launch to launch).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/gpu.hpp"
#include "models/hw_spec.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/quant_plan.hpp"

namespace bwsim {

struct StepShape {
  int64_t batch = 1;        // sequences
  int64_t q_len = 1;        // new tokens per sequence (prefill chunk; 1 for decode; 1 + drafts to verify)
  int64_t context = 0;      // tokens in each sequence's KV cache after this step
  bool logits_all = false;  // lm_head on every new token (MTP verify), else only the last per sequence
};

struct StepOptions {
  int tp = 1;
  double kernel_gap_us = 2.0;      // launch-to-launch gap of a CUDA-graph replay
  double stream_efficiency = 0.9;  // share of HBM bandwidth element-wise kernels reach
  double expert_imbalance = 1.0;   // busiest expert's tokens / the mean (>= 1)
  ClockMode clock = ClockMode::kSustained;
  size_t gemm_finalists = 2;  // GEMM plans simulated per shape (the analytic best first); 0: all
};

/// One kernel of the step, summed over the layers that launch it.
struct StepKernel {
  std::string name;   // "qkv_proj", "attention", "rmsnorm", ...
  std::string kind;   // "gemm", "attention", "stream", "all-reduce"
  std::string shape;  // what it computes, for the report
  int64_t launches = 0;
  double us_each = 0;
  double flops_each = 0;
  double hbm_bytes_each = 0;
  std::string bound;
  [[nodiscard]] double us() const { return us_each * static_cast<double>(launches); }
};

struct StepTiming {
  StepShape shape;
  std::vector<StepKernel> kernels;
  double time_s = 0;
  double flops = 0;
  double hbm_bytes = 0;
};

/// Simulated kernels reused across steps (a decode run changes only the attention context).
class StepCache {
 public:
  std::map<std::string, StepKernel> kernels;
};

/// Throws InputError for what the step model does not cover yet (MLA decode over a narrow latent
/// cache) or a TP degree that does not divide the heads.
StepTiming simulate_step(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, const StepShape& s,
                         const StepOptions& o, StepCache& cache);

}  // namespace bwsim
