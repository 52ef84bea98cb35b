// Functional attention: exact results where they can be derived by hand, the float64 reference
// against an independent naive implementation, and KV-cache formats ordered by error.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "isa/quantize.hpp"
#include "isa/scalar_format.hpp"
#include "isa/tensor_gen.hpp"
#include "sim/errors.hpp"
#include "sim/rng.hpp"
#include "tests/test_util.hpp"
#include "workloads/attention/attention.hpp"

namespace bwsim {
namespace {

AttentionProblem problem(int64_t seq, int64_t q_len, int64_t heads, int64_t kv_heads, int64_t d, bool causal,
                         KvFormat kv = KvFormat::kBf16) {
  AttentionProblem p;
  p.seq = seq;
  p.q_len = q_len;
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_dim = d;
  p.causal = causal;
  p.kv = kv;
  return p;
}

FunctionalSpec full() { return {FunctionalSpec::Mode::kFull}; }

// BF16 through the format library's generic encoder, independent of the model's fast path.
float bf16(float x) { return decode(ScalarFormat::kBF16, encode(ScalarFormat::kBF16, x, false)); }

// The generator streams the functional model uses: seed -> (q, k, v) seeds, row = (b*S+pos)*H+h.
std::vector<float> gen(Distribution d, uint64_t seed, int which, int64_t row, int64_t D) {
  std::vector<float> v(static_cast<size_t>(D));
  generate_row(d, row, D, random_at(seed, static_cast<uint64_t>(which)), v.data());
  return v;
}

TEST(Attention, FirstCausalQuerySeesOnlyItsOwnValue) {
  // Position 0 under a causal mask attends to key 0 alone: softmax weight 1, so O = V[0] as the
  // cache stores it, rounded to BF16, whatever Q, K and the RoPE are.
  AttentionProblem p = problem(3, 3, 2, 1, 32, true);
  p.rope = parse_rope("yarn:factor=4,original=64", "--rope");
  AttentionData data;
  data.seed = 11;
  const AttentionFunctional f = attention_functional(p, data, full());
  ASSERT_EQ(f.o.size(), 3u * 2u * 32u);
  const auto v0 = gen(data.v, 11, 3, 0, 32);
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 32; ++c)
      EXPECT_EQ(f.o[static_cast<size_t>(h * 32 + c)], bf16(v0[c])) << h << " " << c;
  // The other two positions mix several values: not a copy of any.
  EXPECT_NE(f.o[2 * 32 * 2], bf16(v0[0]));
  EXPECT_EQ(f.rows, 6u);
  EXPECT_EQ(f.outputs, 6u * 32u);
}

// A sliding window of one key: every query attends to its own key alone, so O = V[pos] as stored
// (rounded to BF16), whatever Q, K and the RoPE are. The multiply-adds count only the window's keys.
TEST(Attention, AOneKeyWindowGivesEachPositionItsOwnValue) {
  AttentionProblem p = problem(200, 200, 2, 1, 32, true);
  p.window = 1;
  p.rope = parse_rope("yarn:factor=4,original=64", "--rope");
  AttentionData data;
  data.seed = 13;
  const AttentionFunctional f = attention_functional(p, data, full());
  for (const int pos : {0, 1, 64, 127, 128, 199}) {
    const auto v = gen(data.v, 13, 3, pos, 32);
    for (int h = 0; h < 2; ++h)
      for (int c = 0; c < 32; ++c)
        EXPECT_EQ(f.o[static_cast<size_t>((pos * 2 + h) * 32 + c)], bf16(v[c]))
            << pos << " " << h << " " << c;
  }
  EXPECT_EQ(p.keys_for(150), 1);
  EXPECT_EQ(p.macs(), 2.0 * 200 * (32 + 32));
  // A window of 100 over 300 positions: sum of min(p + 1, 100) keys; a window as long as the
  // sequence changes nothing, to the bit.
  AttentionProblem w = problem(300, 300, 4, 2, 64, true);
  w.window = 100;
  EXPECT_EQ(w.macs(), 4.0 * (100 * 101 / 2 + 200 * 100) * 128);
  EXPECT_EQ(w.key_begin(250), 151);
  AttentionProblem whole = w;
  whole.window = 300;
  AttentionProblem none = w;
  none.window = 0;
  EXPECT_EQ(attention_functional(whole, data, full()).o, attention_functional(none, data, full()).o);
  const AttentionFunctional fw = attention_functional(w, data, full());
  EXPECT_NE(fw.o, attention_functional(none, data, full()).o);
  EXPECT_LT(fw.error.rel_frobenius, 0.02);  // against the float64 reference with the same window
  w.causal = false;
  EXPECT_CONTAINS(input_error_of([&] { check_attention(w); }), "needs causal attention");
}

TEST(Attention, OneKeyWithAnFp8CacheGivesTheStoredValue) {
  // One token, non-causal: O = the FP8-stored V (E4M3 code x per-tensor scale), in BF16.
  AttentionProblem p = problem(1, 1, 1, 1, 16, false, KvFormat::kFp8Tensor);
  AttentionData data;
  data.seed = 5;
  const AttentionFunctional f = attention_functional(p, data, full());
  const auto v = gen(data.v, 5, 3, 0, 16);
  float amax = 0;
  for (float x : v) amax = std::max(amax, std::abs(bf16(x)));
  EXPECT_EQ(f.v_amax, amax);
  Tensor written = Tensor::matrix(1, 16);
  for (int c = 0; c < 16; ++c) written.data[c] = bf16(v[c]);
  QuantOptions o;
  o.tensor_amax = amax;
  const std::vector<float> stored = quantize(written, Scheme::kFp8E4M3, o).dequantize();
  int changed = 0;
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(f.o[c], bf16(stored[c])) << c;
    EXPECT_NEAR(f.o[c], written.data[c], std::abs(written.data[c]) / 16 + amax / 448 / 64)
        << c;  // E4M3 half-ulp
    changed += f.o[c] != written.data[c] ? 1 : 0;
  }
  EXPECT_GE(changed, 8);  // 3 mantissa bits: most BF16 values move
  // The element of largest magnitude maps to 448 exactly and comes back unchanged.
  int imax = 0;
  for (int c = 1; c < 16; ++c)
    if (std::abs(written.data[c]) > std::abs(written.data[imax])) imax = c;
  EXPECT_EQ(f.o[imax], written.data[imax]);
}

