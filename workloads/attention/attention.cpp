#include "workloads/attention/attention.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "isa/quantize.hpp"
#include "isa/scalar_format.hpp"
#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "sim/rng.hpp"

namespace bwsim {
namespace {

constexpr std::pair<std::string_view, KvFormat> kKvNames[] = {
    {"bf16", KvFormat::kBf16},   {"fp8_e4m3", KvFormat::kFp8Tensor}, {"fp8_e4m3:head", KvFormat::kFp8Head},
    {"mxfp8", KvFormat::kMxfp8}, {"nvfp4", KvFormat::kNvfp4},        {"mxfp4", KvFormat::kMxfp4},
};

constexpr int64_t kKeyBlock = 128;  // keys per online-softmax step: the kernel's KV tile
constexpr int64_t kMmaK = 16;       // elements one BF16 MMA step sums before its float32 rounding
constexpr int64_t kCalibrationPositions = 4096;  // KV-scale calibration sample per (batch, head)

float bf16(float x) { return round_bf16_finite(x); }  // every value here is finite

Scheme kv_scheme(KvFormat f) {
  switch (f) {
    case KvFormat::kBf16:
      return Scheme::kBf16;
    case KvFormat::kFp8Tensor:
    case KvFormat::kFp8Head:
      return Scheme::kFp8E4M3;
    case KvFormat::kMxfp8:
      return Scheme::kMxfp8E4M3;
    case KvFormat::kNvfp4:
      return Scheme::kNvfp4;
    case KvFormat::kMxfp4:
      return Scheme::kMxfp4;
  }
  return Scheme::kBf16;
}

// Per-tensor or per-head scales need the amax of what is stored.
bool needs_amax(KvFormat f) {
  return f == KvFormat::kFp8Tensor || f == KvFormat::kFp8Head || f == KvFormat::kNvfp4;
}

// The input streams: one seed each, one generator stream per (batch, position, head) row; the
// shared rope key (MLA) one per (batch, position).
struct Streams {
  uint64_t q, k, v, k_rope;
  explicit Streams(uint64_t seed)
      : q(random_at(seed, 1)), k(random_at(seed, 2)), v(random_at(seed, 3)), k_rope(random_at(seed, 4)) {}
};

struct Row {
  int64_t b = 0, pos = 0, h = 0;
  size_t out = 0;             // index of the row in the full output, or of the sample
  std::vector<float> q;       // as the kernel holds it: rotated, BF16
  std::vector<double> q_ref;  // float64-rotated, unquantized
  float m = -std::numeric_limits<float>::infinity(), l = 0;
  std::vector<float> acc;
  double m_ref = -std::numeric_limits<double>::infinity(), l_ref = 0;
  std::vector<double> acc_ref;
};

// A block of K or V rows for one (batch, KV head): as written (BF16, rotated for K), as stored
// (dequantized cache values), and the float64 reference.
struct KvBlock {
  std::vector<float> written;
  std::vector<float> stored;
  std::vector<double> ref;
};

class Layer {
 public:
  Layer(const AttentionProblem& p, const AttentionData& d)
      : p_(p), d_(d), s_(d.seed), Dqk_(p.qk_dim()), Dv_(p.v_dim()), R_(p.rope_dim) {
    if (p.rope) {
      const auto rd = static_cast<int>(p.rope_head_dim());
      hw_rope_ = rope_table(*p.rope, rd, p.seq, p.rope_precision);
      ref_rope_ = rope_table(*p.rope, rd, p.seq, RopePrecision::kFloat64);
    }
  }

  [[nodiscard]] int64_t dims(bool is_k) const { return is_k ? Dqk_ : Dv_; }

