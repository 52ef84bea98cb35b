#include "workloads/transformer/numerics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "isa/scalar_format.hpp"
#include "isa/tensor_io.hpp"
#include "sim/errors.hpp"
#include "sim/rng.hpp"
#include "workloads/attention/attention.hpp"
#include "workloads/gemm/functional.hpp"

namespace bwsim {
namespace {

constexpr double kEps = 1e-5;  // RMSNorm epsilon (both paths)

struct Shape {
  int64_t T = 0, H = 0, heads = 0, kv = 0, hd = 0, ffn = 0, vocab = 0;
  int layers = 0;
  [[nodiscard]] int64_t qkv() const { return (heads + 2 * kv) * hd; }
};

// A seeded Gaussian matrix (std `scale`), one stream per matrix.
Tensor gaussian(int64_t rows, int64_t cols, double scale, uint64_t seed, uint64_t id) {
  Tensor t = Tensor::matrix(rows, cols);
  Rng rng(random_at(seed, id));
  for (float& v : t.data) v = static_cast<float>(rng.normal() * scale);
  return t;
}

float bf16(float x) { return round_bf16_finite(x); }

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

// Causal attention over rotated Q, K (float64 RoPE) and V; returns T x heads*hd.
Vec attention_ref(const Shape& s, const Vec& qkv, const AttentionProblem& p) {
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
  Vec w(static_cast<size_t>(s.T));
  for (int64_t h = 0; h < s.heads; ++h) {
    const int64_t g = h / group;
    for (int64_t t = 0; t < s.T; ++t) {
      double m = -1e300;
      for (int64_t u = 0; u <= t; ++u) {
        double dot = 0;
        for (int64_t d = 0; d < s.hd; ++d)
          dot += q[static_cast<size_t>((t * s.heads + h) * s.hd + d)] *
                 k[static_cast<size_t>((u * s.kv + g) * s.hd + d)];
        w[static_cast<size_t>(u)] = dot * scale;
        m = std::max(m, w[static_cast<size_t>(u)]);
      }
      double sum = 0;
      for (int64_t u = 0; u <= t; ++u)
        sum += (w[static_cast<size_t>(u)] = std::exp(w[static_cast<size_t>(u)] - m));
      for (int64_t u = 0; u <= t; ++u) {
        const double pu = w[static_cast<size_t>(u)] / sum;
        for (int64_t d = 0; d < s.hd; ++d)
          out[static_cast<size_t>((t * s.heads + h) * s.hd + d)] +=
              pu * at(u, (s.heads + s.kv + g) * s.hd + d);
      }
    }
  }
  return out;
}

// ---- as the GPU computes it -------------------------------------------------------------------

// A (rows x K, BF16 values) times W^T through the GEMM's exact numbers, BF16 out.
std::vector<float> gemm(const std::vector<float>& a, int64_t rows, int64_t K, const Tensor& w,
                        const GemmFormat& f, const HwSpec& hw) {
  GemmProblem p;
  p.m = rows;
  p.n = w.rows();
  p.k = K;
  p.format = f;
  p.out = GemmOut::kBf16;
  const GemmPlan plan = make_plan(p, hw, TileConfig{});
  Tensor at{{rows, K}, a};
  const GemmOperands in{MatrixSource::held(std::move(at), "activations"), MatrixSource::held(w, "weights")};
  return gemm_functional(plan, hw.arch, in, {FunctionalSpec::Mode::kFull}).d;
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

std::vector<double> softmax(std::span<const double> z) {
  const double m = *std::max_element(z.begin(), z.end());
  std::vector<double> p(z.size());
  double sum = 0;
  for (size_t i = 0; i < z.size(); ++i) sum += (p[i] = std::exp(z[i] - m));
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace

NumericsResult model_numerics(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw,
                              const NumericsOptions& o) {
  if (m.mla)
    throw InputError(fmt::format("{}: model-level numerics covers GQA / MHA attention, not MLA yet", m.name));
  if (m.moe) throw InputError(fmt::format("{}: model-level numerics covers dense MLPs, not MoE yet", m.name));
  if (o.layers < 1 || o.layers > 16) throw InputError(fmt::format("--layers {}: expected 1..16", o.layers));
  if (o.tokens < 1 || o.tokens > 4096)
    throw InputError(fmt::format("--tokens {}: expected 1..4096", o.tokens));
  if (o.vocab < 2) throw InputError(fmt::format("--vocab {}: expected at least 2", o.vocab));
  Shape s;
  s.T = o.tokens;
  s.hd = m.head_dim;
  const int64_t group = std::max<int64_t>(1, m.heads / std::max<int64_t>(1, m.kv_heads));
  if (o.width < s.hd) throw InputError(fmt::format("--width {}: below the head dim {}", o.width, s.hd));
  s.heads = std::max(group, std::min(m.heads, o.width / s.hd) / group * group);
  s.kv = s.heads / group;
  s.H = s.heads * s.hd;
  s.ffn = std::max<int64_t>(64, std::llround(static_cast<double>(s.H) * static_cast<double>(m.ffn) /
                                             static_cast<double>(m.hidden) / 64) *
                                    64);
  s.vocab = std::min(m.vocab, o.vocab);
  s.layers = o.layers;

  NumericsResult r;
  r.hidden = s.H;
  r.heads = s.heads;
  r.kv_heads = s.kv;
  r.head_dim = s.hd;
  r.ffn = s.ffn;
  r.vocab = s.vocab;
  r.layers = s.layers;

  AttentionProblem ap;
  ap.batch = 1;
  ap.seq = s.T;
  ap.q_len = s.T;
  ap.heads = s.heads;
  ap.kv_heads = s.kv;
  ap.head_dim = s.hd;
  ap.causal = true;
  ap.rope = m.rope;
  ap.kv = q.kv;
  check_attention(ap);
  const GemmFormat fa = q.gemm_format(WeightClass::kAttention);
  const GemmFormat fm = q.gemm_format(WeightClass::kMlp);
  const GemmFormat fh = q.gemm_format(WeightClass::kLmHead);

  // The prompt's hidden states: Gaussian, with 1 in 64 channels 20x larger; stored in BF16.
  std::vector<float> xq(static_cast<size_t>(s.T * s.H));
  {
    Rng rng(random_at(o.seed, 0xE0));
    for (int64_t t = 0; t < s.T; ++t) {
      for (int64_t c = 0; c < s.H; ++c)
        xq[static_cast<size_t>(t * s.H + c)] =
            bf16(static_cast<float>(rng.normal() * (c % 64 == 7 ? 20.0 : 1.0)));
    }
  }
  Vec x(xq.begin(), xq.end());
  const auto inv_sqrt = [](int64_t fan_in) { return 1 / std::sqrt(static_cast<double>(fan_in)); };
  for (int l = 0; l < s.layers; ++l) {
    const uint64_t id = 0x100 + 8 * static_cast<uint64_t>(l);
    const Tensor wqkv = gaussian(s.qkv(), s.H, inv_sqrt(s.H), o.seed, id);
    const Tensor wo = gaussian(s.H, s.heads * s.hd, inv_sqrt(s.heads * s.hd), o.seed, id + 1);
    const Tensor wgu = gaussian(2 * s.ffn, s.H, inv_sqrt(s.H), o.seed, id + 2);
    const Tensor wd = gaussian(s.H, s.ffn, inv_sqrt(s.ffn), o.seed, id + 3);
    // Reference.
    {
      const Vec qkv = matmul_t(rmsnorm(x, s.T, s.H), s.T, s.H, wqkv);
      const Vec att = attention_ref(s, qkv, ap);
      const Vec proj = matmul_t(att, s.T, s.heads * s.hd, wo);
      for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
      const Vec gu = matmul_t(rmsnorm(x, s.T, s.H), s.T, s.H, wgu);
      Vec act(static_cast<size_t>(s.T * s.ffn));
      for (int64_t t = 0; t < s.T; ++t) {
        for (int64_t c = 0; c < s.ffn; ++c) {
          const double g = gu[static_cast<size_t>(t * 2 * s.ffn + c)];
          act[static_cast<size_t>(t * s.ffn + c)] =
              g / (1 + std::exp(-g)) * gu[static_cast<size_t>(t * 2 * s.ffn + s.ffn + c)];
        }
      }
      const Vec down = matmul_t(act, s.T, s.ffn, wd);
      for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
    }
    // As computed.
    {
      const std::vector<float> qkv = gemm(rmsnorm_bf16(xq, s.T, s.H), s.T, s.H, wqkv, fa, hw);
      AttentionData data;
      data.q_file = heads_tensor(qkv, s, 0, s.heads, "replica Q");
      data.k_file = heads_tensor(qkv, s, s.heads, s.kv, "replica K");
      data.v_file = heads_tensor(qkv, s, s.heads + s.kv, s.kv, "replica V");
      const AttentionFunctional af = attention_functional(ap, data, {FunctionalSpec::Mode::kFull});
      const std::vector<float> proj = gemm(af.o, s.T, s.heads * s.hd, wo, fa, hw);
      for (size_t i = 0; i < xq.size(); ++i) xq[i] = bf16(xq[i] + proj[i]);
      const std::vector<float> gu = gemm(rmsnorm_bf16(xq, s.T, s.H), s.T, s.H, wgu, fm, hw);
      std::vector<float> act(static_cast<size_t>(s.T * s.ffn));
      for (int64_t t = 0; t < s.T; ++t) {
        for (int64_t c = 0; c < s.ffn; ++c) {
          const float g = gu[static_cast<size_t>(t * 2 * s.ffn + c)];
          act[static_cast<size_t>(t * s.ffn + c)] =
              bf16(g / (1.0f + std::exp(-g)) * gu[static_cast<size_t>(t * 2 * s.ffn + s.ffn + c)]);
        }
      }
      const std::vector<float> down = gemm(act, s.T, s.ffn, wd, fm, hw);
      for (size_t i = 0; i < xq.size(); ++i) xq[i] = bf16(xq[i] + down[i]);
    }
    const Vec xd(xq.begin(), xq.end());
    r.residual.push_back(compare(std::span<const double>(xd), std::span<const double>(x)));
  }
  // The head: final norm and lm_head over every position.
  const Tensor wlm = gaussian(s.vocab, s.H, inv_sqrt(s.H), o.seed, 0xFF);
  const Vec ref = matmul_t(rmsnorm(x, s.T, s.H), s.T, s.H, wlm);
  const std::vector<float> got = gemm(rmsnorm_bf16(xq, s.T, s.H), s.T, s.H, wlm, fh, hw);
  const Vec gd(got.begin(), got.end());
  r.logits = compare(std::span<const double>(gd), std::span<const double>(ref));
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
    r.kl_max = std::max(r.kl_max, kl);
  }
  r.top1 = static_cast<double>(same) / static_cast<double>(s.T);
  r.kl_mean = kl_sum / static_cast<double>(s.T);
  return r;
}

}  // namespace bwsim
