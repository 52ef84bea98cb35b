// Transformer models: parameter counts (by hand on a tiny model, against published sizes on real
// ones), the quantization plan's bytes, what fits in HBM, and bad model files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/hw_spec.hpp"
#include "sim/config.hpp"
#include "tests/test_util.hpp"
#include "workloads/transformer/capacity.hpp"
#include "workloads/transformer/hf_import.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/numerics.hpp"
#include "workloads/transformer/quant_plan.hpp"

namespace bwsim {
namespace {

namespace fs = std::filesystem;

ModelSpec tiny() {
  ModelSpec m;
  m.name = "tiny";
  m.layers = 2;
  m.hidden = 8;
  m.vocab = 10;
  m.heads = 2;
  m.kv_heads = 1;
  m.head_dim = 4;
  m.ffn = 16;
  return m;
}

TEST(Transformer, TinyModelParametersByHand) {
  ModelSpec m = tiny();
  // Per layer: two norms 16; q 8x8 + k 8x4 + v 8x4 + o 8x8 = 192; MLP 3 x 8 x 16 = 384.
  const ParamCount l = m.layer_params(0);
  EXPECT_EQ(l[WeightClass::kNorm], 16);
  EXPECT_EQ(l[WeightClass::kAttention], 192);
  EXPECT_EQ(l[WeightClass::kMlp], 384);
  // Embedding 80, lm_head 80, final norm 8.
  EXPECT_EQ(m.params().total(), 2 * 592 + 80 + 80 + 8);
  m.tie_embeddings = true;
  EXPECT_EQ(m.params().total(), 2 * 592 + 80 + 8);
  m.qkv_bias = true;  // + 8 + 4 + 4 per layer
  EXPECT_EQ(m.params().total(), 2 * 608 + 80 + 8);
  EXPECT_EQ(m.kv_elements_per_token(), 2 * 1 * 4);

  // MoE from layer 1 on: 4 experts of FFN 6, top 2, a shared expert of 6, router bias.
  ModelSpec e = tiny();
  e.moe = MoeSpec{4, 2, 6, 6, false, 1, 1, true};
  EXPECT_FALSE(e.moe_layer(0));
  EXPECT_TRUE(e.moe_layer(1));
  const ParamCount l1 = e.layer_params(1);
  EXPECT_EQ(l1[WeightClass::kExperts], 4 * 3 * 8 * 6);
  EXPECT_EQ(l1[WeightClass::kMlp], 3 * 8 * 6);
  EXPECT_EQ(l1[WeightClass::kRouter], 4 * 8 + 4);
  EXPECT_EQ(e.params().total() - e.active_params().total(), 2 * 3 * 8 * 6);  // two experts idle per token
}

TEST(Transformer, PublishedSizesFromTheTomlModels) {
  const ModelSpec llama = load_model("llama-3.1-70b");
  EXPECT_NEAR(llama.params().total() / 70.6e9, 1.0, 0.01);
  const ModelSpec ds = load_model("deepseek-v3");
  EXPECT_NEAR(ds.params().total() / 671e9, 1.0, 0.01);
  EXPECT_NEAR(ds.active_params().total() / 37e9, 1.0, 0.03);
  // The checkpoint's 685B adds the MTP module (and its copies of the embedding and head).
  EXPECT_NEAR((ds.params().total() + ds.mtp_params().total() + 2 * 129280.0 * 7168) / 685e9, 1.0, 0.01);
  // MLA caches the 512-dim latent and the 64-dim rope key: 576 elements per token and layer.
  EXPECT_EQ(ds.kv_elements_per_token(), 576);
}

TEST(Transformer, QuantizationPlanBytes) {
  const ModelSpec m = load_model("llama-3.1-70b");
  const QuantPlan bf = QuantPlan::bf16();
  const QuantPlan nv = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kFp8Tensor);
  const ParamCount p = m.params();
  EXPECT_DOUBLE_EQ(weight_bytes(m, bf).total(), p.total() * 2);
  const WeightBytes w = weight_bytes(m, nv);
  // NVFP4: 4 bits and an 8-bit scale per 16 elements; embedding and lm_head kept BF16.
  EXPECT_DOUBLE_EQ(w.by_class[static_cast<size_t>(WeightClass::kMlp)], p[WeightClass::kMlp] * 4.5 / 8);
  EXPECT_DOUBLE_EQ(w.by_class[static_cast<size_t>(WeightClass::kLmHead)], p[WeightClass::kLmHead] * 2);
  // KV: 80 layers x 2 x 8 heads x 128 dims x 1 byte.
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, nv), 80.0 * 2 * 8 * 128);
  EXPECT_EQ(nv.gemm_format(WeightClass::kAttention).b, Scheme::kNvfp4);
  QuantPlan w4a16 = nv;
  w4a16.activations = Scheme::kBf16;
  EXPECT_TRUE(w4a16.gemm_format(WeightClass::kMlp).weight_only);
  QuantPlan mx = QuantPlan::uniform(Scheme::kMxfp4, KvFormat::kBf16);
  mx.activations = Scheme::kBf16;
  EXPECT_EQ(mx.gemm_format(WeightClass::kMlp).name, "w4a16_mxfp4");  // gpt-oss's experts on Hopper
  QuantPlan bad = QuantPlan::uniform(Scheme::kMxfp8E4M3, KvFormat::kBf16);
  bad.activations = Scheme::kBf16;
  EXPECT_CONTAINS(input_error_of([&] { (void)bad.gemm_format(WeightClass::kMlp); }), "weight-only");
}

