// bwsim serve: a scenario's request traffic through a serving scheduler on the modelled GPU —
// TTFT, TPOT, ITL and end-to-end latency percentiles, throughput, goodput under an SLO, KV-cache
// use and preemptions, and (--find-max-rate) the highest arrival rate that meets the SLO.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <iostream>

#include "app/commands.hpp"
#include "app/scenario_flags.hpp"
#include "app/trace_options.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/progress.hpp"
#include "sim/table.hpp"
#include "sim/units.hpp"
#include "workloads/serving/serve_scenario.hpp"

namespace bwsim::app {
namespace {

using serving::Percentiles;
using serving::ServeRun;

boost::json::object percentiles_json(const Percentiles& p, double scale) {
  return {{"mean", p.mean * scale},
          {"p50", p.p50 * scale},
          {"p90", p.p90 * scale},
          {"p99", p.p99 * scale},
          {"max", p.max * scale}};
}

// GPUs serving: a TP group per replica.
double gpus(const Scenario& s) { return static_cast<double>(s.tp * s.serve.scheduler.total_replicas()); }

void print_serve(std::ostream& out, const Scenario& s, const ServeRun& r) {
  const serving::ServeResult& res = r.result;
  const serving::ServeSummary& m = r.summary;
  const double span = res.end_s - (res.requests.empty() ? 0.0 : res.requests.front().arrival_s);
  out << fmt::format(
      "\nserved {} requests in {:.2f} s: {} steps, GPU busy {:.1f}%, {} preemptions, KV blocks in use "
      "{:.0f}% "
      "on average, {:.0f}% at peak\n",
      m.finished, span, res.steps,
      span > 0 ? 100 * res.busy_s / (span * static_cast<double>(r.scheduler.total_replicas())) : 0.0,
      res.preemptions, 100 * kv_mean_share(r),
      100 * static_cast<double>(res.peak_blocks) / static_cast<double>(r.scheduler.num_blocks));
  TextTable t({"latency", "mean", "p50", "p90", "p99", "max"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight});
  const auto row = [&](const char* label, const Percentiles& p, double scale, int digits) {
    t.add_row({label, fmt::format("{:.{}f}", p.mean * scale, digits),
               fmt::format("{:.{}f}", p.p50 * scale, digits), fmt::format("{:.{}f}", p.p90 * scale, digits),
               fmt::format("{:.{}f}", p.p99 * scale, digits), fmt::format("{:.{}f}", p.max * scale, digits)});
  };
  row("TTFT ms", m.ttft_s, 1e3, 2);
  row("TPOT ms", m.tpot_s, 1e3, 3);
  row("ITL ms", m.itl_s, 1e3, 3);
  row("end-to-end s", m.e2e_s, 1, 3);
  out << t.render();
  out << fmt::format(
      "  throughput  {:.0f} output tokens/s ({:.0f} per GPU), {:.0f} tokens/s in and out, {:.3f} "
      "requests/s\n",
      m.output_tokens_per_s, m.output_tokens_per_s / gpus(s), m.total_tokens_per_s, m.requests_per_s);
  if (res.verify_passes > 0) {
    out << fmt::format(
        "  MTP         {:.3f} tokens per verify pass ({:.3f} expected), {:.1f}% of {} drafts accepted\n",
        1.0 + static_cast<double>(res.drafts_accepted) / static_cast<double>(res.verify_passes),
        expected_tokens_per_pass(r.alpha),
        100.0 * static_cast<double>(res.drafts_accepted) /
            static_cast<double>(std::max<int64_t>(1, res.drafts_verified)),
        res.drafts_verified);
  }
  if (s.serve.slo_ttft_s > 0 || s.serve.slo_tpot_s > 0) {
    std::string slo;
    if (s.serve.slo_ttft_s > 0) slo += fmt::format("TTFT <= {:g} ms", s.serve.slo_ttft_s * 1e3);
    if (s.serve.slo_tpot_s > 0)
      slo += fmt::format("{}TPOT <= {:g} ms", slo.empty() ? "" : " and ", s.serve.slo_tpot_s * 1e3);
    out << fmt::format("  SLO         {}: {:.1f}% of requests meet it; goodput {:.3f} requests/s\n", slo,
                       100 * m.slo_attainment, m.goodput_requests_per_s);
  }
  out << fmt::format(
      "  step model  {} uniform steps simulated (the GPU model's points; every step interpolates them)\n",
      r.simulated_steps);
}

boost::json::object serve_json(const Scenario& s, const ServeRun& r) {
  const serving::ServeResult& res = r.result;
  const serving::ServeSummary& m = r.summary;
  boost::json::object o{{"finished", m.finished},
                        {"steps", res.steps},
                        {"end_s", res.end_s},
                        {"busy_s", res.busy_s},
                        {"preemptions", res.preemptions},
                        {"peak_kv_blocks", res.peak_blocks},
                        {"mean_kv_share", kv_mean_share(r)},
                        {"prefill_tokens", res.prefill_tokens},
                        {"decode_tokens", res.decode_tokens},
                        {"ttft_ms", percentiles_json(m.ttft_s, 1e3)},
                        {"tpot_ms", percentiles_json(m.tpot_s, 1e3)},
                        {"itl_ms", percentiles_json(m.itl_s, 1e3)},
                        {"e2e_s", percentiles_json(m.e2e_s, 1)},
                        {"output_tokens_per_s", m.output_tokens_per_s},
                        {"output_tokens_per_s_gpu", m.output_tokens_per_s / gpus(s)},
                        {"total_tokens_per_s", m.total_tokens_per_s},
                        {"requests_per_s", m.requests_per_s},
                        {"goodput_requests_per_s", m.goodput_requests_per_s},
                        {"slo_attainment", m.slo_attainment},
                        {"simulated_steps", r.simulated_steps}};
  if (res.verify_passes > 0) {
    boost::json::array a;
    for (double v : r.alpha) a.push_back(v);
    o["mtp"] = {{"verify_passes", res.verify_passes},
                {"drafts_verified", res.drafts_verified},
                {"drafts_accepted", res.drafts_accepted},
                {"acceptance_per_position", std::move(a)}};
  }
  boost::json::array tl;
  for (const serving::TimelinePoint& p : res.timeline) {
    tl.push_back({{"t_s", p.t_s},
                  {"kv_blocks", p.used_blocks},
                  {"running", p.running},
                  {"waiting", p.waiting},
                  {"preemptions", p.preemptions}});
  }
  o["timeline"] = std::move(tl);
  return o;
}

// Request timelines in the trace: each request a track of spans (queued, prefill, decode) on the
// first free lane, and counters of KV blocks, running and waiting requests over time.
void write_serve_trace(const TraceRequest& req, const Scenario& s, const ServeRun& r, std::ostream& out) {
  TraceDoc doc;
  const uint32_t pid = doc.process("requests", 0);
  const uint32_t sched = doc.process("scheduler", 1);
  Lanes lanes;
  uint64_t dropped = 0;
  for (const serving::RequestRecord& q : r.result.requests) {
    if (q.finish_s < 0) continue;
    if (doc.events() + 3 > req.options.max_events) {
      ++dropped;
      continue;
    }
    const Tick arrive = seconds_to_tick(q.arrival_s);
    const Tick admit = seconds_to_tick(q.admitted_s);
    const Tick first = seconds_to_tick(q.first_token_s);
    const Tick end = seconds_to_tick(q.finish_s);
    const uint32_t lane = lanes.place(arrive, end);
    const uint32_t tid = doc.thread(pid, fmt::format("lane {}", lane), static_cast<int>(lane));
    const std::string args = fmt::format("\"request\":{},\"prompt\":{},\"output\":{},\"preemptions\":{}",
                                         q.id, q.prompt, q.output, q.preemptions);
    if (admit > arrive) doc.span(pid, tid, fmt::format("queued {}", q.id), arrive, admit, args);
    doc.span(pid, tid, fmt::format("prefill {}", q.id), admit, first, args);
    if (end > first) doc.span(pid, tid, fmt::format("decode {}", q.id), first, end, args);
  }
  doc.add_dropped(dropped);
  for (const serving::TimelinePoint& p : r.result.timeline) {
    const Tick at = seconds_to_tick(p.t_s);
    doc.counter(sched, "KV blocks in use", at, static_cast<double>(p.used_blocks));
    doc.counter(sched, "running requests", at, static_cast<double>(p.running));
    doc.counter(sched, "waiting requests", at, static_cast<double>(p.waiting));
    doc.counter(sched, "preemptions", at, static_cast<double>(p.preemptions));
  }
  doc.metadata("scenario", json_quote(fmt::format("{} ({})", s.name, s.source)));
  doc.metadata("layout",
               json_quote(fmt::format(
                   "one track per lane of requests (queued, prefill, decode spans); {} requests left "
                   "out by --trace-max-events; scheduler counters at up to 8192 steps",
                   dropped)));
  write_trace(req, doc, "serve", s.hw.name, out);
}

int run_serve(const cli::po::variables_map& vm) {
  const ProgressBar bar(vm);
  const Scenario s = scenario_from_flags(vm, "serve");
  const std::optional<TraceRequest> trace = trace_request(vm, s.hw.sm.count);
  const bool search = vm.count("find-max-rate") != 0;
  std::ostream& out = cli::text_out(vm);
  out << fmt::format("scenario  {} ({})\n", s.name, s.source);
  out << fmt::format("  model       {} ({:.2f} B parameters), {}\n", s.model.name,
                     s.model.params().total() * 1e-9, s.quant.text());
  const serving::SchedulerConfig& q = s.serve.scheduler;
  out << fmt::format("  hardware    {} x {} (TP {}{}{})\n", s.tp * q.total_replicas(), s.hw.name, s.tp,
                     s.ep > 1 ? fmt::format(", experts EP {}", s.ep) : "",
                     q.prefill_replicas > 0
                         ? fmt::format(", {} prefill and {} decode replicas", q.prefill_replicas, q.replicas)
                     : q.replicas > 1 ? fmt::format(", {} data-parallel replicas", q.replicas)
                                      : "");
  out << fmt::format("  traffic     {}\n",
                     search ? "Poisson arrivals at the rates searched, " +
                                  fmt::format("{} requests, prompt {}, output {}", s.serve.traffic.requests,
                                              s.serve.traffic.prompt.text(), s.serve.traffic.output.text())
                            : s.serve.traffic_text());
  out << fmt::format("  scheduler   {}\n", s.serve.scheduler_text());
  if (s.mtp.drafts > 0)
    out << fmt::format(
        "  MTP         {} drafts per verify pass ({}), acceptance drawn per request and pass\n", s.mtp.drafts,
        s.mtp.modules ? "sequential modules" : "parallel heads");
  boost::json::object doc;
  doc["command"] = "serve";
  doc["scenario"] = {{"name", s.name},
                     {"source", s.source},
                     {"model", s.model.name},
                     {"hw", s.hw.name},
                     {"tp", s.tp},
                     {"quantization", s.quant.text()},
                     {"mtp_drafts", s.mtp.drafts}};
  doc["traffic"] = s.serve.traffic_text();
  doc["scheduler"] = s.serve.scheduler_text();

  ServeRun run;
  if (search) {
    TextTable t({"rate req/s", "SLO met", "goodput req/s", "p90 TTFT ms", "p90 TPOT ms"},
                {TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
                 TextTable::Align::kRight, TextTable::Align::kRight});
    progress::Scope scope("serve: rate search (probes)", 20);
    const serving::MaxRate mr = serving::find_max_rate(s, [&](const serving::RateProbe& p) {
      scope.advance();
      t.add_row({fmt::format("{:.3f}", p.rate), fmt::format("{:.1f}%", 100 * p.attainment),
                 fmt::format("{:.3f}", p.goodput), fmt::format("{:.1f}", p.p90_ttft_s * 1e3),
                 fmt::format("{:.2f}", p.p90_tpot_s * 1e3)});
    });
    out << fmt::format(
        "\nrate search: Poisson arrivals, {} requests a probe, the SLO met by {:.0f}% of them\n",
        s.serve.traffic.requests, 100 * s.serve.slo_attainment);
    out << t.render();
    boost::json::array probes;
    for (const serving::RateProbe& p : mr.probes) {
      probes.push_back({{"rate", p.rate},
                        {"slo_attainment", p.attainment},
                        {"goodput_requests_per_s", p.goodput},
                        {"p90_ttft_ms", p.p90_ttft_s * 1e3},
                        {"p90_tpot_ms", p.p90_tpot_s * 1e3}});
    }
    doc["rate_search"] = {{"max_rate", mr.rate}, {"unbounded", mr.unbounded}, {"probes", std::move(probes)}};
    if (!mr.at) {
      out << "  no rate from 0.0001 to 1e6 requests/s meets the SLO\n";
      cli::write_json_option(vm, doc);
      return 0;
    }
    if (mr.unbounded) {
      out << fmt::format(
          "  the SLO holds at every rate up to {:.0f} requests/s: {} requests do not load the GPU; raise "
          "traffic.requests\n",
          mr.rate, s.serve.traffic.requests);
    } else {
      out << fmt::format("  max rate    {:.3f} requests/s meets the SLO\n", mr.rate);
    }
    run = *mr.at;
  } else {
    progress::Scope scope("serve: requests", static_cast<double>(s.serve.traffic.requests));
    run = serving::serve_scenario(s, nullptr, [&] { scope.advance(); });
  }
  const Capacity& c = run.capacity;
  doc["memory"] = dotted_object({{"bytes.hbm", c.hbm},
                                 {"bytes.usable", c.usable},
                                 {"bytes.weights", c.weights},
                                 {"bytes.workspace", c.activations},
                                 {"bytes.kv_per_token", c.kv_per_token},
                                 {"kv_blocks", run.scheduler.num_blocks},
                                 {"block_size", run.scheduler.block_size},
                                 {"fits", run.fits}});
  if (!run.fits) {
    out << fmt::format(
        "\nDOES NOT FIT at TP {}: weights and workspace {} leave no KV block in {} usable; {}\n", s.tp,
        format_si(c.weights + c.activations, "B", 4), format_si(c.usable, "B", 4),
        run.smallest_tp > 0 ? fmt::format("the smallest TP that fits is {}", run.smallest_tp)
                            : "no TP degree up to 8 fits");
    cli::write_json_option(vm, doc);
    return 0;
  }
  out << fmt::format(
      "  KV cache    {} blocks of {} tokens = {} tokens a replica ({} a GPU at {} a token)\n",
      run.scheduler.num_blocks, run.scheduler.block_size, run.scheduler.num_blocks * run.scheduler.block_size,
      format_si(static_cast<double>(run.scheduler.num_blocks * run.scheduler.block_size) * c.kv_per_token,
                "B", 4),
      format_si(c.kv_per_token, "B", 4));
  print_serve(out, s, run);
  doc["serve"] = serve_json(s, run);
  if (trace) write_serve_trace(*trace, s, run, out);
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command serve_command() {
  return cli::Command{
      "serve",
      "request-level serving: arrivals, continuous batching, paged KV; latency percentiles, throughput, "
      "goodput",
      "bwsim serve SCENARIO.toml [--hw FILE] [--model FILE] [--set KEY=VALUE] [--hw-set KEY=VALUE] "
      "[--find-max-rate] [--json FILE] [--trace FILE.json]",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        add_scenario_flags(desc, pos, "traffic.arrivals=\"poisson\", traffic.rate=4");
        desc.add_options()("find-max-rate",
                           "search the highest Poisson arrival rate meeting the [slo] (goodput capacity)");
        add_progress_option(desc);
        add_json_option(desc);
        add_trace_options(desc);
      },
      run_serve};
}

}  // namespace bwsim::app
