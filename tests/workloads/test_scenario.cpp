// Serving scenarios: TTFT from the prompt's chunks, decode and MTP throughput from their steps and
// the acceptance formula, capacity clamping and not-fitting models, and bad scenario files.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "tests/test_util.hpp"
#include "workloads/transformer/scenario.hpp"

namespace bwsim {
namespace {

namespace fs = std::filesystem;

class ScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_temp_dir("bwsim_scenario_");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text) {
    const fs::path p = dir_ / "s.toml";
    std::ofstream(p) << text;
    return p;
  }
  fs::path dir_;
};

const std::string kSmall = R"(name = "8B"
model = "llama-3.1-8b"
hw = "b200"
[quantization]
weights = "nvfp4"
kv_cache = "fp8_e4m3"
[serving]
concurrency = 8
prompt = 1536
output = 64
prefill_chunk = 1024
[mtp]
drafts = 2
acceptance_per_position = [0.9, 0.7]
[simulation]
gemm_finalists = 1
decode_samples = 3
)";

TEST_F(ScenarioTest, LatencyAndThroughputFollowTheSteps) {
  const Scenario s = load_scenario(write(kSmall), "", "", {}, {});
  const ScenarioResult r = run_scenario(s);
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.concurrency, 8);
  // Two chunks: 1024 then 512 tokens, the second seeing the whole 1536-token context.
  ASSERT_EQ(r.prefill_chunks.size(), 2u);
  EXPECT_EQ(r.prefill_chunks[1].shape.q_len, 512);
  EXPECT_EQ(r.prefill_chunks[1].shape.context, 1536);
  EXPECT_DOUBLE_EQ(r.ttft_s, r.prefill_chunks[0].time.seconds() + r.prefill_chunks[1].time.seconds());
  // Standard decode: one token per step per sequence.
  EXPECT_DOUBLE_EQ(r.decode.tokens_per_pass, 1.0);
  EXPECT_DOUBLE_EQ(r.decode.tokens_per_s_user, 1 / r.decode.itl_s);
  EXPECT_DOUBLE_EQ(r.decode.tokens_per_s_gpu, 8 / r.decode.itl_s);
  // MTP: 1 + 0.9 + 0.9 x 0.7 tokens per pass; a pass is the 3-token verify step plus two drafts.
  ASSERT_TRUE(r.mtp.has_value());
  EXPECT_DOUBLE_EQ(r.mtp->tokens_per_pass, 1 + 0.9 + 0.63);
  EXPECT_EQ(r.mtp->step.shape.q_len, 3);
  ASSERT_TRUE(r.mtp->draft.has_value());
  EXPECT_GT(r.mtp->pass_s, r.decode.pass_s);
  EXPECT_NEAR(r.mtp->itl_s, r.mtp->pass_s / 2.53, 1e-15);
  EXPECT_GT(r.mtp->tokens_per_s_user, 1.5 * r.decode.tokens_per_s_user);
  EXPECT_DOUBLE_EQ(r.e2e_s, r.ttft_s + 63 * r.mtp->itl_s);  // the prefill emits the first of 64 tokens
}

// [mtp.toy]: acceptance measured by the verify rules on a seeded toy LM, not assumed.
TEST_F(ScenarioTest, MtpAcceptanceFromAFunctionalSimulation) {
  std::string text = kSmall;
  text.replace(text.find("acceptance_per_position = [0.9, 0.7]"), 36,
               "[mtp.toy]\nrule = \"stochastic\"\ndraft_noise = 0.5\npasses = 20000");
  const Scenario s = load_scenario(write(text), "", "", {"simulation.timing=false"}, {});
  ASSERT_TRUE(s.mtp.toy.has_value());
  EXPECT_EQ(s.mtp.toy->rule, VerifyRule::kStochastic);
  const ScenarioResult r = run_scenario(load_scenario(write(text), "", "", {}, {}));
  ASSERT_TRUE(r.mtp.has_value());
  ASSERT_TRUE(r.mtp->measured.has_value());
  ASSERT_EQ(r.mtp->alpha.size(), 2u);
  EXPECT_EQ(r.mtp->measured->passes, 20000u);
  // The drafts are accepted at a similar rate at both positions (the toy LM's contexts are
  // independent), so the measured tokens per pass follow (1 - a^(k+1)) / (1 - a) within 2%.
  const double a = (r.mtp->alpha[0] + r.mtp->alpha[1]) / 2;
  EXPECT_GT(a, 0.6);
  EXPECT_LT(a, 0.95);
  EXPECT_NEAR(r.mtp->tokens_per_pass / expected_tokens_per_pass(a, 2), 1.0, 0.02);
  EXPECT_NEAR(r.mtp->tokens_per_pass, expected_tokens_per_pass(r.mtp->alpha), 1e-12);
  // Greedy: a noiseless draft is the target, every draft is accepted: k + 1 tokens per pass.
  const Scenario g =
      load_scenario(write(text), "", "", {"mtp.toy.rule=\"greedy\"", "mtp.toy.draft_noise=0"}, {});
  EXPECT_DOUBLE_EQ(run_scenario(g).mtp->tokens_per_pass, 3.0);
  // Both ways of giving acceptance at once, or bad toy keys: said, naming the key.
  EXPECT_CONTAINS(
      input_error_of([&] { (void)load_scenario(write(text), "", "", {"mtp.acceptance=0.5"}, {}); }),
      "not both");
  EXPECT_CONTAINS(input_error_of([&] { (void)load_scenario(write(text), "", "", {"mtp.toy.vocab=1"}, {}); }),
                  "mtp.toy.vocab");
  EXPECT_CONTAINS(
      input_error_of([&] { (void)load_scenario(write(text), "", "", {"mtp.toy.rule=\"nucleus\""}, {}); }),
      "expected one of: greedy, stochastic");
}

