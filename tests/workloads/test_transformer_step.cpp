// Whole-model steps: small-batch decode is bound by reading the weights, the MoE and TP kernel
// graphs have the shapes a serving stack launches, kernels are reused across steps, and golden
// step times pin the model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "models/hw_spec.hpp"
#include "tests/test_util.hpp"
#include "workloads/transformer/capacity.hpp"
#include "workloads/transformer/step.hpp"

namespace bwsim {
namespace {

const StepKernel* find(const StepTiming& t, const std::string& name) {
  for (const StepKernel& k : t.kernels)
    if (k.name == name) return &k;
  return nullptr;
}

StepOptions fast() {
  StepOptions o;
  o.gemm_finalists = 1;
  return o;
}

TEST(TransformerStep, SmallBatchDecodeReadsTheWeights) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const HwSpec hw = HwSpec::load("b200", {});
  StepCache cache;
  StepShape s;
  s.batch = 1;
  s.q_len = 1;
  s.context = 1024;
  const QuantPlan bf = QuantPlan::bf16();
  const StepTiming t = simulate_step(m, bf, hw, s, fast(), cache);
  // Everything but the embedding table is read once per token, plus the KV cache.
  const double weights = weight_bytes(m, bf).total() - m.params()[WeightClass::kEmbedding] * 2;
  const double kv = kv_bytes_per_token(m, bf) * 1024;
  EXPECT_NEAR(t.hbm_bytes / (weights + kv), 1.0, 0.03);
  const double floor_s = (weights + kv) / static_cast<double>(hw.dram.bandwidth.bytes_per_s);
  EXPECT_GT(t.time.seconds(), floor_s);
  EXPECT_LT(t.time.seconds(), 2.0 * floor_s);  // launch gaps and small-M GEMM inefficiency on top
  // NVFP4 weights read ~3.5x fewer bytes: faster, though launch gaps weigh more.
  const StepTiming nv =
      simulate_step(m, QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16), hw, s, fast(), cache);
  EXPECT_LT(nv.time.seconds(), 0.75 * t.time.seconds());
  // The next token reuses every simulated kernel but attention (its context grew).
  const size_t cached = cache.kernels.size();
  s.context = 1025;
  (void)simulate_step(m, bf, hw, s, fast(), cache);
  EXPECT_EQ(cache.kernels.size(), cached + 1);
}

// #28: layers kept in higher precision (the first and last blocks in BF16) have their own
// GEMMs in the step and their own bytes in the weights; every layer kept is the BF16 plan.
TEST(TransformerStep, KeptLayersRunTheirOwnFormat) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const HwSpec hw = HwSpec::load("b200", {});
  StepCache cache;
  StepShape s;
  s.batch = 16;
  s.q_len = 1;
  s.context = 2048;
  const QuantPlan nv = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16);
  QuantPlan edges = nv;
  edges.keep_layers = {0, -1};
  EXPECT_TRUE(edges.kept(31, 32));
  EXPECT_FALSE(edges.kept(1, 32));
  // Weights: two layers' attention and MLP at 16 bits instead of 4.5.
  const ParamCount lp = m.layer_params(0);
  const double extra = 2 * (lp[WeightClass::kAttention] + lp[WeightClass::kMlp]) * (16 - 4.5) / 8;
  EXPECT_DOUBLE_EQ(weight_bytes(m, edges).total(), weight_bytes(m, nv).total() + extra);
  const StepTiming u = simulate_step(m, nv, hw, s, fast(), cache);
  const StepTiming e = simulate_step(m, edges, hw, s, fast(), cache);
  ASSERT_NE(find(e, "qkv_proj [bf16]"), nullptr);
  EXPECT_EQ(find(e, "qkv_proj [bf16]")->launches, 2);
  EXPECT_EQ(find(e, "qkv_proj")->launches, 30);
  EXPECT_EQ(e.launches.size(), u.launches.size());
  EXPECT_EQ(e.flops, u.flops);
  EXPECT_GT(e.time, u.time);
  EXPECT_GT(e.hbm_bytes, u.hbm_bytes);
  // Every layer kept: the BF16 plan's step to the tick (the lm_head is BF16 in both).
  QuantPlan all = nv;
  for (int64_t l = 0; l < 32; ++l) all.keep_layers.push_back(l);
  const StepTiming a = simulate_step(m, all, hw, s, fast(), cache);
  const StepTiming b = simulate_step(m, QuantPlan::bf16(), hw, s, fast(), cache);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.hbm_bytes, b.hbm_bytes);
  EXPECT_DOUBLE_EQ(weight_bytes(m, all).total(), weight_bytes(m, QuantPlan::bf16()).total());
  // Indices outside the model, or a layer twice.
  QuantPlan bad = nv;
  bad.keep_layers = {32};
  EXPECT_CONTAINS(input_error_of([&] { check_keep_layers(bad, 32, "x.toml"); }), "keep_layers 32");
  bad.keep_layers = {0, -32};
  EXPECT_CONTAINS(input_error_of([&] { check_keep_layers(bad, 32, "x.toml"); }), "names layer 0 twice");
}

