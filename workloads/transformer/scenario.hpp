// A serving scenario (configs/scenarios/*.toml): a model under a quantization plan on a GPU (or
// a TP group), `concurrency` sequences each prefilling a prompt in chunks and decoding `output`
// tokens, optionally with MTP drafting. The run reports what users and operators ask: time to
// first token, inter-token latency, tokens/s per user and per GPU, the step's kernel breakdown,
// the memory footprint and the largest concurrency that fits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "models/hw_spec.hpp"
#include "workloads/mtp/acceptance.hpp"
#include "workloads/serving/spec.hpp"
#include "workloads/transformer/capacity.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/quant_plan.hpp"
#include "workloads/transformer/step.hpp"

namespace bwsim {

struct MtpSpec {
  int drafts = 0;             // k tokens drafted per pass (0: no MTP)
  std::vector<double> alpha;  // per-position acceptance (a constant repeated k times)
  bool modules = true;        // DeepSeek sequential modules (one decoder layer each); else parallel heads
  /// [mtp.toy]: acceptance measured by running the verify rule on a seeded toy LM instead.
  struct Toy {
    ToyLm lm;
    VerifyRule rule = VerifyRule::kStochastic;
    uint64_t passes = 20000;
  };
  std::optional<Toy> toy;
};

/// A published claim the scenario checks: the metric's simulated value against the claimed range.
struct Claim {
  std::string metric;   // one of claim_metrics()
  std::string claimed;  // as published ("~35 GB", "12-16 conversations")
  double low = 0, high = 0;
};
/// Metric names a claim may test, with what each measures.
const std::vector<std::pair<std::string, std::string>>& claim_metrics();

struct Scenario {
  std::string name;
  std::string source;
  ModelSpec model;
  HwSpec hw;
  QuantPlan quant;
  int tp = 1;
  int ep = 1;  // expert parallelism: 1 or tp (StepOptions::ep)
  int64_t concurrency = 1;
  int64_t prompt = 1024;
  int64_t output = 256;
  int64_t prefill_chunk = 8192;
  double memory_utilization = 0.9;
  double expert_imbalance = 1.0;
  size_t gemm_finalists = 0;
  int decode_samples = 5;  // contexts at which decode steps are simulated, linear between (0: all)
  bool timing = true;      // false: memory and capacity only
  MtpSpec mtp;
  std::vector<Claim> claims;
  serving::ServingSpec serve;  // [traffic], [scheduler], [slo]: what bwsim serve runs
};

/// Loads a scenario file. `model` / `hw` (when non-empty) replace the file's; `sets` override
/// scenario keys ("serving.concurrency=64"), `hw_sets` hardware keys. Errors name file, line, key.
Scenario load_scenario(const std::filesystem::path& file, const std::string& model, const std::string& hw,
                       const std::vector<std::string>& sets, const std::vector<std::string>& hw_sets);

struct DecodeResult {
  double itl_s = 0;            // mean time between tokens of one sequence
  double pass_s = 0;           // mean step (or verify pass, drafts included) time
  double tokens_per_pass = 1;  // emitted per sequence per step
  double tokens_per_s_user = 0;
  double tokens_per_s_gpu = 0;
  double pass_j = 0;            // energy of one GPU over a mean pass (drafts included)
  double avg_power_w = 0;       // one GPU's average power while decoding
  double joules_per_token = 0;  // the TP group's energy per emitted token
  double tokens_per_joule = 0;
  StepTiming step;                          // at the mean context (the verify step with MTP)
  std::optional<StepTiming> draft;          // one draft module / head step (MTP)
  std::vector<double> alpha;                // MTP: per-position acceptance used
  std::optional<AcceptanceStats> measured;  // MTP with [mtp.toy]: the functional simulation's counts
};

struct ScenarioResult {
  Capacity capacity;
  int smallest_tp = 0;      // when the model does not fit at the scenario's TP
  int64_t concurrency = 0;  // run: the requested one, or what fits
  bool fits = false;
  bool timed = false;  // steps simulated (fits and scenario timing on)
  double ttft_s = 0;   // prefill of one prompt, chunk by chunk
  std::vector<StepTiming> prefill_chunks;
  DecodeResult decode;  // standard decode
  std::optional<DecodeResult> mtp;
  double e2e_s = 0;  // TTFT + (output - 1) x ITL (with MTP when configured): the prefill emits the first
};

/// The step options the scenario's steps run with: its TP and EP degrees, expert imbalance and
/// GEMM finalists.
StepOptions scenario_step_options(const Scenario& s);

/// Runs the scenario; with `trace`, every simulated kernel is recorded (StepKernel::trace).
/// `shared` (optional) carries simulated kernels across runs of the same model, quantization plan,
/// GPU, TP degree and GEMM finalists (kernels are keyed by name and shape only).
ScenarioResult run_scenario(const Scenario& s, const TraceOptions* trace = nullptr,
                            StepCache* shared = nullptr);

/// A claim metric's simulated value; NaN where the run has none (MTP metrics without MTP, latency
/// when the model does not fit).
double claim_value(const Scenario& s, const ScenarioResult& r, const std::string& metric);

}  // namespace bwsim