  // K (is_k) or V rows [j0, j1) of (b, g), written and stored.
  void kv_block(bool is_k, int64_t b, int64_t g, int64_t j0, int64_t j1, float amax, KvBlock& out,
                ErrorAccumulator* err) const {
    const int64_t n = j1 - j0;
    const int64_t D = dims(is_k);
    Tensor t = Tensor::matrix(n, D);
    out.ref.resize(static_cast<size_t>(n * D));
    std::vector<double> tmp(static_cast<size_t>(Dqk_));
    for (int64_t j = 0; j < n; ++j) {
      float* w = t.data.data() + j * D;
      const std::span<double> r(out.ref.data() + j * D, static_cast<size_t>(D));
      written_kv(is_k, b, g, j0 + j, w, tmp, r);
    }
    out.written = t.data;
    if (p_.kv == KvFormat::kBf16) {
      out.stored = t.data;
    } else {
      // The shared rope key quantizes alike in every head: its scale blocks do not straddle the
      // per-head dims, and a per-tensor scale is common to all heads (per-head scales are refused).
      QuantOptions o;
      if (needs_amax(p_.kv)) o.tensor_amax = amax;
      out.stored = quantize(t, kv_scheme(p_.kv), o).dequantize();
    }
    if (err != nullptr) {
      for (size_t i = 0; i < out.stored.size(); ++i) err->add(out.stored[i], out.written[i]);
    }
  }

  // The amax of what (b, g)'s K or V cache stores before quantization, calibrated as serving
  // stacks calibrate KV scales: over at most kCalibrationPositions evenly spaced positions
  // (every position of shorter caches). Larger values saturate when stored.
  [[nodiscard]] float written_amax(bool is_k, int64_t b, int64_t g) const {
    float amax = 0;
    std::vector<float> w(static_cast<size_t>(dims(is_k)));
    std::vector<double> tmp(static_cast<size_t>(Dqk_));
    const int64_t n = std::min(p_.seq, kCalibrationPositions);
    for (int64_t i = 0; i < n; ++i) {
      written_kv(is_k, b, g, i * p_.seq / n, w.data(), tmp, {});
      for (float x : w) amax = std::max(amax, std::abs(x));
    }
    return amax;
  }

  void init_row(Row& r) const {
    r.q.resize(static_cast<size_t>(Dqk_));
    r.q_ref.resize(static_cast<size_t>(Dqk_));
    r.acc.assign(static_cast<size_t>(Dv_), 0.0f);
    r.acc_ref.assign(static_cast<size_t>(Dv_), 0.0);
    std::vector<double> tmp(static_cast<size_t>(Dqk_));
    source_row(d_.q_file, d_.q, s_.q, (r.b * p_.seq + r.pos) * p_.heads + r.h,
               (r.b * p_.q_len + r.pos - p_.first_query()) * p_.heads + r.h, Dqk_, r.q.data());
    finish(r.pos, true, r.q.data(), Dqk_, tmp, r.q_ref);
  }

