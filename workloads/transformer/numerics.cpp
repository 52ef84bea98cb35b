#include "workloads/transformer/numerics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "isa/calibration.hpp"
#include "isa/scalar_format.hpp"
#include "isa/tensor_io.hpp"
#include "sim/errors.hpp"
#include "sim/progress.hpp"
#include "sim/rng.hpp"
#include "workloads/attention/attention.hpp"
#include "workloads/gemm/functional.hpp"

namespace bwsim {
namespace {

constexpr double kEps = 1e-5;  // RMSNorm epsilon (both paths)

struct Shape {
  int64_t T = 0, H = 0, heads = 0, kv = 0, hd = 0, ffn = 0, vocab = 0;
  int layers = 0;
  // MLA: hd is the "nope" dim; r the decoupled rope dim; the latent ranks (q 0: no q LoRA).
  int64_t r = 0, qlora = 0, kvlora = 0;
  [[nodiscard]] int64_t qkv() const { return (heads + 2 * kv) * hd; }
};

// MLA's projections: q (through its LoRA, or direct), the KV latent + rope key, the latent's
// expansion into per-head K and V.
struct MlaWeights {
  std::optional<Tensor> wqa, wqb, wq;
  Tensor wkva, wkvb;
};

// A seeded Gaussian matrix (std `scale`), one stream per matrix.
Tensor gaussian(int64_t rows, int64_t cols, double scale, uint64_t seed, uint64_t id) {
  Tensor t = Tensor::matrix(rows, cols);
  Rng rng(random_at(seed, id));
  for (float& v : t.data) v = static_cast<float>(rng.normal() * scale);
  return t;
}

float bf16(float x) { return round_bf16_finite(x); }

// A seeded bias vector in BF16 (the checkpoints' dtype), std 0.5: half a projection's typical
// output (unit-RMS rows through 1/sqrt(fan-in) weights), so it visibly moves every result. Empty
// where the model has none.
std::vector<float> bias(bool has, int64_t n, uint64_t seed, uint64_t id) {
  std::vector<float> b;
  if (!has) return b;
  Rng rng(random_at(seed, id));
  for (int64_t i = 0; i < n; ++i) b.push_back(bf16(static_cast<float>(rng.normal() * 0.5)));
  return b;
}

// A gated MLP's weights: gate and up stacked (2F x H), down (H x F), and their biases (gpt-oss's
// experts; empty: none).
struct Mlp {
  Tensor gu, down;
  std::vector<float> gu_bias, down_bias;
};

// ---- the float64 reference ------------------------------------------------------------------

using Vec = std::vector<double>;

// x (rows x K) times W^T (W: N x K) -> rows x N.
Vec matmul_t(const Vec& x, int64_t rows, int64_t K, const Tensor& w) {
  const int64_t N = w.rows();
  Vec out(static_cast<size_t>(rows * N));
  for (int64_t r = 0; r < rows; ++r) {
    const double* xr = x.data() + r * K;
    for (int64_t n = 0; n < N; ++n) {
      const float* wn = w.data.data() + n * K;
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += xr[k] * static_cast<double>(wn[k]);
      out[static_cast<size_t>(r * N + n)] = s;
    }
  }
  return out;
}

// Adds `b` (one value per column; empty: nothing) to every row of x (rows x b.size()).
void add_bias(Vec& x, const std::vector<float>& b) {
  if (b.empty()) return;
  for (size_t i = 0; i < x.size(); ++i) x[i] += static_cast<double>(b[i % b.size()]);
}

Vec rmsnorm(const Vec& x, int64_t rows, int64_t H) {
  Vec out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < H; ++c)
      ss += x[static_cast<size_t>(r * H + c)] * x[static_cast<size_t>(r * H + c)];
    const double inv = 1 / std::sqrt(ss / static_cast<double>(H) + kEps);
    for (int64_t c = 0; c < H; ++c)
      out[static_cast<size_t>(r * H + c)] = x[static_cast<size_t>(r * H + c)] * inv;
  }
  return out;
}

std::vector<double> softmax(std::span<const double> z) {
  const double m = *std::max_element(z.begin(), z.end());
  std::vector<double> p(z.size());
  double sum = 0;
  for (size_t i = 0; i < z.size(); ++i) sum += (p[i] = std::exp(z[i] - m));
  for (double& v : p) v /= sum;
  return p;
}

// One head of causal attention in float64: query t sees keys p.key_begin(t)..t (a window or a
// chunk) with (already scaled) scores score(t, u) and adds their softmax weights times value(u)
// (dv values) into out(t). A sink logit (gpt-oss) joins each denominator with no value.
template <class Score, class Value, class Out>
void causal_head(const AttentionProblem& p, int64_t T, int64_t dv, std::optional<double> sink, Score score,
                 Value value, Out out) {
  Vec w(static_cast<size_t>(T + 1));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t first = p.key_begin(t);
    const int64_t n = t + 1 - first;
    for (int64_t u = first; u <= t; ++u) w[static_cast<size_t>(u - first)] = score(t, u);
    if (sink) w[static_cast<size_t>(n)] = *sink;  // the sink's weight is dropped below
    const std::vector<double> pr =
        softmax(std::span<const double>(w.data(), static_cast<size_t>(n + (sink ? 1 : 0))));
    double* o = out(t);
    for (int64_t u = first; u <= t; ++u) {
      const double* vu = value(u);
      for (int64_t d = 0; d < dv; ++d) o[d] += pr[static_cast<size_t>(u - first)] * vu[d];
    }
  }
}

// Causal attention over rotated Q, K (float64 RoPE) and V, in p's window or chunks, with
// `sinks` (one logit per head) where p has them; returns T x heads*hd.
Vec attention_ref(const Shape& s, const Vec& qkv, const AttentionProblem& p,
                  const std::vector<float>& sinks) {
  std::optional<RopeTable> table;
  if (p.rope) table = rope_table(*p.rope, static_cast<int>(s.hd), s.T, RopePrecision::kFloat64);
  const int64_t group = s.heads / s.kv;
  const auto at = [&](int64_t t, int64_t col) { return qkv[static_cast<size_t>(t * s.qkv() + col)]; };
  // Rotated copies: q[t][h][d], k[t][g][d].
  Vec q(static_cast<size_t>(s.T * s.heads * s.hd)), k(static_cast<size_t>(s.T * s.kv * s.hd));
  for (int64_t t = 0; t < s.T; ++t) {
    for (int64_t h = 0; h < s.heads; ++h) {
      std::span<double> row(q.data() + (t * s.heads + h) * s.hd, static_cast<size_t>(s.hd));
      for (int64_t d = 0; d < s.hd; ++d) row[static_cast<size_t>(d)] = at(t, h * s.hd + d);
      if (table) table->apply(t, row);
    }
    for (int64_t g = 0; g < s.kv; ++g) {
      std::span<double> row(k.data() + (t * s.kv + g) * s.hd, static_cast<size_t>(s.hd));
      for (int64_t d = 0; d < s.hd; ++d) row[static_cast<size_t>(d)] = at(t, (s.heads + g) * s.hd + d);
      if (table) table->apply(t, row);
    }
  }
  const double scale = p.softmax_scale();
  Vec out(static_cast<size_t>(s.T * s.heads * s.hd), 0.0);
  for (int64_t h = 0; h < s.heads; ++h) {
    const int64_t g = h / group;
    std::optional<double> sink;
    if (p.sinks) sink = sinks[static_cast<size_t>(h)];
    causal_head(
        p, s.T, s.hd, sink,
        [&](int64_t t, int64_t u) {
          double dot = 0;
          for (int64_t d = 0; d < s.hd; ++d)
            dot += q[static_cast<size_t>((t * s.heads + h) * s.hd + d)] *
                   k[static_cast<size_t>((u * s.kv + g) * s.hd + d)];
          return dot * scale;
        },
        [&](int64_t u) { return qkv.data() + u * s.qkv() + (s.heads + s.kv + g) * s.hd; },
        [&](int64_t t) { return out.data() + (t * s.heads + h) * s.hd; });
  }
  return out;
}

