#include "workloads/transformer/scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "sim/config.hpp"
#include "sim/errors.hpp"
#include "sim/progress.hpp"
#include "sim/provenance.hpp"

namespace bwsim {
namespace {

namespace fs = std::filesystem;

// A model named in a scenario: a path (relative to the scenario's folder when it exists there),
// or a bare configs/models name.
fs::path model_path(const fs::path& scenario, const std::string& name) {
  fs::path given(name);
  fs::path beside = scenario.parent_path() / given;
  if (!given.is_absolute() && given.has_extension() && fs::is_regular_file(beside)) return beside;
  return given;
}

double mean_step(const std::vector<std::pair<int64_t, double>>& samples) {
  // Piecewise-linear in the context between samples: the trapezoid mean over the span.
  if (samples.size() == 1) return samples.front().second;
  double area = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    area += 0.5 * (samples[i].second + samples[i - 1].second) *
            static_cast<double>(samples[i].first - samples[i - 1].first);
  }
  return area / static_cast<double>(samples.back().first - samples.front().first);
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& claim_metrics() {
  static const std::vector<std::pair<std::string, std::string>> m = {
      {"weights_gb", "the model's weights under the plan, all GPUs, GB"},
      {"kv_per_token_kb", "KV cache per token, all layers, kB"},
      {"max_concurrency", "sequences of prompt + output tokens that fit"},
      {"smallest_tp", "the smallest TP degree that fits one sequence"},
      {"ttft_ms", "time to first token, ms"},
      {"itl_ms", "inter-token latency (with MTP when configured), ms"},
      {"tokens_per_s_user", "tokens/s per sequence (with MTP when configured)"},
      {"tokens_per_s_gpu", "tokens/s per GPU (with MTP when configured)"},
      {"mtp_speedup", "tokens/s per user with MTP over standard decode"},
      {"mtp_tokens_per_pass", "tokens emitted per verify pass"},
  };
  return m;
}

double claim_value(const Scenario& s, const ScenarioResult& r, const std::string& metric) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const DecodeResult* d = r.mtp ? &*r.mtp : &r.decode;
  if (metric == "weights_gb") return weight_bytes(s.model, s.quant).total() * 1e-9;
  if (metric == "kv_per_token_kb") return kv_bytes_per_token(s.model, s.quant) * 1e-3;
  if (metric == "max_concurrency") return static_cast<double>(r.capacity.max_sequences);
  if (metric == "smallest_tp") return r.fits ? s.tp : r.smallest_tp;
  if (!r.timed) return nan;
  if (metric == "ttft_ms") return r.ttft_s * 1e3;
  if (metric == "itl_ms") return d->itl_s * 1e3;
  if (metric == "tokens_per_s_user") return d->tokens_per_s_user;
  if (metric == "tokens_per_s_gpu") return d->tokens_per_s_gpu;
  if (!r.mtp) return nan;
  if (metric == "mtp_speedup") return r.mtp->tokens_per_s_user / r.decode.tokens_per_s_user;
  if (metric == "mtp_tokens_per_pass") return r.mtp->tokens_per_pass;
  return nan;
}

Scenario load_scenario(const fs::path& file, const std::string& model, const std::string& hw,
                       const std::vector<std::string>& sets, const std::vector<std::string>& hw_sets) {
  ConfigTree tree = ConfigTree::load_file(file);
  for (const auto& o : sets) tree.set(o, "--set");
  provenance::note_config("scenario", file.string(), sets, provenance::hash_file(file));
  ConfigReader r(tree);
  Scenario s;
  s.source = file.string();
  r.req("name", s.name, "scenario name, for reports");
  std::string model_name, hw_name;
  r.req("model", model_name, "configs/models name, a model .toml, or a Hugging Face config.json");
  bool allow_unknown = false;
  r.opt("allow_unknown_model", allow_unknown, false,
        "read a config.json whose model_type bwsim does not know as a Llama-style decoder");
  r.opt("hw", hw_name, std::string("b200"), "GPU: configs/hw name or file");
  r.opt("tp", s.tp, 1, "tensor-parallel GPUs");
  r.opt("ep", s.ep, 1,
        "expert parallelism: 1 (every expert sharded over the TP group) or tp (whole experts, experts / tp "
        "a GPU)");
  r.check(s.ep == 1 || s.ep == s.tp, "ep", fmt::format("must be 1 or tp ({})", s.tp));
  const std::string ep_where = r.where("ep");
  {
    ConfigReader q = r.opt_section("quantization", "formats of weights, KV cache and activations");
    s.quant = read_quant_plan(q);
  }
  {
    ConfigReader c = r.section("serving", "the load");
    c.req("concurrency", s.concurrency, "sequences decoded together");
    c.req("prompt", s.prompt, "prompt tokens per sequence");
    c.req("output", s.output, "generated tokens per sequence");
    c.opt("prefill_chunk", s.prefill_chunk, int64_t{8192}, "tokens per prefill step (chunked prefill)");
    c.opt("memory_utilization", s.memory_utilization, 0.9, "share of HBM the stack may use");
    c.opt("expert_imbalance", s.expert_imbalance, 1.0, "MoE: busiest expert's tokens / the mean");
    c.check(s.concurrency >= 1, "concurrency", "must be >= 1");
    c.check(s.prompt >= 1, "prompt", "must be >= 1");
    c.check(s.output >= 1, "output", "must be >= 1");
    c.check(s.prefill_chunk >= 1, "prefill_chunk", "must be >= 1");
    c.check(s.expert_imbalance >= 1, "expert_imbalance", "must be >= 1");
  }
  s.serve = serving::read_serving_spec(r, file, s.concurrency, s.prompt, s.output, s.prefill_chunk);
  if (r.has("mtp")) {
    ConfigReader c = r.section("mtp", "multi-token prediction");
    c.req("drafts", s.mtp.drafts, "tokens drafted per verify pass (k); 0 turns MTP off");
    c.check(s.mtp.drafts >= 0 && s.mtp.drafts <= 16, "drafts", "expected 0..16 (0: no MTP)");
    double a = 0;
    std::vector<double> per;
    c.opt("acceptance", a, 0.0, "acceptance of every draft position (constant alpha)");
    c.opt("acceptance_per_position", per, std::vector<double>{}, "acceptance per draft position (k values)");
    if (c.has("toy")) {
      // Acceptance from a functional simulation: a seeded toy LM through the verify rule.
      c.check(!c.has("acceptance") && !c.has("acceptance_per_position"), "toy",
              "[mtp.toy] measures the acceptance: give it or acceptance / acceptance_per_position, not both");
      ConfigReader t =
          c.section("toy", "acceptance measured on a seeded toy language model (NUMERICS.md rules)");
      MtpSpec::Toy toy;
      static constexpr std::array<std::pair<std::string_view, VerifyRule>, 2> kRules{
          {{"greedy", VerifyRule::kGreedy}, {"stochastic", VerifyRule::kStochastic}}};
      t.opt_enum("rule", toy.rule, VerifyRule::kStochastic, kRules,
                 "greedy (accept a draft equal to the target's argmax) or stochastic (speculative sampling)");
      int64_t vocab = 0, passes = 0, seed = 0;
      t.opt("vocab", vocab, int64_t{64}, "tokens in the toy vocabulary");
      t.opt("temperature", toy.lm.temperature, 1.0, "softmax temperature of target and draft");
      t.opt("draft_noise", toy.lm.draft_noise, 0.5,
            "std. dev. of the noise on the draft's logits (0: draft = target)");
      t.opt("seed", seed, int64_t{0}, "seed of the toy LM and the sampling");
      t.opt("passes", passes, int64_t{20000}, "verify passes simulated");
      t.check(vocab >= 2 && vocab <= 65536, "vocab", "expected 2..65536");
      t.check(toy.lm.temperature > 0, "temperature", "must be > 0");
      t.check(toy.lm.draft_noise >= 0, "draft_noise", "must be >= 0");
      t.check(seed >= 0, "seed", "must be >= 0");
      t.check(passes >= 1 && passes <= 10000000, "passes", "expected 1..10000000");
      toy.lm.vocab = static_cast<int>(vocab);
      toy.lm.seed = static_cast<uint64_t>(seed);
      toy.passes = static_cast<uint64_t>(passes);
      c.check(s.mtp.drafts > 0, "toy", "needs drafts >= 1");
      s.mtp.toy = toy;
    } else if (!per.empty()) {
      c.check(std::ssize(per) == s.mtp.drafts, "acceptance_per_position",
              fmt::format("needs {} values (one per draft), got {}", s.mtp.drafts, per.size()));
      s.mtp.alpha = per;
    } else {
      c.check(c.has("acceptance") || s.mtp.drafts == 0, "acceptance",
              "give acceptance or acceptance_per_position");
      s.mtp.alpha.assign(static_cast<size_t>(s.mtp.drafts), a);
    }
    for (double v : s.mtp.alpha) c.check(v >= 0 && v <= 1, "acceptance", "acceptance must be in [0, 1]");
    std::string kind;
    c.opt("kind", kind, std::string("modules"),
          "modules (sequential, one decoder layer each) or heads (parallel)");
    c.check(kind == "modules" || kind == "heads", "kind", "expected modules or heads");
    s.mtp.modules = kind == "modules";
  }
  {
    ConfigReader c = r.opt_section("simulation", "how much to simulate");
    int64_t fin = 0;
    c.opt(
        "gemm_finalists", fin, int64_t{0},
        "GEMM plans simulated per shape: 0, the planner's finalists (as bwsim gemm); N, the analytic best N");
    c.check(fin >= 0, "gemm_finalists", "must be >= 0");
    s.gemm_finalists = static_cast<size_t>(fin);
    c.opt("decode_samples", s.decode_samples, 5,
          "contexts at which decode steps are simulated, time linear between (0: every step)");
    c.check(s.decode_samples == 0 || s.decode_samples >= 2, "decode_samples",
            "must be 0 (every step) or >= 2");
    c.opt("timing", s.timing, true, "simulate prefill and decode steps (false: memory and capacity only)");
  }
  if (r.has("claims")) {
    ConfigReader c =
        r.section("claims", "published claims to check: metric = { claimed = TEXT, low = X, high = Y }");
    for (const auto& [metric, doc] : claim_metrics()) {
      if (!c.has(metric)) {
        (void)c.opt_section(metric, doc);  // declared, so a misspelt metric is an unknown key
        continue;
      }
      ConfigReader m = c.section(metric, doc);
      Claim cl;
      cl.metric = metric;
      m.req("claimed", cl.claimed, "the claim as published");
      m.req("low", cl.low, "the lowest simulated value that bears the claim out");
      m.req("high", cl.high, "the highest");
      m.check(cl.low <= cl.high, "high", "must be >= low");
      s.claims.push_back(cl);
    }
  }
  r.finish();
  s.model = load_model(model_path(file, model.empty() ? model_name : model), {}, allow_unknown);
  resolve_checkpoint(s.quant, s.model, s.source);
  check_keep_layers(s.quant, s.model.layers, s.source + ": [quantization]");
  if (s.ep > 1 && (!s.model.moe || s.model.moe->experts % s.ep != 0)) {
    throw InputError(fmt::format(
        "{}: 'ep' {}: {}", ep_where, s.ep,
        s.model.moe ? fmt::format("must divide {}'s {} experts", s.model.name, s.model.moe->experts)
                    : fmt::format("{} has no experts to spread", s.model.name)));
  }
  s.hw = HwSpec::load(hw.empty() ? hw_name : hw, hw_sets);
  // Every GEMM class's format must run on this GPU: say which key to change where not.
  for (WeightClass c :
       {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts, WeightClass::kLmHead}) {
    try {
      (void)gemm_math(s.quant.gemm_format(c), s.hw.arch, s.hw.name);
    } catch (const InputError& e) {
      throw InputError(
          fmt::format("{}: [quantization] {} weights {} on {}: {} (or set quantization.activations = "
                      "\"bf16\" for weight-only GEMMs)",
                      s.source, weight_class_name(c), scheme_name(s.quant.scheme(c)), s.hw.name, e.what()));
    }
  }
  return s;
}

StepOptions scenario_step_options(const Scenario& s) {
  StepOptions so;
  so.tp = s.tp;
  so.ep = s.ep;
  so.expert_imbalance = s.expert_imbalance;
  so.gemm_finalists = s.gemm_finalists;
  return so;
}

ScenarioResult run_scenario(const Scenario& s, const TraceOptions* trace, StepCache* shared) {
  ScenarioResult res;
  CapacityOptions co;
  co.tp = s.tp;
  co.context = s.prompt + s.output;
  co.prefill_chunk = s.prefill_chunk;
  co.gpu_memory_utilization = s.memory_utilization;
  res.capacity = capacity(s.model, s.quant, s.hw, co);
  res.fits = res.capacity.fits();
  if (!res.fits) {
    res.smallest_tp = smallest_fitting_tp(s.model, s.quant, s.hw, co);
    return res;
  }
  res.concurrency = std::min(s.concurrency, res.capacity.max_sequences);
  if (!s.timing) return res;
  res.timed = true;
  StepOptions so = scenario_step_options(s);
  so.trace = trace;
  StepCache own;
  StepCache& cache = shared != nullptr ? *shared : own;
  // Progress: one unit per simulated step (prefill chunks, decode samples, the mean-context
  // step, and the same again for MTP verify plus its draft).
  const int64_t decode_steps =
      (s.decode_samples == 0 ? s.output : std::min<int64_t>(s.decode_samples, s.output)) + 1;
  progress::Scope bar("serving run: steps",
                      static_cast<double>((s.prompt + s.prefill_chunk - 1) / s.prefill_chunk + decode_steps +
                                          (s.mtp.drafts > 0 ? decode_steps + 1 : 0)));
  // Every step of the run: the scenario's plan, GPU, options and kernel cache.
  const auto step_ = [&](const ModelSpec& m, const StepShape& sh) {
    StepTiming t = simulate_step(m, s.quant, s.hw, sh, so, cache);
    bar.advance();
    return t;
  };
  // Time to first token: the prompt's chunks, one after another.
  for (int64_t c0 = 0; c0 < s.prompt; c0 += s.prefill_chunk) {
    const int64_t len = std::min(s.prefill_chunk, s.prompt - c0);
    res.prefill_chunks.push_back(step_(s.model, StepShape{1, len, c0 + len, false}));
    res.ttft_s += res.prefill_chunks.back().time.seconds();
  }
  // Decode: steps at evenly spaced contexts over the output (time is linear in the context).
  const int64_t first = s.prompt + 1;
  const int64_t last = s.prompt + s.output;
  const auto n =
      static_cast<int>(s.decode_samples == 0 ? s.output : std::min<int64_t>(s.decode_samples, s.output));
  const auto contexts = [&] {
    std::vector<int64_t> c;
    c.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) c.push_back(n == 1 ? first : first + (last - first) * i / (n - 1));
    c.erase(std::unique(c.begin(), c.end()), c.end());
    return c;
  }();
  const auto run_decode = [&](int64_t q_len, bool logits_all) {
    std::vector<std::pair<int64_t, double>> samples, energies;
    for (int64_t ctx : contexts) {
      const StepShape sh{res.concurrency, q_len, std::max(ctx + q_len - 1, q_len), logits_all};
      const StepTiming st = step_(s.model, sh);
      samples.emplace_back(ctx, st.time.seconds());
      energies.emplace_back(ctx, st.power.joules());
    }
    const int64_t mid = contexts[contexts.size() / 2];
    DecodeResult d;
    d.pass_s = mean_step(samples);
    d.pass_j = mean_step(energies);
    d.step = step_(s.model, StepShape{res.concurrency, q_len, std::max(mid + q_len - 1, q_len), logits_all});
    return d;
  };
  const auto finish = [&](DecodeResult& d) {
    d.itl_s = d.pass_s / d.tokens_per_pass;
    d.tokens_per_s_user = 1 / d.itl_s;
    d.tokens_per_s_gpu = static_cast<double>(res.concurrency) / d.itl_s / s.tp;
    d.avg_power_w = d.pass_j / d.pass_s;
    d.joules_per_token = d.pass_j * s.tp / (static_cast<double>(res.concurrency) * d.tokens_per_pass);
    d.tokens_per_joule = 1 / d.joules_per_token;
  };
  res.decode = run_decode(1, false);
  finish(res.decode);
  // The prefill emits the first token; the other output - 1 come one inter-token latency apart.
  res.e2e_s = res.ttft_s + static_cast<double>(s.output - 1) * res.decode.itl_s;
  if (s.mtp.drafts > 0) {
    const int k = s.mtp.drafts;
    DecodeResult m = run_decode(k + 1, true);  // the target verifies k drafts plus its own token
    // Drafting: k sequential MTP modules (one decoder layer and the shared head each), or k
    // parallel heads (the head GEMM over k rows per sequence).
    ModelSpec draft = s.model;
    draft.layers = s.mtp.modules ? 1 : 0;
    if (draft.moe) draft.moe->dense_layers = 0;
    const int64_t mid = contexts[contexts.size() / 2];
    const StepShape dsh{res.concurrency, s.mtp.modules ? 1 : k, mid, !s.mtp.modules};
    m.draft = step_(draft, dsh);
    m.pass_s += m.draft->time.seconds() * (s.mtp.modules ? k : 1);
    m.pass_j += m.draft->power.joules() * (s.mtp.modules ? k : 1);
    m.alpha = s.mtp.alpha;
    m.tokens_per_pass = expected_tokens_per_pass(s.mtp.alpha);
    if (s.mtp.toy) {  // acceptance per position and tokens per pass as the verify rule produced them
      const AcceptanceStats st =
          simulate_mtp(s.mtp.toy->lm, k, s.mtp.toy->rule, s.mtp.toy->passes, s.mtp.toy->lm.seed);
      m.alpha.clear();
      for (int i = 1; i <= k; ++i) m.alpha.push_back(st.acceptance_at(static_cast<size_t>(i)));
      m.tokens_per_pass = st.tokens_per_pass();
      m.measured = st;
    }
    finish(m);
    res.e2e_s = res.ttft_s + static_cast<double>(s.output - 1) * m.itl_s;
    res.mtp = std::move(m);
  }
  return res;
}

}  // namespace bwsim