TEST(Attention, ReferenceMatchesANaiveFloat64Implementation) {
  // GQA 4:2, causal, llama3 RoPE, seq 300 (three key blocks of the online softmax).
  AttentionProblem p = problem(300, 300, 4, 2, 64, true);
  p.rope = parse_rope("llama3:factor=8,original=64,theta=500000", "--rope");
  AttentionData data;
  data.seed = 3;
  const AttentionFunctional f = attention_functional(p, data, full());
  const RopeTable t = rope_table(*p.rope, 64, 300, RopePrecision::kFloat64);
  std::vector<std::vector<double>> K(300), V(300);
  ErrorAccumulator acc;
  for (int h = 0; h < 4; ++h) {
    const int g = h / 2;
    for (int j = 0; j < 300; ++j) {
      const auto k = gen(data.k, 3, 2, j * 2 + g, 64);
      const auto v = gen(data.v, 3, 3, j * 2 + g, 64);
      K[j].assign(k.begin(), k.end());
      V[j].assign(v.begin(), v.end());
      t.apply(j, K[j]);
    }
    for (int i = 0; i < 300; ++i) {
      const auto qf = gen(data.q, 3, 1, i * 4 + h, 64);
      std::vector<double> q(qf.begin(), qf.end());
      t.apply(i, q);
      std::vector<double> s(static_cast<size_t>(i + 1));
      double m = -1e300;
      for (int j = 0; j <= i; ++j) {
        double dot = 0;
        for (int c = 0; c < 64; ++c) dot += q[c] * K[j][c];
        s[j] = dot / 8.0;
        m = std::max(m, s[j]);
      }
      double l = 0;
      std::vector<double> o(64, 0.0);
      for (int j = 0; j <= i; ++j) {
        const double w = std::exp(s[j] - m);
        l += w;
        for (int c = 0; c < 64; ++c) o[c] += w * V[j][c];
      }
      for (int c = 0; c < 64; ++c) acc.add(f.o[static_cast<size_t>((i * 4 + h) * 64 + c)], o[c] / l);
    }
  }
  const ErrorMetrics mine = acc.result();
  EXPECT_EQ(mine.count, f.error.count);
  EXPECT_NEAR(mine.rel_frobenius / f.error.rel_frobenius, 1.0, 1e-9);
  EXPECT_NEAR(mine.max_abs, f.error.max_abs, 1e-12);
  // BF16 Q/K/V and P with float32 softmax: errors near BF16's half-ulp.
  EXPECT_LT(f.error.rel_frobenius, 0.02);
  EXPECT_GT(f.error.rel_frobenius, 1e-3);
}

