// One forward step of a whole model on one GPU of a tensor-parallel group: a prefill chunk or a
// decode (or MTP verify) step of `batch` sequences, as the kernels a serving stack launches per
// decoder layer — fused RMSNorm + residual, QKV GEMM, RoPE and KV-cache write, attention, output
// GEMM, all-reduce, gate/up GEMM (or the MoE router and grouped expert GEMMs), SiLU x mul, down
// GEMM, all-reduce — then the final norm, lm_head and sampling.
//
// GEMMs and attention run on the GPU model (workloads/gemm, workloads/attention); every distinct
// kernel is simulated once per step and reused by all layers that launch it. Element-wise kernels
// are HBM streams (bytes / the bandwidth launch.stream_efficiency of peak reaches); all-reduces
// are NVLink rings; every launch pays launch.gap (CUDA-graph launch to launch). Times are Ticks.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/gpu.hpp"
#include "models/hw_spec.hpp"
#include "sim/trace.hpp"
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
  /// Expert parallelism: 1 (every expert's FFN sharded over the TP group) or tp (each GPU holds
  /// experts / tp whole experts).
  int ep = 1;
  double expert_imbalance = 1.0;  // busiest expert's tokens / the mean (>= 1)
  ClockMode clock = ClockMode::kGoverned;
  /// GEMM plans simulated per shape: 0, the planner's finalists as `bwsim gemm` takes them (the
  /// analytic best three and the best of each family); N, only the analytic best N (faster, and a
  /// sweep may then turn the wrong way where the ranking changes).
  size_t gemm_finalists = 0;
  /// Record each simulated kernel for a trace (StepKernel::trace); null: no recording.
  const TraceOptions* trace = nullptr;
  /// The kernels simulated (a mask of kStepDense, kStepAttention, kStepHead): a serving step-cost
  /// model times each part at points of its own and leaves the others out.
  uint8_t parts = 0x7;
};
/// StepOptions::parts: every kernel but attention and the head; attention; the head (final norm,
/// lm_head, sampling).
inline constexpr uint8_t kStepDense = 0x1;
inline constexpr uint8_t kStepAttention = 0x2;
inline constexpr uint8_t kStepHead = 0x4;

/// One kernel of the step, summed over the layers that launch it.
struct StepKernel {
  std::string name;   // "qkv_proj", "attention", "rmsnorm", ...
  std::string kind;   // "gemm", "attention", "stream", "all-reduce"
  std::string shape;  // what it computes, for the report
  int64_t launches = 0;
  Tick each{0};  // one launch, its launch gaps included
  double flops_each = 0;
  double hbm_bytes_each = 0;  // read + write
  double hbm_read_each = 0;
  double l2_bytes_each = 0;  // read + write
  Tick gap_each{0};          // launch gaps inside `each` (one per CUDA kernel)
  PowerReport power_each;    // one launch: its energy (the idle power of its gaps included) and clock
  std::string bound;
  std::shared_ptr<const GpuTrace> trace;  // the simulated kernels (with StepOptions::trace)
  std::string trace_note;
  [[nodiscard]] Tick total() const { return each * launches; }
  [[nodiscard]] double us() const { return total().seconds() * 1e6; }
  [[nodiscard]] double us_each() const { return each.seconds() * 1e6; }
  /// One launch without its launch gaps: the kernels' own run time.
  [[nodiscard]] Tick run_each() const { return each - gap_each; }
};

struct StepTiming {
  StepShape shape;
  std::vector<StepKernel> kernels;
  /// The launches in program order: (index into kernels, decoder layer or -1 for the head).
  std::vector<std::pair<size_t, int64_t>> launches;
  Tick time{0};
  double flops = 0;
  double hbm_bytes = 0;
  /// Energy over the step's time; clock: the lowest any kernel ran at (limit: why it did).
  PowerReport power;
};

/// Simulated kernels reused across steps (a decode run changes only the attention context).
class StepCache {
 public:
  std::map<std::string, StepKernel> kernels;
  /// The kept layers' plan's own kernels (QuantPlan::keep_layers), created on first use.
  std::shared_ptr<StepCache> kept;
};

/// Throws InputError for what the step model does not cover yet (MLA decode over a narrow latent
/// cache) or a TP degree that does not divide the heads.
StepTiming simulate_step(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, const StepShape& s,
                         const StepOptions& o, StepCache& cache);

/// The step's duration as laid out in a trace (the sum of its launches).
Tick step_trace_length(const StepTiming& t);
/// Per-SM detail and bandwidth over time of each simulated kernel of `t` at its first launch,
/// the step starting at `offset`, while `doc` holds fewer than `max_events` events. Kernels in
/// `done` are skipped; those drawn are added to it. Returns, per launch, whether it got detail.
/// Called before emit_step_trace, for the steps that matter most first, so that a bounded trace
/// spends its events on them.
std::vector<bool> emit_step_detail(TraceDoc& doc, const StepTiming& t, Tick offset, uint64_t max_events,
                                   std::vector<const GpuTrace*>& done);
/// Draws step `t` into `doc` from `offset` on: a span for the step on the GPU's "steps" track,
/// one per decoder layer on "layers", one per launch on "kernels", and each launch's average
/// HBM and L2 bandwidth on the counters (except launches `detailed` drew over time), and each
/// launch's average power and clock (power back to `idle` after the step).
void emit_step_trace(TraceDoc& doc, const StepTiming& t, Tick offset, const std::string& label,
                     const std::vector<bool>& detailed, Power idle);

}  // namespace bwsim