// ---- as the GPU computes it -------------------------------------------------------------------

// The activations' per-tensor scales (NVFP4's global scale, FP8's): dynamic (each GEMM input's
// own amax), being calibrated (each GEMM site's input amax recorded, the largest over the
// calibration prompts, as Model Optimizer's max calibration does), or static (the calibrated amax
// applied; a site calibration never met, an expert no calibration token chose, stays dynamic).
struct ActScales {
  enum class Mode { kDynamic, kRecord, kStatic } mode = Mode::kDynamic;
  std::map<std::string, float> amax;
  std::set<std::string> uncalibrated;
  uint64_t saturated = 0;  // static: activation values beyond their calibrated amax
  uint64_t values = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_site;  // site -> (saturated, values)
  std::set<std::string> used;                                     // static: sites that took a scale
};

// Where a GEMM sits ("l3.down", "l1.e5.gate_up", "head"), for its activation scale.
struct Site {
  ActScales* scales = nullptr;
  std::string name;
  [[nodiscard]] Site operator/(std::string_view part) const {
    return {scales, name + "." + std::string(part)};
  }
};

// A (rows x K, BF16 values) times W^T through the GEMM's exact numbers, BF16 out; a bias (one per
// output column; empty: none) joins the float32 result in the epilogue before its one rounding.
std::vector<float> gemm(const std::vector<float>& a, int64_t rows, int64_t K, const Tensor& w,
                        const GemmFormat& f, const HwSpec& hw, const std::vector<float>& b = {},
                        const Site& site = {}) {
  GemmProblem p;
  p.m = rows;
  p.n = w.rows();
  p.k = K;
  p.format = f;
  p.out = GemmOut::kBf16;
  const GemmPlan plan = make_plan(p, hw, TileConfig{});
  Tensor at{{rows, K}, a};
  GemmOperands in{MatrixSource::held(std::move(at), "activations"), MatrixSource::held(w, "weights")};
  if (site.scales != nullptr && site.scales->mode != ActScales::Mode::kDynamic && static_scale_applies(f.a)) {
    ActScales& sc = *site.scales;
    float amax = 0;
    for (float v : a) amax = std::max(amax, std::abs(v));
    if (sc.mode == ActScales::Mode::kRecord) {
      float& m = sc.amax[site.name];
      m = std::max(m, amax);
    } else if (const auto it = sc.amax.find(site.name); it != sc.amax.end() && it->second > 0) {
      in.a_amax = it->second;
      uint64_t sat = 0;
      for (float v : a) sat += std::abs(v) > it->second ? 1 : 0;
      sc.saturated += sat;
      sc.values += a.size();
      sc.used.insert(site.name);
      auto& [site_sat, site_values] = sc.per_site[site.name];
      site_sat += sat;
      site_values += a.size();
    } else {
      sc.uncalibrated.insert(site.name);
    }
  }
  GemmFunctional r = gemm_functional(plan, hw.arch, in, {FunctionalSpec::Mode::kFull});
  if (b.empty()) return std::move(r.d);
  std::vector<float> d(r.d_fp32.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = bf16(r.d_fp32[i] + b[i % b.size()]);
  return d;
}

std::vector<float> rmsnorm_bf16(const std::vector<float>& x, int64_t rows, int64_t H) {
  std::vector<float> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    float ss = 0;
    for (int64_t c = 0; c < H; ++c)
      ss += x[static_cast<size_t>(r * H + c)] * x[static_cast<size_t>(r * H + c)];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(H) + static_cast<float>(kEps));
    for (int64_t c = 0; c < H; ++c)
      out[static_cast<size_t>(r * H + c)] = bf16(x[static_cast<size_t>(r * H + c)] * inv);
  }
  return out;
}

LoadedTensor heads_tensor(const std::vector<float>& qkv, const Shape& s, int64_t first_head, int64_t n,
                          const char* what) {
  Tensor t{{1, s.T, n, s.hd}, std::vector<float>(static_cast<size_t>(s.T * n * s.hd))};
  for (int64_t tok = 0; tok < s.T; ++tok) {
    for (int64_t c = 0; c < n * s.hd; ++c)
      t.data[static_cast<size_t>(tok * n * s.hd + c)] =
          qkv[static_cast<size_t>(tok * s.qkv() + first_head * s.hd + c)];
  }
  return LoadedTensor{std::move(t), StoredDtype::kBfloat16, what};
}

// The gated MLP's activation: SiLU (Llama), GELU's tanh form (Gemma's gelu_pytorch_tanh), or
// with a limit gpt-oss's clamped SwiGLU.
struct Act {
  double limit = 0;  // > 0: clamped SwiGLU
  bool gelu = false;
};

// One gate and up value through `a`: SiLU(gate) x up; GELU_tanh(gate) x up; or gpt-oss's gate
// clamped above at the limit and up to [-limit, limit], (up + 1) x gate x sigmoid(1.702 gate)
// (openai/gpt-oss gpt_oss/torch/model.py, swiglu). T is double (reference) or float (as computed).
template <class T>
T glu(T g, T u, const Act& a) {
  if (a.limit > 0) {
    const auto l = static_cast<T>(a.limit);
    g = std::min(g, l);
    u = std::clamp(u, -l, l);
    return (u + T(1)) * (g / (T(1) + std::exp(-T(1.702) * g)));
  }
  if (a.gelu) {
    const T k = static_cast<T>(0.7978845608028654);  // sqrt(2 / pi)
    return T(0.5) * g * (T(1) + std::tanh(k * (g + T(0.044715) * g * g * g))) * u;
  }
  return g / (T(1) + std::exp(-g)) * u;
}