TEST(TransformerStep, KernelGraphShapes) {
  const HwSpec hw = HwSpec::load("b200", {});
  StepShape s;
  s.batch = 8;
  s.q_len = 1;
  s.context = 512;
  StepCache cache;
  // Mixtral: 16 expert assignments over 8 experts reach 7 of them (8 (1 - (7/8)^16) = 7.06), the
  // busiest with ceil(16 / 7) = 3 tokens; one grouped GEMM spans the 7 experts' 2 x 14336 rows.
  const ModelSpec mx = load_model("mixtral-8x7b");
  const StepTiming t =
      simulate_step(mx, QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kFp8Tensor), hw, s, fast(), cache);
  ASSERT_NE(find(t, "experts_gate_up"), nullptr);
  EXPECT_EQ(find(t, "experts_gate_up")->shape, "3 x 200704 x 4096 nvfp4");
  EXPECT_EQ(find(t, "experts_down")->shape, "3 x 28672 x 14336 nvfp4");
  EXPECT_EQ(find(t, "experts_gate_up")->launches, 32);
  EXPECT_EQ(find(t, "gate_up_proj"), nullptr);  // every layer is MoE
  EXPECT_EQ(find(t, "all_reduce"), nullptr);
  // TP 2 on a dense model: heads and the MLP split, two all-reduces per layer.
  const ModelSpec m = load_model("llama-3.1-8b");
  StepOptions o = fast();
  o.tp = 2;
  const StepTiming t2 = simulate_step(m, QuantPlan::bf16(), hw, s, o, cache);
  EXPECT_EQ(find(t2, "qkv_proj")->shape, "8 x 3072 x 4096 bf16");  // (16 + 2 x 4) x 128
  EXPECT_EQ(find(t2, "down_proj")->shape, "8 x 4096 x 7168 bf16");
  EXPECT_EQ(find(t2, "all_reduce")->launches, 64);
  EXPECT_EQ(find(t2, "lm_head")->shape, "8 x 64128 x 4096 bf16");
  // Bad shapes.
  o.tp = 3;
  EXPECT_CONTAINS(input_error_of([&] { (void)simulate_step(m, QuantPlan::bf16(), hw, s, o, cache); }),
                  "--tp 3");
}

// Without NVLink, tensor parallelism runs its all-reduces over PCIe peer-to-peer (#22): on two
// RTX 5090s each all-reduce of 8 x 4096 BF16 values takes the ring's time at half the 111 GB/s
// both-ways bandwidth plus two hops of 1.76 us, and says PCIe binds it.
TEST(TransformerStep, TensorParallelismWithoutNvlinkRunsOverPcie) {
  const HwSpec rtx = HwSpec::load("rtx5090", {});
  ASSERT_FALSE(rtx.nvlink.present);
  ASSERT_EQ(rtx.tp_link(), &rtx.pcie);
  const ModelSpec m = load_model("llama-3.1-8b");
  StepOptions o = fast();
  o.tp = 2;
  StepCache cache;
  const StepShape s{8, 1, 512, false};
  const QuantPlan q = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16);
  const StepTiming t = simulate_step(m, q, rtx, s, o, cache);
  const StepKernel* ar = find(t, "all_reduce");
  ASSERT_NE(ar, nullptr);
  EXPECT_EQ(ar->bound, "PCIe");
  EXPECT_NEAR(ar->run_each().seconds(), 8.0 * 4096 * 2 / 55.5e9 + 2 * 1.76e-6, 1e-9);
  HwSpec none = rtx;
  none.pcie.present = false;
  StepCache fresh;
  EXPECT_CONTAINS(input_error_of([&] { (void)simulate_step(m, q, none, s, o, fresh); }),
                  "--tp 2: NVIDIA RTX 5090 has neither [nvlink] nor [pcie]");
}