TEST(Transformer, WhatFitsInHbm) {
  const ModelSpec m = load_model("llama-3.1-70b");
  const HwSpec h100 = HwSpec::load("h100", {});
  const HwSpec b200 = HwSpec::load("b200", {});
  CapacityOptions o;
  o.context = 8192;
  // 141 GB of BF16 weights: not on one 80 GB H100, nor on two with room for a sequence.
  const Capacity one = capacity(m, QuantPlan::bf16(), h100, o);
  EXPECT_FALSE(one.fits());
  EXPECT_EQ(one.max_sequences, 0);
  EXPECT_EQ(smallest_fitting_tp(m, QuantPlan::bf16(), h100, o), 4);
  // TP 4 shards the weights four ways and the 8 KV heads two per GPU.
  o.tp = 4;
  const Capacity four = capacity(m, QuantPlan::bf16(), h100, o);
  EXPECT_NEAR(four.weights, weight_bytes(m, QuantPlan::bf16()).total() / 4, 1e-3 * four.weights);
  EXPECT_DOUBLE_EQ(four.kv_per_token, 80.0 * 2 * 2 * 128 * 2);
  EXPECT_EQ(four.max_sequences,
            static_cast<int64_t>((four.usable - four.weights - four.activations) / four.kv_per_sequence));
  // NVFP4 weights and an FP8 cache fit one B200 with many sequences.
  o.tp = 1;
  const Capacity nv = capacity(m, QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kFp8Tensor), b200, o);
  EXPECT_TRUE(nv.fits());
  EXPECT_GT(nv.max_sequences, 80);  // (162 GB - 42.7 GB - workspace) / 1.34 GB per 8K sequence
  o.tp = 3;
  EXPECT_CONTAINS(input_error_of([&] { (void)capacity(m, QuantPlan::bf16(), b200, o); }), "--tp 3");
}

// A small Llama-style config.json with every kind of key: used, ignored, unknown.
const char* const kLlamaJson = R"({
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "hidden_size": 8,
  "intermediate_size": 16,
  "num_hidden_layers": 2,
  "num_attention_heads": 2,
  "num_key_value_heads": 1,
  "vocab_size": 10,
  "max_position_embeddings": 131072,
  "rope_theta": 500000.0,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rms_norm_eps": 1e-05,
  "torch_dtype": "bfloat16",
  "tie_word_embeddings": false,
  "fancy_new_feature": 3
})";

TEST(Transformer, ImportsAConfigJsonAndReportsWhatItDidNotUse) {
  const ModelSpec m = import_hf_config(kLlamaJson, "tiny.config.json");
  EXPECT_EQ(m.family, "llama");
  EXPECT_EQ(m.params().total(), tiny().params().total());
  ASSERT_TRUE(m.rope.has_value());
  EXPECT_EQ(m.rope->type, RopeType::kLlama3);
  EXPECT_EQ(m.rope->factor, 8);
  EXPECT_EQ(m.rope->original, 8192);
  EXPECT_EQ(m.rope->theta, 500000);
  ASSERT_EQ(m.notes.size(), 1u);
  EXPECT_CONTAINS(m.notes[0], "fancy_new_feature: unknown key");
  EXPECT_EQ(m.ignored, (std::vector<std::string>{"architectures", "rms_norm_eps", "torch_dtype"}));
}

// Real config.json files (tests/data/models, see SOURCES.md there) give the published sizes.
ModelSpec real(const std::string& file) {
  return import_hf_config_file(std::string(BWSIM_TEST_DATA_DIR) + "/models/" + file);
}

// gpt-oss (issue #22): the model card's totals and active counts to the parameter, by class
// (tests/data/models/FAMILIES.md): biased experts and router, attention biases and sinks.
TEST(Transformer, GptOssConfigJsonGivesTheModelCardsCounts) {
  struct Case {
    const char* file;
    int64_t experts;
    double total, active_without_embedding, experts_class, router, attention;
  };
  for (const Case& c : {Case{"gpt-oss-120b.config.json", 128, 116829156672.0, 5132849472.0,
                             114661785600.0 + 39813120.0, 13275648.0, 955514880.0 + 288000.0 + 2304.0},
                        Case{"gpt-oss-20b.config.json", 32, 20914757184.0, 3608307264.0,
                             19110297600.0 + 6635520.0, 2212608.0, 637009920.0 + 192000.0 + 1536.0}}) {
    const ModelSpec m = real(c.file);
    ASSERT_TRUE(m.moe.has_value()) << c.file;
    EXPECT_EQ(m.moe->experts, c.experts);
    EXPECT_EQ(m.moe->top_k, 4);
    EXPECT_TRUE(m.attention_sinks);
    EXPECT_EQ(m.swiglu_limit, 7.0);  // the clamped SwiGLU of its experts
    const ParamCount p = m.params();
    EXPECT_EQ(p.total(), c.total) << c.file;
    EXPECT_EQ(p[WeightClass::kExperts], c.experts_class) << c.file;
    EXPECT_EQ(p[WeightClass::kRouter], c.router) << c.file;
    EXPECT_EQ(p[WeightClass::kAttention], c.attention) << c.file;
    EXPECT_EQ(p[WeightClass::kEmbedding], 579133440.0);
    EXPECT_EQ(p[WeightClass::kLmHead], 579133440.0);
    const ParamCount a = m.active_params();
    EXPECT_EQ(a.total() - a[WeightClass::kEmbedding], c.active_without_embedding) << c.file;
    ASSERT_TRUE(m.rope.has_value());
    EXPECT_EQ(m.rope->type, RopeType::kYarn);
    EXPECT_EQ(m.rope->factor, 32);
    // What is not modelled yet is said, not dropped: the windows, the sinks' numerics, MXFP4.
    std::string notes;
    for (const std::string& n : m.notes) notes += n + "\n";
    EXPECT_CONTAINS(notes, "sliding_window 128: " + std::to_string(m.layers / 2) + " of");
    EXPECT_EQ(m.window, 128);
    EXPECT_EQ(m.window_every, 2);  // even layers slide, odd ones are global
    EXPECT_TRUE(m.window_layer(0));
    EXPECT_FALSE(m.window_layer(1));
    EXPECT_CONTAINS(notes, "attention sinks");
    EXPECT_CONTAINS(notes, "quantization_config");
    EXPECT_EQ(notes.find("not a family bwsim knows"), std::string::npos) << notes;
    EXPECT_EQ(notes.find("unknown key"), std::string::npos) << notes;
  }
}

