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

std::vector<int64_t> vllm_graph_sizes(int64_t largest) {
  std::vector<int64_t> out;
  for (int64_t g = 1; g <= largest; g = g < 4 ? g * 2 : g < 8 ? 8 : g < 256 ? g + 8 : g + 16)
    out.push_back(g);
  return out;
}

int64_t cuda_graph_size(int64_t tokens, const std::vector<int64_t>& sizes) {
  const auto it = std::lower_bound(sizes.begin(), sizes.end(), tokens);
  return it == sizes.end() ? 0 : *it;
}

namespace {

// The captured size before `g`, one of `sizes` (itself for the smallest).
int64_t previous_graph_size(int64_t g, const std::vector<int64_t>& sizes) {
  const auto it = std::lower_bound(sizes.begin(), sizes.end(), g);
  return it == sizes.begin() ? g : *std::prev(it);
}

double lerp(double x, int64_t x0, int64_t x1, double y0, double y1) {
  if (x1 == x0) return y0;
  const double f = (x - static_cast<double>(x0)) / static_cast<double>(x1 - x0);
  return y0 + (y1 - y0) * f;
}

// f at (x, y), bilinear between the corners of the brackets [x0, x1] x [y0, y1].
template <class F>
double bilinear(double x, std::pair<int64_t, int64_t> xs, double y, std::pair<int64_t, int64_t> ys, F f) {
  const auto [x0, x1] = xs;
  const auto [y0, y1] = ys;
  const double lo = lerp(y, y0, y1, f(x0, y0), f(x0, y1));
  const double hi = lerp(y, y0, y1, f(x1, y0), f(x1, y1));
  return lerp(x, x0, x1, lo, hi);
}

// A context at least as long as the queries it holds (a chunk attends to itself).
int64_t context_point(int64_t c, int64_t q) { return std::max(c, q); }

}  // namespace

GpuStepCost::GpuStepCost(ModelSpec m, QuantPlan q, HwSpec hw, StepOptions o, CudaGraphs graphs)
    : m_(std::move(m)), q_(std::move(q)), hw_(std::move(hw)), o_(o), graphs_(std::move(graphs)) {}

