#include "workloads/serving/serve_scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "sim/errors.hpp"
#include "workloads/mtp/acceptance.hpp"

namespace bwsim::serving {
namespace {

CapacityOptions capacity_options(const Scenario& s) {
  CapacityOptions co;
  co.tp = s.tp;
  co.context = s.prompt + s.output;
  co.prefill_chunk = s.serve.scheduler.max_num_batched_tokens;  // sizes the activation workspace
  co.gpu_memory_utilization = s.memory_utilization;
  co.kv_free_fraction = s.serve.kv_cache_free_fraction;
  return co;
}

std::vector<double> mtp_alpha(const Scenario& s) {
  if (s.mtp.drafts == 0) return {};
  if (!s.mtp.toy) return s.mtp.alpha;
  const MtpSpec::Toy& t = *s.mtp.toy;
  const AcceptanceStats st = simulate_mtp(t.lm, s.mtp.drafts, t.rule, t.passes, t.lm.seed);
  std::vector<double> a;
  for (int i = 1; i <= s.mtp.drafts; ++i) a.push_back(st.acceptance_at(static_cast<size_t>(i)));
  return a;
}

}  // namespace

GpuStepCost scenario_step_cost(const Scenario& s) {
  const StepOptions so = scenario_step_options(s);
  CudaGraphs graphs;
  if (s.serve.cuda_graphs) {
    graphs.sizes = !s.serve.cuda_graph_sizes.empty()
                       ? s.serve.cuda_graph_sizes
                       : vllm_graph_sizes(std::min<int64_t>(2 * s.serve.scheduler.max_num_seqs, 512));
    graphs.mixed = s.serve.cuda_graph_mixed;
    graphs.head = s.serve.cuda_graph_head;
  }
  GpuStepCost cost(s.model, s.quant, s.hw, so, graphs);
  if (s.mtp.drafts > 0) cost.set_mtp(s.mtp.drafts, s.mtp.modules);
  return cost;
}

bool step_cost_free_key(std::string_view key) {
  // Traffic and SLO; the scheduler's admission and budget keys; the lengths and memory share
  // the step cost never reads (a step's cost is its token counts and contexts).
  static constexpr std::array<std::string_view, 11> kFree{"traffic.",
                                                          "slo.",
                                                          "serving.prompt",
                                                          "serving.output",
                                                          "serving.concurrency",
                                                          "scheduler.max_num_batched_tokens",
                                                          "scheduler.admission",
                                                          "scheduler.preemption",
                                                          "scheduler.block_size",
                                                          "scheduler.kv_cache_free_fraction",
                                                          "memory_utilization"};
  return std::any_of(kFree.begin(), kFree.end(), [&](std::string_view free) {
    return free.back() == '.' ? key.starts_with(free) : key == free;
  });
}

std::string step_cost_key(const std::string& scenario, const std::string& model, const std::string& hw,
                          const std::vector<std::string>& hw_sets, const std::vector<std::string>& sets) {
  std::string key = fmt::format("{}|model:{}|hw:{}", scenario, model, hw);
  for (const std::string& h : hw_sets) key += "|hw:" + h;
  for (const std::string& set : sets) {
    if (!step_cost_free_key(std::string_view(set).substr(0, set.find('=')))) key += "|" + set;
  }
  return key;
}

double kv_mean_share(const ServeRun& r) {
  if (r.result.timeline.empty()) return 0;
  double sum = 0;
  for (const TimelinePoint& p : r.result.timeline) sum += static_cast<double>(p.used_blocks);
  return sum / static_cast<double>(r.result.timeline.size()) /
         static_cast<double>(r.scheduler.num_blocks * r.scheduler.total_replicas());
}

ServeRun serve_scenario(const Scenario& s, GpuStepCost* shared, const std::function<void()>& on_finish) {
  ServeRun run;
  const CapacityOptions co = capacity_options(s);
  run.capacity = capacity(s.model, s.quant, s.hw, co);
  run.traffic = s.serve.traffic;
  run.scheduler = s.serve.scheduler;
  const Capacity& c = run.capacity;
  // Blocks of the cache: what is left beside weights and workspace, per GPU (the KV per token is
  // per GPU too under TP).
  const double block_bytes = c.kv_per_token * static_cast<double>(run.scheduler.block_size);
  const auto blocks =
      c.kv_budget > 0 && block_bytes > 0 ? static_cast<int64_t>(std::floor(c.kv_budget / block_bytes)) : 0;
  run.fits = c.weights + c.activations < c.usable && blocks >= 1;
  if (!run.fits) {
    run.smallest_tp = smallest_fitting_tp(s.model, s.quant, s.hw, co);
    return run;
  }
  run.scheduler.num_blocks = blocks;
  run.scheduler.kv_bytes_per_token = c.kv_per_token;
  run.alpha = mtp_alpha(s);
  run.scheduler.mtp_drafts = s.mtp.drafts;
  run.scheduler.mtp_alpha = run.alpha;
  std::optional<GpuStepCost> own;
  if (shared == nullptr) own.emplace(scenario_step_cost(s));
  GpuStepCost& cost = shared != nullptr ? *shared : *own;
  run.result = serve(
      run.traffic, run.scheduler, [&](const Batch& b) { return cost.seconds(b); }, on_finish);
  run.summary = summarize(run.result, s.serve.slo_ttft_s, s.serve.slo_tpot_s);
  run.simulated_steps = cost.simulated();
  return run;
}

MaxRate find_max_rate(const Scenario& s, const std::function<void(const RateProbe&)>& on_probe) {
  if (s.serve.slo_ttft_s <= 0 && s.serve.slo_tpot_s <= 0)
    throw InputError(fmt::format("{}: --find-max-rate needs an SLO: set [slo] ttft and / or tpot", s.source));
  Scenario probe = s;
  Arrivals& a = probe.serve.traffic.arrivals;
  if (a.kind != Arrivals::Kind::kGamma) a.kind = Arrivals::Kind::kPoisson;
  if (probe.serve.traffic.requests <= 0 || s.serve.traffic.arrivals.kind == Arrivals::Kind::kTrace)
    throw InputError(
        fmt::format("{}: --find-max-rate generates arrivals: it cannot search a trace", s.source));
  probe.serve.traffic.duration_s = 0;  // every probe sends the same number of requests
  GpuStepCost cost = scenario_step_cost(probe);
  MaxRate out;
  const auto run_at = [&](double rate) {
    a.rate = rate;
    ServeRun r = serve_scenario(probe, &cost);
    if (!r.fits) throw InputError(fmt::format("{}: the model does not fit: no rate serves it", s.source));
    RateProbe p{rate, r.summary.slo_attainment, r.summary.goodput_requests_per_s, r.summary.ttft_s.p90,
                r.summary.tpot_s.p90};
    out.probes.push_back(p);
    if (on_probe) on_probe(p);
    const bool ok = p.attainment >= s.serve.slo_attainment;
    if (ok && rate > out.rate) {
      out.rate = rate;
      out.at = std::move(r);
    }
    return ok;
  };
  // Bracket: from 1 request/s, double while the SLO holds, halve while it does not.
  double lo = 0, hi = 0;
  double r = 1;
  if (run_at(r)) {
    lo = r;
    while (hi == 0 && r < 1e6) {
      r *= 2;
      if (run_at(r)) {
        lo = r;
      } else {
        hi = r;
      }
    }
  } else {
    hi = r;
    while (lo == 0 && r > 1e-4) {
      r /= 2;
      if (run_at(r)) {
        lo = r;
      } else {
        hi = r;
      }
    }
  }
  out.unbounded = hi == 0;
  if (lo == 0 || hi == 0) return out;  // never met (or never missed) within the range
  while ((hi - lo) / lo > 0.01) {
    const double mid = std::sqrt(lo * hi);
    if (run_at(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return out;
}

}  // namespace bwsim::serving