// Gemma 3 and Llama 4 (issue #22): the multimodal configs' text decoders, with their class
// defaults for what the sparse files leave out, give the counts of tests/data/models/FAMILIES.md
// (Gemma: Keras-hub's text presets plus 64 rows of HF's larger vocabulary; Llama 4: the model card's
// 109B / 400B totals). What is not modelled is said: the vision towers, windows, NoPE layers.
TEST(Transformer, Gemma3AndLlama4ConfigJsonGiveTheirTextDecodersCounts) {
  struct Case {
    const char* file;
    double total, active_without_embedding;
    const char* note;
  };
  for (const Case& c :
       {Case{"gemma-3-4b-it.config.json", 3880099328.0 + 64 * 2560, 0, "29 of 34 layers attend"},
        Case{"gemma-3-27b-it.config.json", 27009002240.0 + 64 * 5376, 0, "52 of 62 layers attend"},
        Case{"gemma-3-1b-it.reconstructed.config.json", 999885952.0, 0, "sliding_window 512: 22 of 26"},
        Case{"llama-4-scout-17b-16e-instruct.reconstructed.config.json", 107769861120.0, 16138408960.0,
             "12 of 48 layers use no RoPE"},
        Case{"llama-4-maverick-17b-128e-instruct.reconstructed.config.json", 400711848960.0, 16150205440.0,
             "attention_chunk_size 8192"}}) {
    const ModelSpec m = real(c.file);
    const ParamCount p = m.params();
    EXPECT_EQ(p.total(), c.total) << c.file;
    if (c.active_without_embedding > 0) {
      const ParamCount a = m.active_params();
      EXPECT_EQ(a.total() - a[WeightClass::kEmbedding], c.active_without_embedding) << c.file;
    }
    std::string notes;
    for (const std::string& n : m.notes) notes += n + "\n";
    EXPECT_CONTAINS(notes, c.note);
    EXPECT_EQ(notes.find("not a family bwsim knows"), std::string::npos) << notes;
    EXPECT_EQ(notes.find("unknown key"), std::string::npos) << notes;
  }
  const ModelSpec g = real("gemma-3-4b-it.config.json");
  EXPECT_EQ(g.family, "gemma3_text");
  EXPECT_EQ(g.heads, 8);  // Gemma3TextConfig's defaults: the file names no head counts
  EXPECT_EQ(g.kv_heads, 4);
  EXPECT_EQ(g.head_dim, 256);
  EXPECT_EQ(g.vocab, 262208);
  EXPECT_TRUE(g.tie_embeddings);
  EXPECT_EQ(g.norms_per_layer, 4);
  EXPECT_TRUE(g.gelu_mlp);
  EXPECT_TRUE(g.qk_norm);
  EXPECT_EQ(g.window, 1024);
  EXPECT_EQ(g.window_every, 6);
  EXPECT_EQ(g.window_layers(), 29);
  ASSERT_TRUE(g.rope.has_value());
  EXPECT_EQ(g.rope->type, RopeType::kLinear);
  EXPECT_EQ(g.rope->theta, 1e6);
  // Its local layers rotate with rope_local_base_freq (10000) and no scaling; the global ones
  // with rope_theta and the linear x8.
  ASSERT_TRUE(g.window_rope.has_value());
  EXPECT_EQ(g.window_rope->type, RopeType::kDefault);
  EXPECT_EQ(g.window_rope->theta, 1e4);
  EXPECT_EQ(g.layer_rope(0)->theta, 1e4);
  EXPECT_EQ(g.layer_rope(5)->type, RopeType::kLinear);
  // The embedding scaled by sqrt(hidden). Scores scale by 1/sqrt(query_pre_attn_scalar): its
  // default 256 is the 4B's head dim, but the 27B's 168 is not its 128.
  EXPECT_TRUE(g.scaled_embedding);
  EXPECT_EQ(g.query_scalar, 0);
  EXPECT_EQ(real("gemma-3-27b-it.config.json").query_scalar, 168);
  std::string notes;
  for (const std::string& n : g.notes) notes += n + "\n";
  EXPECT_CONTAINS(notes, "vision_config");
  const ModelSpec maverick = real("llama-4-maverick-17b-128e-instruct.reconstructed.config.json");
  ASSERT_TRUE(maverick.moe.has_value());
  EXPECT_EQ(maverick.moe->layer_step, 2);  // MoE in odd layers, dense MLPs of 16384 in the others
  EXPECT_EQ(maverick.ffn, 16384);
  EXPECT_EQ(maverick.params()[WeightClass::kMlp], 6039797760.0 + 3019898880.0);  // dense + shared
  const ModelSpec scout = real("llama-4-scout-17b-16e-instruct.reconstructed.config.json");
  ASSERT_TRUE(scout.rope.has_value());
  EXPECT_EQ(scout.rope->type, RopeType::kLlama3);  // low = high = 1: no blended band
  EXPECT_EQ(scout.ffn, 0);
  // Chunked local attention in the 36 RoPE layers (every 4th layer is NoPE and global), each
  // caching at most a chunk: at 32K of context, 12 x 32768 + 36 x 8192 token slots.
  for (const ModelSpec* m : {&scout, &maverick}) {
    EXPECT_EQ(m->window, 8192);
    EXPECT_EQ(m->window_every, 4);
    EXPECT_TRUE(m->window_chunked);
    EXPECT_EQ(m->window_layers(), 36);
    EXPECT_EQ(m->kv_layer_tokens(32768), 12.0 * 32768 + 36.0 * 8192);
    EXPECT_EQ(m->nope_every, 4);           // the global layers use no RoPE
    EXPECT_EQ(m->qk_l2norm, m == &scout);  // Maverick's config sets use_qk_norm false
    EXPECT_FALSE(m->layer_rope(3).has_value());
    EXPECT_TRUE(m->layer_rope(2).has_value());
    EXPECT_EQ(m->temperature_floor, 8192);  // attn_temperature_tuning: floor_scale, attn_scale
    EXPECT_EQ(m->temperature_scale, 0.1);
  }
}

