#include "workloads/serving/spec.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>

#include "sim/config.hpp"
#include "sim/errors.hpp"
#include "sim/units.hpp"

namespace bwsim::serving {
namespace {

namespace fs = std::filesystem;

// A file a scenario names: beside the scenario when relative and found there, else as given.
std::string beside(const fs::path& scenario, const std::string& name) {
  const fs::path given(name);
  const fs::path there = scenario.parent_path() / given;
  if (!given.is_absolute() && fs::exists(there)) return there.string();
  return name;
}

LengthDist read_length(ConfigReader& c, const fs::path& file, std::string_view key, int64_t dflt,
                       std::string_view doc) {
  std::string text = c.opt_text(key, std::to_string(dflt), doc);
  if (text.rfind("file:", 0) == 0) text = "file:" + beside(file, text.substr(5));
  return parse_length_dist(text, fmt::format("{} '{}'", c.where(key), c.path_of(key)));
}

constexpr std::array<std::pair<std::string_view, Arrivals::Kind>, 4> kArrivals{{
    {"closed", Arrivals::Kind::kClosed},
    {"poisson", Arrivals::Kind::kPoisson},
    {"gamma", Arrivals::Kind::kGamma},
    {"trace", Arrivals::Kind::kTrace},
}};
constexpr std::array<std::pair<std::string_view, Policy>, 4> kPolicies{{
    {"continuous", Policy::kContinuous},
    {"sarathi", Policy::kSarathi},
    {"prefill-first", Policy::kPrefillFirst},
    {"static", Policy::kStatic},
}};
constexpr std::array<std::pair<std::string_view, Admission>, 2> kAdmissions{{
    {"as-needed", Admission::kAsNeeded},
    {"reserve-all", Admission::kReserveAll},
}};
constexpr std::array<std::pair<std::string_view, Router>, 2> kRouters{{
    {"least-loaded", Router::kLeastLoaded},
    {"round-robin", Router::kRoundRobin},
}};
constexpr std::array<std::pair<std::string_view, Preemption>, 2> kPreemptions{{
    {"recompute", Preemption::kRecompute},
    {"swap", Preemption::kSwap},
}};

}  // namespace

const char* policy_name(Policy p) {
  for (const auto& [n, v] : kPolicies)
    if (v == p) return n.data();
  return "?";
}

ServingSpec read_serving_spec(ConfigReader& root, const fs::path& file, int64_t concurrency, int64_t prompt,
                              int64_t output, int64_t prefill_chunk) {
  ServingSpec s;
  {
    ConfigReader c = root.opt_section(
        "traffic", "who arrives when (default: a closed loop of [serving] concurrency users)");
    TrafficConfig& t = s.traffic;
    c.opt_enum("arrivals", t.arrivals.kind, Arrivals::Kind::kClosed, kArrivals,
               "closed (a fixed number of users, each sending its next request when the last ends), "
               "poisson, gamma (bursty when cv > 1) or trace (from a file)");
    const Arrivals::Kind k = t.arrivals.kind;
    const bool open = k == Arrivals::Kind::kPoisson || k == Arrivals::Kind::kGamma;
    c.opt("users", t.arrivals.users, concurrency, "closed loop: concurrent users");
    c.range("users", t.arrivals.users, int64_t{1}, int64_t{1} << 20);
    Duration think{};
    c.opt("think", think, Duration{}, "closed loop: a user's pause between an answer and the next request");
    t.arrivals.think_s = think.tick.seconds();
    c.check(!c.has("users") || k == Arrivals::Kind::kClosed, "users", "only a closed loop has users");
    c.check(!c.has("think") || k == Arrivals::Kind::kClosed, "think", "only a closed loop has a think time");
    c.opt("rate", t.arrivals.rate, 0.0, "poisson / gamma: requests per second");
    c.check(!c.has("rate") || open, "rate", "only poisson and gamma arrivals have a rate");
    c.check(!open || t.arrivals.rate > 0, "rate", "poisson and gamma arrivals need a rate > 0 (requests/s)");
    c.opt("cv", t.arrivals.cv, 1.0, "gamma: coefficient of variation of the gaps (1: Poisson, > 1: bursty)");
    c.check(!c.has("cv") || k == Arrivals::Kind::kGamma, "cv", "only gamma arrivals have a cv");
    c.check(t.arrivals.cv > 0 && t.arrivals.cv <= 100, "cv", "expected 0 < cv <= 100");
    Duration duration{};
    c.opt("duration", duration, Duration{}, "no arrival after this time (0: until `requests` have arrived)");
    t.duration_s = duration.tick.seconds();
    c.check(t.duration_s >= 0, "duration", "must be >= 0");
    const int64_t dflt_requests = k == Arrivals::Kind::kClosed ? 4 * t.arrivals.users : 0;
    c.opt("requests", t.requests, dflt_requests,
          "requests sent in all (closed loop: 4 x users by default; poisson / gamma: give requests or "
          "duration)");
    if (open && !c.has("requests")) {
      c.check(t.duration_s > 0, "requests", "poisson and gamma arrivals need `requests` or `duration`");
      // Bounded by the duration: at most rate x duration plus a margin no Poisson draw exceeds.
      t.requests = static_cast<int64_t>(t.arrivals.rate * t.duration_s * 2 + 1000);
    }
    c.check(k == Arrivals::Kind::kTrace || t.requests >= 1, "requests", "must be >= 1");
    c.range("requests", t.requests, int64_t{0}, int64_t{100000000});
    int64_t seed = 1;
    c.opt("seed", seed, int64_t{1}, "seed of arrivals, lengths, prefix hits and MTP acceptance");
    c.check(seed >= 0, "seed", "must be >= 0");
    t.seed = static_cast<uint64_t>(seed);
    t.prompt = read_length(c, file, "prompt", prompt,
                           "prompt tokens: N, uniform:LO:HI, normal:MEAN:SD, lognormal:MEDIAN:SIGMA, "
                           "zipf:S:LO:HI or file:PATH (default: serving.prompt)");
    t.output = read_length(c, file, "output", output, "answer tokens, as prompt (default: serving.output)");
    std::string trace;
    c.opt("trace", trace, std::string(), "trace: a CSV or JSONL file of arrival_s, prompt, output");
    c.check(trace.empty() || k == Arrivals::Kind::kTrace, "trace",
            "set arrivals = \"trace\" to replay a file");
    c.check(!trace.empty() || k != Arrivals::Kind::kTrace, "trace",
            "arrivals = \"trace\" needs a trace file");
    if (!trace.empty()) {
      c.check(!c.has("prompt") && !c.has("output"), "trace",
              "a trace gives the lengths: drop prompt / output");
      t.trace = read_trace(beside(file, trace));
      if (c.has("requests") && std::ssize(t.trace) > t.requests)
        t.trace.resize(static_cast<size_t>(t.requests));
      t.requests = std::ssize(t.trace);
    }
  }
  {
    ConfigReader c = root.opt_section("scheduler", "how requests share the GPU (default: vLLM V1's)");
    SchedulerConfig& q = s.scheduler;
    c.opt_enum("policy", q.policy, Policy::kContinuous, kPolicies,
               "continuous (vLLM V1, chunked prefill), sarathi (Sarathi-Serve stall-free batching), "
               "prefill-first (vLLM V0, whole prompts first) or static (bwsim run's batch)");
    c.opt("max_num_batched_tokens", q.max_num_batched_tokens,
          q.policy == Policy::kSarathi ? int64_t{512} : prefill_chunk,
          "tokens per step (default: serving.prefill_chunk; sarathi: 512, its paper's chunk)");
    c.range("max_num_batched_tokens", q.max_num_batched_tokens, int64_t{1}, int64_t{1} << 20);
    c.opt("max_num_seqs", q.max_num_seqs,
          q.policy == Policy::kStatic ? concurrency : std::max<int64_t>(256, concurrency),
          "sequences per step (vLLM's default 256, or the concurrency if larger; static: the concurrency)");
    c.range("max_num_seqs", q.max_num_seqs, int64_t{1}, int64_t{1} << 20);
    c.opt("chunked_prefill", q.chunked_prefill, q.policy != Policy::kPrefillFirst,
          "continuous: chunk prompts to fit a step's token budget (vLLM V1); false: a prompt is "
          "prefilled whole in one step, or waits (TensorRT-LLM's default)");
    c.check(!c.has("chunked_prefill") || q.policy == Policy::kContinuous ||
                (q.policy == Policy::kSarathi && q.chunked_prefill),
            "chunked_prefill",
            "applies to the continuous policy (sarathi always chunks; prefill-first never does)");
    c.opt("kv_cache_free_fraction", s.kv_cache_free_fraction, 0.0,
          "the KV cache takes this share of the memory left after weights and workspace (TensorRT-LLM's "
          "kv_cache_free_gpu_mem_fraction), instead of what memory_utilization leaves (vLLM); 0: unset");
    c.check(s.kv_cache_free_fraction >= 0 && s.kv_cache_free_fraction <= 1, "kv_cache_free_fraction",
            "expected a fraction in (0, 1] (0: unset)");
    c.opt("block_size", q.block_size, int64_t{16}, "tokens per KV-cache block (vLLM's default 16)");
    c.range("block_size", q.block_size, int64_t{1}, int64_t{1} << 16);
    c.opt_enum("preemption", q.preemption, Preemption::kRecompute, kPreemptions,
               "when blocks run out: recompute (vLLM's default) or swap to host memory");
    c.opt_enum(
        "admission", q.admission, Admission::kAsNeeded, kAdmissions,
        "KV blocks taken at admission: as-needed (vLLM: the next tokens', preempting when growth "
        "finds none) or reserve-all (TensorRT-LLM's GUARANTEED_NO_EVICT: the whole prompt and answer)");
    Bandwidth swap{};
    c.opt("swap_bandwidth", swap, Bandwidth{},
          "swap: the host link, one direction (e.g. \"64 GB/s\" for PCIe 5 x16)");
    c.check(q.preemption != Preemption::kSwap || swap.bytes_per_s > 0, "swap_bandwidth",
            "swap preemption needs the host link's bandwidth");
    q.swap_bytes_per_s = static_cast<double>(swap.bytes_per_s);
    c.opt("prefix_hit_rate", q.prefix_hit_rate, 0.0,
          "share of requests whose first shared_prefix prompt tokens are cached (prefix caching)");
    c.range("prefix_hit_rate", q.prefix_hit_rate, 0.0, 1.0);
    c.opt("shared_prefix", q.shared_prefix, int64_t{0},
          "tokens of the common prompt prefix (a system prompt)");
    c.range("shared_prefix", q.shared_prefix, int64_t{0}, int64_t{1} << 30);
    c.opt("replicas", q.replicas, int64_t{1},
          "data-parallel replicas, each a TP group of `tp` GPUs with its own KV cache, behind a router");
    c.range("replicas", q.replicas, int64_t{1}, int64_t{4096});
    c.opt_enum("router", q.router, Router::kLeastLoaded, kRouters,
               "replicas: least-loaded (the one holding the fewest requests) or round-robin");
    c.opt("prefill_replicas", q.prefill_replicas, int64_t{0},
          "disaggregated serving: replicas that only prefill, sending each request's KV to the "
          "`replicas` decode replicas (0: every replica does both)");
    c.range("prefill_replicas", q.prefill_replicas, int64_t{0}, int64_t{4096});
    Bandwidth transfer{};
    c.opt("kv_transfer_bandwidth", transfer, Bandwidth{},
          "disaggregated: the KV link per GPU, one way (e.g. \"450 GB/s\" for NVLink 5, \"50 GB/s\" for "
          "400 Gb/s InfiniBand)");
    q.kv_transfer_bytes_per_s = static_cast<double>(transfer.bytes_per_s);
    c.check(q.prefill_replicas == 0 || q.kv_transfer_bytes_per_s > 0, "kv_transfer_bandwidth",
            "disaggregated serving (prefill_replicas > 0) needs the KV link's bandwidth");
    c.check(q.prefill_replicas > 0 || !c.has("kv_transfer_bandwidth"), "kv_transfer_bandwidth",
            "applies to disaggregated serving: set prefill_replicas");
    Duration transfer_latency{};
    c.opt("kv_transfer_latency", transfer_latency, Duration{},
          "disaggregated: a KV transfer's fixed latency (connection, first byte)");
    q.kv_transfer_latency_s = transfer_latency.tick.seconds();
    c.check(q.kv_transfer_latency_s >= 0, "kv_transfer_latency", "must be >= 0");
    c.check(q.prefill_replicas > 0 || !c.has("kv_transfer_latency"), "kv_transfer_latency",
            "applies to disaggregated serving: set prefill_replicas");
    c.opt("cuda_graphs", s.cuda_graphs, true,
          "pad a step of up to the largest captured size to the next one (CUDA graphs); false: none");
    c.opt("cuda_graph_sizes", s.cuda_graph_sizes, std::vector<int64_t>{},
          "the captured batch sizes, ascending (default: vLLM's 1, 2, 4, every 8 to 248, every 16 from "
          "256 to min(2 x max_num_seqs, 512))");
    for (size_t i = 0; i < s.cuda_graph_sizes.size(); ++i) {
      c.check(s.cuda_graph_sizes[i] >= 1 && s.cuda_graph_sizes[i] <= (int64_t{1} << 20), "cuda_graph_sizes",
              "sizes must lie in 1 .. 1048576");
      c.check(i == 0 || s.cuda_graph_sizes[i] > s.cuda_graph_sizes[i - 1], "cuda_graph_sizes",
              "sizes must be ascending, each once");
    }
    c.check(s.cuda_graphs || !c.has("cuda_graph_sizes"), "cuda_graph_sizes",
            "lists graph sizes with cuda_graphs = false");
    c.opt("cuda_graph_head", s.cuda_graph_head, false,
          "the lm_head runs inside the graph for the padded batch (TensorRT-LLM); false: on the sampled "
          "rows alone after it (vLLM V1's compute_logits)");
    c.opt("cuda_graph_mixed", s.cuda_graph_mixed, true,
          "steps holding prefill tokens run in graphs too (vLLM V1's piecewise graphs); false: only "
          "steps of decode tokens alone do (TensorRT-LLM's PyTorch backend)");
  }
  {
    ConfigReader c = root.opt_section("slo", "service-level objectives: goodput and --find-max-rate");
    Duration ttft{}, tpot{};
    c.opt("ttft", ttft, Duration{}, "time to first token bound (0: none)");
    c.opt("tpot", tpot, Duration{}, "time per output token bound (0: none)");
    s.slo_ttft_s = ttft.tick.seconds();
    s.slo_tpot_s = tpot.tick.seconds();
    c.check(s.slo_ttft_s >= 0, "ttft", "must be >= 0");
    c.check(s.slo_tpot_s >= 0, "tpot", "must be >= 0");
    c.opt("attainment", s.slo_attainment, 0.9, "--find-max-rate: the share of requests that must meet both");
    c.check(s.slo_attainment > 0 && s.slo_attainment <= 1, "attainment", "expected 0 < attainment <= 1");
  }
  return s;
}

std::string ServingSpec::traffic_text() const {
  const TrafficConfig& t = traffic;
  std::string how;
  switch (t.arrivals.kind) {
    case Arrivals::Kind::kClosed:
      how = fmt::format("closed loop of {} users{}", t.arrivals.users,
                        t.arrivals.think_s > 0 ? fmt::format(" (think {:g} s)", t.arrivals.think_s) : "");
      break;
    case Arrivals::Kind::kPoisson:
      how = fmt::format("Poisson at {:g} requests/s", t.arrivals.rate);
      break;
    case Arrivals::Kind::kGamma:
      how = fmt::format("gamma at {:g} requests/s, cv {:g}", t.arrivals.rate, t.arrivals.cv);
      break;
    case Arrivals::Kind::kTrace:
      return fmt::format("trace of {} requests", t.trace.size());
  }
  return fmt::format("{}, {} requests{}, prompt {}, output {}, seed {}", how, t.requests,
                     t.duration_s > 0 ? fmt::format(" within {:g} s", t.duration_s) : "", t.prompt.text(),
                     t.output.text(), t.seed);
}

std::string ServingSpec::scheduler_text() const {
  const SchedulerConfig& q = scheduler;
  return fmt::format(
      "{}{}, {} tokens and {} sequences a step, KV blocks of {} tokens, preemption by {}{}{}",
      q.prefill_replicas > 0
          ? fmt::format(
                "{} prefill + {} decode replica(s), KV sent at {:g} GB/s{}, each ", q.prefill_replicas,
                q.replicas, q.kv_transfer_bytes_per_s * 1e-9,
                q.kv_transfer_latency_s > 0 ? fmt::format(" + {:g} us", q.kv_transfer_latency_s * 1e6) : "")
      : q.replicas > 1 ? fmt::format("{} replicas ({}), each ", q.replicas,
                                     q.router == Router::kRoundRobin ? "round-robin" : "least-loaded")
                       : "",
      fmt::format("{}{}", policy_name(q.policy),
                  q.policy == Policy::kContinuous && !q.chunked_prefill ? " without chunked prefill" : ""),
      q.max_num_batched_tokens, q.max_num_seqs, q.block_size,
      q.admission == Admission::kReserveAll ? "none (each request reserves its whole answer)"
      : q.preemption == Preemption::kSwap   ? "swap"
                                            : "recompute",
      q.prefix_hit_rate > 0
          ? fmt::format(", prefix cache {:.0f}% hits on {} tokens", 100 * q.prefix_hit_rate, q.shared_prefix)
          : "",
      !cuda_graphs ? ", no CUDA graphs"
      : cuda_graph_sizes.empty()
          ? ""
          : fmt::format(", CUDA graphs at {} sizes up to {}{}", cuda_graph_sizes.size(),
                        cuda_graph_sizes.back(), cuda_graph_mixed ? "" : " (decode-only steps)"));
}

}  // namespace bwsim::serving