TEST(TransformerStep, MlaDecodeRunsAbsorbedAndPrefillExpanded) {
  const HwSpec hw = HwSpec::load("b200", {});
  const ModelSpec ds = load_model("deepseek-v3");
  const QuantPlan q = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16);
  StepOptions o = fast();
  o.tp = 8;
  StepCache cache;
  // Decode: W_UK folded into the query, MQA over the 512 + 64 latent in 64-head tiles, W_UV after.
  StepShape d{8, 1, 2048, false};
  const StepTiming t = simulate_step(ds, q, hw, d, o, cache);
  ASSERT_NE(find(t, "q_absorb"), nullptr);
  EXPECT_EQ(find(t, "q_absorb")->shape, "8 x 8192 x 128 nvfp4");  // 16 heads x 512
  EXPECT_EQ(find(t, "v_up")->shape, "8 x 2048 x 512 nvfp4");      // 16 heads x 128
  EXPECT_EQ(find(t, "kv_a_proj")->shape, "8 x 576 x 7168 nvfp4");
  const StepKernel* a = find(t, "attention");
  EXPECT_EQ(a->shape, "8 seqs x 1 queries, context 2048, 16 / 1 heads x 512 + 64 latent, KV bf16");
  // The latent is read once: 8 sequences x 2048 tokens x 576 BF16 values per layer.
  EXPECT_NEAR(a->hbm_bytes_each / (8.0 * 2048 * 576 * 2), 1.0, 0.05);
  EXPECT_EQ(find(t, "kv_b_proj"), nullptr);
  // The timeline: 3 dense layers, then MoE layers with the shared expert, then the head.
  std::vector<std::string> layer2, layer3;
  for (const auto& [i, l] : t.launches) {
    if (l == 2) layer2.push_back(t.kernels[i].name);
    if (l == 3) layer3.push_back(t.kernels[i].name);
  }
  EXPECT_EQ(layer2,
            (std::vector<std::string>{"rmsnorm", "q_a_proj", "q_b_proj", "kv_a_proj", "mla_norms", "q_absorb",
                                      "attention", "v_up", "o_proj", "all_reduce", "rmsnorm", "gate_up_proj",
                                      "silu_mul", "down_proj", "all_reduce"}));
  EXPECT_EQ(layer3.size(), layer2.size() - 3 + 8);
  EXPECT_EQ(layer3[11], "router");
  EXPECT_EQ(layer3[18], "shared_down");
  // Prefill: K and V rebuilt from the latent for the whole context, then 192 / 128-dim heads.
  const StepTiming pf = simulate_step(ds, q, hw, StepShape{1, 512, 512, false}, o, cache);
  EXPECT_EQ(find(pf, "kv_b_proj")->shape, "512 x 4096 x 512 nvfp4");
  EXPECT_EQ(find(pf, "attention")->shape,
            "1 seqs x 512 queries, context 512, 16 / 16 heads x 128 + 64, KV bf16");
  // Expert parallelism: each GPU runs its 32 whole experts (2048 wide) instead of all 256 at
  // 256 wide; the active ones spread evenly (decode: 8 x 8 assignments reach 57 experts, 8 here).
  StepOptions epo = o;
  epo.ep = 8;
  const StepTiming te = simulate_step(ds, q, hw, d, epo, cache);
  EXPECT_EQ(find(t, "experts_down")->shape, "2 x 408576 x 256 nvfp4");   // 57 experts x 7168, K = 2048 / 8
  EXPECT_EQ(find(te, "experts_down")->shape, "2 x 57344 x 2048 nvfp4");  // 8 experts x 7168
  EXPECT_EQ(find(te, "experts_gate_up")->shape, "2 x 32768 x 7168 nvfp4");
  EXPECT_LT(find(te, "experts_down")->each, find(t, "experts_down")->each);
  // The busiest GPU's work: 8 whole experts against a 1/8 slice of all 57.
  EXPECT_NEAR(find(te, "experts_down")->flops_each / find(t, "experts_down")->flops_each,
              8.0 * 2048 / (57 * 256), 1e-9);
  epo.ep = 4;
  EXPECT_CONTAINS(input_error_of([&] { (void)simulate_step(ds, q, hw, d, epo, cache); }),
                  "ep must be 1 or tp (8)");
  // An FP8 latent cache converts through one TMEM buffer beside O (two of 576 dims do not fit):
  // it runs, and reads half the latent's bytes.
  const StepTiming f8 =
      simulate_step(ds, QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kFp8Tensor), hw, d, o, cache);
  EXPECT_NEAR(find(f8, "attention")->hbm_bytes_each / a->hbm_bytes_each, 0.5, 0.05);
  EXPECT_LT(find(f8, "attention")->each, a->each);
}