TEST(Transformer, RealConfigJsonFilesGiveThePublishedParameterCounts) {
  // Llama 3.x 70B (3.3-70B-Instruct's file; 3.1-70B has the same shape): 70.6 B.
  const ModelSpec llama = real("llama-3.3-70b-instruct.config.json");
  EXPECT_NEAR(llama.params().total() / 70.6e9, 1.0, 0.01);
  EXPECT_EQ(llama.params().total(), 70553706496.0);  // the checkpoint's exact count
  ASSERT_TRUE(llama.rope.has_value());
  EXPECT_EQ(llama.rope->type, RopeType::kLlama3);
  EXPECT_TRUE(llama.notes.empty());
  EXPECT_EQ(real("llama-3.1-8b.config.json").params().total(), 8030261248.0);
  // DeepSeek-V3 / R1: 671 B in the main model, 685 B with the MTP module as stored (its own
  // copies of the embedding and head); MLA, 256 routed + 1 shared expert, 3 dense layers.
  const ModelSpec ds = real("deepseek-r1.config.json");
  EXPECT_NEAR(ds.params().total() / 671e9, 1.0, 0.01);
  const ParamCount mtp = ds.mtp_params();
  const double stored_mtp =
      mtp.total() + ds.params()[WeightClass::kEmbedding] + ds.params()[WeightClass::kLmHead];
  EXPECT_NEAR((ds.params().total() + stored_mtp) / 685e9, 1.0, 0.01);
  EXPECT_NEAR(ds.active_params().total() / 37e9, 1.0, 0.02);
  ASSERT_TRUE(ds.mla.has_value());
  EXPECT_EQ(ds.mla->kv_lora_rank, 512);
  ASSERT_TRUE(ds.moe.has_value());
  EXPECT_EQ(ds.moe->experts, 256);
  EXPECT_EQ(ds.moe->dense_layers, 3);
  EXPECT_EQ(ds.mtp_modules, 1);
  EXPECT_EQ(ds.rope->type, RopeType::kYarn);
  EXPECT_EQ(ds.rope->factor, 40);
  // The checkpoint's FP8 format is reported, not silently applied or dropped.
  ASSERT_EQ(ds.notes.size(), 1u);
  EXPECT_CONTAINS(ds.notes[0], "quantization_config");
  // Qwen2.5-72B-Instruct (QKV biases): 72.7 B; with the model card's YaRN block for 128K.
  const ModelSpec qwen = real("qwen2.5-72b-instruct.config.json");
  EXPECT_NEAR(qwen.params().total() / 72.7e9, 1.0, 0.01);
  EXPECT_EQ(qwen.params().total(), 72706203648.0);
  const ModelSpec yarn = real("qwen2.5-72b-instruct-yarn.config.json");
  EXPECT_EQ(yarn.params().total(), qwen.params().total());
  ASSERT_TRUE(yarn.rope.has_value());
  EXPECT_EQ(yarn.rope->type, RopeType::kYarn);
  EXPECT_EQ(yarn.rope->factor, 4);
  EXPECT_EQ(yarn.rope->original, 32768);
  EXPECT_EQ(yarn.rope->theta, 1000000);
  // Phi-3.5-mini (the Phi-3-mini-128k architecture): 3.82 B, LongRoPE from 4K with its 48 + 48
  // per-dimension factors read to the nearest double.
  const ModelSpec phi = real("phi-3.5-mini-instruct.config.json");
  EXPECT_NEAR(phi.params().total() / 3.82e9, 1.0, 0.01);
  ASSERT_TRUE(phi.rope.has_value());
  EXPECT_EQ(phi.rope->type, RopeType::kLongRope);
  EXPECT_EQ(phi.rope->original, 4096);
  ASSERT_EQ(phi.rope->long_factor.size(), 48u);
  ASSERT_EQ(phi.rope->short_factor.size(), 48u);
  EXPECT_EQ(phi.rope->long_factor[18], 30.420001983642578);
  EXPECT_EQ(phi.rope->short_factor.back(), 2.8399994373321533);
}

// Replaces the first `from` in `s` (which must hold it) with `to`.
void replace_first(std::string& s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  s.replace(at, from.size(), to);
}

// Checkpoint formats as a plan (#22): "checkpoint" classes take what the config's
// quantization_config declares. gpt-oss ships MXFP4 experts and BF16 elsewhere: 65.19 GB against
// the model card's 60.8 GiB checkpoint; DeepSeek-R1 block FP8 everywhere but lm_head.
TEST(Transformer, CheckpointFormatsBecomeAPlan) {
  const auto from_checkpoint = [] {
    QuantPlan q = QuantPlan::bf16();
    for (WeightClass c :
         {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts, WeightClass::kLmHead})
      q.from_checkpoint[static_cast<size_t>(c)] = true;
    return q;
  };
  const ModelSpec oss = real("gpt-oss-120b.config.json");
  ASSERT_TRUE(oss.checkpoint.has_value());
  EXPECT_EQ(oss.checkpoint->method, "mxfp4");
  QuantPlan q = from_checkpoint();
  resolve_checkpoint(q, oss, "test");
  EXPECT_EQ(q.scheme(WeightClass::kExperts), Scheme::kMxfp4);
  EXPECT_EQ(q.scheme(WeightClass::kAttention), Scheme::kBf16);
  EXPECT_EQ(q.scheme(WeightClass::kLmHead), Scheme::kBf16);
  EXPECT_NEAR(weight_bytes(oss, q).total() / (60.8 * 1024 * 1024 * 1024), 1.0, 0.005);
  EXPECT_CONTAINS(q.text(), "as the checkpoint ships them");
  // Hopper: MXFP4 experts with BF16 activations run weight-only.
  q.activations = Scheme::kBf16;
  EXPECT_TRUE(q.gemm_format(WeightClass::kExperts).weight_only);
  const ModelSpec r1 = real("deepseek-r1.config.json");
  QuantPlan d = from_checkpoint();
  resolve_checkpoint(d, r1, "test");
  EXPECT_EQ(d.scheme(WeightClass::kAttention), Scheme::kFp8Block);
  EXPECT_EQ(d.scheme(WeightClass::kExperts), Scheme::kFp8Block);
  EXPECT_EQ(d.scheme(WeightClass::kLmHead), Scheme::kBf16);
  // What cannot be taken is said.
  QuantPlan none = from_checkpoint();
  EXPECT_CONTAINS(input_error_of([&] { resolve_checkpoint(none, tiny(), "s.toml"); }),
                  "declares no quantization_config");
  QuantPlan kv = QuantPlan::bf16();
  kv.kv_from_checkpoint = true;
  EXPECT_CONTAINS(input_error_of([&] { resolve_checkpoint(kv, oss, "s.toml"); }),
                  "declares no KV-cache format");
  std::string awq = kLlamaJson;
  replace_first(awq, "\"fancy_new_feature\": 3",
                "\"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4}");
  const ModelSpec a = import_hf_config(awq, "awq.config.json");
  QuantPlan qa = from_checkpoint();
  EXPECT_CONTAINS(input_error_of([&] { resolve_checkpoint(qa, a, "s.toml"); }), "quant_method 'awq'");
}