  // Keys [j0, j0 + n) of a block, for one row (only those it sees).
  void attend(Row& r, int64_t j0, const KvBlock& k, const KvBlock& v, std::vector<float>& s,
              std::vector<double>& s_ref) const {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(k.ref.size()) / Dqk_, p_.key_end(r.pos) - j0);
    // Keys before the row's window (sliding-window layers) are masked: -inf scores, as the kernel.
    const int64_t skip = std::max<int64_t>(0, p_.key_begin(r.pos) - j0);
    if (n <= skip) return;
    const double scale = p_.softmax_scale();
    const auto scale_log2 = static_cast<float>(scale * std::numbers::log2e);
    // Hardware: S = Q K^T in float32, one rounding per 16-element MMA step; online softmax in
    // float32 with exp2; P rounded to BF16 for the PV MMA.
    float m_blk = -std::numeric_limits<float>::infinity();
    s.resize(static_cast<size_t>(n));
    s_ref.resize(static_cast<size_t>(n));
    double m_ref_blk = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < skip; ++j) {
      s[j] = -std::numeric_limits<float>::infinity();
      s_ref[j] = -std::numeric_limits<double>::infinity();
    }
    for (int64_t j = skip; j < n; ++j) {
      const float* kj = k.stored.data() + j * Dqk_;
      const double* kr = k.ref.data() + j * Dqk_;
      float acc = 0;
      for (int64_t c0 = 0; c0 < Dqk_; c0 += kMmaK) {
        double part = 0;
        for (int64_t c = c0; c < std::min(Dqk_, c0 + kMmaK); ++c) part += static_cast<double>(r.q[c]) * kj[c];
        acc = static_cast<float>(acc + part);
      }
      s[j] = acc * scale_log2;
      m_blk = std::max(m_blk, s[j]);
      double dot = 0;
      for (int64_t c = 0; c < Dqk_; ++c) dot += r.q_ref[c] * kr[c];
      s_ref[j] = dot * scale;
      m_ref_blk = std::max(m_ref_blk, s_ref[j]);
    }
    // Hardware update.
    const float m_new = std::max(r.m, m_blk);
    const float corr = std::exp2(r.m - m_new);
    r.m = m_new;
    // The row sum takes p in float32; the PV MMA takes it in BF16 (rounded here, once per key).
    float l_blk = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float pj = std::exp2(s[j] - m_new);
      l_blk += pj;
      s[j] = bf16(pj);
    }
    r.l = r.l * corr + l_blk;
    for (int64_t c = 0; c < Dv_; ++c) r.acc[c] *= corr;
    for (int64_t j0s = 0; j0s < n; j0s += kMmaK) {
      const int64_t j1s = std::min(n, j0s + kMmaK);
      for (int64_t c = 0; c < Dv_; ++c) {
        double part = 0;
        for (int64_t j = j0s; j < j1s; ++j) part += static_cast<double>(s[j]) * v.stored[j * Dv_ + c];
        r.acc[c] = static_cast<float>(r.acc[c] + part);
      }
    }
    // Reference update, float64.
    const double mr = std::max(r.m_ref, m_ref_blk);
    const double cr = std::exp(r.m_ref - mr);
    r.m_ref = mr;
    r.l_ref *= cr;
    for (double& a : r.acc_ref) a *= cr;
    for (int64_t j = 0; j < n; ++j) {
      const double pj = std::exp(s_ref[j] - mr);
      r.l_ref += pj;
      const double* vr = v.ref.data() + j * Dv_;
      for (int64_t c = 0; c < Dv_; ++c) r.acc_ref[c] += pj * vr[c];
    }
  }

 private:
  // A generated row of n values at position `pos`, made what the kernel holds (w: BF16, rotated
  // when `rotate` and there is a RoPE: all of it, or its last rope_dim values when decoupled)
  // and, when `ref` is given, the float64 reference (rotated in float64).
  void finish(int64_t pos, bool rotate, float* w, int64_t n, std::vector<double>& tmp,
              std::span<double> ref) const {
    rotate = rotate && p_.rope;
    const int64_t r0 = R_ > 0 ? n - R_ : 0;  // rotated span [r0, n)
    if (!ref.empty()) {
      for (int64_t c = 0; c < n; ++c) ref[c] = w[c];
      if (rotate) ref_rope_->apply(pos, ref.subspan(static_cast<size_t>(r0)));
    }
    for (int64_t c = 0; c < n; ++c) w[c] = bf16(w[c]);
    if (rotate) {
      // On the BF16 input, in the table's precision, result in BF16.
      const std::span<double> x(tmp.data(), static_cast<size_t>(n - r0));
      for (int64_t c = r0; c < n; ++c) x[c - r0] = w[c];
      hw_rope_->apply(pos, x);
      for (int64_t c = r0; c < n; ++c) w[c] = bf16(static_cast<float>(x[c - r0]));
    }
  }
  // Row `pos` of (b, g)'s K (rotated; the shared rope key last when decoupled) or V cache.
  void written_kv(bool is_k, int64_t b, int64_t g, int64_t pos, float* w, std::vector<double>& tmp,
                  std::span<double> ref) const {
    const int64_t index = p_.latent_kv ? b * p_.seq + pos : (b * p_.seq + pos) * p_.kv_heads + g;
    if (!is_k) {
      if (p_.latent_kv) {  // V is the latent: K's first head_dim values, unrotated
        source_row(d_.k_file, d_.k, s_.k, index, index, Dv_, w);
      } else {
        source_row(d_.v_file, d_.v, s_.v, index, index, Dv_, w);
      }
      finish(pos, false, w, Dv_, tmp, ref);
      return;
    }
    source_row(d_.k_file, d_.k, s_.k, index, index, Dqk_ - R_, w);
    if (R_ > 0)
      source_row(d_.k_rope_file, d_.k, s_.k_rope, b * p_.seq + pos, b * p_.seq + pos, R_, w + (Dqk_ - R_));
    finish(pos, true, w, Dqk_, tmp, ref);
  }
  // n values of a row: from the file (its row `file_index`) where one was given, else generated
  // (stream `seed`, row `gen_index`).
  static void source_row(const std::optional<LoadedTensor>& file, Distribution dist, uint64_t seed,
                         int64_t gen_index, int64_t file_index, int64_t n, float* w) {
    if (!file) {
      generate_row(dist, gen_index, n, seed, w);
      return;
    }
    const float* src = file->tensor.data.data() + file_index * n;
    std::copy(src, src + n, w);
  }

  const AttentionProblem& p_;
  const AttentionData& d_;
  Streams s_;
  int64_t Dqk_, Dv_, R_;
  std::optional<RopeTable> hw_rope_, ref_rope_;
};

