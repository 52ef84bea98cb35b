// The GPU time of a serving step whose batch mixes decode tokens at different contexts with
// prefill chunks (#23), from simulated steps: the step simulator times uniform batches
// (B sequences x Q tokens at context C), and a mixed batch is split into what it is made of.
//
//   time = dense(N) + head(R) + decode attention(D, mean context) + sum over chunks of
//          prefill attention(q, c)
//
// dense: every kernel but attention, lm_head and sampling, at the step's N tokens (GEMMs, norms,
// activations, routers, all-reduces: their cost depends on the token count only), padded as vLLM
// pads a batch to its next CUDA-graph capture size while N is at most the largest one (see
// CudaGraphs); head: lm_head
// and sampling for the R sequences that emit a token; decode attention: D sequences of one query
// each, memory-bound in the KV bytes they read, so their mean context carries it; prefill
// attention: one chunk of q queries ending at context c. Each part is simulated at points of a
// grid (1, 2, 3, 4, 6, 8, 12, ... : powers of two and the midpoints between them) and
// interpolated linearly (bilinearly for the two-dimensional parts) in between; every simulated
// point is cached, so a long serving run simulates each point once.
#pragma once

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "models/hw_spec.hpp"
#include "workloads/serving/engine.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/quant_plan.hpp"
#include "workloads/transformer/step.hpp"

namespace bwsim::serving {

/// The grid point at or below `x` (>= 1) and the next one above it.
std::pair<int64_t, int64_t> grid_bracket(double x);

/// vLLM's captured CUDA-graph batch sizes: 1, 2, 4, then every 8 up to 248 and every 16 from 256
/// up to `largest` = min(2 x max_num_seqs, 512) (`cudagraph_capture_sizes` in vLLM's compilation
/// config).
std::vector<int64_t> vllm_graph_sizes(int64_t largest);

/// The CUDA graphs a serving engine captured: a step of up to the largest size is padded to the
/// next captured one. `sizes` ascending (empty: none, every step runs as it is); `mixed`: steps
/// that hold prefill tokens run in graphs too (vLLM V1's piecewise graphs), else only steps of
/// decode tokens alone do (TensorRT-LLM's PyTorch backend).
struct CudaGraphs {
  std::vector<int64_t> sizes;
  bool mixed = true;
  /// The lm_head runs inside the graph, for the padded batch (TensorRT-LLM's PyTorch backend);
  /// false: on the sampled rows alone after it (vLLM V1: compute_logits on
  /// hidden_states[logits_indices], vllm/v1/worker/gpu_model_runner.py).
  bool head = false;
};

/// The batch a CUDA graph runs for `tokens`: the smallest captured size at or above it, 0 beyond
/// the largest (or with none captured).
int64_t cuda_graph_size(int64_t tokens, const std::vector<int64_t>& sizes);

class GpuStepCost {
 public:
  GpuStepCost(ModelSpec m, QuantPlan q, HwSpec hw, StepOptions o,
              CudaGraphs graphs = {vllm_graph_sizes(512)});

  /// Multi-token prediction: `drafts` tokens drafted per verify pass by sequential MTP modules
  /// (one decoder layer and the shared head each, run `drafts` times) or parallel heads (one pass
  /// over `drafts` rows), as bwsim run times a pass. The drafting of a step's verifying sequences
  /// is charged to the step.
  void set_mtp(int drafts, bool modules);

  /// The step's time in seconds.
  double seconds(const Batch& b);

  /// The parts, interpolated (seconds).
  /// `graphed`: the step may run in a CUDA graph (padded to its captured size).
  double dense_s(int64_t tokens, bool graphed = true);
  double head_s(int64_t rows, bool graphed = true);
  double decode_attention_s(int64_t seqs, double mean_context);
  /// Attention of `seqs` MTP verify passes (1 + drafts queries each) at their mean context.
  double verify_attention_s(int64_t seqs, double mean_context);
  /// Drafting the next pass's tokens for `seqs` sequences at their mean context.
  double draft_s(int64_t seqs, double mean_context);
  double prefill_attention_s(int64_t q_len, int64_t context);

  /// Uniform steps simulated so far.
  [[nodiscard]] size_t simulated() const { return points_.size(); }

 private:
  struct Parts {
    double dense = 0;
    double head = 0;
    double attention = 0;
  };
  // A uniform step of `batch` x `q_len` tokens at `context`, only its `parts` simulated.
  const Parts& point(int64_t batch, int64_t q_len, int64_t context, uint8_t parts);
  double draft_point(int64_t batch, int64_t context);
  double token_part(int64_t n, double Parts::*part, uint8_t parts, bool graphed);
  // `f(d, c)` bilinear between CUDA-graph batch sizes (the grid beyond them) and the context grid.
  template <class F>
  double over_batch_and_context(int64_t seqs, double mean_context, F f);

  ModelSpec m_;
  QuantPlan q_;
  HwSpec hw_;
  StepOptions o_;
  CudaGraphs graphs_;
  StepCache cache_;
  std::map<std::tuple<int64_t, int64_t, int64_t, uint8_t>, Parts> points_;
  int drafts_ = 0;
  bool modules_ = true;
  std::map<std::pair<int64_t, int64_t>, double> draft_points_;
};

}  // namespace bwsim::serving