// Llama 4's chunked local attention and gpt-oss's attention sinks against a naive float64
// implementation: a query at i sees the keys of its own 128-token chunk up to itself, and its
// head's sink logit joins the softmax denominator as one more score with no value.
TEST(Attention, ChunksAndSinksMatchANaiveFloat64Implementation) {
  AttentionProblem p = problem(300, 300, 4, 2, 64, true);
  p.chunk = 128;
  p.sinks = true;
  AttentionData data;
  data.seed = 9;
  data.sinks = {0.5f, -1.0f, 2.0f, 3.0f};
  const AttentionFunctional f = attention_functional(p, data, full());
  std::vector<std::vector<double>> K(300), V(300);
  ErrorAccumulator acc;
  for (int h = 0; h < 4; ++h) {
    const int g = h / 2;
    for (int j = 0; j < 300; ++j) {
      const auto k = gen(data.k, 9, 2, j * 2 + g, 64);
      const auto v = gen(data.v, 9, 3, j * 2 + g, 64);
      K[j].assign(k.begin(), k.end());
      V[j].assign(v.begin(), v.end());
    }
    const double sink = data.sinks[static_cast<size_t>(h)];
    for (int i = 0; i < 300; ++i) {
      const auto q = gen(data.q, 9, 1, i * 4 + h, 64);
      const int first = i / 128 * 128;
      double m = sink;
      std::vector<double> s(static_cast<size_t>(i + 1));
      for (int j = first; j <= i; ++j) {
        double dot = 0;
        for (int c = 0; c < 64; ++c) dot += q[c] * K[j][c];
        s[j] = dot / 8.0;
        m = std::max(m, s[j]);
      }
      double l = std::exp(sink - m);
      std::vector<double> o(64, 0.0);
      for (int j = first; j <= i; ++j) {
        const double w = std::exp(s[j] - m);
        l += w;
        for (int c = 0; c < 64; ++c) o[c] += w * V[j][c];
      }
      for (int c = 0; c < 64; ++c) acc.add(f.o[static_cast<size_t>((i * 4 + h) * 64 + c)], o[c] / l);
    }
  }
  const ErrorMetrics mine = acc.result();
  EXPECT_EQ(mine.count, f.error.count);
  EXPECT_NEAR(mine.rel_frobenius / f.error.rel_frobenius, 1.0, 1e-9);
  EXPECT_NEAR(mine.max_abs, f.error.max_abs, 1e-12);
  EXPECT_LT(f.error.rel_frobenius, 0.02);
  // Keys: chunks of 128, 128 and 44, each a triangle.
  EXPECT_EQ(p.key_begin(255), 128);
  EXPECT_EQ(p.key_begin(256), 256);
  EXPECT_EQ(p.macs(), 4.0 * (2 * 128 * 129 / 2 + 44 * 45 / 2) * 128);
  // Exact cases: a sink of -1e30 adds exp(-inf) = 0 to every denominator, and a chunk as long as
  // the sequence masks nothing: both give the plain causal layer's output to the bit. A chunk of
  // one key is a window of one.
  AttentionProblem plain = problem(300, 300, 4, 2, 64, true);
  AttentionData no_sinks = data;
  no_sinks.sinks.clear();
  const std::vector<float> o_plain = attention_functional(plain, no_sinks, full()).o;
  AttentionProblem far = plain;
  far.sinks = true;
  AttentionData far_data = data;
  far_data.sinks.assign(4, -1e30f);
  EXPECT_EQ(attention_functional(far, far_data, full()).o, o_plain);
  AttentionProblem whole = plain;
  whole.chunk = 300;
  EXPECT_EQ(attention_functional(whole, no_sinks, full()).o, o_plain);
  AttentionProblem one = plain;
  one.chunk = 1;
  AttentionProblem w1 = plain;
  w1.window = 1;
  EXPECT_EQ(attention_functional(one, no_sinks, full()).o, attention_functional(w1, no_sinks, full()).o);
  // A sink pulls weight away from the values: a large one shrinks every output toward 0.
  AttentionData big = data;
  big.sinks.assign(4, 30.0f);
  const AttentionFunctional fb = attention_functional(p, big, full());
  double norm_big = 0, norm = 0;
  for (size_t i = 0; i < fb.o.size(); ++i) {
    norm_big += std::abs(fb.o[i]);
    norm += std::abs(f.o[i]);
  }
  EXPECT_LT(norm_big, 1e-3 * norm);
  // Refusals: a chunk with a window, a chunk without causality, logits for another head count.
  AttentionProblem both = p;
  both.window = 64;
  EXPECT_CONTAINS(input_error_of([&] { check_attention(both); }), "--chunk 128: a layer is chunked or has");
  AttentionProblem acausal = p;
  acausal.causal = false;
  EXPECT_CONTAINS(input_error_of([&] { check_attention(acausal); }), "needs causal attention");
  AttentionData three = data;
  three.sinks.resize(3);
  EXPECT_CONTAINS(input_error_of([&] { check_attention_data(p, three); }),
                  "--sinks: 3 logits for 4 query heads");
}