// Gated MLP on normed rows: down(glu(gate, up)), float64.
Vec mlp_ref(const Vec& h, int64_t rows, int64_t H, const Mlp& w, const Act& a) {
  const int64_t F = w.down.cols();
  Vec gu = matmul_t(h, rows, H, w.gu);
  add_bias(gu, w.gu_bias);
  Vec act(static_cast<size_t>(rows * F));
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t c = 0; c < F; ++c) {
      act[static_cast<size_t>(t * F + c)] =
          glu(gu[static_cast<size_t>(t * 2 * F + c)], gu[static_cast<size_t>(t * 2 * F + F + c)], a);
    }
  }
  Vec out = matmul_t(act, rows, F, w.down);
  add_bias(out, w.down_bias);
  return out;
}

// The same as the GPU computes it: two GEMMs, the activation in float32 with a BF16 result.
std::vector<float> mlp_gpu(const std::vector<float>& h, int64_t rows, int64_t H, const Mlp& w,
                           const GemmFormat& f, const HwSpec& hw, const Act& a, const Site& site) {
  const int64_t F = w.down.cols();
  const std::vector<float> gu = gemm(h, rows, H, w.gu, f, hw, w.gu_bias, site / "gate_up");
  std::vector<float> act(static_cast<size_t>(rows * F));
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t c = 0; c < F; ++c) {
      act[static_cast<size_t>(t * F + c)] =
          bf16(glu(gu[static_cast<size_t>(t * 2 * F + c)], gu[static_cast<size_t>(t * 2 * F + F + c)], a));
    }
  }
  return gemm(act, rows, F, w.down, f, hw, w.down_bias, site / "down");
}

// Each head's Q and K (the first heads + kv heads of a qkv row) over an RMS norm without weight
// (Qwen3's and Gemma 3's q_norm / k_norm at their initial weight of 1; Llama 4's L2Norm), in
// float64 (reference) or in float32 with BF16 results (as computed). Before RoPE: the norm
// commutes with the rotation in exact arithmetic, so Llama 4's after-RoPE order is the same.
template <class T, class Round>
void qk_rmsnorm(std::vector<T>& qkv, const Shape& s, Round round) {
  for (int64_t t = 0; t < s.T; ++t) {
    for (int64_t h = 0; h < s.heads + s.kv; ++h) {
      T* x = qkv.data() + t * s.qkv() + h * s.hd;
      T ss = 0;
      for (int64_t d = 0; d < s.hd; ++d) ss += x[d] * x[d];
      const T inv = T(1) / std::sqrt(ss / static_cast<T>(s.hd) + static_cast<T>(kEps));
      for (int64_t d = 0; d < s.hd; ++d) x[d] = round(x[d] * inv);
    }
  }
}

// A token's top-k experts by router logit (ties to the lower index) and their weights: the
// softmax over the chosen logits (Mixtral's renormalized top-k).
std::vector<std::pair<int64_t, double>> route(std::span<const double> logits, int64_t k) {
  std::vector<int64_t> idx(logits.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
  });
  std::vector<std::pair<int64_t, double>> out;
  double sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    const double w = std::exp(logits[static_cast<size_t>(idx[static_cast<size_t>(i)])] -
                              logits[static_cast<size_t>(idx[0])]);
    out.emplace_back(idx[static_cast<size_t>(i)], w);
    sum += w;
  }
  for (auto& [e, w] : out) w /= sum;
  return out;
}

struct Experts {
  Tensor router;                   // E x H
  std::vector<float> router_bias;  // gpt-oss's router Linear bias (empty: none)
  std::vector<Mlp> experts;
  std::optional<Mlp> shared;
  int64_t top_k = 1;
};

// MLA attention (prefill, expanded) in float64: returns T x heads*v.
Vec mla_ref(const Shape& s, const Vec& h, const MlaWeights& w, const AttentionProblem& p) {
  const int64_t n = s.hd, r = s.r, v = s.hd, qd = n + r, T = s.T;
  const Vec q = w.wq ? matmul_t(h, T, s.H, *w.wq)
                     : matmul_t(rmsnorm(matmul_t(h, T, s.H, *w.wqa), T, s.qlora), T, s.qlora, *w.wqb);
  const Vec kva = matmul_t(h, T, s.H, w.wkva);
  Vec c(static_cast<size_t>(T * s.kvlora)), kr(static_cast<size_t>(T * r));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < s.kvlora; ++i)
      c[static_cast<size_t>(t * s.kvlora + i)] = kva[static_cast<size_t>(t * (s.kvlora + r) + i)];
    for (int64_t i = 0; i < r; ++i)
      kr[static_cast<size_t>(t * r + i)] = kva[static_cast<size_t>(t * (s.kvlora + r) + s.kvlora + i)];
  }
  const Vec kv = matmul_t(rmsnorm(c, T, s.kvlora), T, s.kvlora, w.wkvb);  // T x heads x (n + v)
  Vec qr = q;
  if (p.rope) {
    const RopeTable table = rope_table(*p.rope, static_cast<int>(r), T, RopePrecision::kFloat64);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t hh = 0; hh < s.heads; ++hh)
        table.apply(t, std::span<double>(qr.data() + (t * s.heads + hh) * qd + n, static_cast<size_t>(r)));
      table.apply(t, std::span<double>(kr.data() + t * r, static_cast<size_t>(r)));
    }
  }
  const double scale = p.softmax_scale();
  Vec out(static_cast<size_t>(T * s.heads * v), 0.0);
  for (int64_t hh = 0; hh < s.heads; ++hh) {
    causal_head(
        p, T, v, std::nullopt,
        [&](int64_t t, int64_t u) {
          const double* qt = qr.data() + (t * s.heads + hh) * qd;
          const double* ku = kv.data() + (u * s.heads + hh) * (n + v);
          double dot = 0;
          for (int64_t d = 0; d < n; ++d) dot += qt[d] * ku[d];
          for (int64_t d = 0; d < r; ++d) dot += qt[n + d] * kr[static_cast<size_t>(u * r + d)];
          return dot * scale;
        },
        [&](int64_t u) { return kv.data() + (u * s.heads + hh) * (n + v) + n; },
        [&](int64_t t) { return out.data() + (t * s.heads + hh) * v; });
  }
  return out;
}