// A step's launches in program order add up to its kernels' counts and time, and draw as a
// timeline: the step, one span per layer, one per launch.
TEST(TransformerStep, LaunchesLayTheStepOutAsATimeline) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const HwSpec hw = HwSpec::load("b200", {});
  StepCache cache;
  StepOptions o = fast();
  o.tp = 2;
  TraceOptions to;
  to.sms = {0};
  o.trace = &to;
  const StepTiming t = simulate_step(m, QuantPlan::bf16(), hw, StepShape{4, 1, 512, false}, o, cache);
  std::map<size_t, int64_t> count;
  Tick sum{0};  // the launches laid out one after the other, as the trace does
  for (const auto& [i, l] : t.launches) {
    ++count[i];
    sum += t.kernels[i].each;
  }
  for (size_t i = 0; i < t.kernels.size(); ++i)
    EXPECT_EQ(count[i], t.kernels[i].launches) << t.kernels[i].name;
  EXPECT_EQ(sum, t.time);
  std::vector<std::string> first;
  for (size_t j = 0; j < 10; ++j) first.push_back(t.kernels[t.launches[j].first].name);
  EXPECT_EQ(first,
            (std::vector<std::string>{"rmsnorm", "qkv_proj", "attention", "o_proj", "all_reduce", "rmsnorm",
                                      "gate_up_proj", "silu_mul", "down_proj", "all_reduce"}));
  EXPECT_EQ(t.launches.back().second, -1);  // the head
  // Every simulated kernel was recorded; streams and all-reduces are not simulated.
  for (const StepKernel& k : t.kernels)
    EXPECT_EQ(k.trace != nullptr, k.kind == "gemm" || k.kind == "attention") << k.name;
  TraceDoc doc;
  std::vector<const GpuTrace*> done;
  const std::vector<bool> detailed = emit_step_detail(doc, t, microseconds(10), 1000000, done);
  EXPECT_EQ(std::count(detailed.begin(), detailed.end(), true),
            6);  // qkv, attention, o, gate_up, down, lm_head
  emit_step_trace(doc, t, microseconds(10), "decode", detailed, hw.power.idle);
  EXPECT_EQ(step_trace_length(t), sum);
  const std::string text = doc.text();
  // A power and a clock counter per launch; power back to idle after the step.
  const auto count_of = [&](const std::string& s) {
    size_t n = 0;
    for (size_t pos = 0; (pos = text.find(s, pos)) != std::string::npos; ++pos) ++n;
    return n;
  };
  EXPECT_EQ(count_of("\"name\":\"Power (W)\""), t.launches.size() + 1);
  EXPECT_EQ(count_of("\"name\":\"SM clock (MHz)\""), t.launches.size());
  EXPECT_NE(text.find(fmt::format("\"name\":\"Power (W)\",\"args\":{{\"value\":{}}}", hw.power.idle.watts)),
            std::string::npos);
  size_t layers = 0;
  for (size_t pos = 0; (pos = text.find("\"name\":\"layer ", pos)) != std::string::npos; ++pos) ++layers;
  EXPECT_EQ(layers, 32u);
  EXPECT_NE(text.find("\"name\":\"SM 0\""), std::string::npos);
  EXPECT_EQ(text.find("\"name\":\"SM 1\""), std::string::npos);
}