// Gemma's query_pre_attn_scalar: scores scale by 1/sqrt(168), not 1/sqrt(head dim); a scalar
// equal to the head dim is the default scale to the bit; a negative one is refused.
TEST(Attention, QueryScalarReplacesTheHeadDimInTheScale) {
  AttentionProblem p = problem(64, 64, 2, 1, 64, true);
  EXPECT_EQ(p.softmax_scale(), 0.125);
  AttentionProblem gemma = p;
  gemma.query_scalar = 168;
  EXPECT_EQ(gemma.softmax_scale(), 1 / std::sqrt(168.0));
  AttentionData data;
  data.seed = 3;
  AttentionProblem same = p;
  same.query_scalar = 64;
  EXPECT_EQ(attention_functional(same, data, full()).o, attention_functional(p, data, full()).o);
  const AttentionFunctional f = attention_functional(gemma, data, full());
  EXPECT_NE(f.o, attention_functional(p, data, full()).o);
  EXPECT_LT(f.error.rel_frobenius, 0.02);  // against its float64 reference at the same scale
  gemma.query_scalar = -1;
  EXPECT_CONTAINS(input_error_of([&] { check_attention(gemma); }), "--query-scalar -1");
}

TEST(Attention, DecoupledRopeDimsMatchANaiveFloat64Implementation) {
  // MLA-style (DeepSeek): 32 "nope" dims per head plus 16 rotary dims whose key is one per token,
  // shared by both heads; interleaved YaRN with mscale_all_dim (softmax scale x mscale^2),
  // softmax over sqrt(48). Causal, seq 200 (two key blocks).
  AttentionProblem p = problem(200, 200, 2, 2, 32, true);
  p.rope_dim = 16;
  p.rope = parse_rope("yarn:factor=4,original=64,mscale=1,mscale_all_dim=1,style=interleaved", "--rope");
  EXPECT_EQ(p.qk_dim(), 48);
  EXPECT_EQ(p.v_dim(), 32);
  EXPECT_EQ(p.kv_elements_per_token(), 2 * 64 + 16);
  const double mult = yarn_softmax_multiplier(*p.rope);
  EXPECT_GT(mult, 1.2);
  EXPECT_DOUBLE_EQ(p.softmax_scale(), mult / std::sqrt(48.0));
  // Work: 48 dims for QK^T, 32 for PV, over 200 * 201 / 2 visible keys per head.
  EXPECT_DOUBLE_EQ(p.macs(), 2.0 * 200 * 201 / 2 * (48 + 32));
  AttentionData data;
  data.seed = 9;
  const AttentionFunctional f = attention_functional(p, data, full());
  ASSERT_EQ(f.o.size(), 200u * 2u * 32u);
  const RopeTable t = rope_table(*p.rope, 16, 200, RopePrecision::kFloat64);
  // Rotates the last 16 of 48 values.
  const auto rotated = [&](const std::vector<float>& x, int64_t pos) {
    std::vector<double> y(x.begin(), x.end());
    t.apply(pos, std::span<double>(y).subspan(32));
    return y;
  };
  ErrorAccumulator acc;
  for (int h = 0; h < 2; ++h) {
    std::vector<std::vector<double>> K(200), V(200);
    for (int j = 0; j < 200; ++j) {
      std::vector<float> k = gen(data.k, 9, 2, j * 2 + h, 32);
      const auto shared = gen(data.k, 9, 4, j, 16);  // the same for both heads
      k.insert(k.end(), shared.begin(), shared.end());
      K[j] = rotated(k, j);
      const auto v = gen(data.v, 9, 3, j * 2 + h, 32);
      V[j].assign(v.begin(), v.end());
    }
    for (int i = 0; i < 200; ++i) {
      const std::vector<double> q = rotated(gen(data.q, 9, 1, i * 2 + h, 48), i);
      std::vector<double> s(static_cast<size_t>(i + 1));
      double m = -1e300;
      for (int j = 0; j <= i; ++j) {
        double dot = 0;
        for (int c = 0; c < 48; ++c) dot += q[c] * K[j][c];
        s[j] = dot * p.softmax_scale();
        m = std::max(m, s[j]);
      }
      double l = 0;
      std::vector<double> o(32, 0.0);
      for (int j = 0; j <= i; ++j) {
        const double w = std::exp(s[j] - m);
        l += w;
        for (int c = 0; c < 32; ++c) o[c] += w * V[j][c];
      }
      for (int c = 0; c < 32; ++c) acc.add(f.o[static_cast<size_t>((i * 2 + h) * 32 + c)], o[c] / l);
    }
  }
  const ErrorMetrics mine = acc.result();
  EXPECT_EQ(mine.count, f.error.count);
  EXPECT_NEAR(mine.rel_frobenius / f.error.rel_frobenius, 1.0, 1e-9);
  EXPECT_NEAR(mine.max_abs, f.error.max_abs, 1e-12);
  EXPECT_LT(f.error.rel_frobenius, 0.03);
  // Position 0 sees only key 0: O = V[0] of its head, as in any causal layer.
  for (int h = 0; h < 2; ++h) {
    const auto v0 = gen(data.v, 9, 3, h, 32);
    for (int c = 0; c < 32; ++c) EXPECT_EQ(f.o[static_cast<size_t>(h * 32 + c)], bf16(v0[c]));
  }
}

