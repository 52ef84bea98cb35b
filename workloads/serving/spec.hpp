// What a scenario's [traffic], [scheduler] and [slo] tables ask of a serving run (#23). Every
// table is optional: without them a scenario serves a closed loop of [serving] concurrency users,
// each sending prompts and answers of the [serving] lengths, through vLLM V1's scheduler.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "workloads/serving/engine.hpp"

namespace bwsim {
class ConfigReader;
}

namespace bwsim::serving {

struct ServingSpec {
  TrafficConfig traffic;
  // KV capacity, swap bytes per token and MTP are filled in when the scenario runs (they follow
  // from the model, the plan and the GPU).
  SchedulerConfig scheduler;
  bool cuda_graphs = true;                // pad small batches to the captured sizes
  std::vector<int64_t> cuda_graph_sizes;  // empty: vLLM's (largest min(2 x max_num_seqs, 512))
  bool cuda_graph_mixed = true;           // steps with prefill tokens run in graphs too (vLLM V1)
  bool cuda_graph_head = false;           // the lm_head runs in the graph, padded (TensorRT-LLM)
  // > 0: the KV cache is this share of what the HBM leaves beside weights and workspace
  // (TensorRT-LLM's kv_cache_free_gpu_mem_fraction) instead of memory_utilization x HBM minus them.
  double kv_cache_free_fraction = 0;
  double slo_ttft_s = 0;  // 0: no bound
  double slo_tpot_s = 0;
  double slo_attainment = 0.9;  // --find-max-rate: the share of requests that must meet the SLO
  /// One line each, for reports: "closed loop: 32 users, ..." and "continuous (vLLM V1) ...".
  [[nodiscard]] std::string traffic_text() const;
  [[nodiscard]] std::string scheduler_text() const;
};

/// The serving keys of the scenario `file`, read from its root reader; the [serving] table's
/// `concurrency`, `prompt`, `output` and `prefill_chunk` give the defaults. A trace path is
/// relative to the scenario's folder. InputError naming file, line and key for anything wrong.
ServingSpec read_serving_spec(ConfigReader& root, const std::filesystem::path& file, int64_t concurrency,
                              int64_t prompt, int64_t output, int64_t prefill_chunk);

/// The policy's name as a scenario spells it ("continuous", "sarathi", "prefill-first", "static").
const char* policy_name(Policy p);

}  // namespace bwsim::serving
