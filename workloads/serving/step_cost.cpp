#include "workloads/serving/step_cost.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace bwsim::serving {

std::pair<int64_t, int64_t> grid_bracket(double x) {
  // 1, 2, 3, 4, 6, 8, 12, 16, ...: 2^k and 1.5 x 2^k.
  if (x <= 1) return {1, 2};
  int64_t lo = 1;
  int64_t hi = 2;
  while (static_cast<double>(hi) < x) {
    lo = hi;
    hi = (hi & (hi - 1)) == 0 ? hi + hi / 2 : (hi / 3) * 4;
  }
  if (static_cast<double>(hi) == x) return {hi, hi};
  return {lo, hi};
}

int64_t cuda_graph_size(int64_t tokens, int64_t largest) {
  if (tokens > largest) return 0;
  int64_t g = 0;
  if (tokens <= 4) {
    g = tokens <= 1 ? 1 : tokens <= 2 ? 2 : 4;
  } else if (tokens <= 248) {
    g = (tokens + 7) / 8 * 8;
  } else {
    g = (tokens + 15) / 16 * 16;
  }
  return g <= largest ? g : 0;
}

namespace {

// The captured size before `g` (itself for 1).
int64_t previous_graph_size(int64_t g) {
  if (g <= 2) return 1;
  if (g <= 8) return g / 2;
  return g <= 256 ? g - 8 : g - 16;
}

double lerp(double x, int64_t x0, int64_t x1, double y0, double y1) {
  if (x1 == x0) return y0;
  const double f = (x - static_cast<double>(x0)) / static_cast<double>(x1 - x0);
  return y0 + (y1 - y0) * f;
}

// A context at least as long as the queries it holds (a chunk attends to itself).
int64_t context_point(int64_t c, int64_t q) { return std::max(c, q); }

}  // namespace

GpuStepCost::GpuStepCost(ModelSpec m, QuantPlan q, HwSpec hw, StepOptions o, int64_t graph_largest)
    : m_(std::move(m)), q_(std::move(q)), hw_(std::move(hw)), o_(o), graph_largest_(graph_largest) {}

const GpuStepCost::Parts& GpuStepCost::point(int64_t batch, int64_t q_len, int64_t context) {
  const auto key = std::make_tuple(batch, q_len, context);
  if (auto it = points_.find(key); it != points_.end()) return it->second;
  StepShape sh;
  sh.batch = batch;
  sh.q_len = q_len;
  sh.context = context;
  const StepTiming t = simulate_step(m_, q_, hw_, sh, o_, cache_);
  Parts p;
  for (const StepKernel& k : t.kernels) {
    const double s = k.total().seconds();
    if (k.kind == "attention") {
      p.attention += s;
    } else if (k.name == "lm_head" || k.name == "sampling") {
      p.head += s;
    } else {
      p.dense += s;
    }
  }
  return points_.emplace(key, p).first->second;
}

// Dense kernels at N tokens: N sequences of one token at a short context (the attention there is
// not used, and cheap to simulate).
double GpuStepCost::dense_s(int64_t tokens) {
  if (const int64_t g = cuda_graph_size(tokens, graph_largest_); g > 0) return point(g, 1, 16).dense;
  const auto [a, b] = grid_bracket(static_cast<double>(tokens));
  return lerp(static_cast<double>(tokens), a, b, point(a, 1, 16).dense, point(b, 1, 16).dense);
}

double GpuStepCost::head_s(int64_t rows) {
  if (rows <= 0) return 0;
  if (const int64_t g = cuda_graph_size(rows, graph_largest_); g > 0) return point(g, 1, 16).head;
  const auto [a, b] = grid_bracket(static_cast<double>(rows));
  return lerp(static_cast<double>(rows), a, b, point(a, 1, 16).head, point(b, 1, 16).head);
}

double GpuStepCost::decode_attention_s(int64_t seqs, double mean_context) {
  if (seqs <= 0) return 0;
  // Sequences on the CUDA-graph sizes (attention's split-KV partition changes in steps with the
  // batch, so a coarser grid errs by several percent), the grid beyond them.
  std::pair<int64_t, int64_t> dd = grid_bracket(static_cast<double>(seqs));
  if (const int64_t g = cuda_graph_size(seqs, graph_largest_); g > 0)
    dd = {g == seqs ? g : previous_graph_size(g), g};
  const auto [d0, d1] = dd;
  const auto [c0, c1] = grid_bracket(mean_context);
  const auto at = [&](int64_t d, int64_t c) { return point(d, 1, c).attention; };
  const double lo = lerp(mean_context, c0, c1, at(d0, c0), at(d0, c1));
  const double hi = lerp(mean_context, c0, c1, at(d1, c0), at(d1, c1));
  return lerp(static_cast<double>(seqs), d0, d1, lo, hi);
}

double GpuStepCost::prefill_attention_s(int64_t q_len, int64_t context) {
  const auto [q0, q1] = grid_bracket(static_cast<double>(q_len));
  const auto [c0, c1] = grid_bracket(static_cast<double>(context));
  const auto at = [&](int64_t q, int64_t c) { return point(1, q, context_point(c, q)).attention; };
  const double lo = lerp(static_cast<double>(context), c0, c1, at(q0, c0), at(q0, c1));
  const double hi = lerp(static_cast<double>(context), c0, c1, at(q1, c0), at(q1, c1));
  return lerp(static_cast<double>(q_len), q0, q1, lo, hi);
}

double GpuStepCost::seconds(const Batch& b) {
  int64_t decodes = 0;
  double decode_context = 0;
  double prefill = 0;
  for (const SeqWork& s : b.seqs) {
    if (s.q_len == 1) {
      ++decodes;
      decode_context += static_cast<double>(s.context);
    } else {
      prefill += prefill_attention_s(s.q_len, s.context);
    }
  }
  // Every sequence in the step gets logits for its last token (a chunk that does not end its
  // prompt discards them; vLLM computes them only for sequences that sample, which this counts
  // as one row more at most per unfinished chunk).
  const auto rows = static_cast<int64_t>(b.seqs.size());
  return dense_s(b.tokens()) + head_s(rows) +
         (decodes > 0 ? decode_attention_s(decodes, decode_context / static_cast<double>(decodes)) : 0.0) +
         prefill;
}

}  // namespace bwsim::serving