// The same as the GPU computes it: projections through the GEMMs, the latent norms in float32
// (BF16 out), attention through attention_functional with the shared rope key.
std::vector<float> mla_gpu(const Shape& s, const std::vector<float>& h, const MlaWeights& w,
                           const AttentionProblem& p, const GemmFormat& f, const HwSpec& hw,
                           const Site& site) {
  const int64_t n = s.hd, r = s.r, v = s.hd, qd = n + r, T = s.T;
  const std::vector<float> q =
      w.wq ? gemm(h, T, s.H, *w.wq, f, hw, {}, site / "q")
           : gemm(rmsnorm_bf16(gemm(h, T, s.H, *w.wqa, f, hw, {}, site / "q_a"), T, s.qlora), T, s.qlora,
                  *w.wqb, f, hw, {}, site / "q_b");
  const std::vector<float> kva = gemm(h, T, s.H, w.wkva, f, hw, {}, site / "kv_a");
  std::vector<float> c(static_cast<size_t>(T * s.kvlora));
  Tensor kr{{1, T, r}, std::vector<float>(static_cast<size_t>(T * r))};
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < s.kvlora; ++i)
      c[static_cast<size_t>(t * s.kvlora + i)] = kva[static_cast<size_t>(t * (s.kvlora + r) + i)];
    for (int64_t i = 0; i < r; ++i)
      kr.data[static_cast<size_t>(t * r + i)] = kva[static_cast<size_t>(t * (s.kvlora + r) + s.kvlora + i)];
  }
  const std::vector<float> kv =
      gemm(rmsnorm_bf16(c, T, s.kvlora), T, s.kvlora, w.wkvb, f, hw, {}, site / "kv_b");
  Tensor qt{{1, T, s.heads, qd}, q};
  Tensor kt{{1, T, s.heads, n}, std::vector<float>(static_cast<size_t>(T * s.heads * n))};
  Tensor vt{{1, T, s.heads, v}, std::vector<float>(static_cast<size_t>(T * s.heads * v))};
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t hh = 0; hh < s.heads; ++hh) {
      const float* src = kv.data() + (t * s.heads + hh) * (n + v);
      std::copy_n(src, n, kt.data.begin() + (t * s.heads + hh) * n);
      std::copy_n(src + n, v, vt.data.begin() + (t * s.heads + hh) * v);
    }
  }
  AttentionData data;
  data.q_file = LoadedTensor{std::move(qt), StoredDtype::kBfloat16, "replica Q"};
  data.k_file = LoadedTensor{std::move(kt), StoredDtype::kBfloat16, "replica K"};
  data.v_file = LoadedTensor{std::move(vt), StoredDtype::kBfloat16, "replica V"};
  data.k_rope_file = LoadedTensor{std::move(kr), StoredDtype::kBfloat16, "replica K rope"};
  return attention_functional(p, data, {FunctionalSpec::Mode::kFull}).o;
}

}  // namespace

std::vector<std::string> modules_of_site(const std::string& site) {
  if (site == "head") return {"lm_head"};
  const size_t dot = site.find('.');
  const std::string layer = fmt::format("model.layers.{}", site.substr(1, dot - 1));
  const std::string rest = site.substr(dot + 1);
  const auto mlp = [&](const std::string& base, const std::string& part) -> std::vector<std::string> {
    if (part == "gate_up") return {base + ".gate_proj", base + ".up_proj"};
    return {base + ".down_proj"};
  };
  if (rest == "qkv")
    return {layer + ".self_attn.q_proj", layer + ".self_attn.k_proj", layer + ".self_attn.v_proj"};
  if (rest == "o") return {layer + ".self_attn.o_proj"};
  if (rest.starts_with("mla.")) return {layer + ".self_attn." + rest.substr(4) + "_proj"};
  if (rest.starts_with("shared.")) return mlp(layer + ".mlp.shared_experts", rest.substr(7));
  if (rest.starts_with("e")) {
    const size_t d = rest.find('.');
    return mlp(layer + ".mlp.experts." + rest.substr(1, d - 1), rest.substr(d + 1));
  }
  return mlp(layer + ".mlp", rest);
}

std::optional<std::string> site_of_module(std::string_view module) {
  if (module == "lm_head") return "head";
  constexpr std::string_view kLayers = "model.layers.";
  if (!module.starts_with(kLayers)) return std::nullopt;
  module.remove_prefix(kLayers.size());
  const size_t dot = module.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const std::string_view index = module.substr(0, dot);
  // At most 9 digits: the index is read back as a number.
  if (index.size() > 9 ||
      !std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const std::string l = fmt::format("l{}", index);
  const std::string_view rest = module.substr(dot + 1);
  const auto mlp_part = [](std::string_view p) -> std::optional<std::string> {
    if (p == "gate_proj" || p == "up_proj") return "gate_up";
    if (p == "down_proj") return "down";
    return std::nullopt;
  };
  if (rest == "self_attn.q_proj" || rest == "self_attn.k_proj" || rest == "self_attn.v_proj") {
    return l + ".qkv";
  }
  if (rest == "self_attn.o_proj") return l + ".o";
  for (const std::string_view m : {"q_a", "q_b", "kv_a", "kv_b"}) {
    if (rest == fmt::format("self_attn.{}_proj", m)) return fmt::format("{}.mla.{}", l, m);
  }
  if (rest.starts_with("mlp.shared_experts.")) {
    if (const auto p = mlp_part(rest.substr(19))) return l + ".shared." + *p;
    return std::nullopt;
  }
  if (rest.starts_with("mlp.experts.")) {
    const std::string_view e = rest.substr(12);
    const size_t d = e.find('.');
    if (d == std::string_view::npos || d == 0) return std::nullopt;
    if (const auto p = mlp_part(e.substr(d + 1))) return fmt::format("{}.e{}.{}", l, e.substr(0, d), *p);
    return std::nullopt;
  }
  if (rest.starts_with("mlp.")) {
    if (const auto p = mlp_part(rest.substr(4))) return l + "." + *p;
  }
  return std::nullopt;
}

LogitsAgreement compare_logits(const std::vector<float>& a, const std::vector<float>& b, int64_t vocab) {
  LogitsAgreement g;
  const auto tokens = static_cast<int64_t>(a.size()) / vocab;
  if (tokens == 0 || a.size() != b.size()) return g;
  int64_t same = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    const Vec za(a.begin() + t * vocab, a.begin() + (t + 1) * vocab);
    const Vec zb(b.begin() + t * vocab, b.begin() + (t + 1) * vocab);
    if (std::max_element(za.begin(), za.end()) - za.begin() ==
        std::max_element(zb.begin(), zb.end()) - zb.begin())
      ++same;
    const std::vector<double> pa = softmax(za), pb = softmax(zb);
    double kl = 0;
    for (size_t i = 0; i < pa.size(); ++i) {
      if (pa[i] > 0) kl += pa[i] * (std::log(pa[i]) - std::log(std::max(pb[i], 1e-300)));
    }
    g.kl_mean += kl;
  }
  g.top1 = static_cast<double>(same) / static_cast<double>(tokens);
  g.kl_mean /= static_cast<double>(tokens);
  return g;
}