const int64_t kBucketEdges[] = {0, 4096, 32768, 131072, std::numeric_limits<int64_t>::max()};
const char* const kBucketLabels[] = {"0-4K", "4K-32K", "32K-128K", ">128K"};
constexpr size_t kBuckets = 4;

size_t bucket_of(int64_t pos) {
  size_t i = 0;
  while (i + 1 < kBuckets && pos >= kBucketEdges[i + 1]) ++i;
  return i;
}

}  // namespace

std::optional<KvFormat> parse_kv_format(std::string_view name) {
  for (const auto& [n, f] : kKvNames)
    if (n == name) return f;
  return std::nullopt;
}

std::string_view kv_format_name(KvFormat f) {
  for (const auto& [n, k] : kKvNames)
    if (k == f) return n;
  return "?";
}

double kv_bits_per_element(KvFormat f) {
  switch (f) {
    case KvFormat::kBf16:
      return 16;
    case KvFormat::kFp8Tensor:
    case KvFormat::kFp8Head:
      return 8;
    case KvFormat::kMxfp8:
      return 8 + 8.0 / 32;
    case KvFormat::kNvfp4:
      return 4 + 8.0 / 16;
    case KvFormat::kMxfp4:
      return 4 + 8.0 / 32;
  }
  return 16;
}

int kv_block(KvFormat f) {
  switch (f) {
    case KvFormat::kMxfp8:
    case KvFormat::kMxfp4:
      return 32;
    case KvFormat::kNvfp4:
      return 16;
    default:
      return 0;
  }
}

double AttentionProblem::softmax_scale() const {
  const double s = 1.0 / std::sqrt(static_cast<double>(query_scalar > 0 ? query_scalar : qk_dim()));
  return rope ? s * yarn_softmax_multiplier(*rope) : s;
}

double AttentionProblem::macs() const {
  double keys = 0;  // summed over query positions
  const auto qf = static_cast<double>(q_len);
  if (causal && (window > 0 || chunk > 0)) {
    for (int64_t p = first_query(); p < seq; ++p) keys += static_cast<double>(keys_for(p));
  } else if (causal) {
    const auto f = static_cast<double>(first_query());
    keys = qf * (f + 1) + qf * (qf - 1) / 2;
  } else {
    keys = qf * static_cast<double>(seq);
  }
  return static_cast<double>(batch) * static_cast<double>(heads) * keys *
         static_cast<double>(qk_dim() + v_dim());
}