TEST_F(ScenarioTest, ExpertParallelismIsCheckedWhereItIsSet) {
  // ep is 1 or the TP degree, and needs a model with experts it divides.
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(write(kSmall), "", "", {"tp=2", "ep=4"}, {});
                  }),
                  "'ep'");
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(write(kSmall), "", "", {"tp=2", "ep=2"}, {});
                  }),
                  "has no experts to spread");
  const Scenario s = load_scenario(write(kSmall), "mixtral-8x7b", "", {"tp=2", "ep=2"}, {});
  EXPECT_EQ(s.ep, 2);
}

TEST_F(ScenarioTest, SampledDecodeContextsMatchEveryStep) {
  // Decode steps sampled at 3 contexts and interpolated against all 48 steps simulated: the mean
  // step time agrees within 1% (the fast-forward DESIGN.md asks a test for).
  const auto run = [&](const char* samples) {
    return run_scenario(
        load_scenario(write(kSmall), "", "",
                      {"serving.output=48", "serving.prompt=4000", "serving.prefill_chunk=4000",
                       std::string("simulation.decode_samples=") + samples},
                      {}));
  };
  const ScenarioResult all = run("0");
  const ScenarioResult sampled = run("3");
  EXPECT_NEAR(sampled.decode.pass_s / all.decode.pass_s, 1.0, 0.01);
  EXPECT_NEAR(sampled.mtp->pass_s / all.mtp->pass_s, 1.0, 0.01);
}

TEST_F(ScenarioTest, CapacityClampsAndNotFittingIsReported) {
  // More sequences than fit: run the ones that do, and say so. (5% of 180 GB leaves ~2 GB of KV
  // budget beside the NVFP4 8B: a few dozen 1600-token sequences.)
  const Scenario s = load_scenario(write(kSmall), "", "",
                                   {"serving.concurrency=1000", "serving.memory_utilization=0.05",
                                    "mtp.drafts=1", "mtp.acceptance_per_position=[0.5]"},
                                   {});
  const ScenarioResult r = run_scenario(s);
  EXPECT_EQ(r.concurrency, r.capacity.max_sequences);
  EXPECT_GT(r.concurrency, 10);
  EXPECT_LT(r.concurrency, 100);
  // BF16 70B on one H100: not fitting, with the smallest TP that does.
  const Scenario big =
      load_scenario(write(kSmall), "llama-3.1-70b", "h100", {"quantization.weights=\"bf16\""}, {});
  const ScenarioResult b = run_scenario(big);
  EXPECT_FALSE(b.fits);
  EXPECT_EQ(b.smallest_tp, 2);  // 70.5 GB of weights per GPU and 1600-token sequences fit two
  EXPECT_TRUE(b.prefill_chunks.empty());
}

TEST_F(ScenarioTest, BadScenariosSayWhereAndWhat) {
  EXPECT_CONTAINS(
      input_error_of([&] { (void)load_scenario(write(kSmall + "colour = 3\n"), "", "", {}, {}); }),
      "simulation.colour");
  std::string bad = kSmall;
  bad.replace(bad.find("[0.9, 0.7]"), 10, "[0.9]");
  EXPECT_CONTAINS(input_error_of([&] { (void)load_scenario(write(bad), "", "", {}, {}); }), "needs 2 values");
  EXPECT_CONTAINS(
      input_error_of([&] { (void)load_scenario(write(kSmall), "", "", {"serving.output=0"}, {}); }),
      "serving.output");
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(write(kSmall), "", "", {"quantization.weights=\"fp5\""}, {});
                  }),
                  "fp5");
  EXPECT_CONTAINS(input_error_of([&] { (void)load_scenario(write(kSmall), "nosuch", "", {}, {}); }),
                  "nosuch");
  // Kept layers (#28): the "edges" preset is the first and last blocks; indices are checked
  // against the model; a kept format the GPU has no kernel for fails at its key.
  const Scenario edges = load_scenario(write(kSmall), "", "", {"quantization.preset=\"edges\""}, {});
  EXPECT_EQ(edges.quant.keep_layers, (std::vector<int64_t>{0, -1}));
  EXPECT_EQ(edges.quant.keep_format, Scheme::kBf16);
  EXPECT_EQ(edges.quant.scheme(WeightClass::kLmHead), Scheme::kBf16);
  // Without a preset `weights` covers lm_head; "modelopt" keeps it BF16 (Model Optimizer's default
  // exclusions) unless the lm_head key says otherwise.
  const Scenario plain = load_scenario(write(kSmall), "", "", {}, {});
  EXPECT_EQ(plain.quant.scheme(WeightClass::kLmHead), Scheme::kNvfp4);
  const Scenario mo = load_scenario(write(kSmall), "", "", {"quantization.preset=\"modelopt\""}, {});
  EXPECT_EQ(mo.quant.scheme(WeightClass::kLmHead), Scheme::kBf16);
  EXPECT_EQ(mo.quant.scheme(WeightClass::kMlp), Scheme::kNvfp4);
  EXPECT_TRUE(mo.quant.keep_layers.empty());
  const Scenario mo_head = load_scenario(
      write(kSmall), "", "", {"quantization.preset=\"modelopt\"", "quantization.lm_head=\"fp8_e4m3\""}, {});
  EXPECT_EQ(mo_head.quant.scheme(WeightClass::kLmHead), Scheme::kFp8E4M3);
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(write(kSmall), "", "", {"quantization.keep_layers=[0, 32]"}, {});
                  }),
                  "keep_layers 32");
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(write(kSmall), "", "",
                                        {"quantization.preset=\"edges\"", "quantization.keep_layers=[1]"},
                                        {});
                  }),
                  "give one or the other");
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(write(kSmall), "", "", {"quantization.preset=\"middle\""}, {});
                  }),
                  "quantization.preset");
}

