// bwsim run: a serving scenario on the modelled GPU — memory footprint and what fits, time to
// first token, inter-token latency, tokens/s per user and per GPU (with and without MTP), and
// where a decode step's time goes.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <cmath>
#include <iostream>

#include "app/commands.hpp"
#include "app/scenario_flags.hpp"
#include "app/step_report.hpp"
#include "app/trace_options.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/table.hpp"
#include "sim/units.hpp"
#include "workloads/transformer/scenario.hpp"

namespace bwsim::app {
namespace {

boost::json::object decode_json(const DecodeResult& d) {
  boost::json::object o{{"itl_ms", d.itl_s * 1e3},
                        {"pass_ms", d.pass_s * 1e3},
                        {"tokens_per_pass", d.tokens_per_pass},
                        {"tokens_per_s_user", d.tokens_per_s_user},
                        {"tokens_per_s_gpu", d.tokens_per_s_gpu},
                        {"avg_power_w", d.avg_power_w},
                        {"joules_per_token", d.joules_per_token},
                        {"tokens_per_joule", d.tokens_per_joule},
                        {"step", step_json(d.step)}};
  if (d.draft) o["draft_step"] = step_json(*d.draft);
  if (!d.alpha.empty()) {
    boost::json::array a;
    for (double v : d.alpha) a.push_back(v);
    o["acceptance_per_position"] = std::move(a);
    o["acceptance_source"] = d.measured ? "toy LM" : "scenario";
    if (d.measured) o["acceptance_passes"] = d.measured->passes;
  }
  return o;
}

// The trace of a run: the prompt's prefill chunks, then one decode step at the mean context
// (then one MTP pass: the verify step and the drafts), back to back. Per-SM detail goes to the
// decode step's kernels first, then MTP's, then prefill's, as the event budget allows.
void write_run_trace(const TraceRequest& req, const Scenario& s, const ScenarioResult& r, std::ostream& out) {
  struct Placed {
    const StepTiming* step;
    std::string label;
    Tick offset;
    int priority;
  };
  std::vector<Placed> steps;
  Tick at{0};
  const auto place = [&](const StepTiming& t, std::string label, int priority) {
    steps.push_back({&t, std::move(label), at, priority});
    at += step_trace_length(t);
  };
  int64_t first = 0;
  for (size_t i = 0; i < r.prefill_chunks.size(); ++i) {
    const StepTiming& c = r.prefill_chunks[i];
    place(c, fmt::format("prefill chunk {} (tokens {}-{})", i, first, first + c.shape.q_len - 1), 3);
    first += c.shape.q_len;
  }
  place(r.decode.step,
        fmt::format("decode step ({} sequences, context {})", r.decode.step.shape.batch,
                    r.decode.step.shape.context),
        0);
  if (r.mtp) {
    place(r.mtp->step, fmt::format("MTP verify ({} drafts + 1)", s.mtp.drafts), 1);
    if (r.mtp->draft) {
      const int drafts = s.mtp.modules ? s.mtp.drafts : 1;
      for (int d = 0; d < drafts; ++d) place(*r.mtp->draft, fmt::format("MTP draft {}", d), 2);
    }
  }
  TraceDoc doc;
  std::vector<const GpuTrace*> done;
  std::vector<std::vector<bool>> detailed(steps.size());
  for (int priority = 0; priority <= 3; ++priority) {
    for (size_t i = 0; i < steps.size(); ++i) {
      if (steps[i].priority == priority)
        detailed[i] = emit_step_detail(doc, *steps[i].step, steps[i].offset, req.options.max_events, done);
    }
  }
  for (size_t i = 0; i < steps.size(); ++i)
    emit_step_trace(doc, *steps[i].step, steps[i].offset, steps[i].label, detailed[i], s.hw.power.idle);
  doc.metadata("scenario", json_quote(fmt::format("{} ({})", s.name, s.source)));
  doc.metadata("layout",
               json_quote("the prompt's prefill chunks, then one decode step at the mean context "
                          "(and one MTP pass), back to back: not the whole generation; per-SM detail "
                          "at the first launch of each simulated kernel"));
  write_trace(req, doc, "run", s.hw.name, out);
}

int run_run(const cli::po::variables_map& vm) {
  const ProgressBar bar(vm);
  const Scenario s = scenario_from_flags(vm, "run");
  const std::optional<TraceRequest> trace = trace_request(vm, s.hw.sm.count);
  if (trace && !s.timing) throw InputError("--trace draws the simulated steps: the scenario has timing off");
  const ScenarioResult r = run_scenario(s, trace ? &trace->options : nullptr);
  const Capacity& c = r.capacity;
  std::ostream& out = cli::text_out(vm);
  out << fmt::format("scenario  {} ({})\n", s.name, s.source);
  out << fmt::format(
      "  model       {} ({:.2f} B parameters{}), {}\n", s.model.name, s.model.params().total() * 1e-9,
      s.model.moe ? fmt::format(", {:.2f} B active", s.model.active_params().total() * 1e-9) : "",
      s.quant.text());
  out << fmt::format("  hardware    {} x {} (TP {}{})\n", s.tp, s.hw.name, s.tp,
                     s.ep > 1 ? fmt::format(", experts EP {}", s.ep) : "");
  out << fmt::format("  load        {} sequences, prompt {} + output {} tokens{}\n", s.concurrency, s.prompt,
                     s.output,
                     s.mtp.drafts > 0 ? fmt::format(", MTP {} drafts ({})", s.mtp.drafts,
                                                    s.mtp.modules ? "sequential modules" : "parallel heads")
                                      : "");
  out << fmt::format("\nmemory per GPU ({} HBM, {:.0f}% usable = {})\n", format_si(c.hbm, "B", 4),
                     100 * s.memory_utilization, format_si(c.usable, "B", 4));
  out << fmt::format(
      "  weights     {}\n  workspace   {}\n  KV cache    {} per token, {} per sequence of {}\n",
      format_si(c.weights, "B", 4), format_si(c.activations, "B", 3), format_si(c.kv_per_token, "B", 4),
      format_si(c.kv_per_sequence, "B", 4), s.prompt + s.output);
  boost::json::object doc;
  doc["command"] = "run";
  doc["scenario"] = {{"name", s.name},
                     {"source", s.source},
                     {"model", s.model.name},
                     {"hw", s.hw.name},
                     {"tp", s.tp},
                     {"ep", s.ep},
                     {"quantization", s.quant.text()},
                     {"concurrency", s.concurrency},
                     {"prompt", s.prompt},
                     {"output", s.output},
                     {"mtp_drafts", s.mtp.drafts}};
  doc["memory"] = dotted_object({{"bytes.hbm", c.hbm},
                                 {"bytes.usable", c.usable},
                                 {"bytes.weights", c.weights},
                                 {"bytes.workspace", c.activations},
                                 {"bytes.kv_per_token", c.kv_per_token},
                                 {"bytes.kv_per_sequence", c.kv_per_sequence},
                                 {"max_concurrency", c.max_sequences},
                                 {"fits", r.fits},
                                 {"smallest_tp", r.fits ? s.tp : r.smallest_tp}});
  // Published claims, side by side with the simulation.
  boost::json::array claims;
  size_t claims_failed = 0;
  // --strict: a claim that does not hold fails the run (exit 1), for CI.
  const auto exit_code = [&] {
    if (vm.count("strict") == 0 || claims_failed == 0) return 0;
    std::cerr << fmt::format("bwsim run: --strict: {} of {} claims do not hold\n", claims_failed,
                             s.claims.size());
    return 1;
  };
  const auto print_claims = [&] {
    if (s.claims.empty()) return;
    out << "\nclaims\n";
    TextTable t({"metric", "claimed", "simulated", "verdict"},
                {TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight,
                 TextTable::Align::kLeft});
    for (const Claim& cl : s.claims) {
      const double v = claim_value(s, r, cl.metric);
      const bool known = !std::isnan(v);
      const char* verdict = !known ? "n/a" : (v >= cl.low && v <= cl.high ? "holds" : "does not hold");
      if (known && !(v >= cl.low && v <= cl.high)) ++claims_failed;
      t.add_row({cl.metric, cl.claimed, known ? fmt::format("{:.4g}", v) : "-",
                 fmt::format("{} ({:.4g}..{:.4g})", verdict, cl.low, cl.high)});
      boost::json::object o{{"metric", cl.metric},
                            {"claimed", cl.claimed},
                            {"low", cl.low},
                            {"high", cl.high},
                            {"verdict", verdict}};
      if (known) o["simulated"] = v;
      claims.push_back(std::move(o));
    }
    out << t.render();
  };
  if (!r.fits) {
    out << fmt::format(
        "  DOES NOT FIT at TP {}: weights, workspace and one sequence need {} of {} usable; {}\n", s.tp,
        format_si(c.weights + c.activations + c.kv_per_sequence, "B", 4), format_si(c.usable, "B", 4),
        r.smallest_tp > 0 ? fmt::format("the smallest TP that fits is {}", r.smallest_tp)
                          : "no TP degree up to 8 fits");
    print_claims();
    doc["claims"] = claims;
    cli::write_json_option(vm, doc);
    return exit_code();
  }
  out << fmt::format("  capacity    {} sequences of {} tokens fit{}\n", c.max_sequences, s.prompt + s.output,
                     r.concurrency < s.concurrency
                         ? fmt::format(": the requested {} do not; running {}", s.concurrency, r.concurrency)
                         : "");
  doc["memory"].as_object()["concurrency_run"] = r.concurrency;
  if (!r.timed) {
    out << "\n(timing off: memory and capacity only)\n";
    print_claims();
    doc["claims"] = claims;
    cli::write_json_option(vm, doc);
    return exit_code();
  }
  out << fmt::format("\nlatency and throughput\n");
  out << fmt::format("  TTFT        {:.2f} ms ({} prefill chunk(s) of up to {} tokens)\n", r.ttft_s * 1e3,
                     r.prefill_chunks.size(), s.prefill_chunk);
  TextTable t({"decode", "ITL ms", "tokens/pass", "tokens/s/user", "tokens/s/GPU", "end-to-end s", "W/GPU",
               "tokens/J", "mJ/token"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight});
  const auto row = [&](const std::string& label, const DecodeResult& d) {
    t.add_row({label, fmt::format("{:.3f}", d.itl_s * 1e3), fmt::format("{:.3f}", d.tokens_per_pass),
               fmt::format("{:.1f}", d.tokens_per_s_user), fmt::format("{:.0f}", d.tokens_per_s_gpu),
               fmt::format("{:.2f}", r.ttft_s + static_cast<double>(s.output - 1) * d.itl_s),
               fmt::format("{:.0f}", d.avg_power_w), fmt::format("{:.2f}", d.tokens_per_joule),
               fmt::format("{:.1f}", d.joules_per_token * 1e3)});
  };
  row("standard", r.decode);
  if (r.mtp) row(fmt::format("MTP k={}", s.mtp.drafts), *r.mtp);
  out << t.render();
  if (r.mtp) {
    std::string alpha;
    for (double a : r.mtp->alpha) alpha += fmt::format("{}{:.3f}", alpha.empty() ? "" : ", ", a);
    if (s.mtp.toy) {
      const MtpSpec::Toy& toy = *s.mtp.toy;
      out << fmt::format(
          "  acceptance  measured on a toy LM ({} rule, vocab {}, temperature {:g}, draft noise {:g}, seed "
          "{}): "
          "per position [{}] over {} passes; {:.3f} tokens/pass (the formula from these: {:.3f})\n",
          verify_rule_name(toy.rule), toy.lm.vocab, toy.lm.temperature, toy.lm.draft_noise, toy.lm.seed,
          alpha, toy.passes, r.mtp->tokens_per_pass, expected_tokens_per_pass(r.mtp->alpha));
    } else {
      out << fmt::format("  acceptance  per position [{}] (scenario)\n", alpha);
    }
    out << fmt::format(
        "  MTP         {:.2f}x tokens/s per user; a pass = verify {:.3f} ms + drafts {:.3f} ms\n",
        r.mtp->tokens_per_s_user / r.decode.tokens_per_s_user, r.mtp->step.time.seconds() * 1e3,
        (r.mtp->pass_s - r.mtp->step.time.seconds()) * 1e3);
  }
  out << fmt::format("\ndecode step at context {} ({} sequences)\n", r.decode.step.shape.context,
                     r.concurrency);
  print_step(out, r.decode.step);
  out << fmt::format("  {:.3f} ms, {} from HBM ({:.2f} TB/s)\n", r.decode.step.time.seconds() * 1e3,
                     format_si(r.decode.step.hbm_bytes, "B", 4),
                     r.decode.step.hbm_bytes / r.decode.step.time.seconds() * 1e-12);
  boost::json::array chunks;
  for (const StepTiming& p : r.prefill_chunks) chunks.push_back(step_json(p));
  doc["prefill"] = {{"ttft_ms", r.ttft_s * 1e3}, {"chunks", std::move(chunks)}};
  doc["decode"] = decode_json(r.decode);
  if (r.mtp) doc["mtp"] = decode_json(*r.mtp);
  doc["e2e_s"] = r.e2e_s;
  if (trace) write_run_trace(*trace, s, r, out);
  print_claims();
  doc["claims"] = std::move(claims);
  cli::write_json_option(vm, doc);
  return exit_code();
}

}  // namespace

cli::Command run_command() {
  return cli::Command{
      "run",
      "a serving scenario: memory and capacity, TTFT, inter-token latency, tokens/s (with and without MTP)",
      "bwsim run SCENARIO.toml [--hw FILE] [--model FILE.toml|config.json] [--set KEY=VALUE] [--hw-set "
      "KEY=VALUE] "
      "[--strict] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        add_scenario_flags(desc, pos, "serving.concurrency=64");
        desc.add_options()("strict", "exit 1 when a claim of the scenario does not hold (CI)");
        add_progress_option(desc);
        add_json_option(desc);
        add_trace_options(desc);
      },
      run_run};
}

}  // namespace bwsim::app
