// bwsim numerics: how quantization plans' errors add up through a model, on a seeded replica
// small enough to run exactly (workloads/transformer/numerics.hpp), one row per format.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "app/commands.hpp"
#include "app/quant_options.hpp"
#include "isa/calibration.hpp"
#include "isa/tensor_io.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/strings.hpp"
#include "sim/table.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/numerics.hpp"

namespace bwsim::app {
namespace {

std::string db(double v) { return std::isfinite(v) ? fmt::format("{:.2f}", v) : "inf"; }

int run_numerics(const cli::po::variables_map& vm) {
  const ProgressBar bar(vm);
  if (vm.count("model") == 0)
    throw InputError("--model is required (a configs/models name, .toml or config.json)");
  const ModelSpec m = load_model(vm["model"].as<std::string>(), {}, vm.count("allow-unknown-model") != 0);
  std::vector<std::string> sets;
  if (vm.count("set") != 0) sets = vm["set"].as<std::vector<std::string>>();
  const HwSpec hw = HwSpec::load(vm["hw"].as<std::string>(), sets);
  NumericsOptions o;
  o.layers = vm["layers"].as<int>();
  o.tokens = vm["tokens"].as<int64_t>();
  o.width = vm["width"].as<int64_t>();
  o.vocab = vm["vocab"].as<int64_t>();
  o.seed = vm["seed"].as<uint64_t>();
  const int calib = vm["calib-prompts"].as<int>();
  if (calib > 0 && vm.count("scales") != 0)
    throw InputError(
        "--scales gives the static scales; --calib-prompts would calibrate them: one or the other");
  if (calib < 0 || calib > 64) throw InputError(fmt::format("--calib-prompts {}: expected 0..64", calib));
  o.deploy_outliers = vm["deploy-outliers"].as<double>();
  if (!(o.deploy_outliers > 0) || !std::isfinite(o.deploy_outliers))
    throw InputError(fmt::format("--deploy-outliers {}: expected a factor > 0", o.deploy_outliers));
  o.outlier_layer = vm["outlier-layer"].as<int>();
  o.outlier_factor = vm["outlier-factor"].as<double>();
  if (o.outlier_layer < -1 || o.outlier_layer >= o.layers)
    throw InputError(
        fmt::format("--outlier-layer {}: the replica has layers 0..{}", o.outlier_layer, o.layers - 1));
  if (!(o.outlier_factor > 0) || !std::isfinite(o.outlier_factor))
    throw InputError(fmt::format("--outlier-factor {}: expected a factor > 0", o.outlier_factor));
  const auto& kvname = vm["kv-format"].as<std::string>();
  const auto kv = parse_kv_format(kvname);
  if (!kv)
    throw InputError(
        fmt::format("--kv-format {}: unknown (bf16, fp8_e4m3, fp8_e4m3:head, mxfp8, nvfp4, mxfp4)", kvname));
  // --keep-layers: the replica's layers kept in BF16 in every row.
  std::vector<int64_t> keep;
  if (vm.count("keep-layers") != 0) {
    keep = keep_layers_option(vm);
    QuantPlan probe;
    probe.keep_layers = keep;
    check_keep_layers(probe, o.layers, "--keep-layers");
  }
  // Every format first, so a bad one fails before any runs.
  std::vector<std::pair<std::string, QuantPlan>> plans;
  std::vector<bool> static_rows;  // the row's activation scales are calibrated
  for (const std::string_view piece : split(vm["formats"].as<std::string>(), ',')) {
    const std::string name(piece);
    const auto scheme = parse_scheme(name);
    if (!scheme)
      throw InputError(fmt::format("--formats: unknown format '{}' (one of: {})", name, scheme_names_text()));
    QuantPlan q = QuantPlan::uniform(*scheme, *kv, vm.count("quantize-head") == 0);
    q.keep_layers = keep;
    try {
      for (WeightClass c : {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kLmHead})
        (void)gemm_math(q.gemm_format(c), hw.arch, hw.name);
    } catch (const InputError& e) {
      throw InputError(fmt::format("--formats {}: {}", name, e.what()));
    }
    plans.emplace_back(name, q);
    static_rows.push_back(false);
    // With --calib-prompts (or --scales), a second row with static activation scales where the
    // format has them.
    if ((calib > 0 || vm.count("scales") != 0) && static_scale_applies(*scheme)) {
      plans.emplace_back(name + " static", q);
      static_rows.push_back(true);
    }
  }
  std::optional<Scheme> sensitivity;
  if (vm.count("sensitivity") != 0) {
    const std::string& name = vm["sensitivity"].as<std::string>();
    sensitivity = parse_scheme(name);
    if (!sensitivity)
      throw InputError(
          fmt::format("--sensitivity: unknown format '{}' (one of: {})", name, scheme_names_text()));
  }
  if (vm.count("scales-out") != 0) {
    const std::string file = vm["scales-out"].as<std::string>();
    if (!file.ends_with(".safetensors"))
      throw InputError(fmt::format("--scales-out {}: a scales file is a .safetensors file", file));
    cli::check_output_path(file, "--scales-out");
    if (calib == 0) throw InputError("--scales-out writes calibrated scales: it needs --calib-prompts N");
  }
  std::ostream& out = cli::text_out(vm);
  std::vector<NumericsResult> results;
  results.reserve(plans.size());
  // --scales FILE: every `*.input_scale` of the file, mapped to the replica's GEMM sites (q, k
  // and v to their fused GEMM, which takes their largest amax); layers the replica does not run
  // are skipped; a tensor of no module bwsim knows is an error.
  std::map<std::string, float> given;
  size_t beyond = 0;
  std::string given_file;
  if (vm.count("scales") != 0) {
    given_file = vm["scales"].as<std::string>();
    std::optional<Scheme> fmt_scheme;
    for (size_t i = 0; i < plans.size(); ++i) {
      if (static_rows[i]) fmt_scheme = plans[i].second.scheme(WeightClass::kAttention);
    }
    if (!fmt_scheme) throw InputError("--scales: no NVFP4 or FP8 format in --formats to apply them to");
    for (const std::string& name : safetensors_names(given_file)) {
      if (!name.ends_with(".input_scale")) continue;
      const std::string module = name.substr(0, name.size() - 12);
      const std::optional<std::string> site = site_of_module(module);
      if (!site)
        throw InputError(fmt::format("--scales {}:{}: not an input scale of a module bwsim's replica has",
                                     given_file, name));
      if (*site != "head" && std::stoll(site->substr(1, site->find('.') - 1)) >= o.layers) {
        ++beyond;
        continue;
      }
      const StaticScale sc =
          read_static_scale(fmt::format("{}:{}", given_file, name), *fmt_scheme, "--scales");
      float& a = given[*site];
      a = std::max(a, sc.amax);
    }
    if (given.empty())
      throw InputError(fmt::format("--scales {}: no input_scale of the replica's {} layer(s) or its head",
                                   given_file, o.layers));
  }
  for (size_t i = 0; i < plans.size(); ++i) {
    NumericsOptions oi = o;
    if (static_rows[i]) oi.calib_prompts = calib;
    if (static_rows[i]) oi.static_amax = given;
    results.push_back(model_numerics(m, plans[i].second, hw, oi));
    if (!given.empty() && results.back().unused_sites == given.size()) {
      throw InputError(
          fmt::format("--scales {}: none of its {} scales is the input of a GEMM of {}'s replica (a "
                      "file for another model?)",
                      given_file, given.size(), m.name));
    }
  }
  const NumericsResult& s = results.front();
  out << fmt::format(
      "numerics  {}: a seeded replica of {} layers, hidden {} ({} / {} heads x {}), {}, vocab {}; a prefill "
      "of {} "
      "tokens on {}\n",
      m.name, s.layers, s.hidden, s.heads, s.kv_heads, s.head_dim,
      s.experts > 0 ? fmt::format("{} experts of FFN {}, top {}", s.experts, s.expert_ffn, s.top_k)
                    : fmt::format("FFN {}", s.ffn),
      s.vocab, o.tokens, hw.name);
  out << fmt::format("  reference: the same replica in float64; KV cache {}; lm_head {}\n\n", kvname,
                     vm.count("quantize-head") != 0 ? "as the weights" : "bf16");
  std::vector<std::string> head{"format"};
  for (int l = 0; l < s.layers; ++l) head.push_back(fmt::format("layer {} SQNR", l));
  for (const char* h : {"logits rel. err", "logits SQNR dB", "top-1 agree", "KL mean", "KL max"})
    head.emplace_back(h);
  TextTable t(head);
  boost::json::array rows;
  std::vector<std::string> notes;
  for (size_t i = 0; i < results.size(); ++i) {
    const NumericsResult& r = results[i];
    std::vector<std::string> row{plans[i].first};
    boost::json::array layers;
    for (const ErrorMetrics& e : r.residual) {
      row.push_back(db(e.sqnr_db));
      layers.push_back(metrics_json(e));
    }
    row.push_back(fmt::format("{:.3e}", r.logits.rel_frobenius));
    row.push_back(db(r.logits.sqnr_db));
    row.push_back(fmt::format("{:.1f}%", 100 * r.top1));
    row.push_back(fmt::format("{:.2e}", r.kl_mean));
    row.push_back(fmt::format("{:.2e}", r.kl_max));
    t.add_row(std::move(row));
    if (static_rows[i]) {
      std::string per_layer;
      for (size_t l = 0; l < r.static_saturated_layers.size(); ++l)
        per_layer += fmt::format("{}{:.3g}%", l == 0 ? "" : ", ", 100 * r.static_saturated_layers[l]);
      notes.push_back(fmt::format("{}: saturated per layer {}", plans[i].first, per_layer));
      const std::string from = given.empty() ? fmt::format("calibrated on {} prompt(s)", calib)
                                             : fmt::format(
                                                   "from {} ({} scales of layers beyond the replica's "
                                                   "skipped)",
                                                   given_file, beyond);
      notes.push_back(fmt::format(
          "{}: {} GEMM inputs {}; {:.3g}% of activation values beyond their calibrated "
          "amax{}",
          plans[i].first, r.static_sites, from, 100 * r.static_saturated,
          r.uncalibrated_sites > 0 ? fmt::format("; {} without a scale, left dynamic", r.uncalibrated_sites)
                                   : ""));
    }
    rows.push_back({{"format", plans[i].first},
                    {"static_scales", static_cast<bool>(static_rows[i])},
                    {"static_saturated", r.static_saturated},
                    {"static_saturated_layers", boost::json::value_from(r.static_saturated_layers)},
                    {"residual", std::move(layers)},
                    {"logits", metrics_json(r.logits)},
                    {"top1_agreement", r.top1},
                    {"kl_mean", r.kl_mean},
                    {"kl_max", r.kl_max}});
  }
  out << t.render();
  out << "\nlayer l SQNR: the residual stream after layer l against float64; KL: of the next-token "
         "distributions, nats\n";
  if (calib > 0 || o.deploy_outliers != 1) {
    out << fmt::format(
        "static: activation scales fixed by max calibration over {} seeded prompt(s); the evaluated prompt's "
        "outlier channels x{:g} of the calibration's\n",
        calib, o.deploy_outliers);
  }
  for (const std::string& n : notes) out << "  " << n << "\n";
  // Per-layer sensitivity: one layer in the format, the rest BF16, against the BF16 plan's logits.
  boost::json::array sens;
  boost::json::object search;
  if (vm.count("plan-search") != 0) {
    if (!sensitivity)
      throw InputError("--plan-search needs --sensitivity FORMAT: the format the plan runs in");
    const std::string& kname = vm["keep-format"].as<std::string>();
    const auto keep_scheme = parse_scheme(kname);
    if (!keep_scheme)
      throw InputError(
          fmt::format("--keep-format {}: unknown format (one of: {})", kname, scheme_names_text()));
    const double budget = vm["plan-search"].as<double>();
    const QuantPlan q = QuantPlan::uniform(*sensitivity, *kv, true);
    const PlanSearchResult r = search_plan(m, q, *keep_scheme, budget, hw, o);
    std::vector<int> ranked(r.layer_kl.size());
    for (size_t i = 0; i < ranked.size(); ++i) ranked[i] = static_cast<int>(i);
    std::stable_sort(ranked.begin(), ranked.end(), [&](int a, int b) {
      return r.layer_kl[static_cast<size_t>(a)] > r.layer_kl[static_cast<size_t>(b)];
    });
    TextTable st({"rank", "replica layer", "model layers", "KL vs BF16 (nats)", "kept"});
    for (size_t i = 0; i < ranked.size(); ++i) {
      const int l = ranked[i];
      const bool kept = std::find(r.kept_replica.begin(), r.kept_replica.end(), l) != r.kept_replica.end();
      const int64_t lo = static_cast<int64_t>(l) * m.layers / o.layers;
      const int64_t hi = static_cast<int64_t>(l + 1) * m.layers / o.layers;
      st.add_row({std::to_string(i + 1), std::to_string(l), fmt::format("{}..{}", lo, hi - 1),
                  fmt::format("{:.3e}", r.layer_kl[static_cast<size_t>(l)]), kept ? kname : "-"});
    }
    out << fmt::format(
        "\nplan search: {} with layers kept in {} within {:g} bits per weight (decoder layers' GEMM "
        "weights); "
        "each replica layer alone in {}, ranked\n",
        scheme_name(*sensitivity), kname, budget, scheme_name(*sensitivity));
    out << st.render();
    std::string layers;
    for (const int64_t l : r.keep_layers) layers += fmt::format("{}{}", layers.empty() ? "" : ",", l);
    out << fmt::format("  chosen      {}: {:.3f} bits per weight, KL {:.3e} vs BF16 on the replica\n",
                       r.uniform_chosen ? fmt::format("the uniform {} plan", scheme_name(r.uniform))
                                        : fmt::format("{} layer(s) kept in {}", r.keep_layers.size(), kname),
                       r.bits, r.kl);
    out << fmt::format("  uniform     {} at {:g} bits: KL {:.3e}\n", scheme_name(r.uniform), r.uniform_bits,
                       r.uniform_kl);
    if (!r.keep_layers.empty()) {
      out << fmt::format(
          "  as a plan   bwsim model --model {} --weights {} --kv-format {} --keep-layers {} "
          "--keep-format {}\n",
          vm["model"].as<std::string>(), scheme_name(*sensitivity), kvname, layers, kname);
      out << fmt::format(
          "              bwsim run SCENARIO --set 'quantization.keep_layers=[{}]' --set "
          "'quantization.keep_format=\"{}\"'\n",
          layers, kname);
    }
    search = {{"budget_bits", budget},
              {"format", scheme_name(*sensitivity)},
              {"keep_format", kname},
              {"layer_kl", boost::json::value_from(r.layer_kl)},
              {"keep_layers", boost::json::value_from(r.keep_layers)},
              {"bits", r.bits},
              {"kl", r.kl},
              {"uniform", scheme_name(r.uniform)},
              {"uniform_bits", r.uniform_bits},
              {"uniform_kl", r.uniform_kl},
              {"uniform_chosen", r.uniform_chosen},
              {"plan", r.plan.text()}};
  } else if (sensitivity) {
    const QuantPlan bf = QuantPlan::bf16();
    const NumericsResult base = model_numerics(m, bf, hw, o);
    QuantPlan q = QuantPlan::uniform(*sensitivity, *kv, true);
    std::vector<std::pair<int, LogitsAgreement>> per;
    for (int l = 0; l < o.layers; ++l) {
      NumericsOptions ol = o;
      ol.only_layer = l;
      const NumericsResult r = model_numerics(m, q, hw, ol);
      per.emplace_back(l, compare_logits(base.logits_values, r.logits_values, base.vocab));
    }
    std::vector<std::pair<int, LogitsAgreement>> ranked = per;
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.second.kl_mean > b.second.kl_mean; });
    TextTable st({"rank", "layer", "KL vs BF16 (nats)", "top-1 agree vs BF16"});
    for (size_t i = 0; i < ranked.size(); ++i) {
      st.add_row({std::to_string(i + 1), std::to_string(ranked[i].first),
                  fmt::format("{:.3e}", ranked[i].second.kl_mean),
                  fmt::format("{:.1f}%", 100 * ranked[i].second.top1)});
      sens.push_back({{"layer", ranked[i].first},
                      {"kl_mean", ranked[i].second.kl_mean},
                      {"top1_agreement", ranked[i].second.top1}});
    }
    out << fmt::format(
        "\nsensitivity to {}: each layer alone in it (weights, activations, KV {}), the rest BF16; "
        "most sensitive first\n",
        scheme_name(*sensitivity), kvname);
    out << st.render();
  }
  // --scales-out: the first static row's calibrated activation scales, named as a checkpoint's.
  if (vm.count("scales-out") != 0) {
    const std::string file = vm["scales-out"].as<std::string>();
    size_t row = results.size();
    for (size_t i = 0; i < results.size(); ++i) {
      if (static_rows[i] && row == results.size()) row = i;
    }
    if (row == results.size())
      throw InputError(
          "--scales-out writes calibrated scales: it needs --calib-prompts N and an NVFP4 or FP8 format");
    const Scheme sch = plans[row].second.scheme(WeightClass::kAttention);
    std::vector<StaticScale> scales;
    for (const auto& [site, amax] : results[row].calibrated_amax) {
      if (amax <= 0) continue;
      for (const std::string& n : modules_of_site(site)) scales.push_back({n + ".input_scale", sch, amax});
    }
    write_file_atomic(file, scales_file_bytes(scales, fmt::format("max over {} prompt(s)", calib)),
                      "--scales-out");
    out << fmt::format("wrote {} ({} input scales of the {} row)\n", file, scales.size(), plans[row].first);
  }
  boost::json::object doc{{"command", "numerics"},
                          {"model", m.name},
                          {"hw", hw.name},
                          {"replica",
                           {{"layers", s.layers},
                            {"hidden", s.hidden},
                            {"heads", s.heads},
                            {"kv_heads", s.kv_heads},
                            {"head_dim", s.head_dim},
                            {"ffn", s.ffn},
                            {"vocab", s.vocab},
                            {"experts", s.experts},
                            {"top_k", s.top_k},
                            {"tokens", o.tokens},
                            {"seed", o.seed}}},
                          {"kv_format", kvname},
                          {"calib_prompts", calib},
                          {"deploy_outliers", o.deploy_outliers},
                          {"sensitivity", std::move(sens)},
                          {"plan_search", std::move(search)},
                          {"results", std::move(rows)}};
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command numerics_command() {
  return cli::Command{
      "numerics",
      "how formats' errors add up through a model: a seeded replica run as the GPU computes it vs float64",
      "bwsim numerics --model M [--formats bf16,fp8_e4m3,mxfp8_e4m3,mxfp4,nvfp4] [--kv-format F] [--layers "
      "N] [--tokens "
      "T] "
      "[--width W] [--vocab V] [--hw H] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        add_hw_options(desc);
        desc.add_options()("model", cli::po::value<std::string>(),
                           "configs/models name, a .toml or a config.json")(
            "allow-unknown-model",
            "read a config.json of a model_type bwsim does not know as a Llama-style decoder")(
            "formats", cli::po::value<std::string>()->default_value("bf16,fp8_e4m3,mxfp8_e4m3,mxfp4,nvfp4"),
            "weight formats to compare (activations as the weights), one row each")(
            "kv-format", cli::po::value<std::string>()->default_value("bf16"), "KV-cache format")(
            "quantize-head", "lm_head in the row's format too (default: BF16, as deployments keep it)")(
            "layers", cli::po::value<int>()->default_value(2), "decoder layers of the replica")(
            "tokens", cli::po::value<int64_t>()->default_value(64), "prompt positions")(
            "width", cli::po::value<int64_t>()->default_value(512), "hidden size at most")(
            "vocab", cli::po::value<int64_t>()->default_value(2048), "vocabulary at most")(
            "seed", cli::po::value<uint64_t>()->default_value(0), "seed of the weights and the prompt")(
            "calib-prompts", cli::po::value<int>()->default_value(0),
            "N > 0: add a row per NVFP4 / FP8 format with static activation scales, calibrated (max) on N "
            "seeded "
            "prompts")("deploy-outliers", cli::po::value<double>()->default_value(1.0),
                       "the evaluated prompt's outlier channels this many times the calibration's (a shifted "
                       "deployment)")(
            "sensitivity", cli::po::value<std::string>(),
            "rank the layers: each alone in this format, the rest BF16, by logit KL and top-1 against BF16")(
            "outlier-layer", cli::po::value<int>()->default_value(-1),
            "inject outliers: in this layer 1 in 64 of the MLP's intermediate channels are --outlier-factor "
            "x "
            "larger")("outlier-factor", cli::po::value<double>()->default_value(1.0), "with --outlier-layer")(
            "plan-search", cli::po::value<double>(),
            "with --sensitivity F: keep the most sensitive layers in --keep-format while the decoder layers' "
            "weights average at most this many bits (NVFP4 4.5, FP8 8, BF16 16); prints the plan for model / "
            "run")("keep-format", cli::po::value<std::string>()->default_value("bf16"),
                   "the format --plan-search keeps layers in")(
            "scales", cli::po::value<std::string>(),
            "static activation scales from a file (FILE.safetensors, *.input_scale under Llama / Qwen module "
            "names, as --scales-out writes) instead of --calib-prompts")(
            "scales-out", cli::po::value<std::string>(),
            "with --calib-prompts: write the first static row's activation scales (FILE.safetensors, "
            "model.layers.N.mlp.down_proj.input_scale, ...)")(
            "keep-layers", cli::po::value<std::string>(),
            "replica layers kept in BF16 in every row, comma-separated (negative: from the end)");
        add_progress_option(desc);
        add_json_option(desc);
      },
      run_numerics};
}

}  // namespace bwsim::app