// Strict import (#22): a model_type outside the known families, or an unread key whose name says it
// shapes the model, is an error unless the unknown is allowed; a harmless unknown key stays a note.
// Qwen2's max_window_layers keeps the first layers global.
TEST(Transformer, StrictImportRefusesWhatItCannotModel) {
  std::string falcon = kLlamaJson;
  replace_first(falcon, "\"llama\"", "\"falcon_h1\"");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(falcon, "f.config.json"); }),
                  "'falcon_h1' is not a family bwsim knows (llama, mistral");
  const ModelSpec f = import_hf_config(falcon, "f.config.json", HfImportOptions{true});
  EXPECT_CONTAINS(f.notes.front(), "read as a Llama-style decoder");
  std::string shaped = kLlamaJson;
  replace_first(shaped, "\"fancy_new_feature\"", "\"num_sparse_layers\"");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(shaped, "s.config.json"); }),
                  "\"num_sparse_layers\": a key that may change the parameters or the compute");
  EXPECT_CONTAINS(import_hf_config(shaped, "s.config.json", HfImportOptions{true}).notes.front(),
                  "num_sparse_layers: unknown key");
  std::ifstream in(std::string(BWSIM_TEST_DATA_DIR) + "/models/qwen2.5-72b-instruct.config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string qwen = ss.str();
  replace_first(qwen, "\"sliding_window\": 131072", "\"sliding_window\": 4096");
  replace_first(qwen, "\"use_sliding_window\": false", "\"use_sliding_window\": true");
  const ModelSpec q = import_hf_config(qwen, "qwen.config.json");
  EXPECT_EQ(q.window, 4096);
  EXPECT_EQ(q.window_first, 70);
  EXPECT_EQ(q.window_layers(), 10);  // layers 70..79
  EXPECT_FALSE(q.window_layer(69));
  EXPECT_TRUE(q.window_layer(70));
  EXPECT_EQ(q.kv_layer_tokens(32768), 70.0 * 32768 + 10.0 * 4096);
  // The MLP's activation shapes the numbers: GELU's tanh form is GeGLU, exact GELU is refused.
  std::string act = kLlamaJson;
  replace_first(act, "\"fancy_new_feature\"", "\"hidden_act\": \"gelu_pytorch_tanh\", \"x\"");
  EXPECT_TRUE(import_hf_config(act, "a.config.json", HfImportOptions{true}).gelu_mlp);
  EXPECT_FALSE(load_model("llama-3.1-8b").gelu_mlp);
  replace_first(act, "gelu_pytorch_tanh", "gelu");
  EXPECT_CONTAINS(
      input_error_of([&] { (void)import_hf_config(act, "a.config.json", HfImportOptions{true}); }),
      "hidden_act");
}

TEST(Transformer, ImportsTransformers5RopeParameters) {
  // transformers 5 writes rope_theta and the scaling into one rope_parameters table.
  std::string text = kLlamaJson;
  text.replace(text.find("\"rope_theta\": 500000.0,"), 23, "");
  text.replace(text.find("\"rope_scaling\""), 14, "\"rope_parameters\"");
  text.replace(text.find("\"rope_type\": \"llama3\""), 21,
               "\"rope_type\": \"llama3\", \"rope_theta\": 500000.0");
  const ModelSpec m = import_hf_config(text, "v5.config.json");
  ASSERT_TRUE(m.rope.has_value());
  EXPECT_EQ(m.rope->type, RopeType::kLlama3);
  EXPECT_EQ(m.rope->theta, 500000);
  EXPECT_EQ(m.rope->factor, 8);
  ASSERT_EQ(m.notes.size(), 1u);  // only fancy_new_feature
}

TEST(Transformer, BadConfigJsonSaysWhereAndWhat) {
  std::string text = kLlamaJson;
  // A wrong type names the key.
  std::string wrong = text;
  wrong.replace(wrong.find("\"hidden_size\": 8"), 16, "\"hidden_size\": \"8\"");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(wrong, "c.json"); }),
                  "c.json: \"hidden_size\": expected an integer");
  // Broken JSON names the line.
  std::string broken = text;
  broken.replace(broken.find("\"vocab_size\": 10,"), 17, "\"vocab_size\": 10");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(broken, "c.json"); }),
                  "c.json:10: not valid JSON");
  // A missing dimension, an unknown RoPE type, inconsistent heads.
  std::string missing = text;
  missing.replace(missing.find("\"num_hidden_layers\": 2,"), 23, "");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(missing, "c.json"); }), "num_hidden_layers");
  // A dimension no integer holds: refused, not converted (the conversion was undefined).
  std::string huge = text;
  huge.replace(huge.find("\"num_hidden_layers\": 2,"), 23, "\"num_hidden_layers\": 1e30,");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(huge, "c.json"); }),
                  "\"num_hidden_layers\": 1E30 is out of range for an integer");
  // A multimodal wrapper without its text decoder; a text decoder of another family.
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(R"({"model_type": "gemma3"})", "g.json"); }),
                  "g.json: \"text_config\": a gemma3 config holds its text decoder here: missing");
  EXPECT_CONTAINS(
      input_error_of([&] {
        (void)import_hf_config(R"({"model_type": "llama4", "text_config": {"model_type": "gemma3_text"}})",
                               "l.json");
      }),
      "l.json: text_config: \"model_type\": 'gemma3_text' where its wrapper implies 'llama4_text'");
  std::string rope = text;
  rope.replace(rope.find("\"llama3\""), 8, "\"wavy\"");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(rope, "c.json"); }), "'wavy' is not modelled");
  std::string heads = text;
  heads.replace(heads.find("\"num_key_value_heads\": 1"), 24, "\"num_key_value_heads\": 3");
  EXPECT_CONTAINS(input_error_of([&] { (void)import_hf_config(heads, "c.json"); }), "kv_heads = 3");
}