TEST(Attention, DecoupledRopeKeepsTheFormatOrdering) {
  // DeepSeek's shape (128 + 64) with a quantized cache: the shared rope key is stored in the
  // cache format too; FP8 still beats NVFP4, and every format's error is reported.
  double err[3] = {};
  int i = 0;
  for (const KvFormat kv : {KvFormat::kBf16, KvFormat::kFp8Tensor, KvFormat::kNvfp4}) {
    AttentionProblem p = problem(2048, 64, 4, 4, 128, true, kv);
    p.rope_dim = 64;
    p.rope = parse_rope("yarn:factor=40,original=4096,mscale=1,mscale_all_dim=1,style=interleaved", "--rope");
    const AttentionFunctional f = attention_functional(p, {}, {FunctionalSpec::Mode::kSample, 16, 1});
    EXPECT_EQ(f.rows, 16u);
    EXPECT_EQ(f.outputs, 16u * 128u);
    err[i++] = f.error.rel_frobenius;
  }
  EXPECT_LT(err[0], err[1]);
  EXPECT_LT(err[1], err[2]);
}

// A tensor of `rows` generated rows (stream `which` of `seed`, rows [0, rows)), shaped `shape`.
LoadedTensor generated_file(Distribution d, uint64_t seed, int which, std::vector<int64_t> shape,
                            int64_t row0 = 0, int64_t row_step = 1) {
  LoadedTensor f;
  f.source = fmt::format("stream{}.npy", which);
  const int64_t cols = shape.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  f.tensor.shape = std::move(shape);
  f.tensor.data.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const auto v = gen(d, seed, which, row0 + r * row_step, cols);
    std::copy(v.begin(), v.end(), f.tensor.data.begin() + r * cols);
  }
  return f;
}