// Sliding windows (#22): a windowed layer's decode attention reads only its window's keys and the
// global layers the whole context; the timeline gives each layer its own kind; the KV cache keeps a
// window's keys per windowed layer (a ring buffer).
TEST(TransformerStep, WindowedLayersReadOnlyTheirWindow) {
  ModelSpec m = load_model("llama-3.1-8b");
  const HwSpec hw = HwSpec::load("b200", {});
  StepCache cache;
  const StepShape s{8, 1, 32768, false};
  const StepTiming full = simulate_step(m, QuantPlan::bf16(), hw, s, fast(), cache);
  m.window = 1024;
  m.window_every = 4;  // layers 3, 7, ... global: 24 windowed, 8 global
  ASSERT_EQ(m.window_layers(), 24);
  const StepTiming w = simulate_step(m, QuantPlan::bf16(), hw, s, fast(), cache);
  const StepKernel* wa = find(w, "attention_window");
  const StepKernel* ga = find(w, "attention");
  const StepKernel* fa = find(full, "attention");
  ASSERT_TRUE(wa != nullptr && ga != nullptr && fa != nullptr);
  EXPECT_EQ(wa->launches, 24);
  EXPECT_EQ(ga->launches, 8);
  EXPECT_EQ(ga->each, fa->each);                          // the global layers' kernel is the same
  EXPECT_LT(wa->each.seconds(), fa->each.seconds() / 8);  // 1024 of 32768 keys
  EXPECT_CONTAINS(wa->shape, "context 32768, window 1024");
  EXPECT_LT(w.time, full.time);
  Tick sum{0};
  for (const auto& [i, l] : w.launches) {
    sum += w.kernels[i].each;
    if (w.kernels[i].name == "attention_window") {
      EXPECT_TRUE(m.window_layer(l)) << l;
    }
    if (w.kernels[i].name == "attention") {
      EXPECT_FALSE(m.window_layer(l)) << l;
    }
  }
  EXPECT_EQ(sum, w.time);
  // A prompt longer than the window: each query tile skips the KV blocks before its window. A
  // tile's window spans the window and the tile's rows (1024 + 256 keys, 10 blocks), against 33
  // blocks on average for full causal attention: 3.0x faster on B200.
  const StepTiming pf =
      simulate_step(m, QuantPlan::bf16(), hw, StepShape{1, 8192, 8192, false}, fast(), cache);
  const StepKernel* pw = find(pf, "attention_window");
  const StepKernel* pg = find(pf, "attention");
  ASSERT_TRUE(pw != nullptr && pg != nullptr);
  EXPECT_LT(pw->run_each().seconds(), pg->run_each().seconds() / 2.5);
  EXPECT_GT(pw->run_each().seconds(), pg->run_each().seconds() / 5);
  // The KV cache: 8 layers of 32768 keys and 24 of 1024.
  CapacityOptions co;
  co.context = 32768;
  const Capacity cw = capacity(m, QuantPlan::bf16(), hw, co);
  m.window = 0;
  const Capacity cf = capacity(m, QuantPlan::bf16(), hw, co);
  EXPECT_DOUBLE_EQ(cw.kv_per_sequence / cf.kv_per_sequence, (8.0 * 32768 + 24.0 * 1024) / (32.0 * 32768));
  EXPECT_GT(cw.max_sequences, 3 * cf.max_sequences);
}

// Golden step times in nanoseconds. After an intended model change:
//   BWSIM_REFRESH_GOLDEN=1 ./build/tests/test_workloads --gtest_filter='TransformerStep.Golden*'
TEST(TransformerStep, GoldenStepTimes) {
  const HwSpec b200 = HwSpec::load("b200", {});
  const HwSpec h100 = HwSpec::load("h100", {});
  std::map<std::string, std::string> got;
  StepCache c1, c2, c3;
  StepShape decode;
  decode.batch = 16;
  decode.q_len = 1;
  decode.context = 4096;
  StepShape prefill;
  prefill.batch = 1;
  prefill.q_len = 1024;
  prefill.context = 1024;
  const ModelSpec llama = load_model("llama-3.1-8b");
  const ModelSpec mixtral = load_model("mixtral-8x7b");
  const QuantPlan nv = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kFp8Tensor);
  const QuantPlan fp8 = QuantPlan::uniform(Scheme::kFp8E4M3, KvFormat::kFp8Tensor);
  const auto ns = [](const StepTiming& t) { return std::to_string(std::llround(t.time.seconds() * 1e9)); };
  got["b200:llama-3.1-8b:nvfp4:decode16@4k"] = ns(simulate_step(llama, nv, b200, decode, fast(), c1));
  got["b200:llama-3.1-8b:nvfp4:prefill1k"] = ns(simulate_step(llama, nv, b200, prefill, fast(), c1));
  got["b200:mixtral-8x7b:nvfp4:decode16@4k"] = ns(simulate_step(mixtral, nv, b200, decode, fast(), c2));
  got["h100:llama-3.1-8b:fp8:decode16@4k"] = ns(simulate_step(llama, fp8, h100, decode, fast(), c3));
  StepOptions tp8 = fast();
  tp8.tp = 8;
  StepCache c4;
  got["b200:deepseek-v3:nvfp4:tp8:decode16@4k"] = ns(simulate_step(
      load_model("deepseek-v3"), QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16), b200, decode, tp8, c4));
  check_golden("model_steps.txt", "case  step-ns", got);
}

}  // namespace
}  // namespace bwsim