void check_attention(const AttentionProblem& p) {
  const auto positive = [](int64_t v, const char* flag) {
    if (v <= 0) throw InputError(fmt::format("{} {}: must be >= 1", flag, v));
  };
  positive(p.batch, "--batch");
  positive(p.seq, "--seq");
  positive(p.q_len, "--q-len");
  positive(p.heads, "--heads");
  positive(p.kv_heads, "--kv-heads");
  positive(p.head_dim, "--head-dim");
  // Beyond today's models by far (128 query heads, a few million tokens of context, batches of
  // thousands), and short of what would exhaust the simulator before it starts.
  const auto at_most = [](int64_t v, int64_t limit, const char* flag, const char* what) {
    if (v > limit) throw InputError(fmt::format("{} {}: at most {} ({})", flag, v, limit, what));
  };
  at_most(p.batch, kMaxAttentionBatch, "--batch", "sequences in one layer");
  at_most(p.seq, kMaxAttentionSeq, "--seq", "2^24 tokens of context");
  at_most(p.heads, kMaxAttentionHeads, "--heads", "query heads");
  if (p.window < 0 || (p.window > 0 && !p.causal))
    throw InputError(
        fmt::format("--window {}: a sliding window is >= 1 and needs causal attention", p.window));
  if (p.chunk < 0 || (p.chunk > 0 && !p.causal))
    throw InputError(
        fmt::format("--chunk {}: chunked attention is >= 1 and needs causal attention", p.chunk));
  if (p.query_scalar < 0 || p.query_scalar > (int64_t{1} << 20))
    throw InputError(fmt::format("--query-scalar {}: expected 0 (the head dim) or 1..{}", p.query_scalar,
                                 int64_t{1} << 20));
  if (p.chunk > 0 && p.window > 0)
    throw InputError(fmt::format(
        "--chunk {}: a layer is chunked or has a sliding window (--window {}), not both", p.chunk, p.window));
  if (p.q_len > p.seq) {
    throw InputError(
        fmt::format("--q-len {}: more queries than the {} tokens of --seq (the queries are the "
                    "last q_len positions of the sequence)",
                    p.q_len, p.seq));
  }
  if (p.heads % p.kv_heads != 0) {
    throw InputError(
        fmt::format("--heads {} --kv-heads {}: query heads must be a multiple of KV heads (GQA groups)",
                    p.heads, p.kv_heads));
  }
  if (p.head_dim % 16 != 0 || p.head_dim > 512) {
    throw InputError(
        fmt::format("--head-dim {}: expected a multiple of 16 up to 512 (the MMA's K step)", p.head_dim));
  }
  if (p.rope_dim < 0 || p.rope_dim % 16 != 0 || p.rope_dim > 256) {
    throw InputError(fmt::format(
        "--rope-dim {}: expected a multiple of 16 up to 256 (decoupled rotary dims; 0: none)", p.rope_dim));
  }
  if (const int blk = kv_block(p.kv); blk > 0) {
    if (p.head_dim % blk != 0) {
      throw InputError(fmt::format("--head-dim {} is not a multiple of {}'s scale block ({} elements)",
                                   p.head_dim, kv_format_name(p.kv), blk));
    }
    if (p.rope_dim % blk != 0) {
      throw InputError(fmt::format("--rope-dim {} is not a multiple of {}'s scale block ({} elements)",
                                   p.rope_dim, kv_format_name(p.kv), blk));
    }
  }
  if (p.latent_kv && p.kv_heads > 1 && p.kv == KvFormat::kFp8Head) {
    throw InputError("--kv-format fp8_e4m3:head with a latent KV cache: one latent serves every head");
  }
  if (p.rope_dim > 0 && p.kv == KvFormat::kFp8Head) {
    throw InputError(
        "--kv-format fp8_e4m3:head with --rope-dim: the decoupled rope key is one per token, shared by "
        "every KV head, so it has no per-head scale; use fp8_e4m3 (per tensor) or a block format");
  }
  if (p.rope) (void)rope_table(*p.rope, static_cast<int>(p.rope_head_dim()), p.seq, p.rope_precision);
}