TEST(Attention, FilesGiveWhatTheirGeneratorsGive) {
  // MLA with a partial query range (the last 8 of 40 positions), so every file and the Q offset
  // are exercised: Q, K, V and the shared rope key written from the generators' own streams
  // must give bit-identical outputs.
  AttentionProblem p = problem(40, 8, 2, 1, 32, true, KvFormat::kNvfp4);
  p.rope_dim = 16;
  p.rope = parse_rope("yarn:factor=4,original=16,style=interleaved", "--rope");
  AttentionData gen_data;
  gen_data.seed = 21;
  const AttentionFunctional a = attention_functional(p, gen_data, full());
  AttentionData files = gen_data;
  // Q rows of the generator are indexed by (position x heads + head); the file holds positions 32..39.
  files.q_file = generated_file(gen_data.q, 21, 1, {1, 8, 2, 48}, 32 * 2);
  files.k_file = generated_file(gen_data.k, 21, 2, {1, 40, 1, 32});
  files.v_file = generated_file(gen_data.v, 21, 3, {1, 40, 1, 32});
  files.k_rope_file = generated_file(gen_data.k, 21, 4, {1, 40, 16});
  // Different generators everywhere: only the files can make the numbers match.
  files.q = files.k = files.v = Distribution::kStudentT;
  files.seed = 99;
  const AttentionFunctional b = attention_functional(p, files, full());
  ASSERT_EQ(a.o.size(), 8u * 2u * 32u);
  EXPECT_EQ(a.o, b.o);
  EXPECT_EQ(a.error.rel_frobenius, b.error.rel_frobenius);
  EXPECT_EQ(a.k_amax, b.k_amax);

  // Files that do not fit say which flag, what they hold and what was expected.
  AttentionData bad = files;
  bad.k_file = generated_file(gen_data.k, 21, 2, {1, 40, 2, 16});
  try {
    check_attention_data(p, bad);
    ADD_FAILURE() << "K of the wrong shape accepted";
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("--k-file stream2.npy: shape [1, 40, 2, 16], expected [1, 40, 1, 32]"),
        std::string::npos)
        << e.what();
  }
  bad = files;
  bad.v_file->tensor.data[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(check_attention_data(p, bad), InputError);
  AttentionProblem plain = p;
  plain.rope_dim = 0;
  bad = AttentionData{};
  bad.k_rope_file = files.k_rope_file;
  EXPECT_THROW(check_attention_data(plain, bad), InputError);
}