// The default scenario's model on consumer Blackwell (#22): the RTX PRO 6000 (96 GB, 99 KiB of
// SMEM per CTA) and two RTX 5090s (32 GB each, TP over PCIe) run it with BF16, FP8 and NVFP4 KV
// caches; a narrower cache decodes no slower.
TEST_F(ScenarioTest, DefaultModelRunsOnConsumerBlackwellWithEveryKvFormat) {
  const fs::path file = fs::path(BWSIM_CONFIG_DIR_FOR_TESTS) / "scenarios/llama70b-nvfp4-b200.toml";
  for (const char* hw : {"rtx-pro-6000", "rtx5090"}) {
    double bf16_itl = 0;
    StepCache cache;  // one GPU's GEMMs, shared by its three runs
    for (const char* kv : {"bf16", "fp8_e4m3", "nvfp4"}) {
      // One GEMM plan per shape: the test is about fitting and the KV formats' attention.
      std::vector<std::string> sets{"mtp.drafts=0",
                                    "simulation.decode_samples=2",
                                    "serving.concurrency=8",
                                    "serving.prompt=512",
                                    "serving.output=64",
                                    "simulation.gemm_finalists=1",
                                    fmt::format("quantization.kv_cache=\"{}\"", kv)};
      if (std::string(hw) == "rtx5090") sets.emplace_back("tp=2");
      const Scenario s = load_scenario(file, "", hw, sets, {});
      const ScenarioResult r = run_scenario(s, nullptr, &cache);
      SCOPED_TRACE(fmt::format("{} KV {}", hw, kv));
      ASSERT_TRUE(r.fits);
      ASSERT_TRUE(r.timed);
      EXPECT_GT(r.decode.itl_s, 0);
      if (std::string(kv) == "bf16") bf16_itl = r.decode.itl_s;
      EXPECT_LE(r.decode.itl_s, bf16_itl * 1.005);
    }
  }
}

TEST_F(ScenarioTest, ShippedScenariosLoadAndClaimsAreJudged) {
  // Every scenario in configs/scenarios parses (a config that rots fails here, not in front of a user).
  const fs::path dir = fs::path(BWSIM_CONFIG_DIR_FOR_TESTS) / "scenarios";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".toml") continue;
    EXPECT_NO_THROW((void)load_scenario(e.path(), "", "", {}, {})) << e.path();
    ++n;
  }
  EXPECT_GE(n, 8);
  // A capacity claim: 15 16K-token conversations of a NVFP4 32B on 96 GB, inside 12-16.
  const Scenario s = load_scenario(dir / "claims-32b-chat-nvfp4-96gb.toml", "", "", {}, {});
  ASSERT_EQ(s.claims.size(), 1u);
  EXPECT_EQ(s.claims[0].metric, "max_concurrency");
  EXPECT_FALSE(s.timing);
  const ScenarioResult r = run_scenario(s);
  EXPECT_FALSE(r.timed);
  EXPECT_EQ(claim_value(s, r, "max_concurrency"), 15);
  EXPECT_TRUE(std::isnan(claim_value(s, r, "ttft_ms")));  // timing off
  // A misspelt metric is an unknown key; a range upside down is refused.
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(
                        write(kSmall + "[claims]\nspeed = { claimed = \"x\", low = 1, high = 2 }\n"), "", "",
                        {}, {});
                  }),
                  "claims.speed");
  EXPECT_CONTAINS(input_error_of([&] {
                    (void)load_scenario(
                        write(kSmall + "[claims]\nttft_ms = { claimed = \"x\", low = 3, high = 2 }\n"), "",
                        "", {}, {});
                  }),
                  "must be >= low");
}

}  // namespace
}  // namespace bwsim