class TransformerFiles : public TempDirTest {
 protected:
  TransformerFiles() : TempDirTest("bwsim_transformer_") {}
};

TEST_F(TransformerFiles, BadTomlModelsSayWhereAndWhat) {
  const std::string ok =
      "name = \"m\"\nlayers = 2\nhidden = 8\nvocab = 10\n[attention]\nheads = 2\nkv_heads = 1\n[mlp]\nffn = "
      "16\n";
  const ModelSpec m = load_model(write("ok.toml", ok));
  EXPECT_EQ(m.head_dim, 4);  // hidden / heads
  EXPECT_EQ(m.params().total(), tiny().params().total());
  // Unknown key: file, line and key.
  const std::string unknown =
      input_error_of([&] { (void)load_model(write("u.toml", ok + "experts = 4\n")); });
  EXPECT_CONTAINS(unknown, "u.toml:10");
  EXPECT_CONTAINS(unknown, "mlp.experts");
  // Inconsistent heads.
  std::string bad = ok;
  bad.replace(bad.find("kv_heads = 1"), 12, "kv_heads = 3");
  EXPECT_CONTAINS(input_error_of([&] { (void)load_model(write("h.toml", bad)); }), "attention.kv_heads = 3");
  // A RoPE that does not fit the head dims.
  EXPECT_CONTAINS(input_error_of([&] { (void)load_model(write("r.toml", ok + "[attention]\n")); }), "r.toml");
  const std::string rope = ok.substr(0, ok.find("[mlp]")) + "rope = \"yarn:factor=4\"\n[mlp]\nffn = 16\n";
  EXPECT_CONTAINS(input_error_of([&] { (void)load_model(write("y.toml", rope)); }), "original");
}

}  // namespace
}  // namespace bwsim