void check_attention_data(const AttentionProblem& p, const AttentionData& d) {
  const auto fits = [](const std::optional<LoadedTensor>& f, const char* flag, std::vector<int64_t> want,
                       const char* layout) {
    if (!f) return;
    const std::vector<float>& v = f->tensor.data;
    if (const auto bad = std::find_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); });
        bad != v.end()) {
      throw InputError(fmt::format("{} {}: value {} at flat index {} is not finite", flag, f->source, *bad,
                                   bad - v.begin()));
    }
    if (f->tensor.shape == want) return;
    std::string w;
    for (size_t i = 0; i < want.size(); ++i) w += fmt::format("{}{}", i > 0 ? ", " : "", want[i]);
    throw InputError(fmt::format("{} {}: shape {}, expected [{}] = [{}] (values before RoPE)", flag,
                                 f->source, f->tensor.shape_text(), w, layout));
  };
  fits(d.q_file, "--q-file", {p.batch, p.q_len, p.heads, p.qk_dim()},
       "batch, q_len, heads, head_dim + rope_dim");
  fits(d.k_file, "--k-file", {p.batch, p.seq, p.kv_heads, p.head_dim}, "batch, seq, kv_heads, head_dim");
  fits(d.v_file, "--v-file", {p.batch, p.seq, p.kv_heads, p.v_dim()}, "batch, seq, kv_heads, head_dim");
  if (d.k_rope_file && p.rope_dim == 0) {
    throw InputError(
        fmt::format("--k-rope-file {}: the shared rope key needs --rope-dim (MLA)", d.k_rope_file->source));
  }
  fits(d.k_rope_file, "--k-rope-file", {p.batch, p.seq, p.rope_dim}, "batch, seq, rope_dim");
  if (!d.sinks.empty() && !p.sinks) throw InputError("--sinks: sink logits given for a layer without sinks");
  if (!d.sinks.empty() && static_cast<int64_t>(d.sinks.size()) != p.heads) {
    throw InputError(fmt::format("--sinks: {} logits for {} query heads (one per head, or one for all)",
                                 d.sinks.size(), p.heads));
  }
  for (const float s : d.sinks) {
    if (!std::isfinite(s)) throw InputError(fmt::format("--sinks: logit {} is not finite", s));
  }
}

