// bwsim attention: one attention layer (prefill, decode step or verify pass) with a RoPE variant
// and a KV-cache format: the numbers it computes and their error per position bucket, the
// layer's FLOPs and bytes, and the roofline bound on the modelled GPU.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <iostream>
#include <limits>

#include "app/commands.hpp"
#include "app/quant_options.hpp"
#include "app/trace_options.hpp"
#include "models/hw_spec.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/table.hpp"
#include "sim/units.hpp"
#include "workloads/attention/attention.hpp"
#include "workloads/attention/timing.hpp"

namespace bwsim::app {
namespace {

int64_t required(const cli::po::variables_map& vm, const char* flag) {
  if (vm.count(flag) == 0) throw InputError(fmt::format("--{} is required", flag));
  return vm[flag].as<int64_t>();
}

Distribution dist_option(const cli::po::variables_map& vm, const char* flag) {
  const auto& name = vm[flag].as<std::string>();
  if (auto d = parse_distribution(name)) return *d;
  throw InputError(fmt::format("--{} {}: unknown distribution (normal, student-t, outliers)", flag, name));
}

// "gen:DIST:seed=N" or the file a tensor came from.
std::string source_text(const std::optional<LoadedTensor>& file, Distribution d, uint64_t seed) {
  if (file) return file->source;
  return fmt::format("gen:{}:seed={}", distribution_name(d), seed);
}

AttentionProblem problem_option(const cli::po::variables_map& vm) {
  AttentionProblem p;
  p.batch = vm["batch"].as<int64_t>();
  p.seq = required(vm, "seq");
  p.q_len = vm.count("q-len") != 0 ? vm["q-len"].as<int64_t>() : p.seq;
  p.heads = required(vm, "heads");
  p.kv_heads = vm.count("kv-heads") != 0 ? vm["kv-heads"].as<int64_t>() : p.heads;
  p.head_dim = required(vm, "head-dim");
  p.rope_dim = vm["rope-dim"].as<int64_t>();
  p.latent_kv = vm.count("latent-kv") != 0;
  p.causal = vm.count("causal") != 0;
  p.window = vm["window"].as<int64_t>();
  p.chunk = vm["chunk"].as<int64_t>();
  p.query_scalar = vm["query-scalar"].as<int64_t>();
  p.sinks = vm.count("sinks") != 0;
  if (vm.count("rope") != 0) p.rope = parse_rope(vm["rope"].as<std::string>(), "--rope");
  const auto& rp = vm["rope-precision"].as<std::string>();
  const auto prec = parse_rope_precision(rp);
  if (!prec) throw InputError(fmt::format("--rope-precision {}: expected f32 or f64", rp));
  p.rope_precision = *prec;
  const auto& kvname = vm["kv-format"].as<std::string>();
  const auto kv = parse_kv_format(kvname);
  if (!kv) {
    throw InputError(
        fmt::format("--kv-format {}: unknown (bf16, fp8_e4m3, fp8_e4m3:head, mxfp8, nvfp4, mxfp4)", kvname));
  }
  p.kv = *kv;
  check_attention(p);
  check_attention(p);
  return p;
}

// --sinks: one logit for every head ("0.5"), one per head ("0.5,1,-2,..."), or a file of them
// (FILE.npy or FILE.safetensors[:TENSOR], shape [heads]).
std::vector<float> sinks_option(const std::string& text, int64_t heads) {
  std::vector<float> out;
  bool numbers = !text.empty();
  for (size_t i = 0; i < text.size() && numbers;) {
    const size_t end = std::min(text.find(',', i), text.size());
    const std::string item = text.substr(i, end - i);
    size_t used = 0;
    try {
      out.push_back(std::stof(item, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    numbers = used > 0 && used == item.size();
    i = end + 1;
  }
  if (numbers) {
    if (out.size() == 1) out.assign(static_cast<size_t>(heads), out.front());
    return out;
  }
  const LoadedTensor t = load_tensor(text);
  if (t.tensor.shape != std::vector<int64_t>{heads}) {
    throw InputError(fmt::format("--sinks {}: shape {}, expected [{}] (one logit per query head)", t.source,
                                 t.tensor.shape_text(), heads));
  }
  return t.tensor.data;
}

AttentionData data_option(const cli::po::variables_map& vm, const AttentionProblem& p) {
  AttentionData data;
  data.seed = vm["seed"].as<uint64_t>();
  data.q = dist_option(vm, "q-dist");
  data.k = dist_option(vm, "k-dist");
  data.v = dist_option(vm, "v-dist");
  const auto file = [&](const char* flag) -> std::optional<LoadedTensor> {
    if (vm.count(flag) == 0) return std::nullopt;
    return load_tensor(vm[flag].as<std::string>());
  };
  data.q_file = file("q-file");
  data.k_file = file("k-file");
  data.v_file = file("v-file");
  data.k_rope_file = file("k-rope-file");
  if (vm.count("sinks") != 0) data.sinks = sinks_option(vm["sinks"].as<std::string>(), p.heads);
  check_attention_data(p, data);
  return data;
}

AttentionTimingOptions timing_option(const cli::po::variables_map& vm) {
  AttentionTimingOptions to;
  const auto& clock = vm["clock"].as<std::string>();
  check_clock_flag(clock);
  to.clock = clock == "boost" ? ClockMode::kBoost : ClockMode::kGoverned;
  const auto& rope_mode = vm["rope-mode"].as<std::string>();
  if (rope_mode != "separate" && rope_mode != "fused")
    throw InputError(fmt::format("--rope-mode {}: expected separate or fused", rope_mode));
  to.rope = rope_mode == "fused" ? RopeMode::kFused : RopeMode::kSeparate;
  if (vm.count("exp-on-fma") != 0) to.exp_on_fma = vm["exp-on-fma"].as<double>();
  to.splits = vm["splits"].as<uint32_t>();
  to.sms = vm["sms"].as<uint32_t>();
  to.block_n = vm["block-n"].as<uint32_t>();
  const auto& rescale = vm["rescale"].as<std::string>();
  if (rescale != "conditional" && rescale != "always")
    throw InputError(fmt::format("--rescale {}: expected conditional or always", rescale));
  to.conditional_rescale = rescale == "conditional";
  if (!sampling_flag(vm)) to.whole_run_blocks = std::numeric_limits<uint64_t>::max();
  to.l2_dirty = l2_flush(vm);
  check_attention_options(to);  // a bad option is an error even with --timing off
  return to;
}

// What the layer moves and computes, and its roofline bound.
struct Work {
  double flops = 0, kv_bytes = 0, qo_bytes = 0;
  double peak = 0, bw = 0;       // BF16 dense FLOP/s at the sustained clock, HBM B/s
  double t_math = 0, t_mem = 0;  // seconds
};

Work work_of(const AttentionProblem& p, const HwSpec& hw) {
  Work w;
  w.flops = 2 * p.macs();
  w.kv_bytes = static_cast<double>(p.batch) * static_cast<double>(p.seq) *
               static_cast<double>(p.kv_elements_per_token()) * kv_bits_per_element(p.kv) / 8;
  w.qo_bytes = static_cast<double>(p.batch) * static_cast<double>(p.q_len) * static_cast<double>(p.heads) *
               static_cast<double>(p.qk_dim() + p.v_dim()) * 2;
  w.peak = hw.peak_flops(MmaKind::kF16, hw.clock.run);
  w.bw = static_cast<double>(hw.dram.bandwidth.bytes_per_s);
  w.t_math = w.flops / w.peak;
  w.t_mem = (w.kv_bytes + w.qo_bytes) / w.bw;

  return w;
}

void print_problem(std::ostream& out, const AttentionProblem& p, const AttentionData& data, const Work& w,
                   const HwSpec& hw) {
  out << fmt::format(
      "attention  batch {}  seq {}  queries {} (positions {}..{})  heads {} / {} KV  head_dim {}{}  {}{}\n",
      p.batch, p.seq, p.q_len, p.first_query(), p.seq - 1, p.heads, p.kv_heads, p.head_dim,
      p.rope_dim > 0 ? fmt::format(" + {} decoupled rope (MLA: K's shared by all heads)", p.rope_dim) : "",
      p.causal ? (p.window > 0  ? fmt::format("causal, sliding window {}", p.window)
                  : p.chunk > 0 ? fmt::format("causal, chunks of {}", p.chunk)
                                : std::string("causal"))
               : std::string("non-causal"),
      p.sinks ? ", attention sinks" : "");
  out << fmt::format("  RoPE        {}", p.rope ? p.rope->text : "none");
  if (p.rope) {
    const RopeTable t = rope_table(*p.rope, static_cast<int>(p.rope_head_dim()), p.seq, p.rope_precision);
    out << fmt::format(" ({} rotary dims, attention factor {:.6g}, {} angles)", t.rot_dim, t.attention_factor,
                       p.rope_precision == RopePrecision::kFloat32 ? "float32" : "float64");
  }
  out << fmt::format(
      "\n  inputs      Q {}, K {}{}, V {}\n", source_text(data.q_file, data.q, data.seed),
      source_text(data.k_file, data.k, data.seed),
      p.rope_dim > 0 ? fmt::format(", K rope {}", source_text(data.k_rope_file, data.k, data.seed)) : "",
      source_text(data.v_file, data.v, data.seed));
  out << fmt::format("  softmax     scale {:.6g}\n", p.softmax_scale());
  out << fmt::format("  KV cache    {} ({:.4g} bits/element): {}\n", kv_format_name(p.kv),
                     kv_bits_per_element(p.kv), format_si(w.kv_bytes, "B", 3));
  out << fmt::format("  work        {}, {} of Q and O (BF16)\n", format_si(w.flops, "FLOP", 3),
                     format_si(w.qo_bytes, "B", 3));
  out << fmt::format("  roofline    {} at {:.0f} TFLOP/s BF16 and {:.2f} TB/s on {} ({}-bound): {:.2f} us\n",
                     "lower bound", w.peak * 1e-12, w.bw * 1e-12, hw.name,
                     w.t_math >= w.t_mem ? "compute" : "memory", std::max(w.t_math, w.t_mem) * 1e6);
}

void print_timing(std::ostream& out, const AttentionTiming& t, const AttentionProblem& p, const HwSpec& hw,
                  const std::string& clock) {
  const AttentionPlan& pl = t.plan;
  out << fmt::format("\ntiming: {} ({} SM clock)\n", hw.name, clock == "boost" ? "boost" : "power-governed");
  out << fmt::format("  clock       {}\n", t.power.clock_text(hw));
  out << fmt::format("  kernel      {}\n", pl.kernel);
  out << fmt::format(
      "  grid        {} CTAs, {} per SM, {} KV blocks of {} keys in all; {} KV stages{}{}\n", pl.ctas,
      pl.ctas_per_sm, pl.kv_iterations, pl.block_n, pl.stages,
      pl.dequant ? fmt::format(", KV dequantized from {} in SMEM", kv_format_name(p.kv)) : "",
      pl.exp_on_fma > 0 ? fmt::format(", {:.0f}% of exp2 as FMA polynomials", 100 * pl.exp_on_fma) : "");
  if (p.rope) {
    out << fmt::format("  RoPE        {}\n", pl.rope_fused
                                                 ? "fused: Q rotated once per CTA, K per block as it lands"
                                                 : "its own kernel over the new tokens' Q and K");
  }
  for (const AttentionKernelTime& k : t.kernels) {
    out << fmt::format("  {:<11} {:.2f} us{}\n",
                       k.name.substr(0, k.name.find(' ')) == "attention" ? "main" : k.name, k.us(),
                       k.sampled ? " (sampled: first wave at two KV lengths, then list-scheduled)" : "");
  }
  out << fmt::format("  time        {:.2f} us = {:.0f} SM cycles\n", t.time.seconds() * 1e6, t.sm_cycles);
  out << fmt::format("  throughput  {:.1f} TFLOP/s = {:.1f}% of the BF16 dense peak ({:.0f} TFLOP/s)\n",
                     t.tflops, t.pct_of_peak, t.peak_tflops);
  out << fmt::format(
      "  memory      HBM {} read, {} written ({:.2f} TB/s = {:.0f}% of {}); L2 {} read, {:.0f}% hits\n",
      format_si(static_cast<double>(t.hbm_read), "B", 3), format_si(static_cast<double>(t.hbm_write), "B", 3),
      t.hbm_tb_s, t.pct_of_hbm, to_string(hw.dram.bandwidth),
      format_si(static_cast<double>(t.l2_read), "B", 3), 100 * t.l2_hit_rate());
  out << fmt::format("  bound       {}: {}\n", t.bound, t.bound_detail);
  out << fmt::format("  energy      {}\n", energy_text(t.power, t.flops));
  if (!t.candidates.empty()) {
    std::string c;
    for (const auto& [name, us] : t.candidates)
      c += fmt::format("{}{} {:.2f} us", c.empty() ? "" : "; ", name, us);
    out << fmt::format("  candidates  {}\n", c);
  }
}

void print_functional(std::ostream& out, const AttentionFunctional& f, const FunctionalSpec& fs) {
  out << fmt::format("\nfunctional: {}", f.mode);
  if (fs.mode != FunctionalSpec::Mode::kOff) {
    out << fmt::format(" ({} query rows, {} outputs; K stored vs written: rel {:.3g}, V: rel {:.3g})\n",
                       f.rows, f.outputs, f.k_error.rel_frobenius, f.v_error.rel_frobenius);
    TextTable t({"query positions", "rows", "rel. Frobenius", "max abs", "SQNR dB", "cosine"},
                {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
                 TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight});
    const auto row = [&](const std::string& label, uint64_t rows, const ErrorMetrics& e) {
      t.add_row({label, std::to_string(rows), fmt::format("{:.4g}", e.rel_frobenius),
                 fmt::format("{:.4g}", e.max_abs), fmt::format("{:.2f}", e.sqnr_db),
                 fmt::format("{:.6f}", e.cosine)});
    };
    for (const PositionBucket& b : f.buckets) row(b.label, b.rows, b.error);
    row("all", f.rows, f.error);
    out << t.render();
  } else {
    out << "\n";
  }
}

boost::json::object report_json(const AttentionProblem& p, const AttentionData& data, const Work& w,
                                const AttentionFunctional& f, const FunctionalSpec& fs,
                                const std::optional<AttentionTiming>& tm, const HwSpec& hw) {
  boost::json::object doc;
  doc["command"] = "attention";
  doc["hw"] = hw.name;
  doc["problem"] = {{"batch", p.batch},
                    {"seq", p.seq},
                    {"q_len", p.q_len},
                    {"heads", p.heads},
                    {"kv_heads", p.kv_heads},
                    {"head_dim", p.head_dim},
                    {"rope_dim", p.rope_dim},
                    {"latent_kv", p.latent_kv},
                    {"causal", p.causal},
                    {"window", p.window},
                    {"chunk", p.chunk},
                    {"sinks", p.sinks},
                    {"query_scalar", p.query_scalar},
                    {"rope", p.rope ? p.rope->text : "none"},
                    {"rope_precision", std::string(rope_precision_name(p.rope_precision))},
                    {"kv_format", std::string(kv_format_name(p.kv))},
                    {"softmax_scale", p.softmax_scale()}};
  doc["inputs"] = {{"q", source_text(data.q_file, data.q, data.seed)},
                   {"k", source_text(data.k_file, data.k, data.seed)},
                   {"k_rope", p.rope_dim > 0 ? source_text(data.k_rope_file, data.k, data.seed) : "none"},
                   {"v", source_text(data.v_file, data.v, data.seed)}};
  doc["work"] = dotted_object({{"w.flops", w.flops},
                               {"bytes.kv_cache", w.kv_bytes},
                               {"bytes.q_o", w.qo_bytes},
                               {"roofline.time_us", std::max(w.t_math, w.t_mem) * 1e6},
                               {"roofline.bound", w.t_math >= w.t_mem ? "compute" : "memory"}});
  boost::json::object fj{{"mode", f.mode}, {"rows", f.rows}, {"outputs", f.outputs}};
  if (fs.mode != FunctionalSpec::Mode::kOff) {
    fj["error"] = metrics_json(f.error);
    fj["k_error"] = metrics_json(f.k_error);
    fj["v_error"] = metrics_json(f.v_error);
    boost::json::array buckets;
    for (const PositionBucket& b : f.buckets) {
      buckets.push_back({{"label", b.label},
                         {"lo", b.lo},
                         {"hi", b.hi},
                         {"rows", b.rows},
                         {"error", metrics_json(b.error)}});
    }
    fj["buckets"] = std::move(buckets);
  }
  doc["functional"] = std::move(fj);
  if (tm) {
    boost::json::array ks;
    for (const AttentionKernelTime& k : tm->kernels)
      ks.push_back({{"name", k.name}, {"us", k.us()}, {"sampled", k.sampled}});
    boost::json::object tj{{"kernel", tm->plan.kernel},
                           {"ctas", tm->plan.ctas},
                           {"ctas_per_sm", tm->plan.ctas_per_sm},
                           {"block_n", tm->plan.block_n},
                           {"stages", tm->plan.stages},
                           {"splits", tm->plan.splits},
                           {"sms", attention_sms(tm->plan, hw)},
                           {"exp_on_fma", tm->plan.exp_on_fma},
                           {"kernels", std::move(ks)}};
    for (auto& [key, value] : kernel_metrics_json(*tm))
      tj[key] = value;  // time, throughput, bytes, util, bound
    tj["hbm_tb_s"] = tm->hbm_tb_s;
    tj["ops"] = {{"exp2", tm->exp2}, {"fma", tm->fma}};
    tj["sampled"] = tm->sampled;
    if (!tm->candidates.empty()) {
      boost::json::array cands;
      for (const auto& [name, us] : tm->candidates) cands.push_back({{"plan", name}, {"us", us}});
      tj["candidates"] = std::move(cands);
    }
    doc["timing"] = std::move(tj);
  }
  return doc;
}

int run_attention(const cli::po::variables_map& vm) {
  const ProgressBar bar(vm);
  std::vector<std::string> sets;
  if (vm.count("set") != 0) sets = vm["set"].as<std::vector<std::string>>();
  const HwSpec hw = HwSpec::load(vm["hw"].as<std::string>(), sets);
  const AttentionProblem p = problem_option(vm);
  const AttentionData data = data_option(vm, p);
  AttentionTimingOptions to = timing_option(vm);
  const auto& timing_flag = vm["timing"].as<std::string>();
  if (timing_flag != "on" && timing_flag != "off")
    throw InputError(fmt::format("--timing {}: expected on or off", timing_flag));
  const bool timing = timing_flag == "on";
  if (timing) check_attention_timing(p, hw, to);
  const std::optional<TraceRequest> trace = trace_request(vm, hw.sm.count);
  if (trace && !timing) throw InputError("--trace draws the simulated kernels: it needs --timing on");
  if (trace) to.trace = &trace->options;
  FunctionalSpec fs =
      parse_functional_spec(vm["functional"].as<std::string>(), p.macs() <= kAttentionAutoFullMacs);
  fs.seed = data.seed;
  const Work w = work_of(p, hw);

  const AttentionFunctional f = attention_functional(p, data, fs);
  std::optional<AttentionTiming> tm;
  if (timing) tm = simulate_attention(p, hw, to);

  std::ostream& out = cli::text_out(vm);
  print_problem(out, p, data, w, hw);
  if (to.l2_dirty != 0)
    out << fmt::format("  l2 start    {} of dirty lines (--l2-flush)\n", to_string(ByteSize{to.l2_dirty}));
  if (tm) print_timing(out, *tm, p, hw, vm["clock"].as<std::string>());
  print_functional(out, f, fs);
  boost::json::object doc = report_json(p, data, w, f, fs, tm, hw);
  if (to.l2_dirty != 0) doc["l2_flush_bytes"] = to.l2_dirty;
  if (trace) {
    TraceDoc td;
    tm->trace->emit(td, Tick{0}, "kernels", trace->options.max_events);
    add_power_tracks(td, *tm->trace, tm->power, hw.power.idle);
    td.metadata("problem", json_quote(fmt::format(
                               "attention batch {} seq {} queries {} heads {} / {} head_dim {}{} KV {}: {}",
                               p.batch, p.seq, p.q_len, p.heads, p.kv_heads, p.head_dim,
                               p.causal ? " causal" : "", kv_format_name(p.kv), tm->plan.kernel)));
    if (!tm->trace_note.empty()) {
      td.metadata("note", json_quote(tm->trace_note));
      out << fmt::format("\nnote: {}\n", tm->trace_note);
    }
    write_trace(*trace, td, "attention", hw.name, out);
  }
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command attention_command() {
  return cli::Command{
      "attention", "one attention layer: RoPE, KV-cache format, error per position bucket, work and roofline",
      "bwsim attention [--hw FILE] --seq S [--q-len Q] --heads H [--kv-heads G] --head-dim D [--rope-dim R] "
      "[--causal [--window N | --chunk N]] [--sinks LOGITS] "
      "[--rope TYPE:k=v,...] [--kv-format F] [--q-file F --k-file F --v-file F] "
      "[--functional full|sample:N|auto|off] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        add_hw_options(desc);
        desc.add_options()("batch", cli::po::value<int64_t>()->default_value(1), "sequences")(
            "seq", cli::po::value<int64_t>(), "tokens in the KV cache (context length)")(
            "q-len", cli::po::value<int64_t>(), "queries: the last Q positions (default: all, a prefill)")(
            "heads", cli::po::value<int64_t>(), "query heads")("kv-heads", cli::po::value<int64_t>(),
                                                               "KV heads (GQA / MQA; default: = heads)")(
            "head-dim", cli::po::value<int64_t>(), "head dimension")(
            "rope-dim", cli::po::value<int64_t>()->default_value(0),
            "MLA-style decoupled rotary dims after head-dim's, K's shared by all heads (DeepSeek: --head-dim "
            "128 --rope-dim 64)")(
            "latent-kv",
            "MLA absorbed (DeepSeek decode): one latent cache of head-dim + rope-dim per token "
            "for all heads, V = the latent (e.g. --head-dim 512 --rope-dim 64 --kv-heads 2)")(
            "causal", "causal mask")("window", cli::po::value<int64_t>()->default_value(0),
                                     "sliding window (with --causal): each query attends to its last N keys "
                                     "(0: none)")(
            "chunk", cli::po::value<int64_t>()->default_value(0),
            "chunked local attention (with --causal, Llama 4): each query attends to the keys of its own "
            "N-token chunk up to itself (0: none)")(
            "query-scalar", cli::po::value<int64_t>()->default_value(0),
            "scores scale by 1/sqrt(N) instead of 1/sqrt(head dim) (Gemma's query_pre_attn_scalar; 0: "
            "the head dim)")(
            "sinks", cli::po::value<std::string>(),
            "attention sinks (gpt-oss): a learned logit per query head joins each softmax denominator: one "
            "value for all heads, a comma list, or FILE.npy / FILE.safetensors[:TENSOR] of [heads]")(
            "rope", cli::po::value<std::string>(), "RoPE variant, as for bwsim rope --type (default: none)")(
            "rope-precision", cli::po::value<std::string>()->default_value("f32"),
            "f32 (as the reference stacks) or f64 angles")(
            "kv-format", cli::po::value<std::string>()->default_value("bf16"),
            "bf16, fp8_e4m3 (per-tensor scale), fp8_e4m3:head, mxfp8, nvfp4, mxfp4")(
            "functional", cli::po::value<std::string>()->default_value("auto"),
            "full, sample:N (N query rows spread over position buckets), auto or off")(
            "seed", cli::po::value<uint64_t>()->default_value(0), "seed of the generated Q, K, V")(
            "q-dist", cli::po::value<std::string>()->default_value("normal"), "Q distribution")(
            "k-dist", cli::po::value<std::string>()->default_value("outliers"), "K distribution")(
            "v-dist", cli::po::value<std::string>()->default_value("normal"), "V distribution")(
            "q-file", cli::po::value<std::string>(),
            "Q from FILE.npy or FILE.safetensors[:TENSOR]: [batch, q_len, heads, head_dim + rope_dim], "
            "before RoPE")("k-file", cli::po::value<std::string>(),
                           "K from a file: [batch, seq, kv_heads, head_dim], before RoPE")(
            "v-file", cli::po::value<std::string>(), "V from a file: [batch, seq, kv_heads, head_dim]")(
            "k-rope-file", cli::po::value<std::string>(),
            "MLA's shared rope key from a file: [batch, seq, rope_dim], before RoPE")(
            "timing", cli::po::value<std::string>()->default_value("on"), "simulate the kernels: on or off")(
            "clock", cli::po::value<std::string>()->default_value("governed"),
            "SM clock: governed (the highest within power.limit, per kernel) or boost (power limit not "
            "applied)")("rope-mode", cli::po::value<std::string>()->default_value("separate"),
                        "separate (its own kernel over the new tokens) or fused (into the attention kernel)")(
            "exp-on-fma", cli::po::value<double>(),
            "fraction of exp2 as FMA polynomials (default: balanced with MUFU on tcgen05, 0 elsewhere)")(
            "splits", cli::po::value<uint32_t>()->default_value(0), "decode KV splits (0: fill the GPU)")(
            "sms", cli::po::value<uint32_t>()->default_value(0),
            "decode: run the attention kernel on this many SMs, as many per die (0: the planner's choice)")(
            "block-n", cli::po::value<uint32_t>()->default_value(0), "keys per KV block (0: 128)")(
            "rescale", cli::po::value<std::string>()->default_value("conditional"),
            "O rescaling on tcgen05: conditional (FA4) or always");
        add_sampling_options(desc,
                             "auto (large layers: first wave at two KV lengths, then list-scheduled) or off "
                             "(simulate every CTA whole)");
        add_progress_option(desc);
        add_l2_flush_option(desc);
        add_json_option(desc);
        add_trace_options(desc);
      },
      run_attention};
}

}  // namespace bwsim::app