NumericsResult model_numerics(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw,
                              const NumericsOptions& o) {
  if (m.mla && m.mla->v_dim != m.mla->nope_dim) {
    throw InputError(fmt::format("{}: MLA with v_head_dim {} != qk_nope_head_dim {} is not modelled", m.name,
                                 m.mla->v_dim, m.mla->nope_dim));
  }
  if (o.layers < 1 || o.layers > 16) throw InputError(fmt::format("--layers {}: expected 1..16", o.layers));
  if (o.tokens < 1 || o.tokens > 4096)
    throw InputError(fmt::format("--tokens {}: expected 1..4096", o.tokens));
  if (o.vocab < 2) throw InputError(fmt::format("--vocab {}: expected at least 2", o.vocab));
  if (o.calib_prompts < 0 || o.calib_prompts > 64)
    throw InputError(fmt::format("--calib-prompts {}: expected 0..64", o.calib_prompts));
  if (!(o.deploy_outliers > 0) || !std::isfinite(o.deploy_outliers))
    throw InputError(fmt::format("--deploy-outliers {}: expected a factor > 0", o.deploy_outliers));
  if (o.only_layer && (*o.only_layer < 0 || *o.only_layer >= o.layers))
    throw InputError(fmt::format("layer {}: the replica has layers 0..{}", *o.only_layer, o.layers - 1));
  Shape s;
  s.T = o.tokens;
  s.hd = m.mla ? m.mla->nope_dim : m.head_dim;
  const int64_t group = m.mla ? 1 : std::max<int64_t>(1, m.heads / std::max<int64_t>(1, m.kv_heads));
  if (o.width < s.hd) throw InputError(fmt::format("--width {}: below the head dim {}", o.width, s.hd));
  if (m.mla) {
    // The hidden size cut to the width; heads in the model's proportion to it.
    s.H = o.width / 64 * 64;
    s.heads = std::clamp<int64_t>(
        std::llround(static_cast<double>(m.heads) * static_cast<double>(s.H) / static_cast<double>(m.hidden)),
        1, m.heads);
    s.kv = s.heads;
    s.r = m.mla->rope_dim;
  } else {
    s.heads = std::max(group, std::min(m.heads, o.width / s.hd) / group * group);
    s.kv = s.heads / group;
    s.H = s.heads * s.hd;
  }
  s.ffn = std::max<int64_t>(64, std::llround(static_cast<double>(s.H) * static_cast<double>(m.ffn) /
                                             static_cast<double>(m.hidden) / 64) *
                                    64);
  s.vocab = std::min(m.vocab, o.vocab);
  s.layers = o.layers;
  // MoE: their FFN width scaled with the hidden size, the model's top-k.
  const auto scaled = [&](int64_t f) {
    return std::max<int64_t>(64, std::llround(static_cast<double>(s.H) * static_cast<double>(f) /
                                              static_cast<double>(m.hidden) / 64) *
                                     64);
  };
  // MoE: enough experts that top-k routing still chooses (4 x top-k, at least 8, at most all).
  const int64_t experts =
      m.moe ? std::min<int64_t>(m.moe->experts, std::max<int64_t>(8, 4 * m.moe->top_k)) : 0;
  if (m.mla) {
    s.qlora = m.mla->q_lora_rank > 0 ? scaled(m.mla->q_lora_rank) : 0;
    s.kvlora = scaled(m.mla->kv_lora_rank);
  }

  NumericsResult r;
  r.hidden = s.H;
  r.heads = s.heads;
  r.kv_heads = s.kv;
  r.head_dim = s.hd;
  r.ffn = s.ffn;
  r.vocab = s.vocab;
  r.layers = s.layers;
  r.experts = experts;
  r.top_k = m.moe ? std::min(m.moe->top_k, experts) : 0;
  r.expert_ffn = m.moe ? scaled(m.moe->expert_ffn) : 0;

  AttentionProblem ap;
  ap.batch = 1;
  ap.seq = s.T;
  ap.q_len = s.T;
  ap.heads = s.heads;
  ap.kv_heads = s.kv;
  ap.head_dim = s.hd;
  ap.rope_dim = s.r;
  ap.causal = true;
  ap.rope = m.rope;
  ap.kv = q.kv;
  ap.query_scalar = m.mla ? 0 : m.query_scalar;
  check_attention(ap);
  // gpt-oss's sink logits: one per head, seeded N(0, 1) in BF16 (the checkpoint's dtype): the
  // scale of a typical scaled score, as no trained values are at hand.
  std::vector<float> sinks;
  if (m.attention_sinks) {
    Rng rng(random_at(o.seed, 0xE1));
    for (int64_t h = 0; h < s.heads; ++h) sinks.push_back(bf16(static_cast<float>(rng.normal())));
  }
  check_keep_layers(q, s.layers, "numerics replica");
  const GemmFormat fh = q.gemm_format(WeightClass::kLmHead);
  const GemmFormat fb = parse_gemm_format("bf16");  // the router

  progress::Scope bar("numerics: decoder layers", (s.layers + 1) * (o.calib_prompts + 1));
  // One pass over a prompt (seed stream `prompt`, its outlier channels `outliers` x 20): the
  // float64 reference (unless only calibrating) and the GPU path, its activation scales from
  // `scales`. Results into `res`.
  const auto pass = [&](uint64_t prompt, double outliers, ActScales& scales, bool reference,
                        NumericsResult& res) {
    // The prompt's hidden states: Gaussian, with 1 in 64 channels 20x larger; stored in BF16. With
    // a scaled embedding (Gemma) the rows are embeddings 1/sqrt(H) as large, multiplied by sqrt(H):
    // in BF16 by the factor rounded to BF16 as computed, exactly in the reference.
    std::vector<float> xq(static_cast<size_t>(s.T * s.H));
    Vec x(xq.size());
    {
      Rng rng(random_at(o.seed, prompt));
      const double root = std::sqrt(static_cast<double>(s.H));
      const float root_bf16 = bf16(static_cast<float>(root));
      for (size_t i = 0; i < xq.size(); ++i) {
        const double v = rng.normal() * (static_cast<int64_t>(i) % s.H % 64 == 7 ? 20.0 * outliers : 1.0);
        if (m.scaled_embedding) {
          const float e = bf16(static_cast<float>(v / root));
          xq[i] = bf16(e * root_bf16);
          x[i] = static_cast<double>(e) * root;
        } else {
          xq[i] = bf16(static_cast<float>(v));
          x[i] = xq[i];
        }
      }
    }
    // Gemma's post-attention and post-feedforward norms over each block's output.
    const bool post_norms = m.norms_per_layer >= 4;
    const auto inv_sqrt = [](int64_t fan_in) { return 1 / std::sqrt(static_cast<double>(fan_in)); };
    for (int l = 0; l < s.layers; ++l) {
      // With only_layer, the other layers run BF16 (weights, activations and KV cache).
      // Kept layers (QuantPlan::keep_layers, counted in the replica's layers) run the kept plan.
      const bool quantized = !o.only_layer || *o.only_layer == l;
      const QuantPlan ql = q.layer_plan(l, s.layers);
      const GemmFormat la = quantized ? ql.gemm_format(WeightClass::kAttention) : fb;
      const GemmFormat lm = quantized ? ql.gemm_format(WeightClass::kMlp) : fb;
      const GemmFormat le = quantized ? (m.moe ? ql.gemm_format(WeightClass::kExperts) : lm) : fb;
      const Site site{&scales, fmt::format("l{}", l)};
      const uint64_t id = 0x100 + 8 * static_cast<uint64_t>(l);
      const Tensor wqkv = m.mla ? Tensor{} : gaussian(s.qkv(), s.H, inv_sqrt(s.H), o.seed, id);
      const std::vector<float> bqkv = bias(m.qkv_bias && !m.mla, s.qkv(), o.seed, id + 4);
      MlaWeights mw;
      if (m.mla) {
        const uint64_t base = 0x20000 + 16 * static_cast<uint64_t>(l);
        const int64_t qd = s.heads * (s.hd + s.r);
        if (s.qlora > 0) {
          mw.wqa = gaussian(s.qlora, s.H, inv_sqrt(s.H), o.seed, base);
          mw.wqb = gaussian(qd, s.qlora, inv_sqrt(s.qlora), o.seed, base + 1);
        } else {
          mw.wq = gaussian(qd, s.H, inv_sqrt(s.H), o.seed, base);
        }
        mw.wkva = gaussian(s.kvlora + s.r, s.H, inv_sqrt(s.H), o.seed, base + 2);
        mw.wkvb = gaussian(s.heads * 2 * s.hd, s.kvlora, inv_sqrt(s.kvlora), o.seed, base + 3);
      }
      const Tensor wo = gaussian(s.H, s.heads * s.hd, inv_sqrt(s.heads * s.hd), o.seed, id + 1);
      const std::vector<float> bo = bias(m.o_bias, s.H, o.seed, id + 5);
      const bool moe = m.moe && m.moe_layer(l);
      Mlp dense;
      if (!moe) {
        dense.gu = gaussian(2 * s.ffn, s.H, inv_sqrt(s.H), o.seed, id + 2);
        dense.down = gaussian(s.H, s.ffn, inv_sqrt(s.ffn), o.seed, id + 3);
      }
      // An injected outlier-heavy layer: 1 in 64 of its MLP's up rows scaled, so the down
      // projection's input carries channels that much larger.
      const auto inject = [&](Mlp& w) {
        if (l != o.outlier_layer) return;
        const int64_t F = w.down.cols();
        for (int64_t c = 11; c < F; c += 64) {
          for (int64_t k = 0; k < s.H; ++k)
            w.gu.data[static_cast<size_t>((F + c) * s.H + k)] *= static_cast<float>(o.outlier_factor);
        }
      };
      if (!moe) inject(dense);
      Experts ex;
      if (moe) {
        const uint64_t base = 0x10000 + 256 * static_cast<uint64_t>(l);
        const uint64_t bias_base = 0x40000 + 1024 * static_cast<uint64_t>(l);
        ex.top_k = r.top_k;
        ex.router = gaussian(experts, s.H, inv_sqrt(s.H), o.seed, base);
        ex.router_bias = bias(m.moe->router_bias, experts, o.seed, bias_base);
        for (int64_t e = 0; e < experts; ++e) {
          const uint64_t eid = base + 16 + 2 * static_cast<uint64_t>(e);
          const uint64_t bid = bias_base + 2 + 2 * static_cast<uint64_t>(e);
          Mlp& w = ex.experts.emplace_back();
          w.gu = gaussian(2 * r.expert_ffn, s.H, inv_sqrt(s.H), o.seed, eid);
          w.down = gaussian(s.H, r.expert_ffn, inv_sqrt(r.expert_ffn), o.seed, eid + 1);
          w.gu_bias = bias(m.moe->expert_bias, 2 * r.expert_ffn, o.seed, bid);
          w.down_bias = bias(m.moe->expert_bias, s.H, o.seed, bid + 1);
          inject(w);
        }
        if (m.moe->shared_ffn > 0) {
          const int64_t fs = scaled(m.moe->shared_ffn);
          ex.shared = Mlp{gaussian(2 * fs, s.H, inv_sqrt(s.H), o.seed, base + 8),
                          gaussian(s.H, fs, inv_sqrt(fs), o.seed, base + 9),
                          {},
                          {}};
        }
      }
      // This layer's attention: its sliding window or chunk where the model has one, its sinks.
      AttentionProblem apl = ap;
      if (!m.mla && m.window_layer(l)) (m.window_chunked ? apl.chunk : apl.window) = m.window;
      apl.sinks = m.attention_sinks;
      if (!m.mla) apl.rope = m.layer_rope(l);  // Gemma 3's local base, Llama 4's NoPE layers
      if (!quantized) apl.kv = KvFormat::kBf16;
      const bool norm_qk = !m.mla && (m.qk_norm || (m.qk_l2norm && !m.nope_layer(l)));
      // Llama 4's temperature tuning: a NoPE layer's queries scaled by position (float32 factors).
      std::vector<float> q_temp;
      if (!m.mla && m.temperature_floor > 0 && m.nope_layer(l)) {
        for (int64_t t = 0; t < s.T; ++t)
          q_temp.push_back(static_cast<float>(
              std::log1p(std::floor(static_cast<double>(t + 1) / static_cast<double>(m.temperature_floor))) *
                  m.temperature_scale +
              1));
      }
      const Act act{m.swiglu_limit, m.gelu_mlp};
      // Reference.
      if (reference) {
        const Vec h = rmsnorm(x, s.T, s.H);
        Vec att;
        if (m.mla) {
          att = mla_ref(s, h, mw, apl);
        } else {
          Vec qkv = matmul_t(h, s.T, s.H, wqkv);
          add_bias(qkv, bqkv);
          if (norm_qk) qk_rmsnorm(qkv, s, [](double v) { return v; });
          for (size_t t = 0; t < q_temp.size(); ++t) {
            for (int64_t c = 0; c < s.heads * s.hd; ++c)
              qkv[t * static_cast<size_t>(s.qkv()) + static_cast<size_t>(c)] *=
                  static_cast<double>(q_temp[t]);
          }
          att = attention_ref(s, qkv, apl, sinks);
        }
        Vec proj = matmul_t(att, s.T, s.heads * s.hd, wo);
        add_bias(proj, bo);
        if (post_norms) proj = rmsnorm(proj, s.T, s.H);
        for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
        const Vec h2 = rmsnorm(x, s.T, s.H);
        Vec y(x.size(), 0.0);
        if (!moe) {
          y = mlp_ref(h2, s.T, s.H, dense, act);
        } else {
          Vec logits = matmul_t(h2, s.T, s.H, ex.router);
          add_bias(logits, ex.router_bias);
          for (int64_t t = 0; t < s.T; ++t) {
            const Vec row(h2.begin() + t * s.H, h2.begin() + (t + 1) * s.H);
            const std::span<const double> lt(logits.data() + t * experts, static_cast<size_t>(experts));
            for (const auto& [e, w] : route(lt, ex.top_k)) {
              const Vec ye = mlp_ref(row, 1, s.H, ex.experts[static_cast<size_t>(e)], act);
              for (int64_t c = 0; c < s.H; ++c)
                y[static_cast<size_t>(t * s.H + c)] += w * ye[static_cast<size_t>(c)];
            }
          }
          if (ex.shared) {
            const Vec ys = mlp_ref(h2, s.T, s.H, *ex.shared, act);
            for (size_t i = 0; i < y.size(); ++i) y[i] += ys[i];
          }
        }
        if (post_norms) y = rmsnorm(y, s.T, s.H);
        for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
      }
      // As computed.
      {
        const std::vector<float> h = rmsnorm_bf16(xq, s.T, s.H);
        std::vector<float> att;
        if (m.mla) {
          att = mla_gpu(s, h, mw, apl, la, hw, site / "mla");
        } else {
          std::vector<float> qkv = gemm(h, s.T, s.H, wqkv, la, hw, bqkv, site / "qkv");
          if (norm_qk) qk_rmsnorm(qkv, s, [](float v) { return bf16(v); });
          for (size_t t = 0; t < q_temp.size(); ++t) {
            for (int64_t c = 0; c < s.heads * s.hd; ++c) {
              float& v = qkv[t * static_cast<size_t>(s.qkv()) + static_cast<size_t>(c)];
              v = bf16(v * q_temp[t]);
            }
          }
          AttentionData data;
          data.q_file = heads_tensor(qkv, s, 0, s.heads, "replica Q");
          data.k_file = heads_tensor(qkv, s, s.heads, s.kv, "replica K");
          data.v_file = heads_tensor(qkv, s, s.heads + s.kv, s.kv, "replica V");
          if (apl.sinks) data.sinks = sinks;
          att = attention_functional(apl, data, {FunctionalSpec::Mode::kFull}).o;
        }
        std::vector<float> proj = gemm(att, s.T, s.heads * s.hd, wo, la, hw, bo, site / "o");
        if (post_norms) proj = rmsnorm_bf16(proj, s.T, s.H);
        for (size_t i = 0; i < xq.size(); ++i) xq[i] = bf16(xq[i] + proj[i]);
        const std::vector<float> h2 = rmsnorm_bf16(xq, s.T, s.H);
        std::vector<float> y;
        if (!moe) {
          y = mlp_gpu(h2, s.T, s.H, dense, lm, hw, act, site);
        } else {
          // The router in BF16 (its bias in the epilogue); each expert's GEMMs over the rows routed
          // to it; the weighted sum (and the shared expert) in float32, written as BF16.
          const std::vector<float> logits = gemm(h2, s.T, s.H, ex.router, fb, hw, ex.router_bias);
          std::vector<std::vector<std::pair<int64_t, double>>> chosen(static_cast<size_t>(s.T));
          for (int64_t t = 0; t < s.T; ++t) {
            const Vec lt(logits.begin() + t * experts, logits.begin() + (t + 1) * experts);
            chosen[static_cast<size_t>(t)] = route(lt, ex.top_k);
          }
          std::vector<float> acc(xq.size(), 0.0f);
          for (int64_t e = 0; e < experts; ++e) {
            std::vector<int64_t> rows;
            std::vector<float> w;
            for (int64_t t = 0; t < s.T; ++t) {
              for (const auto& [ce, cw] : chosen[static_cast<size_t>(t)]) {
                if (ce == e) {
                  rows.push_back(t);
                  w.push_back(static_cast<float>(cw));
                }
              }
            }
            if (rows.empty()) continue;
            std::vector<float> hin(rows.size() * static_cast<size_t>(s.H));
            for (size_t i = 0; i < rows.size(); ++i)
              std::copy_n(h2.begin() + rows[i] * s.H, s.H, hin.begin() + static_cast<int64_t>(i) * s.H);
            const std::vector<float> ye =
                mlp_gpu(hin, static_cast<int64_t>(rows.size()), s.H, ex.experts[static_cast<size_t>(e)], le,
                        hw, act, site / fmt::format("e{}", e));
            for (size_t i = 0; i < rows.size(); ++i) {
              for (int64_t c = 0; c < s.H; ++c)
                acc[static_cast<size_t>(rows[i] * s.H + c)] +=
                    w[i] * ye[i * static_cast<size_t>(s.H) + static_cast<size_t>(c)];
            }
          }
          if (ex.shared) {
            const std::vector<float> ys = mlp_gpu(h2, s.T, s.H, *ex.shared, lm, hw, act, site / "shared");
            for (size_t i = 0; i < acc.size(); ++i) acc[i] += ys[i];
          }
          y.resize(acc.size());
          for (size_t i = 0; i < acc.size(); ++i) y[i] = bf16(acc[i]);
        }
        if (post_norms) y = rmsnorm_bf16(y, s.T, s.H);
        for (size_t i = 0; i < xq.size(); ++i) xq[i] = bf16(xq[i] + y[i]);
      }
      if (reference) {
        const Vec xd(xq.begin(), xq.end());
        res.residual.push_back(compare(std::span<const double>(xd), std::span<const double>(x)));
      }
      bar.advance();
    }
    // The head: final norm and lm_head over every position.
    const Tensor wlm = gaussian(s.vocab, s.H, inv_sqrt(s.H), o.seed, 0xFF);
    const std::vector<float> got = gemm(rmsnorm_bf16(xq, s.T, s.H), s.T, s.H, wlm, o.only_layer ? fb : fh, hw,
                                        {}, Site{&scales, "head"});
    bar.advance();
    if (!reference) return;
    const Vec ref = matmul_t(rmsnorm(x, s.T, s.H), s.T, s.H, wlm);
    const Vec gd(got.begin(), got.end());
    res.logits_values = got;
    res.logits = compare(std::span<const double>(gd), std::span<const double>(ref));
    int64_t same = 0;
    double kl_sum = 0;
    for (int64_t t = 0; t < s.T; ++t) {
      const std::span<const double> zr(ref.data() + t * s.vocab, static_cast<size_t>(s.vocab));
      const std::span<const double> zq(gd.data() + t * s.vocab, static_cast<size_t>(s.vocab));
      if (std::max_element(zr.begin(), zr.end()) - zr.begin() ==
          std::max_element(zq.begin(), zq.end()) - zq.begin())
        ++same;
      const std::vector<double> pr = softmax(zr), pq = softmax(zq);
      double kl = 0;
      for (size_t i = 0; i < pr.size(); ++i) {
        if (pr[i] > 0) kl += pr[i] * (std::log(pr[i]) - std::log(std::max(pq[i], 1e-300)));
      }
      kl_sum += kl;
      res.kl_max = std::max(res.kl_max, kl);
    }
    res.top1 = static_cast<double>(same) / static_cast<double>(s.T);
    res.kl_mean = kl_sum / static_cast<double>(s.T);
  };

  // Static activation scales: calibrated (max) over calib_prompts prompts of the calibration
  // distribution first, then held for the evaluated prompt.
  ActScales scales;
  if (!o.static_amax.empty()) {
    scales.mode = ActScales::Mode::kStatic;
    scales.amax = o.static_amax;
  } else if (o.calib_prompts > 0) {
    scales.mode = ActScales::Mode::kRecord;
    NumericsResult unused;
    for (int i = 0; i < o.calib_prompts; ++i)
      pass(0xE100 + static_cast<uint64_t>(i), 1.0, scales, false, unused);
    scales.mode = ActScales::Mode::kStatic;
  }
  pass(0xE0, o.deploy_outliers, scales, true, r);
  r.static_sites = scales.amax.size();
  r.uncalibrated_sites = scales.uncalibrated.size();
  r.static_saturated =
      scales.values == 0 ? 0 : static_cast<double>(scales.saturated) / static_cast<double>(scales.values);
  r.calibrated_amax = scales.amax;
  for (const auto& [site, amax] : o.static_amax) r.unused_sites += scales.used.count(site) == 0 ? 1 : 0;
  if (o.calib_prompts > 0 || !o.static_amax.empty()) {
    r.static_saturated_layers.assign(static_cast<size_t>(s.layers), 0.0);
    for (int l = 0; l < s.layers; ++l) {
      uint64_t sat = 0, values = 0;
      const std::string prefix = fmt::format("l{}.", l);
      for (const auto& [site, counts] : scales.per_site) {
        if (site.starts_with(prefix)) {
          sat += counts.first;
          values += counts.second;
        }
      }
      r.static_saturated_layers[static_cast<size_t>(l)] =
          values == 0 ? 0 : static_cast<double>(sat) / static_cast<double>(values);
    }
  }
  return r;
}