namespace bwsim {
namespace {

// Model-level numerics on a seeded replica: the formats' errors through whole layers keep the
// order the GEMM tests show (FP8 < NVFP4 < MXFP4), BF16 compute stays near float64, and the run
// is deterministic.
// Two layers of 16 tokens, at most 256 wide with a 512-token vocabulary.
NumericsOptions small_replica() {
  NumericsOptions o;
  o.layers = 2;
  o.tokens = 16;
  o.width = 256;
  o.vocab = 512;
  return o;
}

// Windows, chunks and sinks reach the model-level replica (#22): in BF16 the computed path still
// agrees with the float64 reference (the same mask and sinks in both: a mismatch would cost tens
// of dB), and each changes the answer.
TEST(TransformerNumerics, WindowsChunksAndSinksReachTheReplica) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const HwSpec hw = HwSpec::load("b200", {});
  const NumericsOptions o = small_replica();
  const QuantPlan bf = QuantPlan::bf16();
  const NumericsResult plain = model_numerics(m, bf, hw, o);
  ModelSpec windowed = m;
  windowed.window = 4;  // layer 0 windowed, layer 1 global
  windowed.window_every = 2;
  ModelSpec chunked = windowed;
  chunked.window_chunked = true;
  ModelSpec sinks = m;
  sinks.attention_sinks = true;
  ModelSpec qk = m;  // Qwen3 / Gemma 3
  qk.qk_norm = true;
  ModelSpec clamped = m;  // gpt-oss's activation, here in the dense MLP
  clamped.swiglu_limit = 0.5;
  ModelSpec geglu = m;  // Gemma 3
  geglu.gelu_mlp = true;
  for (const ModelSpec* v : {&windowed, &chunked, &sinks, &qk, &clamped, &geglu}) {
    const NumericsResult r = model_numerics(*v, bf, hw, o);
    EXPECT_GT(r.logits.sqnr_db, 40) << v->window << v->window_chunked << v->attention_sinks << v->qk_norm
                                    << v->swiglu_limit << v->gelu_mlp;
    EXPECT_GE(r.top1, 0.9);  // BF16 rounding may flip a near tie
    EXPECT_NE(r.logits.rel_frobenius, plain.logits.rel_frobenius);
  }
}

// Biases (QKV, output, gpt-oss's router and experts), Gemma's post-norms, scaled embedding and
// query_pre_attn_scalar, and Llama 4's temperature tuning reach the replica (#22): each changes
// the answer, and in BF16 the computed path still agrees with the float64 reference, which
// implements each apart (one path without it would cost tens of dB).
TEST(TransformerNumerics, BiasesPostNormsAndScalesReachTheReplica) {
  const HwSpec hw = HwSpec::load("b200", {});
  const NumericsOptions o = small_replica();
  const QuantPlan bf = QuantPlan::bf16();
  const ModelSpec m = load_model("llama-3.1-8b");
  const NumericsResult plain = model_numerics(m, bf, hw, o);
  std::vector<std::pair<std::string, ModelSpec>> variants;
  const auto variant = [&](const std::string& name, auto change) {
    ModelSpec v = m;
    change(v);
    variants.emplace_back(name, v);
  };
  variant("qkv bias", [](ModelSpec& v) { v.qkv_bias = true; });
  variant("o bias", [](ModelSpec& v) { v.o_bias = true; });
  variant("post-norms", [](ModelSpec& v) { v.norms_per_layer = 4; });
  variant("scaled embedding", [](ModelSpec& v) { v.scaled_embedding = true; });
  variant("query scalar", [](ModelSpec& v) { v.query_scalar = 168; });
  // Layer 1 is NoPE; its queries past position 3 scale by log(floor((p + 1) / 4) + 1) x 0.5 + 1.
  variant("temperature", [](ModelSpec& v) {
    v.nope_every = 2;
    v.temperature_floor = 4;
    v.temperature_scale = 0.5;
  });
  ModelSpec nope = m;
  nope.nope_every = 2;
  const NumericsResult nope_plain = model_numerics(nope, bf, hw, o);
  for (const auto& [name, v] : variants) {
    const NumericsResult r = model_numerics(v, bf, hw, o);
    EXPECT_GT(r.logits.sqnr_db, 40) << name;
    EXPECT_GE(r.top1, 0.9) << name;
    EXPECT_NE(r.logits.rel_frobenius, (v.nope_every > 0 ? nope_plain : plain).logits.rel_frobenius) << name;
  }
  // With the default floor of 8192 no position of 16 tokens is scaled: the same numbers as NoPE alone.
  ModelSpec floor = nope;
  floor.temperature_floor = 8192;
  EXPECT_EQ(model_numerics(floor, bf, hw, o).logits.rel_frobenius, nope_plain.logits.rel_frobenius);
  // gpt-oss's biased router and experts, in a MoE.
  NumericsOptions mo = o;
  mo.tokens = 8;
  const ModelSpec mx = load_model("mixtral-8x7b");
  ModelSpec biased = mx;
  biased.moe->router_bias = true;
  biased.moe->expert_bias = true;
  const NumericsResult b = model_numerics(biased, bf, hw, mo);
  EXPECT_GT(b.logits.sqnr_db, 35);
  EXPECT_NE(b.logits.rel_frobenius, model_numerics(mx, bf, hw, mo).logits.rel_frobenius);
}

// #28 at model level: static activation scales calibrated on seeded prompts, then a deployment
// whose outlier channels outgrow the calibration saturates more and errs more than the dynamic
// scale; an injected outlier-heavy layer ranks first in the per-layer sensitivity.
TEST(TransformerNumerics, StaticScalesAndPerLayerSensitivity) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const HwSpec hw = HwSpec::load("b200", {});
  NumericsOptions o = small_replica();
  const QuantPlan f8 = QuantPlan::uniform(Scheme::kFp8E4M3, KvFormat::kBf16);
  NumericsOptions st = o;
  st.calib_prompts = 2;
  const NumericsResult in_dist = model_numerics(m, f8, hw, st);
  EXPECT_EQ(in_dist.static_sites, 8u);  // qkv, o, gate_up, down in 2 layers (the head is BF16)
  EXPECT_EQ(in_dist.uncalibrated_sites, 0u);
  st.deploy_outliers = o.deploy_outliers = 8;
  const NumericsResult shifted = model_numerics(m, f8, hw, st);
  const NumericsResult dynamic = model_numerics(m, f8, hw, o);
  EXPECT_GT(shifted.static_saturated, in_dist.static_saturated);
  EXPECT_GT(shifted.static_saturated, 0);
  EXPECT_LT(shifted.logits.sqnr_db, dynamic.logits.sqnr_db);
  EXPECT_EQ(dynamic.static_sites, 0u);
  // Comparing runs: a run against itself agrees everywhere.
  const LogitsAgreement self = compare_logits(dynamic.logits_values, dynamic.logits_values, dynamic.vocab);
  EXPECT_EQ(self.top1, 1.0);
  EXPECT_EQ(self.kl_mean, 0.0);
  // Sensitivity: layer 1 of 3 made outlier-heavy ranks first under NVFP4.
  o = small_replica();
  o.layers = 3;
  o.outlier_layer = 1;
  o.outlier_factor = 30;
  const NumericsResult base = model_numerics(m, QuantPlan::bf16(), hw, o);
  const QuantPlan nv = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16);
  std::vector<double> kl;
  for (int l = 0; l < 3; ++l) {
    NumericsOptions ol = o;
    ol.only_layer = l;
    kl.push_back(
        compare_logits(base.logits_values, model_numerics(m, nv, hw, ol).logits_values, base.vocab).kl_mean);
  }
  EXPECT_GT(kl[1], kl[0]);
  EXPECT_GT(kl[1], kl[2]);
  o.only_layer = 3;
  EXPECT_CONTAINS(input_error_of([&] { (void)model_numerics(m, nv, hw, o); }), "layers 0..2");
  // Every replica layer kept in BF16 (the head BF16 too): the BF16 plan's numbers exactly.
  o.only_layer.reset();
  QuantPlan kept = nv;
  kept.keep_layers = {0, 1, -1};
  const NumericsResult k = model_numerics(m, kept, hw, o);
  EXPECT_EQ(k.logits.rel_frobenius, base.logits.rel_frobenius);
  kept.keep_layers = {0};
  EXPECT_NE(model_numerics(m, kept, hw, o).logits.rel_frobenius, base.logits.rel_frobenius);
}

// #28's plan search: within its bits budget, the injected outlier-heavy band is the one kept, and
// the plan is no worse on the replica than the uniform plan of the same budget.
TEST(TransformerNumerics, PlanSearchKeepsTheSensitiveBandWithinItsBudget) {
  const ModelSpec m = load_model("llama-3.1-8b");  // 32 layers: replica layer i stands for 8i..8i+7
  const HwSpec hw = HwSpec::load("b200", {});
  NumericsOptions o = small_replica();
  o.layers = 4;
  o.tokens = 8;
  o.vocab = 256;
  o.outlier_layer = 2;
  o.outlier_factor = 30;
  const QuantPlan nv = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16);
  const PlanSearchResult r = search_plan(m, nv, Scheme::kBf16, 7.5, hw, o);
  ASSERT_EQ(r.layer_kl.size(), 4u);
  EXPECT_EQ(r.kept_replica, (std::vector<int>{2}));
  EXPECT_EQ(r.keep_layers, (std::vector<int64_t>{16, 17, 18, 19, 20, 21, 22, 23}));
  EXPECT_DOUBLE_EQ(r.bits, 4.5 + (16 - 4.5) / 4);  // one band of four at 16 bits
  EXPECT_LE(r.bits, 7.5);
  EXPECT_EQ(r.uniform, Scheme::kNvfp4);
  EXPECT_LE(r.kl, r.uniform_kl);
  EXPECT_FALSE(r.uniform_chosen);
  EXPECT_EQ(r.plan.keep_layers, r.keep_layers);
  EXPECT_EQ(r.plan.keep_format, Scheme::kBf16);
  // A budget below the format itself, or a kept format no more precise, is refused.
  EXPECT_CONTAINS(input_error_of([&] { (void)search_plan(m, nv, Scheme::kBf16, 4.0, hw, o); }),
                  "below nvfp4");
  EXPECT_CONTAINS(input_error_of([&] { (void)search_plan(m, nv, Scheme::kMxfp4, 8, hw, o); }),
                  "not more precise");
}

