// bwsim model: a transformer from bwsim's TOML schema or a Hugging Face config.json — its shape,
// parameter counts by class, what the import did not carry over — and, under a quantization
// plan, its weight and KV-cache bytes, how many sequences of a context fit on a GPU (or a
// tensor-parallel group), and the smallest TP degree that fits when one GPU does not.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <charconv>
#include <iostream>

#include "app/commands.hpp"
#include "app/quant_options.hpp"
#include "app/step_report.hpp"
#include "models/hw_spec.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/strings.hpp"
#include "sim/table.hpp"
#include "sim/units.hpp"
#include "workloads/transformer/capacity.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/quant_plan.hpp"
#include "workloads/transformer/step.hpp"

namespace bwsim::app {
namespace {

Scheme scheme_option(const cli::po::variables_map& vm, const char* flag) {
  const auto& name = vm[flag].as<std::string>();
  if (auto s = parse_scheme(name)) return *s;
  throw InputError(fmt::format("--{} {}: unknown format (one of: {})", flag, name, scheme_names_text()));
}

// Parameter counts as model cards write them: "70.55 B", "926.7 M".
std::string params_text(double v) {
  if (v >= 1e9) return fmt::format("{:.2f} B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f} M", v / 1e6);
  return fmt::format("{:.0f}", v);
}

// --weights checkpoint: the formats the model's quantization_config declares.
QuantPlan quant_option(const cli::po::variables_map& vm, const ModelSpec& m) {
  QuantPlan q = QuantPlan::bf16();
  const bool checkpoint = vm["weights"].as<std::string>() == "checkpoint";
  const Scheme w = checkpoint ? Scheme::kBf16 : scheme_option(vm, "weights");
  for (WeightClass c : {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts}) {
    q.weights[static_cast<size_t>(c)] = w;
    q.from_checkpoint[static_cast<size_t>(c)] = checkpoint;
  }
  q.weights[static_cast<size_t>(WeightClass::kLmHead)] = scheme_option(vm, "lm-head");
  q.weights[static_cast<size_t>(WeightClass::kEmbedding)] = scheme_option(vm, "embedding");
  const auto& kvname = vm["kv-format"].as<std::string>();
  const auto kv = parse_kv_format(kvname);
  if (!kv)
    throw InputError(
        fmt::format("--kv-format {}: unknown (bf16, fp8_e4m3, fp8_e4m3:head, mxfp8, nvfp4, mxfp4)", kvname));
  q.kv = *kv;
  if (const auto& act = vm["activations"].as<std::string>(); act != "weights")
    q.activations = scheme_option(vm, "activations");
  resolve_checkpoint(q, m, "--weights checkpoint");
  for (WeightClass c : {WeightClass::kAttention, WeightClass::kLmHead}) (void)q.gemm_format(c);
  if (vm.count("keep-layers") != 0) {
    q.keep_layers = keep_layers_option(vm);
    q.keep_format = scheme_option(vm, "keep-format");
    check_keep_layers(q, m.layers, "--keep-layers");
    for (WeightClass c : {WeightClass::kAttention, WeightClass::kMlp}) (void)q.kept_plan().gemm_format(c);
  }

  return q;
}

void print_model(std::ostream& out, const ModelSpec& m) {
  const ParamCount p = m.params();
  out << fmt::format("model  {} ({}, from {})\n", m.name, m.family, m.source);
  std::string attn;
  if (m.mla) {
    attn = fmt::format("MLA: {} heads, Q rank {}, KV latent {} + rope {}, QK {} + {}, V {}", m.heads,
                       m.mla->q_lora_rank, m.mla->kv_lora_rank, m.mla->rope_dim, m.mla->nope_dim,
                       m.mla->rope_dim, m.mla->v_dim);
  } else {
    attn = fmt::format("{} heads / {} KV heads x {}", m.heads, m.kv_heads, m.head_dim);
    if (m.qkv_bias) attn += ", QKV bias";
    if (m.qk_norm) attn += ", QK norm";
    if (m.qk_l2norm) attn += ", QK L2 norm (RoPE layers)";
    if (m.query_scalar > 0) attn += fmt::format(", scores / sqrt({})", m.query_scalar);
    if (m.attention_sinks) attn += ", sinks";
    if (m.window > 0) {
      attn += fmt::format(", {} {} in {} of {} layers", m.window_chunked ? "chunks of" : "sliding window",
                          m.window, m.window_layers(), m.layers);
    }
    if (m.nope_every > 0) attn += fmt::format(", no RoPE in every {}th layer", m.nope_every);
    if (m.norms_per_layer >= 4) attn += ", post-norms";
  }
  std::string mlp = m.ffn > 0 ? fmt::format("MLP {}", m.ffn) : "";
  if (m.moe) {
    mlp += fmt::format(
        "{}MoE {} experts, top {}, expert FFN {}{}{}", mlp.empty() ? "" : "; ", m.moe->experts, m.moe->top_k,
        m.moe->expert_ffn, m.moe->shared_ffn > 0 ? fmt::format(", shared FFN {}", m.moe->shared_ffn) : "",
        m.moe->dense_layers > 0 ? fmt::format(", first {} layers dense", m.moe->dense_layers) : "");
  }
  out << fmt::format("  shape       {} layers, hidden {}, {}, {}, vocab {}{}\n", m.layers, m.hidden, attn,
                     mlp, m.vocab, m.tie_embeddings ? " (tied)" : "");
  out << fmt::format("  RoPE        {}; max positions {}\n", m.rope ? m.rope->text : "none", m.max_positions);
  std::string by;
  for (WeightClass c : kAllWeightClasses) {
    if (p[c] > 0)
      by += fmt::format("{}{} {}", by.empty() ? "" : ", ", weight_class_name(c), params_text(p[c]));
  }
  out << fmt::format("  parameters  {} ({})\n", params_text(p.total()), by);
  if (m.moe) out << fmt::format("  active      {} per token\n", params_text(m.active_params().total()));
  if (m.mtp_modules > 0)
    out << fmt::format("  MTP         {} module(s), {} (embedding and head shared)\n", m.mtp_modules,
                       params_text(m.mtp_params().total()));
  for (const std::string& n : m.notes) out << "  note: " << n << "\n";
  if (!m.ignored.empty()) {
    std::string keys;
    for (const std::string& k : m.ignored) keys += (keys.empty() ? "" : ", ") + k;
    out << "  ignored (no bearing on time or numbers): " << keys << "\n";
  }
}

void print_memory(std::ostream& out, const ModelSpec& m, const QuantPlan& q, const HwSpec& hw,
                  const CapacityOptions& co, const Capacity& cap, int min_tp) {
  const WeightBytes wb = weight_bytes(m, q);
  out << fmt::format("\nquantization  {}\n", q.text());
  std::string wby;
  for (WeightClass c : kAllWeightClasses) {
    const double b = wb.by_class[static_cast<size_t>(c)];
    if (b > 0)
      wby += fmt::format("{}{} {}", wby.empty() ? "" : ", ", weight_class_name(c), format_si(b, "B", 3));
  }
  out << fmt::format("  weights     {} ({}){}\n", format_si(wb.total(), "B", 4), wby,
                     wb.mtp > 0 ? fmt::format("; MTP {}", format_si(wb.mtp, "B", 3)) : "");
  out << fmt::format(
      "  KV cache    {} per token (all layers{})\n", format_si(kv_bytes_per_token(m, q), "B", 4),
      m.window > 0
          ? fmt::format("; the {} windowed layers hold at most {} tokens", m.window_layers(), m.window)
          : "");
  out << fmt::format("\nmemory on {} ({} HBM, {:.0f}% usable), TP {}, context {}\n", hw.name,
                     format_si(cap.hbm, "B", 4), 100 * co.gpu_memory_utilization, co.tp, co.context);
  out << fmt::format("  per GPU     weights {}, activations {}, KV {} per sequence\n",
                     format_si(cap.weights, "B", 4), format_si(cap.activations, "B", 3),
                     format_si(cap.kv_per_sequence, "B", 4));
  if (cap.fits()) {
    out << fmt::format("  fits        {} sequences of {} tokens (KV budget {})\n", cap.max_sequences,
                       co.context, format_si(cap.kv_budget, "B", 4));
  } else {
    out << fmt::format(
        "  DOES NOT FIT: weights and workspace need {} of {} usable{}\n",
        format_si(cap.weights + cap.activations + cap.kv_per_sequence, "B", 4), format_si(cap.usable, "B", 4),
        min_tp > 0 ? fmt::format("; smallest TP that fits: {}", min_tp) : "; no TP degree up to 8 fits");
  }
}

boost::json::object report_json(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw,
                                const CapacityOptions& co, const Capacity& cap, int min_tp) {
  const ParamCount p = m.params();
  const WeightBytes wb = weight_bytes(m, q);
  boost::json::object doc;
  doc["command"] = "model";
  boost::json::object pj;
  for (WeightClass c : kAllWeightClasses) pj[std::string(weight_class_name(c))] = p[c];
  pj["total"] = p.total();
  pj["active"] = m.active_params().total();
  pj["mtp"] = m.mtp_params().total();
  boost::json::array notes, ignored;
  for (const auto& n : m.notes) notes.emplace_back(n);
  for (const auto& n : m.ignored) ignored.emplace_back(n);
  doc["model"] = {{"name", m.name},
                  {"family", m.family},
                  {"source", m.source},
                  {"layers", m.layers},
                  {"window", m.window},
                  {"window_layers", m.window_layers()},
                  {"hidden", m.hidden},
                  {"params", std::move(pj)},
                  {"notes", std::move(notes)},
                  {"ignored", std::move(ignored)}};
  boost::json::object wj;
  for (WeightClass c : kAllWeightClasses)
    wj[std::string(weight_class_name(c))] = wb.by_class[static_cast<size_t>(c)];
  wj["mtp"] = wb.mtp;
  wj["total"] = wb.total();
  doc["quantization"] = dotted_object({{"plan", q.text()},
                                       {"bytes.weights", std::move(wj)},
                                       {"bytes.kv_per_token", kv_bytes_per_token(m, q)}});
  doc["memory"] = dotted_object({{"hw", hw.name},
                                 {"tp", co.tp},
                                 {"context", co.context},
                                 {"bytes.hbm", cap.hbm},
                                 {"bytes.usable", cap.usable},
                                 {"bytes.weights_per_gpu", cap.weights},
                                 {"bytes.activations_per_gpu", cap.activations},
                                 {"bytes.kv_per_sequence", cap.kv_per_sequence},
                                 {"max_sequences", cap.max_sequences},
                                 {"fits", cap.fits()},
                                 {"smallest_tp", min_tp}});
  return doc;
}

// The decode step of `batch` sequences at the context, and the prefill of one prompt, as --step asks.
boost::json::array run_steps(const cli::po::variables_map& vm, std::ostream& out, const ModelSpec& m,
                             const QuantPlan& q, const HwSpec& hw, const CapacityOptions& co) {
  const auto& step = vm["step"].as<std::string>();
  if (step != "off" && step != "decode" && step != "prefill" && step != "both")
    throw InputError(fmt::format("--step {}: expected off, decode, prefill or both", step));
  boost::json::array steps;
  if (step != "off") {
    StepOptions so;
    so.tp = co.tp;
    so.ep = vm["ep"].as<int>();
    StepCache cache;
    const int64_t batch = vm["batch"].as<int64_t>();
    const int64_t prompt = vm["prompt"].as<int64_t>();
    std::vector<std::pair<std::string, StepShape>> shapes;
    if (step == "decode" || step == "both")
      shapes.emplace_back("decode", StepShape{batch, 1, co.context, false});
    if (step == "prefill" || step == "both")
      shapes.emplace_back("prefill", StepShape{1, prompt, prompt, false});
    for (const auto& [label, shape] : shapes) {
      const StepTiming t = simulate_step(m, q, hw, shape, so, cache);
      out << fmt::format("\n{} step: {} sequences x {} new tokens, context {}, TP {}\n", label, shape.batch,
                         shape.q_len, shape.context, co.tp);
      print_step(out, t);
      const double tokens = static_cast<double>(shape.batch * shape.q_len);
      out << fmt::format("  time        {:.3f} ms, {} from HBM, {:.1f} TFLOP/s\n", t.time.seconds() * 1e3,
                         format_si(t.hbm_bytes, "B", 4), t.flops / t.time.seconds() * 1e-12);
      if (label == "decode") {
        out << fmt::format("  decode      {:.1f} tokens/s per sequence, {:.0f} tokens/s per GPU\n",
                           1 / t.time.seconds(), tokens / t.time.seconds() / co.tp);
      } else {
        out << fmt::format(
            "  prefill     {:.0f} tokens/s per GPU (time to first token of a {}-token prompt: "
            "{:.2f} ms)\n",
            tokens / t.time.seconds() / co.tp, prompt, t.time.seconds() * 1e3);
      }
      boost::json::object sj = step_json(t);
      sj["step"] = label;
      sj["tokens_per_s_per_gpu"] = tokens / t.time.seconds() / co.tp;
      steps.push_back(std::move(sj));
    }
  }
  return steps;
}

int run_model(const cli::po::variables_map& vm) {
  const ProgressBar bar(vm);
  if (vm.count("model") == 0)
    throw InputError("--model FILE is required (.toml or a Hugging Face config.json)");
  std::vector<std::string> model_sets;
  if (vm.count("model-set") != 0) model_sets = vm["model-set"].as<std::vector<std::string>>();
  const ModelSpec m =
      load_model(vm["model"].as<std::string>(), model_sets, vm.count("allow-unknown-model") != 0);
  std::vector<std::string> sets;
  if (vm.count("set") != 0) sets = vm["set"].as<std::vector<std::string>>();
  const HwSpec hw = HwSpec::load(vm["hw"].as<std::string>(), sets);
  const QuantPlan q = quant_option(vm, m);

  CapacityOptions co;
  co.tp = vm["tp"].as<int>();
  co.context = vm["context"].as<int64_t>();
  if (co.context < 1) throw InputError(fmt::format("--context {}: must be >= 1", co.context));
  co.gpu_memory_utilization = vm["memory-utilization"].as<double>();
  const Capacity cap = capacity(m, q, hw, co);
  const int min_tp = cap.fits() ? co.tp : smallest_fitting_tp(m, q, hw, co);

  std::ostream& out = cli::text_out(vm);
  print_model(out, m);
  print_memory(out, m, q, hw, co, cap, min_tp);
  boost::json::object doc = report_json(m, q, hw, co, cap, min_tp);
  doc["steps"] = run_steps(vm, out, m, q, hw, co);
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command model_command() {
  return cli::Command{
      "model",
      "a transformer's shape, parameters, weight and KV bytes under a quantization plan, and what fits",
      "bwsim model --model FILE.toml|config.json [--hw FILE] [--weights F] [--kv-format F] [--context N] "
      "[--tp N] "
      "[--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        add_hw_options(desc);
        desc.add_options()("model", cli::po::value<std::string>(),
                           "bwsim TOML model (configs/models/NAME) or a Hugging Face config.json")(
            "allow-unknown-model",
            "read a config.json whose model_type bwsim does not know (or that has keys it does not read) as "
            "a "
            "Llama-style decoder, with notes, instead of refusing it")(
            "model-set", cli::po::value<std::vector<std::string>>()->composing(),
            "override a TOML model key: KEY=VALUE (repeatable)")(
            "weights", cli::po::value<std::string>()->default_value("bf16"),
            "format of the attention, MLP and expert weights (bf16, fp8_e4m3, fp8_block, mxfp8_e4m3, mxfp4, "
            "nvfp4, ...), or checkpoint (what a config.json's quantization_config declares)")(
            "lm-head", cli::po::value<std::string>()->default_value("bf16"), "lm_head format")(
            "embedding", cli::po::value<std::string>()->default_value("bf16"), "embedding table format")(
            "kv-format", cli::po::value<std::string>()->default_value("bf16"), "KV-cache format")(
            "activations", cli::po::value<std::string>()->default_value("weights"),
            "GEMM activations: 'weights' (as the weights) or a format (bf16: weight-only)")(
            "keep-layers", cli::po::value<std::string>(),
            "decoder layers kept in --keep-format, comma-separated (negative: from the end; 0,-1: the first "
            "and last blocks)")("keep-format", cli::po::value<std::string>()->default_value("bf16"),
                                "format of the kept layers' attention, MLP and expert GEMMs")(
            "context", cli::po::value<int64_t>()->default_value(8192), "tokens per sequence")(
            "tp", cli::po::value<int>()->default_value(1), "tensor-parallel GPUs")(
            "ep", cli::po::value<int>()->default_value(1),
            "expert parallelism with --step: 1 (experts sharded over TP) or the TP degree (whole experts)")(
            "step", cli::po::value<std::string>()->default_value("off"),
            "simulate a step on the GPU model: off, decode (--batch sequences at --context), prefill (one "
            "--prompt), both")("batch", cli::po::value<int64_t>()->default_value(1),
                               "decode: sequences per step")(
            "prompt", cli::po::value<int64_t>()->default_value(2048), "prefill: prompt tokens")(
            "memory-utilization", cli::po::value<double>()->default_value(0.9),
            "share of HBM the serving stack may use");
        add_progress_option(desc);
        add_json_option(desc);
      },
      run_model};
}

}  // namespace bwsim::app