PlanSearchResult search_plan(const ModelSpec& m, const QuantPlan& q, Scheme keep, double budget_bits,
                             const HwSpec& hw, const NumericsOptions& o) {
  if (!(budget_bits > 0) || !std::isfinite(budget_bits))
    throw InputError(fmt::format("--plan-search {}: a budget in bits per weight > 0", budget_bits));
  PlanSearchResult res;
  const Scheme base = q.scheme(WeightClass::kAttention);
  const int64_t L = m.layers;
  const int n = o.layers;
  // The decoder layers' GEMM weights, per layer, and the average bits of a set of kept layers.
  std::vector<double> params(static_cast<size_t>(L));
  double total = 0;
  for (int64_t l = 0; l < L; ++l) {
    const ParamCount p = m.layer_params(l);
    params[static_cast<size_t>(l)] =
        p[WeightClass::kAttention] + p[WeightClass::kMlp] + p[WeightClass::kExperts];
    total += params[static_cast<size_t>(l)];
  }
  const auto band = [&](int i) {
    return std::pair<int64_t, int64_t>{static_cast<int64_t>(i) * L / n, static_cast<int64_t>(i + 1) * L / n};
  };
  const double bb = storage_bits(base), bk = storage_bits(keep);
  const auto avg_bits = [&](const std::vector<int>& kept) {
    double kept_params = 0;
    for (const int i : kept) {
      const auto [lo, hi] = band(i);
      for (int64_t l = lo; l < hi; ++l) kept_params += params[static_cast<size_t>(l)];
    }
    return (bb * (total - kept_params) + bk * kept_params) / total;
  };
  if (bk <= bb) {
    throw InputError(
        fmt::format("--keep-format {}: not more precise than {} ({:g} bits per weight against {:g})",
                    scheme_name(keep), scheme_name(base), bk, bb));
  }
  if (bb > budget_bits) {
    throw InputError(fmt::format("--plan-search {}: below {}'s own {:g} bits per weight", budget_bits,
                                 scheme_name(base), bb));
  }
  // Sensitivities.
  NumericsOptions ob = o;
  const NumericsResult bf = model_numerics(m, QuantPlan::bf16(), hw, ob);
  QuantPlan alone = q;
  alone.weights[static_cast<size_t>(WeightClass::kLmHead)] = Scheme::kBf16;
  for (int l = 0; l < n; ++l) {
    NumericsOptions ol = o;
    ol.only_layer = l;
    res.layer_kl.push_back(
        compare_logits(bf.logits_values, model_numerics(m, alone, hw, ol).logits_values, bf.vocab).kl_mean);
  }
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return res.layer_kl[static_cast<size_t>(a)] > res.layer_kl[static_cast<size_t>(b)];
  });
  for (const int i : order) {
    std::vector<int> with = res.kept_replica;
    with.push_back(i);
    if (avg_bits(with) <= budget_bits + 1e-12) res.kept_replica = with;
  }
  std::sort(res.kept_replica.begin(), res.kept_replica.end());
  res.bits = avg_bits(res.kept_replica);
  // The uniform plan of the budget, and both on the replica.
  res.uniform = bk <= budget_bits && bk > bb ? keep : base;
  res.uniform_bits = storage_bits(res.uniform);
  QuantPlan uniform = q;
  if (res.uniform == keep) {
    for (int64_t l = 0; l < n; ++l) uniform.keep_layers.push_back(l);
    uniform.keep_format = keep;
  }
  QuantPlan mixed = q;
  mixed.keep_format = keep;
  for (const int i : res.kept_replica) mixed.keep_layers.push_back(i);
  res.uniform_kl =
      compare_logits(bf.logits_values, model_numerics(m, uniform, hw, o).logits_values, bf.vocab).kl_mean;
  res.kl = compare_logits(bf.logits_values, model_numerics(m, mixed, hw, o).logits_values, bf.vocab).kl_mean;
  res.plan = q;
  res.plan.keep_format = keep;
  if (res.kl > res.uniform_kl) {
    res.uniform_chosen = true;
    res.kl = res.uniform_kl;
    res.bits = res.uniform_bits;
    res.kept_replica.clear();
    if (res.uniform == keep) {
      for (int i = 0; i < n; ++i) res.kept_replica.push_back(i);
    }
  }
  for (const int i : res.kept_replica) {
    const auto [lo, hi] = band(i);
    for (int64_t l = lo; l < hi; ++l) res.keep_layers.push_back(l);
  }
  res.plan.keep_layers = res.keep_layers;
  return res;
}

}  // namespace bwsim