// Scales files name modules as checkpoints do; the replica's GEMM sites map to and from them.
TEST(TransformerNumerics, GemmSitesMapToCheckpointModules) {
  EXPECT_EQ(site_of_module("model.layers.3.self_attn.k_proj"), "l3.qkv");
  EXPECT_EQ(site_of_module("model.layers.0.mlp.up_proj"), "l0.gate_up");
  EXPECT_EQ(site_of_module("model.layers.2.mlp.experts.17.down_proj"), "l2.e17.down");
  EXPECT_EQ(site_of_module("model.layers.1.mlp.shared_experts.gate_proj"), "l1.shared.gate_up");
  EXPECT_EQ(site_of_module("model.layers.4.self_attn.kv_a_proj"), "l4.mla.kv_a");
  EXPECT_EQ(site_of_module("lm_head"), "head");
  for (const char* bad : {"model.layers.x.mlp.down_proj", "model.layers.99999999999999999999.mlp.down_proj",
                          "model.layers.1.mlp.w1", "transformer.h.0.mlp", "model.layers..mlp.down_proj"}) {
    EXPECT_FALSE(site_of_module(bad).has_value()) << bad;
  }
  for (const std::string site :
       {"l3.qkv", "l0.gate_up", "l2.e17.down", "l1.shared.gate_up", "l4.mla.kv_a", "head"}) {
    for (const std::string& m : modules_of_site(site)) EXPECT_EQ(site_of_module(m), site) << m;
  }
  EXPECT_EQ(modules_of_site("l3.qkv").size(), 3u);
}

TEST(TransformerNumerics, FormatsKeepTheirOrderThroughTheModel) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const HwSpec hw = HwSpec::load("b200", {});
  NumericsOptions o = small_replica();  // width below one GQA group (4 x 128): a whole group kept
  const auto run = [&](Scheme s) { return model_numerics(m, QuantPlan::uniform(s, KvFormat::kBf16), hw, o); };
  const NumericsResult bf = run(Scheme::kBf16);
  EXPECT_EQ(bf.hidden, 512);
  EXPECT_EQ(bf.heads, 4);
  EXPECT_EQ(bf.kv_heads, 1);
  EXPECT_EQ(bf.head_dim, 128);
  EXPECT_EQ(bf.ffn, 1792);  // 512 x 14336 / 4096
  ASSERT_EQ(bf.residual.size(), 2u);
  EXPECT_GT(bf.logits.sqnr_db, 40);
  EXPECT_EQ(bf.top1, 1.0);
  const NumericsResult f8 = run(Scheme::kFp8E4M3);
  const NumericsResult nv = run(Scheme::kNvfp4);
  const NumericsResult mx = run(Scheme::kMxfp4);
  EXPECT_GT(bf.logits.sqnr_db, f8.logits.sqnr_db);
  EXPECT_GT(f8.logits.sqnr_db, nv.logits.sqnr_db);
  EXPECT_GT(nv.logits.sqnr_db, mx.logits.sqnr_db);
  EXPECT_LT(f8.kl_mean, nv.kl_mean);
  EXPECT_LT(nv.kl_mean, mx.kl_mean);
  for (const ErrorMetrics& e : nv.residual) EXPECT_LT(e.sqnr_db, bf.residual.front().sqnr_db);
  // Seeded: the same numbers again.
  const NumericsResult again = run(Scheme::kNvfp4);
  EXPECT_EQ(again.logits.rel_frobenius, nv.logits.rel_frobenius);
  EXPECT_EQ(again.kl_mean, nv.kl_mean);
  // What the replica does not cover says so.
  const QuantPlan q = QuantPlan::uniform(Scheme::kNvfp4, KvFormat::kBf16);
  // MLA (DeepSeek-V3, its first layer dense): 5 heads of 128 + 64 over a 256 hidden size.
  o.layers = 1;
  const NumericsResult ds = model_numerics(load_model("deepseek-v3"), QuantPlan::bf16(), hw, o);
  EXPECT_EQ(ds.heads, 5);  // 128 x 256 / 7168
  EXPECT_GT(ds.logits.sqnr_db, 35);
  EXPECT_GT(ds.logits.sqnr_db, model_numerics(load_model("deepseek-v3"), q, hw, o).logits.sqnr_db + 10);
  o.layers = 2;
  // MoE: Mixtral's 8 experts, top 2, each token routed by a BF16 router.
  o.tokens = 8;
  const NumericsResult mx8 = model_numerics(load_model("mixtral-8x7b"), QuantPlan::bf16(), hw, o);
  EXPECT_EQ(mx8.experts, 8);
  EXPECT_EQ(mx8.top_k, 2);
  EXPECT_EQ(mx8.expert_ffn, 1792);  // 512 x 14336 / 4096
  EXPECT_GT(mx8.logits.sqnr_db, 35);
  EXPECT_GT(mx8.logits.sqnr_db, model_numerics(load_model("mixtral-8x7b"), q, hw, o).logits.sqnr_db + 10);
  o.width = 64;
  EXPECT_CONTAINS(input_error_of([&] { (void)model_numerics(m, q, hw, o); }), "--width 64");
}

}  // namespace
}  // namespace bwsim