TEST(Attention, KvCacheFormatsOrderByError) {
  const int64_t seq = 1024;
  double err[6] = {};
  for (const KvFormat kv : {KvFormat::kBf16, KvFormat::kFp8Tensor, KvFormat::kFp8Head, KvFormat::kMxfp8,
                            KvFormat::kNvfp4, KvFormat::kMxfp4}) {
    AttentionProblem p = problem(seq, 64, 8, 2, 128, true, kv);
    p.rope = parse_rope("default:theta=500000", "--rope");
    const AttentionFunctional f = attention_functional(p, {}, {FunctionalSpec::Mode::kSample, 32, 1});
    err[static_cast<int>(kv)] = f.error.rel_frobenius;
    EXPECT_EQ(f.rows, 32u);
  }
  const double bf = err[0], fp8 = err[1], fp8h = err[2], mx8 = err[3], nv4 = err[4], mx4 = err[5];
  EXPECT_LT(bf, fp8);
  EXPECT_LT(fp8, nv4);  // the ordering: FP8 KV below NVFP4 KV
  EXPECT_LE(fp8h, fp8 * 1.05);
  EXPECT_LT(mx8, nv4);
  EXPECT_LT(nv4, mx4);  // NVFP4's E4M3 scales per 16 beat MXFP4's power-of-two per 32
}

TEST(Attention, ErrorIsReportedPerPositionBucket) {
  // A decode-style verify pass over the tail of a 40K context, and a prefill's samples across it.
  AttentionProblem p = problem(40000, 40000, 4, 1, 64, true, KvFormat::kNvfp4);
  const AttentionFunctional f = attention_functional(p, {}, {FunctionalSpec::Mode::kSample, 6, 2});
  ASSERT_EQ(f.buckets.size(), 3u);
  EXPECT_EQ(f.buckets[0].label, "0-4K");
  EXPECT_EQ(f.buckets[1].label, "4K-32K");
  EXPECT_EQ(f.buckets[2].label, "32K-128K");
  for (const PositionBucket& b : f.buckets) {
    EXPECT_EQ(b.rows, 2u) << b.label;
    EXPECT_GT(b.error.rel_frobenius, 0) << b.label;
  }
  // Queries only at the end: one bucket.
  AttentionProblem d = problem(40000, 4, 4, 1, 64, true, KvFormat::kNvfp4);
  const AttentionFunctional g = attention_functional(d, {}, {FunctionalSpec::Mode::kSample, 4, 2});
  ASSERT_EQ(g.buckets.size(), 1u);
  EXPECT_EQ(g.buckets[0].label, "32K-128K");
}

TEST(Attention, InconsistentShapesAreInputErrors) {
  EXPECT_THROW(check_attention(problem(128, 128, 6, 4, 64, true)), InputError);  // 6 % 4
  EXPECT_THROW(check_attention(problem(128, 129, 4, 4, 64, true)), InputError);  // q_len > seq
  EXPECT_THROW(check_attention(problem(128, 1, 4, 4, 48, true, KvFormat::kMxfp8)), InputError);  // 48 % 32
  EXPECT_THROW(check_attention(problem(128, 1, 4, 0, 64, true)), InputError);
  AttentionProblem p = problem(128, 1, 4, 4, 64, true);
  p.rope = parse_rope("longrope:original=64,short=1/2,long=1/2", "--rope");  // 2 values for 32 frequencies
  EXPECT_THROW(check_attention(p), InputError);
  // Decoupled rope dims: the MMA's 16-element step, the block format's scale block, and no
  // per-head scale for a key every head shares.
  AttentionProblem m = problem(128, 1, 4, 4, 128, true);
  m.rope_dim = 8;
  EXPECT_THROW(check_attention(m), InputError);
  m.rope_dim = 16;
  m.kv = KvFormat::kMxfp4;  // 16 % 32
  EXPECT_THROW(check_attention(m), InputError);
  m.kv = KvFormat::kNvfp4;
  EXPECT_NO_THROW(check_attention(m));
  m.kv = KvFormat::kFp8Head;
  try {
    check_attention(m);
    ADD_FAILURE() << "fp8_e4m3:head with --rope-dim accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--rope-dim"), std::string::npos) << e.what();
  }
  try {
    check_attention(problem(128, 128, 6, 4, 64, true));
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-heads 4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bwsim