AttentionFunctional attention_functional(const AttentionProblem& p, const AttentionData& data,
                                         const FunctionalSpec& spec) {
  check_attention(p);
  check_attention_data(p, data);
  AttentionFunctional f;
  f.mode = spec.name();
  if (spec.mode == FunctionalSpec::Mode::kOff) return f;
  const Layer layer(p, data);

  // The query rows to compute, grouped by (batch, KV head): each group streams its cache once.
  const int64_t groups = p.batch * p.kv_heads;
  std::vector<std::vector<Row>> rows(static_cast<size_t>(groups));
  const auto add_row = [&](int64_t b, int64_t pos, int64_t h, size_t out) {
    Row r;
    r.b = b;
    r.pos = pos;
    r.h = h;
    r.out = out;
    rows[static_cast<size_t>(b * p.kv_heads + h / p.group())].push_back(std::move(r));
  };
  const bool full = spec.mode == FunctionalSpec::Mode::kFull;
  if (full) {
    size_t i = 0;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t qi = 0; qi < p.q_len; ++qi)
        for (int64_t h = 0; h < p.heads; ++h) add_row(b, p.first_query() + qi, h, i++);
  } else {
    // Samples spread evenly over the position buckets the queries cover, so far positions are
    // represented however few they are.
    std::vector<std::pair<int64_t, int64_t>> spans;
    for (size_t k = 0; k < kBuckets; ++k) {
      const int64_t lo = std::max(kBucketEdges[k], p.first_query());
      const int64_t hi = std::min(kBucketEdges[k + 1], p.seq);
      if (lo < hi) spans.emplace_back(lo, hi);
    }
    for (uint64_t i = 0; i < spec.samples; ++i) {
      Rng rng(random_at(spec.seed ^ 0xA77E, i));
      const auto& [lo, hi] = spans[i % spans.size()];
      const int64_t pos = lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo)));
      const auto b = static_cast<int64_t>(rng.below(static_cast<uint64_t>(p.batch)));
      const auto h = static_cast<int64_t>(rng.below(static_cast<uint64_t>(p.heads)));
      add_row(b, pos, h, i);
    }
  }

  // Per-tensor and per-head scales: the amax of each (batch, KV head)'s K and V as written.
  std::vector<float> k_amax(static_cast<size_t>(groups), 0.0f), v_amax(static_cast<size_t>(groups), 0.0f);
  if (needs_amax(p.kv)) {
    parallel_for(groups, [&](int64_t gi) {
      k_amax[gi] = layer.written_amax(true, gi / p.kv_heads, gi % p.kv_heads);
      v_amax[gi] = layer.written_amax(false, gi / p.kv_heads, gi % p.kv_heads);
    });
  }
  // Per tensor: one amax over every batch and head; per head: over the batch, for that head.
  const auto amax_for = [&](const std::vector<float>& a, int64_t g) {
    float m = 0;
    for (int64_t gi = 0; gi < groups; ++gi)
      if (p.kv != KvFormat::kFp8Head || gi % p.kv_heads == g) m = std::max(m, a[static_cast<size_t>(gi)]);
    return m;
  };
  f.k_amax = *std::max_element(k_amax.begin(), k_amax.end());
  f.v_amax = *std::max_element(v_amax.begin(), v_amax.end());

  struct GroupResult {
    ErrorAccumulator total, k, v;
    std::array<ErrorAccumulator, kBuckets> bucket;
    std::array<uint64_t, kBuckets> bucket_rows{};
  };
  std::vector<GroupResult> res(static_cast<size_t>(groups));
  const int64_t dv = p.v_dim();
  if (full) f.o.assign(static_cast<size_t>(p.batch * p.q_len * p.heads * dv), 0.0f);
  parallel_for(groups, [&](int64_t gi) {
    std::vector<Row>& rs = rows[static_cast<size_t>(gi)];
    if (rs.empty()) return;
    const int64_t b = gi / p.kv_heads;
    const int64_t g = gi % p.kv_heads;
    GroupResult& out = res[static_cast<size_t>(gi)];
    int64_t kmax = 0;
    int64_t kmin = std::numeric_limits<int64_t>::max();  // blocks before every row's window are not read
    for (Row& r : rs) {
      layer.init_row(r);
      kmax = std::max(kmax, p.key_end(r.pos));
      kmin = std::min(kmin, p.key_begin(r.pos));
    }
    const float ka = amax_for(k_amax, g);
    const float va = amax_for(v_amax, g);
    KvBlock kb, vb;
    std::vector<float> s;
    std::vector<double> s_ref;
    for (int64_t j0 = kmin / kKeyBlock * kKeyBlock; j0 < kmax; j0 += kKeyBlock) {
      const int64_t j1 = std::min(kmax, j0 + kKeyBlock);
      layer.kv_block(true, b, g, j0, j1, ka, kb, &out.k);
      layer.kv_block(false, b, g, j0, j1, va, vb, &out.v);
      for (Row& r : rs) layer.attend(r, j0, kb, vb, s, s_ref);
    }
    for (Row& r : rs) {
      // A sink joins each denominator as one more score with no value: in float32 after the last
      // block on the hardware side (exp2 of the logit in log2 units against the running max), in
      // float64 in the reference.
      if (p.sinks) {
        const float sink = data.sinks.empty() ? 0.0f : data.sinks[static_cast<size_t>(r.h)];
        r.l += std::exp2(sink * std::numbers::log2e_v<float> - r.m);
        r.l_ref += std::exp(static_cast<double>(sink) - r.m_ref);
      }
      const size_t bk = bucket_of(r.pos);
      ++out.bucket_rows[bk];
      for (int64_t c = 0; c < dv; ++c) {
        const float o = bf16(r.acc[c] / r.l);
        const double ref = r.acc_ref[c] / r.l_ref;
        out.total.add(o, ref);
        out.bucket[bk].add(o, ref);
        if (full) f.o[r.out * static_cast<size_t>(dv) + static_cast<size_t>(c)] = o;
      }
    }
  });
  ErrorAccumulator total, ke, ve;
  std::array<ErrorAccumulator, kBuckets> bucket;
  std::array<uint64_t, kBuckets> bucket_rows{};
  for (const GroupResult& r : res) {  // merged in group order: independent of the thread count
    total.merge(r.total);
    ke.merge(r.k);
    ve.merge(r.v);
    for (size_t k = 0; k < kBuckets; ++k) {
      bucket[k].merge(r.bucket[k]);
      bucket_rows[k] += r.bucket_rows[k];
    }
  }
  f.error = total.result();
  f.k_error = ke.result();
  f.v_error = ve.result();
  f.outputs = f.error.count;
  f.rows = f.outputs / static_cast<uint64_t>(dv);
  for (size_t k = 0; k < kBuckets; ++k) {
    if (bucket_rows[k] == 0) continue;
    f.buckets.push_back(PositionBucket{kBucketEdges[k], kBucketEdges[k + 1], kBucketLabels[k], bucket_rows[k],
                                       bucket[k].result()});
  }
  return f;
}

}  // namespace bwsim