const GpuStepCost::Parts& GpuStepCost::point(int64_t batch, int64_t q_len, int64_t context, uint8_t parts) {
  const auto key = std::make_tuple(batch, q_len, context, parts);
  if (auto it = points_.find(key); it != points_.end()) return it->second;
  StepShape sh;
  sh.batch = batch;
  sh.q_len = q_len;
  sh.context = context;
  StepOptions o = o_;
  o.parts = parts;
  const StepTiming t = simulate_step(m_, q_, hw_, sh, o, cache_);
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

// A per-token part (dense or head) at `n`: the CUDA-graph size it pads to, else interpolated on
// the grid (a step that runs outside the graphs). Measured on N sequences of one token at a short
// context (the attention there is not used, and cheap to simulate).
double GpuStepCost::token_part(int64_t n, double Parts::*part, uint8_t parts, bool graphed) {
  if (const int64_t g = graphed ? cuda_graph_size(n, graphs_.sizes) : 0; g > 0)
    return point(g, 1, 16, parts).*part;
  const auto [a, b] = grid_bracket(static_cast<double>(n));
  return lerp(static_cast<double>(n), a, b, point(a, 1, 16, parts).*part, point(b, 1, 16, parts).*part);
}

double GpuStepCost::dense_s(int64_t tokens, bool graphed) {
  return token_part(tokens, &Parts::dense, kStepDense, graphed);
}

double GpuStepCost::head_s(int64_t rows, bool graphed) {
  return rows <= 0 ? 0.0 : token_part(rows, &Parts::head, kStepHead, graphed && graphs_.head);
}

template <class F>
double GpuStepCost::over_batch_and_context(int64_t seqs, double mean_context, F f) {
  // Sequences on the CUDA-graph sizes (attention's split-KV partition changes in steps with the
  // batch, so a coarser grid errs by several percent), the grid beyond them.
  std::pair<int64_t, int64_t> dd = grid_bracket(static_cast<double>(seqs));
  if (const int64_t g = cuda_graph_size(seqs, graphs_.sizes); g > 0)
    dd = {g == seqs ? g : previous_graph_size(g, graphs_.sizes), g};
  return bilinear(static_cast<double>(seqs), dd, mean_context, grid_bracket(mean_context), f);
}

double GpuStepCost::decode_attention_s(int64_t seqs, double mean_context) {
  if (seqs <= 0) return 0;
  return over_batch_and_context(
      seqs, mean_context, [&](int64_t d, int64_t c) { return point(d, 1, c, kStepAttention).attention; });
}

void GpuStepCost::set_mtp(int drafts, bool modules) {
  drafts_ = drafts;
  modules_ = modules;
  draft_points_.clear();
}

double GpuStepCost::verify_attention_s(int64_t seqs, double mean_context) {
  if (seqs <= 0) return 0;
  const int64_t q = 1 + drafts_;
  return over_batch_and_context(seqs, mean_context, [&](int64_t d, int64_t c) {
    return point(d, q, context_point(c, q), kStepAttention).attention;
  });
}

// One drafting of `batch` sequences at `context`: the whole draft step (its dense kernels,
// attention and head), run `drafts` times by sequential modules, once by parallel heads.
double GpuStepCost::draft_point(int64_t batch, int64_t context) {
  const auto key = std::make_pair(batch, context);
  if (auto it = draft_points_.find(key); it != draft_points_.end()) return it->second;
  ModelSpec draft = m_;
  draft.layers = modules_ ? 1 : 0;
  if (draft.moe) draft.moe->dense_layers = 0;
  StepShape sh;
  sh.batch = batch;
  sh.q_len = modules_ ? 1 : drafts_;
  sh.context = std::max<int64_t>(context, sh.q_len);
  sh.logits_all = !modules_;
  const double one = simulate_step(draft, q_, hw_, sh, o_, cache_).time.seconds();
  return draft_points_.emplace(key, one * (modules_ ? drafts_ : 1)).first->second;
}

double GpuStepCost::draft_s(int64_t seqs, double mean_context) {
  if (seqs <= 0 || drafts_ == 0) return 0;
  return over_batch_and_context(seqs, mean_context, [&](int64_t d, int64_t c) { return draft_point(d, c); });
}

double GpuStepCost::prefill_attention_s(int64_t q_len, int64_t context) {
  const auto q = static_cast<double>(q_len);
  const auto c = static_cast<double>(context);
  return bilinear(q, grid_bracket(q), c, grid_bracket(c), [&](int64_t qi, int64_t ci) {
    return point(1, qi, context_point(ci, qi), kStepAttention).attention;
  });
}

double GpuStepCost::seconds(const Batch& b) {
  int64_t decodes = 0;
  int64_t verifies = 0;
  double decode_context = 0;
  double verify_context = 0;
  double prefill = 0;
  // Every sequence in the step gets logits for its last token (a chunk that does not end its
  // prompt discards them; vLLM computes them only for sequences that sample, which this counts
  // as one row more at most per unfinished chunk); a verify pass for each of its tokens.
  int64_t rows = 0;
  bool prefills = false;
  for (const SeqWork& s : b.seqs) {
    if (s.verify) {
      ++verifies;
      verify_context += static_cast<double>(s.context);
      rows += s.q_len;
    } else if (s.q_len == 1) {
      ++decodes;
      decode_context += static_cast<double>(s.context);
      ++rows;
    } else {
      prefill += prefill_attention_s(s.q_len, s.context);
      prefills = true;
      ++rows;
    }
  }
  const auto mean = [](double sum, int64_t n) { return n > 0 ? sum / static_cast<double>(n) : 0.0; };
  const bool graphed = graphs_.mixed || !prefills;
  return dense_s(b.tokens(), graphed) + head_s(rows, graphed) +
         decode_attention_s(decodes, mean(decode_context, decodes)) +
         verify_attention_s(verifies, mean(verify_context, verifies)) +
         draft_s(verifies, mean(verify_context, verifies)) + prefill;
}

}  // namespace bwsim::serving
