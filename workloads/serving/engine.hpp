// Request-level serving (#23): requests arrive, a scheduler admits them while KV-cache blocks
// last, builds each step from decode tokens and prefill chunks, and preempts when blocks run out;
// a step's time comes from a StepCost (the GPU model). Deterministic: one event loop, no threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "workloads/serving/traffic.hpp"

namespace bwsim::serving {

/// One sequence's share of a step: `q_len` new tokens attending to `context` tokens in all
/// (the KV cache after the step, the new ones included).
struct SeqWork {
  int64_t q_len = 0;
  int64_t context = 0;
  bool verify = false;  // an MTP verify pass: its last token and q_len - 1 drafts
};

/// What one forward pass runs.
struct Batch {
  std::vector<SeqWork> seqs;
  double extra_s = 0;  // swap traffic charged to this step
  [[nodiscard]] int64_t tokens() const;
  [[nodiscard]] int64_t decodes() const;  // sequences decoding (one token, or an MTP verify pass)
};

/// Seconds one step takes.
using StepCost = std::function<double(const Batch&)>;

enum class Policy : uint8_t {
  // vLLM V1's scheduler (vllm/v1/core/sched/scheduler.py): running requests first (decodes and
  // unfinished prefill chunks), then waiting ones, all within max_num_batched_tokens; prompts
  // are chunked to fit the budget.
  kContinuous,
  // Sarathi-Serve's stall-free batching (Agrawal et al., OSDI 2024): decodes first, prefills
  // chunked to fill a small token budget (the chunk size, 512 by default) so that no decode
  // stalls behind a long prompt. The same mechanism as kContinuous with its own budget.
  kSarathi,
  // vLLM V0 without chunked prefill: a step holds whole prompts only (no decodes) whenever a
  // waiting request fits, else every running request decodes.
  kPrefillFirst,
  // Static batching (bwsim run): admit up to max_num_seqs, run them to the end, then the next.
  kStatic,
};

enum class Preemption : uint8_t {
  kRecompute,  // free the victim's blocks; it re-prefills its prompt and tokens so far later
  kSwap,       // copy its blocks to host memory and back (charged at swap_bytes_per_s)
};

// Data-parallel replicas behind a router (vLLM's and SGLang's DP routers): each arrival goes to
// one replica, which schedules it with its own KV cache and steps.
enum class Router : uint8_t {
  kRoundRobin,   // arrival i to replica i mod n
  kLeastLoaded,  // to the replica holding the fewest requests (running, waiting or swapped)
};

// What admission asks of the KV cache.
enum class Admission : uint8_t {
  // The blocks the request's next tokens need (vLLM): more requests run at once, and a request
  // whose growth finds no free block preempts the last admitted.
  kAsNeeded,
  // The blocks of its whole prompt and answer (TensorRT-LLM's default capacity scheduler policy,
  // GUARANTEED_NO_EVICT): fewer run at once, and none is ever preempted.
  kReserveAll,
};

struct SchedulerConfig {
  Policy policy = Policy::kContinuous;
  int64_t max_num_batched_tokens = 8192;
  int64_t max_num_seqs = 256;
  // kContinuous: prompts are chunked to fit the step's token budget; false: a prompt is prefilled
  // whole in one step or waits for one with room (TensorRT-LLM's PyTorch backend by default,
  // enable_chunked_prefill false).
  bool chunked_prefill = true;
  int64_t block_size = 16;  // tokens per KV block
  int64_t num_blocks = 0;   // KV capacity in blocks (> 0)
  Preemption preemption = Preemption::kRecompute;
  Admission admission = Admission::kAsNeeded;
  double kv_bytes_per_token = 0;  // for swap time
  double swap_bytes_per_s = 0;    // host link, one direction
  // Prefix caching: a request shares its first `shared_prefix` prompt tokens (whole blocks) with
  // earlier ones with probability `prefix_hit_rate` (seeded per request).
  double prefix_hit_rate = 0;
  int64_t shared_prefix = 0;
  // Multi-token prediction, per request: a decoding request verifies its last token and up to
  // `mtp_drafts` drafted ones in one pass (never drafting past its answer's end) and keeps the
  // drafts up to the first rejected one, draft i accepted with probability mtp_alpha[i] given
  // the ones before it (seeded per request and pass).
  int mtp_drafts = 0;
  std::vector<double> mtp_alpha;
  int64_t replicas = 1;  // each with num_blocks of its own
  Router router = Router::kLeastLoaded;
  // Disaggregated prefill and decode (DistServe, Splitwise; NVIDIA Dynamo, llm-d): > 0 prefill
  // replicas take every arrival and run its prompt (emitting its first token), then send its KV
  // over a link of kv_transfer_bytes_per_s (per GPU, one way, each prefill replica's link one
  // transfer at a time) plus kv_transfer_latency_s to the least-loaded of the `replicas` decode
  // replicas, which decode the rest. A prefill replica frees the blocks when the transfer ends.
  int64_t prefill_replicas = 0;
  double kv_transfer_bytes_per_s = 0;
  double kv_transfer_latency_s = 0;
  /// Every replica, of both pools.
  [[nodiscard]] int64_t total_replicas() const { return replicas + prefill_replicas; }
};

struct TrafficConfig {
  Arrivals arrivals;
  LengthDist prompt;
  LengthDist output;
  int64_t requests = 100;  // open and closed loops: how many
  double duration_s = 0;   // if > 0, no arrival after it
  uint64_t seed = 1;
  std::vector<Request> trace;  // Arrivals::kTrace
};

struct RequestRecord {
  int64_t id = 0;
  double arrival_s = 0;
  int64_t prompt = 0;
  int64_t output = 0;
  double first_token_s = -1;
  double finish_s = -1;
  double admitted_s = -1;       // first scheduled
  int64_t replica = 0;          // the data-parallel replica that served it (disaggregated: its prefill's)
  int64_t decode_replica = -1;  // disaggregated: the decode replica it went to (-1: none)
  int64_t emitted = 0;          // tokens delivered (== output when finished)
  int64_t preemptions = 0;
  bool prefix_hit = false;
  [[nodiscard]] double ttft() const { return first_token_s - arrival_s; }
  [[nodiscard]] double e2e() const { return finish_s - arrival_s; }
  /// Time per output token after the first (0 for one-token answers).
  [[nodiscard]] double tpot() const {
    return output > 1 ? (finish_s - first_token_s) / static_cast<double>(output - 1) : 0.0;
  }
};

// As a step starts, all replicas together.
struct TimelinePoint {
  double t_s = 0;
  int64_t used_blocks = 0;
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t preemptions = 0;  // so far
};

struct ServeResult {
  std::vector<RequestRecord> requests;  // by id
  // Every gap between consecutive deliveries to a request (an MTP pass delivers its accepted
  // drafts and the next token at once, one gap, as a streaming client measures it).
  std::vector<float> itl_s;
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t peak_blocks = 0;  // the most any one replica held
  double end_s = 0;         // when the last request finished
  double busy_s = 0;        // time spent in steps, summed over replicas
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;
  int64_t verify_passes = 0;    // MTP
  int64_t drafts_verified = 0;  // draft tokens checked in them
  int64_t drafts_accepted = 0;
  std::vector<TimelinePoint> timeline;  // at most ~4096 points, evenly thinned
};

/// Runs the traffic through the scheduler; `on_finish` (optional) is called as each request
/// finishes. InputError for a configuration that cannot serve (a request whose prompt and answer
/// need more blocks than exist, a zero budget).
ServeResult serve(const TrafficConfig& traffic, const SchedulerConfig& sched, const StepCost& cost,
                  const std::function<void()>& on_finish = {});

struct Percentiles {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
/// numpy.percentile's linear rule; zeros for an empty set.
Percentiles percentiles(std::vector<double> v);

struct ServeSummary {
  int64_t finished = 0;
  Percentiles ttft_s, tpot_s, itl_s, e2e_s;
  double output_tokens_per_s = 0;
  double total_tokens_per_s = 0;
  double requests_per_s = 0;
  double goodput_requests_per_s = 0;  // requests meeting both SLOs, per second
  double slo_attainment = 0;          // their fraction
};

/// Summary over finished requests; an SLO of 0 is no bound.
ServeSummary summarize(const ServeResult& r, double slo_ttft_s, double slo_tpot_s);

}  // namespace bwsim::serving
