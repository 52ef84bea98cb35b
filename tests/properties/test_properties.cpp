// Physical properties of the timing model, checked on shapes and configs RapidCheck generates
// within the documented ranges (and shrinks to a smallest counterexample when one fails).
//
// In CI the seed is fixed (tests/CMakeLists.txt sets RC_PARAMS); `scripts/properties --long` runs
// many more cases with a random seed. Every counterexample found becomes a named test below the
// properties.
//
// Held: roofline bounds (no GEMM, decode or prefill attention beats its tensor peak or its
// compulsory DRAM traffic), conservation (counted FLOPs and MACs against 2·M·N·K; bytes reaching
// L2 at least those read from DRAM), invariance (units; keys reordered and a config split over
// `base =` files), resource monotonicity (more SMs, power, HBM / L2 / SMEM bandwidth never slow a
// GEMM plan, the GEMM planner or decode attention), work monotonicity (a larger M, N or K, batch,
// context or prompt never takes less time, as a step pays it) and the formats' order where
// physics sets it (a memory-bound GEMM: NVFP4 and MXFP4 no slower than FP8, FP8 than BF16).
// Whole model steps (their GEMMs, attention, element-wise streams and all-reduces) are held to
// the roofline per kernel, to adding up, to reading their KV cache, and to resource and work
// monotonicity. scripts/plausibility holds whole serving runs to resource monotonicity over
// wide sweeps.
//
// Tolerance. Whole runs are held to 0.5%. A single kernel's event order is not monotone in its
// inputs: a grid with more CTAs, or one on faster slices, reorders the first-come-first-served
// queues at L2 slices and DRAM channels, and the critical CTA can finish slightly sooner. These
// are the timing anomalies of list scheduling (R. L. Graham, "Bounds on multiprocessing timing
// anomalies", SIAM J. Appl. Math. 17(2), 1969), which real memory systems show too. Measured
// over 600 random cases per property (RC_PARAMS="seed=7 max_success=600"): at most 2.0%, and
// beyond 0.5% in about 1% of cases; kernel properties allow kArrivalOrder and tag each case
// that needs more than 0.5% (RapidCheck prints the tags), so a rise in anomalies shows.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "models/hw_spec.hpp"
#include "workloads/attention/timing.hpp"
#include "workloads/gemm/format.hpp"
#include "workloads/gemm/gemm.hpp"
#include "workloads/transformer/capacity.hpp"
#include "workloads/transformer/scenario.hpp"
#include "workloads/transformer/step.hpp"

namespace bwsim {
namespace {

struct GemmCase {
  std::string hw;
  std::string format;
  int64_t m = 0, n = 0, k = 0;
};

// Formats every configured architecture of the three runs (nvfp4 where it exists).
std::vector<std::string> formats_of(const std::string& hw) {
  if (hw == "h100") return {"bf16", "fp8_e4m3"};
  return {"bf16", "fp8_e4m3", "nvfp4", "mxfp4"};
}

rc::Gen<GemmCase> gemm_cases() {
  return rc::gen::mapcat(rc::gen::element<std::string>("b200", "h100", "rtx5090"), [](const std::string& hw) {
    return rc::gen::apply(
        [hw](const std::string& f, int m, int n, int k) {
          return GemmCase{hw, f, int64_t{m} * 64, int64_t{n} * 128, int64_t{k} * 256};
        },
        rc::gen::elementOf(formats_of(hw)), rc::gen::inRange(1, 33), rc::gen::inRange(1, 17),
        rc::gen::inRange(1, 9));
  });
}

GemmTiming run(const GemmCase& c, const std::vector<std::string>& sets = {}) {
  GemmTimingOptions o;
  o.max_finalists = 1;  // the analytic best: the properties hold for any plan
  return simulate_gemm(GemmProblem{c.m, c.n, c.k, parse_gemm_format(c.format)}, HwSpec::load(c.hw, sets), o);
}

std::string text(const GemmCase& c) { return fmt::format("{} {} {}x{}x{}", c.hw, c.format, c.m, c.n, c.k); }

RC_GTEST_PROP(GemmProperties, NothingBeatsTheRoofline, ()) {
  const GemmCase c = *gemm_cases();
  RC_LOG() << text(c) << "\n";
  const GemmTiming g = run(c);
  const HwSpec hw = HwSpec::load(c.hw, {});
  const double secs = g.time.seconds();
  // The tensor peak at the clock the run used.
  RC_ASSERT(g.flops / secs <= g.peak_tflops * 1e12 * (1 + 1e-9));
  // The operands come from DRAM at least once (the L2 starts cold), at no more than peak.
  const GemmFormat f = parse_gemm_format(c.format);
  const GemmMath m = gemm_math(f, hw.arch, hw.name);
  const double operands =
      static_cast<double>(c.m * c.k) * m.a_bits / 8 + static_cast<double>(c.n * c.k) * m.b_bits / 8;
  RC_ASSERT(static_cast<double>(g.hbm_read) >= operands);
  RC_ASSERT(static_cast<double>(g.hbm_read + g.hbm_write) / secs <=
            static_cast<double>(hw.dram.bandwidth.bytes_per_s) * (1 + 1e-9));
}

RC_GTEST_PROP(GemmProperties, FlopsAndBytesAreConserved, ()) {
  const GemmCase c = *gemm_cases();
  const GemmTiming g = run(c);
  RC_ASSERT(g.flops == 2.0 * static_cast<double>(c.m) * static_cast<double>(c.n) * static_cast<double>(c.k));
  // Every byte read from DRAM passed through the L2; hits are some of the L2's reads.
  RC_ASSERT(g.l2_read >= g.hbm_read);
  RC_ASSERT(g.l2_hit <= g.l2_read);
  const double dram = static_cast<double>(g.hbm_read + g.hbm_write);
  RC_ASSERT(std::abs(g.arithmetic_intensity * dram - g.flops) <= 1e-9 * g.flops);
}

// The same GPU written in other units times the same, with the same plan and bytes.
RC_GTEST_PROP(GemmProperties, UnitsChangeNothing, ()) {
  GemmCase c = *gemm_cases();
  c.hw = "b200";
  c.format = *rc::gen::elementOf(formats_of("b200"));
  const GemmTiming a = run(c);
  const GemmTiming b =
      run(c, {"hbm.bandwidth=\"7700 GB/s\"", "power.limit=\"1000000 mW\"", "clock.sm=\"1.965 GHz\"",
              "l2.capacity=\"129024 KiB\"", "smem.latency=\"30 cycles\""});
  RC_ASSERT(a.time == b.time);
  RC_ASSERT(a.hbm_read == b.hbm_read);
  RC_ASSERT(a.l2_read == b.l2_read);
  RC_ASSERT(a.plan.tile.name() == b.plan.tile.name());
}

// Kernel-level monotonicity: at most this much the wrong way (see the tolerance note above).
constexpr double kArrivalOrder = 0.02;

// `slower` must not exceed `faster` beyond kArrivalOrder; a case beyond 0.5% is tagged.
void assert_not_slower(double slower, double faster) {
  if (slower > faster * 1.005) RC_TAG("arrival-order anomaly > 0.5%");
  RC_ASSERT(slower <= faster * (1 + kArrivalOrder));
}

// Time as a step pays it: every kernel after the first is one more launch (a split-K or
// split-KV reduction, a RoPE kernel), which the planners weigh when they choose.
double step_seconds(const GemmTiming& g, const HwSpec& hw) {
  return (g.time + hw.launch.gaps(g.kernels.size() - 1)).seconds();
}
double step_seconds(const AttentionTiming& t, const HwSpec& hw) {
  return (t.time + hw.launch.gaps(t.kernels.size() - 1)).seconds();
}

// A resource raised by a factor: (key, value as TOML) for `hw`.
struct Raise {
  std::string key;
  std::string value;
};

rc::Gen<Raise> raises(const std::string& hw) {
  const HwSpec h = HwSpec::load(hw, {});
  const double limit = h.power.limit.watts;
  const uint32_t dies = h.sm.dies;
  return rc::gen::mapcat(rc::gen::inRange(0, 5), [=](int which) {
    return rc::gen::map(rc::gen::inRange(1, 9), [=](int step) {
      const double f = 1 + 0.125 * step;  // 1.125x .. 2x
      switch (which) {
        case 0: {  // SMs, a whole number per die
          const auto more = static_cast<uint32_t>(std::ceil(h.sm.count * f / dies)) * dies;
          return Raise{"sm.count", std::to_string(std::min<uint32_t>(more, 1024))};
        }
        case 1:
          return Raise{"power.limit", fmt::format("\"{} W\"", std::round(limit * f))};
        case 2:
          return Raise{"hbm.bandwidth",
                       fmt::format("\"{} GB/s\"",
                                   std::round(static_cast<double>(h.dram.bandwidth.bytes_per_s) * f / 1e9))};
        case 3:
          return Raise{"l2.slice_bandwidth",
                       fmt::format("\"{} B/clk\"", std::round(h.l2.slice_bandwidth.value * f))};
        default:
          return Raise{"smem.bandwidth", fmt::format("\"{} B/clk\"", std::round(h.smem.bandwidth.value * f))};
      }
    });
  });
}

// More of a resource never slows a plan: the base's chosen plan, forced on the richer GPU (its
// grid held at the base's clusters, so the richer GPU runs the same kernel).
RC_GTEST_PROP(GemmProperties, MoreOfAResourceNeverSlowsAPlan, ()) {
  const GemmCase c = *gemm_cases();
  const Raise r = *raises(c.hw);
  RC_LOG() << text(c) << ", " << r.key << " = " << r.value << "\n";
  const GemmTiming base = run(c);
  GemmTimingOptions o;
  o.tile = base.plan.tile;
  if (o.tile->stream_k || base.plan.clusters < base.plan.work_items) o.tile->grid = base.plan.clusters;
  const GemmTiming more = simulate_gemm(GemmProblem{c.m, c.n, c.k, parse_gemm_format(c.format)},
                                        HwSpec::load(c.hw, {r.key + "=" + r.value}), o);
  RC_LOG() << base.plan.tile.name() << ": " << base.time.seconds() * 1e6 << " us -> "
           << more.time.seconds() * 1e6 << " us\n";
  assert_not_slower(more.time.seconds(), base.time.seconds());
}

// The planner keeps that plan among its options, so its pick is never slower either.
RC_GTEST_PROP(GemmProperties, MoreOfAResourceNeverSlowsThePlanner, ()) {
  const GemmCase c = *gemm_cases();
  const Raise r = *raises(c.hw);
  RC_LOG() << text(c) << ", " << r.key << " = " << r.value << "\n";
  const GemmProblem p{c.m, c.n, c.k, parse_gemm_format(c.format)};
  const HwSpec hw = HwSpec::load(c.hw, {});
  const HwSpec richer = HwSpec::load(c.hw, {r.key + "=" + r.value});
  const GemmTiming base = simulate_gemm(p, hw);
  const GemmTiming more = simulate_gemm(p, richer);
  RC_LOG() << base.plan.tile.name() << " " << step_seconds(base, hw) * 1e6 << " us -> "
           << more.plan.tile.name() << " " << step_seconds(more, richer) * 1e6 << " us\n";
  assert_not_slower(step_seconds(more, richer), step_seconds(base, hw));
}

// A larger problem never takes less time: one dimension grown by a block.
RC_GTEST_PROP(GemmProperties, MoreWorkNeverTakesLessTime, ()) {
  const GemmCase c = *gemm_cases();
  GemmCase bigger = c;
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      bigger.m += 64 * *rc::gen::inRange(1, 9);
      break;
    case 1:
      bigger.n += 128 * *rc::gen::inRange(1, 9);
      break;
    default:
      bigger.k += 256 * *rc::gen::inRange(1, 5);
      break;
  }
  RC_LOG() << text(c) << " -> " << text(bigger) << "\n";
  const HwSpec hw = HwSpec::load(c.hw, {});
  const GemmTiming a = simulate_gemm(GemmProblem{c.m, c.n, c.k, parse_gemm_format(c.format)}, hw);
  const GemmTiming b =
      simulate_gemm(GemmProblem{bigger.m, bigger.n, bigger.k, parse_gemm_format(bigger.format)}, hw);
  RC_LOG() << a.plan.tile.name() << " " << step_seconds(a, hw) * 1e6 << " us -> " << b.plan.tile.name() << " "
           << step_seconds(b, hw) * 1e6 << " us\n";
  assert_not_slower(step_seconds(a, hw), step_seconds(b, hw));
}

struct DecodeCase {
  std::string hw;
  std::string kv;
  int64_t batch = 1, seq = 0, heads = 0, kv_heads = 0, head_dim = 0;
};

// An attention layer of `q_len` queries per sequence over `seq` keys (BF16 KV unless set after).
AttentionProblem attention_problem(int64_t batch, int64_t seq, int64_t q_len, int64_t heads, int64_t kv_heads,
                                   int64_t head_dim, bool causal) {
  AttentionProblem p;
  p.batch = batch;
  p.seq = seq;
  p.q_len = q_len;
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_dim = head_dim;
  p.causal = causal;
  return p;
}

AttentionProblem decode_problem(const DecodeCase& c) {
  AttentionProblem p = attention_problem(c.batch, c.seq, 1, c.heads, c.kv_heads, c.head_dim, true);
  p.kv = *parse_kv_format(c.kv);
  return p;
}

RC_GTEST_PROP(AttentionProperties, DecodeReadsItsCacheAndBeatsNoRoofline, ()) {
  DecodeCase c;
  c.hw = *rc::gen::element<std::string>("b200", "h100");
  c.kv = *rc::gen::element<std::string>("bf16", "fp8_e4m3");
  c.batch = *rc::gen::inRange(1, 9);
  c.seq = int64_t{*rc::gen::inRange(1, 17)} * 512;
  c.kv_heads = *rc::gen::element<int64_t>(1, 2, 4, 8);
  c.heads = c.kv_heads * *rc::gen::element<int64_t>(1, 4, 8);
  c.head_dim = *rc::gen::element<int64_t>(64, 128);
  const AttentionProblem p = decode_problem(c);
  const HwSpec hw = HwSpec::load(c.hw, {});
  const AttentionTiming t = simulate_attention(p, hw, AttentionTimingOptions{});
  const double cache =
      static_cast<double>(p.batch * p.seq * p.kv_elements_per_token()) * kv_bits_per_element(p.kv) / 8;
  RC_ASSERT(static_cast<double>(t.hbm_read) >= cache * (1 - 1e-9));
  RC_ASSERT(static_cast<double>(t.hbm_read + t.hbm_write) / t.time.seconds() <=
            static_cast<double>(hw.dram.bandwidth.bytes_per_s) * (1 + 1e-9));
  RC_ASSERT(t.flops / t.time.seconds() <= t.peak_tflops * 1e12 * (1 + 1e-9));
}

rc::Gen<DecodeCase> decode_cases() {
  return rc::gen::apply(
      [](const std::string& hw, const std::string& kv, int batch, int seq, int64_t kvh, int64_t group) {
        return DecodeCase{hw, kv, batch, int64_t{seq} * 512, kvh * group, kvh, 128};
      },
      rc::gen::element<std::string>("b200", "h100"), rc::gen::element<std::string>("bf16", "fp8_e4m3"),
      rc::gen::inRange(1, 33), rc::gen::inRange(1, 17), rc::gen::element<int64_t>(1, 2, 4, 8),
      rc::gen::element<int64_t>(1, 4, 8));
}

// More of a resource never slows decode attention (its split count is searched on each GPU).
RC_GTEST_PROP(AttentionProperties, MoreOfAResourceNeverSlowsDecode, ()) {
  const DecodeCase c = *decode_cases();
  const Raise r = *raises(c.hw);
  RC_LOG() << c.hw << " batch " << c.batch << " seq " << c.seq << " heads " << c.heads << "/" << c.kv_heads
           << " " << c.kv << ", " << r.key << " = " << r.value << "\n";
  const AttentionProblem p = decode_problem(c);
  const HwSpec hw = HwSpec::load(c.hw, {});
  const HwSpec richer = HwSpec::load(c.hw, {r.key + "=" + r.value});
  const AttentionTiming base = simulate_attention(p, hw);
  const AttentionTiming more = simulate_attention(p, richer);
  RC_LOG() << base.plan.kernel << " " << step_seconds(base, hw) * 1e6 << " us -> " << more.plan.kernel << " "
           << step_seconds(more, richer) * 1e6 << " us\n";
  assert_not_slower(step_seconds(more, richer), step_seconds(base, hw));
}

// A longer context or a larger batch never decodes faster.
RC_GTEST_PROP(AttentionProperties, MoreContextNeverDecodesFaster, ()) {
  const DecodeCase c = *decode_cases();
  DecodeCase bigger = c;
  if (*rc::gen::arbitrary<bool>()) {
    bigger.seq += 512 * *rc::gen::inRange(1, 5);
  } else {
    bigger.batch += *rc::gen::inRange(1, 9);
  }
  const HwSpec hw = HwSpec::load(c.hw, {});
  const AttentionTiming a = simulate_attention(decode_problem(c), hw);
  const AttentionTiming b = simulate_attention(decode_problem(bigger), hw);
  RC_LOG() << c.hw << " " << c.kv << " heads " << c.heads << "/" << c.kv_heads << " " << c.batch << "x"
           << c.seq << " " << a.plan.kernel << " " << step_seconds(a, hw) * 1e6 << " us -> " << bigger.batch
           << "x" << bigger.seq << " " << b.plan.kernel << " " << step_seconds(b, hw) * 1e6 << " us\n";
  assert_not_slower(step_seconds(a, hw), step_seconds(b, hw));
}

// Where physics orders the formats, the model does too: a memory-bound GEMM (a decode shape: few
// rows against a large weight) moves fewer weight bytes in a narrower format, so NVFP4 and MXFP4
// take no longer than FP8, and FP8 no longer than BF16 (a step's launches counted).
RC_GTEST_PROP(GemmProperties, NarrowerFormatsNeverSlowAMemoryBoundGemm, ()) {
  const std::string hw_name = *rc::gen::element<std::string>("b200", "h100");
  const int64_t m = *rc::gen::element<int64_t>(1, 8, 16, 32, 64);
  const int64_t n = int64_t{*rc::gen::inRange(8, 17)} * 256;
  const int64_t k = int64_t{*rc::gen::inRange(8, 17)} * 256;
  const HwSpec hw = HwSpec::load(hw_name, {});
  const auto time = [&](const char* f) {
    return step_seconds(simulate_gemm(GemmProblem{m, n, k, parse_gemm_format(f)}, hw), hw);
  };
  const double bf16 = time("bf16");
  const double fp8 = time("fp8_e4m3");
  RC_LOG() << hw_name << " " << m << "x" << n << "x" << k << ": bf16 " << bf16 * 1e6 << " us, fp8 "
           << fp8 * 1e6 << " us\n";
  assert_not_slower(fp8, bf16);
  if (hw_name == "h100") return;
  for (const char* f : {"nvfp4", "mxfp4"}) {
    const double t = time(f);
    RC_LOG() << f << " " << t * 1e6 << " us\n";
    assert_not_slower(t, fp8);
  }
}

struct PrefillCase {
  std::string hw;
  int64_t batch = 1, seq = 0, heads = 0, kv_heads = 0, head_dim = 0;
  bool causal = false;
};

AttentionProblem prefill_problem(const PrefillCase& c) {
  return attention_problem(c.batch, c.seq, c.seq, c.heads, c.kv_heads, c.head_dim, c.causal);
}

rc::Gen<PrefillCase> prefill_cases() {
  return rc::gen::apply(
      [](const std::string& hw, int batch, int seq, int64_t kvh, int64_t group, int64_t d, bool causal) {
        return PrefillCase{hw, batch, int64_t{seq} * 256, kvh * group, kvh, d, causal};
      },
      rc::gen::element<std::string>("b200", "h100", "rtx5090"), rc::gen::inRange(1, 3),
      rc::gen::inRange(1, 9), rc::gen::element<int64_t>(1, 2, 4), rc::gen::element<int64_t>(1, 4),
      rc::gen::element<int64_t>(64, 128), rc::gen::arbitrary<bool>());
}

std::string text(const PrefillCase& c) {
  return fmt::format("{} b{} s{} h{}/{} d{}{}", c.hw, c.batch, c.seq, c.heads, c.kv_heads, c.head_dim,
                     c.causal ? " causal" : "");
}

// Prefill attention beats neither its tensor peak nor DRAM: Q, K and V come from DRAM at least
// once and O goes back, at no more than peak bandwidth.
RC_GTEST_PROP(AttentionProperties, PrefillBeatsNoRoofline, ()) {
  const PrefillCase c = *prefill_cases();
  RC_LOG() << text(c) << "\n";
  const AttentionProblem p = prefill_problem(c);
  const HwSpec hw = HwSpec::load(c.hw, {});
  const AttentionTiming t = simulate_attention(p, hw, AttentionTimingOptions{});
  const double secs = t.time.seconds();
  RC_ASSERT(t.flops / secs <= t.peak_tflops * 1e12 * (1 + 1e-9));
  RC_ASSERT(t.flops == 2 * p.macs());
  const double qo = static_cast<double>(p.batch * p.seq * p.heads * p.head_dim) * 2;  // BF16
  const double kv = static_cast<double>(p.batch * p.seq * p.kv_elements_per_token()) * 2;
  RC_ASSERT(static_cast<double>(t.hbm_read) >= (qo + kv) * (1 - 1e-9));
  RC_ASSERT(static_cast<double>(t.hbm_read + t.hbm_write) / secs <=
            static_cast<double>(hw.dram.bandwidth.bytes_per_s) * (1 + 1e-9));
}

// A longer prompt or a larger batch never prefills faster.
RC_GTEST_PROP(AttentionProperties, MorePromptNeverPrefillsFaster, ()) {
  const PrefillCase c = *prefill_cases();
  PrefillCase bigger = c;
  if (*rc::gen::arbitrary<bool>()) {
    bigger.seq += 256 * *rc::gen::inRange(1, 5);
  } else {
    bigger.batch += 1;
  }
  const HwSpec hw = HwSpec::load(c.hw, {});
  const AttentionTiming a = simulate_attention(prefill_problem(c), hw);
  const AttentionTiming b = simulate_attention(prefill_problem(bigger), hw);
  RC_LOG() << text(c) << " " << step_seconds(a, hw) * 1e6 << " us -> " << text(bigger) << " "
           << step_seconds(b, hw) * 1e6 << " us\n";
  assert_not_slower(step_seconds(a, hw), step_seconds(b, hw));
}

// Model steps: every kernel a serving stack launches per layer (GEMMs, attention, the
// element-wise streams between them, the TP group's all-reduces), summed as a step pays them.
struct StepCase {
  std::string hw;     // b200 (NVFP4, FP8 KV) or h100 (FP8, FP8 KV)
  std::string model;  // a dense and an MoE model
  int tp = 1;
  StepShape shape;
};

std::string text(const StepCase& c) {
  return fmt::format("{} {} tp{} batch {} x {} new at context {}", c.hw, c.model, c.tp, c.shape.batch,
                     c.shape.q_len, c.shape.context);
}

QuantPlan quant_for(const std::string& hw) {
  return QuantPlan::uniform(hw == "h100" ? Scheme::kFp8E4M3 : Scheme::kNvfp4, KvFormat::kFp8Tensor);
}

const ModelSpec& model_named(const std::string& name) {
  static std::map<std::string, ModelSpec> models;
  auto it = models.find(name);
  if (it == models.end()) it = models.emplace(name, load_model(name)).first;
  return it->second;
}

// One step on `c`'s GPU with `sets`. Kernels are cached per (GPU, overrides, model, TP) across
// cases, as a run reuses them across steps: the generated values come from small sets so that
// most kernels of a case were simulated by an earlier one.
StepTiming step(const StepCase& c, const std::vector<std::string>& sets = {}) {
  static std::map<std::string, StepCache> caches;
  std::string key = fmt::format("{}|{}|{}", c.hw, c.model, c.tp);
  for (const std::string& s : sets) key += "|" + s;
  StepOptions o;
  o.tp = c.tp;
  // GEMMs as `bwsim run` plans them: the planner's finalists (the analytic best alone may turn
  // the wrong way where the ranking changes, as StepOptions::gemm_finalists says).
  return simulate_step(model_named(c.model), quant_for(c.hw), HwSpec::load(c.hw, sets), c.shape, o,
                       caches[key]);
}

rc::Gen<StepCase> step_cases() {
  return rc::gen::apply(
      [](const std::string& hw, const std::string& model, int tp, bool prefill, int64_t batch,
         int64_t tokens) {
        StepCase c{hw, model, tp, {}};
        c.shape.batch = prefill ? 1 : batch;
        c.shape.q_len = prefill ? tokens / 4 : 1;
        c.shape.context = tokens;
        return c;
      },
      rc::gen::element<std::string>("b200", "h100"),
      rc::gen::element<std::string>("llama-3.1-8b", "mixtral-8x7b"), rc::gen::element(1, 2),
      rc::gen::arbitrary<bool>(), rc::gen::element<int64_t>(1, 8, 32),
      rc::gen::element<int64_t>(1024, 2048, 4096));
}

// Whole steps are held to 0.5%, as runs are: a step sums dozens of kernels.
void assert_step_not_slower(double slower, double faster) { RC_ASSERT(slower <= faster * 1.005); }

// Every kernel of a step beats no roofline (no kernel moves its HBM bytes faster than the
// bandwidth, no GEMM or attention kernel runs above the tensor peak at boost), the step is the
// sum of its launches, and a decode step reads every sequence's KV cache.
RC_GTEST_PROP(StepProperties, KernelsBeatNoRooflineAndAddUp, ()) {
  const StepCase c = *step_cases();
  RC_LOG() << text(c) << "\n";
  const HwSpec hw = HwSpec::load(c.hw, {});
  const StepTiming t = step(c);
  Tick sum{0};
  double flops = 0, bytes = 0, kv_read = 0;
  for (const StepKernel& k : t.kernels) {
    RC_LOG() << k.kind << " " << k.name << " " << k.shape << ": " << k.us_each() << " us\n";
    sum += k.total();
    flops += k.flops_each * static_cast<double>(k.launches);
    bytes += k.hbm_bytes_each * static_cast<double>(k.launches);
    const double secs = k.run_each().seconds();
    RC_ASSERT(secs > 0);
    RC_ASSERT(k.hbm_bytes_each / secs <= static_cast<double>(hw.dram.bandwidth.bytes_per_s) * (1 + 1e-9));
    if (k.kind == "stream") {  // at the stream efficiency of peak, exactly
      RC_ASSERT(std::abs(k.hbm_bytes_each / (static_cast<double>(hw.dram.bandwidth.bytes_per_s) *
                                             hw.launch.stream_efficiency) -
                         secs) <= 1e-12 + 1e-9 * secs);
    }
    if (k.kind == "attention") kv_read += k.hbm_read_each * static_cast<double>(k.launches);
  }
  RC_ASSERT(t.time == sum);
  RC_ASSERT(std::abs(t.flops - flops) <= 1e-9 * flops);
  RC_ASSERT(std::abs(t.hbm_bytes - bytes) <= 1e-9 * bytes);
  if (c.shape.q_len == 1) {
    CapacityOptions co;
    co.tp = c.tp;
    const double per_token = capacity(model_named(c.model), quant_for(c.hw), hw, co).kv_per_token;
    RC_ASSERT(kv_read >= static_cast<double>(c.shape.batch * (c.shape.context - 1)) * per_token * (1 - 1e-9));
  }
}

// More of any resource never slows a step: SMs, power, HBM / L2 / SMEM bandwidth, and the
// NVLink bandwidth of a TP group's all-reduces.
RC_GTEST_PROP(StepProperties, MoreOfAResourceNeverSlowsAStep, ()) {
  const StepCase c = *step_cases();
  const HwSpec hw = HwSpec::load(c.hw, {});
  const Raise r =
      c.tp > 1 && *rc::gen::inRange(0, 6) == 0
          ? Raise{"nvlink.bandwidth",
                  fmt::format("\"{} GB/s\"", std::round(static_cast<double>(hw.nvlink.bandwidth.bytes_per_s) *
                                                        (1 + 0.25 * *rc::gen::inRange(1, 5)) / 1e9))}
          : *raises(c.hw);
  RC_LOG() << text(c) << ", " << r.key << " = " << r.value << "\n";
  const double base = step(c).time.seconds();
  const double more = step(c, {r.key + "=" + r.value}).time.seconds();
  RC_LOG() << base * 1e6 << " us -> " << more * 1e6 << " us\n";
  assert_step_not_slower(more, base);
}

// A larger batch, a longer context or a longer prefill chunk never takes less time.
RC_GTEST_PROP(StepProperties, MoreWorkNeverTakesLessTime, ()) {
  const StepCase c = *step_cases();
  StepCase bigger = c;
  if (c.shape.q_len > 1) {
    bigger.shape.q_len *= 2;
    bigger.shape.context += c.shape.q_len;
  } else if (*rc::gen::arbitrary<bool>()) {
    bigger.shape.batch *= 2;
  } else {
    bigger.shape.context *= 2;
  }
  const double a = step(c).time.seconds();
  const double b = step(bigger).time.seconds();
  RC_LOG() << text(c) << " " << a * 1e6 << " us -> " << text(bigger) << " " << b * 1e6 << " us\n";
  assert_step_not_slower(a, b);
}

// Serving runs (`bwsim run`): a batch of sequences prefills its prompts in chunks, then decodes.
struct RunCase {
  std::string hw;
  int64_t concurrency = 1, prompt = 0, output = 0;
};

std::string text(const RunCase& c) {
  return fmt::format("{} llama-3.1-8b x{} prompt {} output {}", c.hw, c.concurrency, c.prompt, c.output);
}

ScenarioResult serve(const RunCase& c) {
  Scenario s;
  s.name = "property";
  s.model = model_named("llama-3.1-8b");
  s.hw = HwSpec::load(c.hw, {});
  s.quant = quant_for(c.hw);
  s.concurrency = c.concurrency;
  s.prompt = c.prompt;
  s.output = c.output;
  s.prefill_chunk = 2048;
  s.decode_samples = 2;
  static std::map<std::string, StepCache> caches;  // one per GPU: the model and plan are fixed
  return run_scenario(s, nullptr, &caches[c.hw]);
}

rc::Gen<RunCase> run_cases() {
  return rc::gen::apply(
      [](const std::string& hw, int64_t concurrency, int64_t prompt, int64_t output) {
        return RunCase{hw, concurrency, prompt, output};
      },
      rc::gen::element<std::string>("b200", "h100"), rc::gen::element<int64_t>(1, 4, 16),
      rc::gen::element<int64_t>(1024, 3072), rc::gen::element<int64_t>(128, 512));
}

// A run is its steps: TTFT is the sum of the prompt's chunks, end to end is TTFT plus the
// output's tokens at the inter-token latency, tokens/s per GPU is the batch over the ITL; more
// sequences, a longer prompt or a longer answer never make any of TTFT, ITL or end to end shorter.
RC_GTEST_PROP(RunProperties, ARunIsItsStepsAndMoreWorkNeverTakesLessTime, ()) {
  const RunCase c = *run_cases();
  RunCase bigger = c;
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      bigger.concurrency *= 2;
      break;
    case 1:
      bigger.prompt += 1024;  // one chunk more
      break;
    default:
      bigger.output *= 2;
      break;
  }
  const ScenarioResult a = serve(c);
  RC_ASSERT(a.timed);
  RC_ASSERT(a.concurrency == c.concurrency);
  double ttft = 0;
  for (const StepTiming& t : a.prefill_chunks) ttft += t.time.seconds();
  RC_ASSERT(std::abs(a.ttft_s - ttft) <= 1e-12);
  RC_ASSERT(a.prefill_chunks.size() == static_cast<size_t>((c.prompt + 2047) / 2048));
  RC_ASSERT(std::abs(a.e2e_s - (a.ttft_s + static_cast<double>(c.output - 1) * a.decode.itl_s)) <=
            1e-9 * a.e2e_s);
  RC_ASSERT(std::abs(a.decode.tokens_per_s_gpu * a.decode.itl_s - static_cast<double>(c.concurrency)) <=
            1e-9);
  const ScenarioResult b = serve(bigger);
  RC_LOG() << text(c) << ": TTFT " << a.ttft_s * 1e3 << " ms, ITL " << a.decode.itl_s * 1e3 << " ms -> "
           << text(bigger) << ": TTFT " << b.ttft_s * 1e3 << " ms, ITL " << b.decode.itl_s * 1e3 << " ms\n";
  assert_step_not_slower(a.ttft_s, b.ttft_s);
  assert_step_not_slower(a.decode.itl_s, b.decode.itl_s);
  assert_step_not_slower(a.e2e_s, b.e2e_s);
}

// The same GPU written another way times the same, bit for bit: every table's keys in reverse
// order, the file split in two joined by `base =`, and rates and clocks in other units.
TEST(Invariance, AConfigReorderedSplitAndReunitedTimesTheSame) {
  namespace fs = std::filesystem;
  std::ifstream in(std::string(BWSIM_CONFIG_DIR_FOR_TESTS) + "/hw/b200.toml");
  ASSERT_TRUE(in.good());
  std::vector<std::vector<std::string>> sections(1);  // [0]: the top-level keys
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') sections.emplace_back();
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"\"7.7 TB/s\"", "\"7700 GB/s\""}, {"\"1.965 GHz\"", "\"1965 MHz\""}}) {
      if (const size_t at = line.find(from); at != std::string::npos) line.replace(at, from.size(), to);
    }
    sections.back().push_back(line);
  }
  ASSERT_GT(sections.size(), 6u);
  // Sections [from, to), each header first and its keys reversed.
  const auto text = [&](size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) {
      const std::vector<std::string>& sec = sections[i];
      const size_t keys = i == 0 ? 0 : 1;
      if (keys == 1) out += sec.front() + "\n";
      for (size_t j = sec.size(); j > keys; --j) out += sec[j - 1] + "\n";
    }
    return out;
  };
  const fs::path dir = fs::temp_directory_path() / ("bwsim_invariance_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const size_t half = sections.size() / 2;
  std::ofstream(dir / "part.toml") << text(0, half);
  std::ofstream(dir / "whole.toml") << "base = \"part.toml\"\n" << text(half, sections.size());
  const HwSpec stock = HwSpec::load("b200", {});
  const HwSpec other = HwSpec::load((dir / "whole.toml").string(), {});
  fs::remove_all(dir);
  for (const GemmProblem& p : {GemmProblem{2048, 2048, 2048, parse_gemm_format("nvfp4")},
                               GemmProblem{64, 8192, 8192, parse_gemm_format("fp8_e4m3")}}) {
    const GemmTiming a = simulate_gemm(p, stock);
    const GemmTiming b = simulate_gemm(p, other);
    EXPECT_EQ(a.time, b.time);
    EXPECT_EQ(a.plan.tile.name(), b.plan.tile.name());
    EXPECT_EQ(a.hbm_read, b.hbm_read);
    EXPECT_EQ(a.l2_read, b.l2_read);
    EXPECT_EQ(a.power.joules(), b.power.joules());
  }
  for (const AttentionProblem& p : {decode_problem(DecodeCase{"b200", "fp8_e4m3", 8, 4096, 32, 8, 128}),
                                    prefill_problem(PrefillCase{"b200", 1, 2048, 16, 4, 128, true})}) {
    const AttentionTiming a = simulate_attention(p, stock);
    const AttentionTiming b = simulate_attention(p, other);
    EXPECT_EQ(a.time, b.time);
    EXPECT_EQ(a.hbm_read, b.hbm_read);
    EXPECT_EQ(a.power.joules(), b.power.joules());
  }
}

// Counterexamples RapidCheck found, each kept as a named case (seed 20261206 unless named).

// A grid smaller than the GPU was placed from SM 0 up, so on 168 SMs its 96 CTAs sat 84 on one
// die where 148 SMs had put 74 and 22: the same kernel ran 1% slower with more SMs. Clusters
// now alternate between the dies, and the same grid runs identically.
TEST(PropertyRegressions, TheSameGridRunsTheSameOnMoreSms) {
  const GemmCase c{"b200", "bf16", 64, 640, 512};
  const GemmTiming base = run(c);
  GemmTimingOptions o;
  o.tile = base.plan.tile;
  if (o.tile->stream_k || base.plan.clusters < base.plan.work_items) o.tile->grid = base.plan.clusters;
  const GemmTiming more = simulate_gemm(GemmProblem{c.m, c.n, c.k, parse_gemm_format(c.format)},
                                        HwSpec::load("b200", {"sm.count=168"}), o);
  EXPECT_EQ(more.time, base.time) << base.plan.tile.name();
}

// Placement by grid size: 256 x 384 x 512 (6 clusters) took 2.93 us and 384 x 384 x 512 (12)
// 2.82 us when a small grid was split die by die in halves, moving cluster 3 to the other die.
TEST(PropertyRegressions, AGrowingGridKeepsItsClustersWhereTheyWere) {
  const HwSpec hw = HwSpec::load("b200", {});
  const GemmTiming a = simulate_gemm(GemmProblem{256, 384, 512, parse_gemm_format("bf16")}, hw);
  const GemmTiming b = simulate_gemm(GemmProblem{384, 384, 512, parse_gemm_format("bf16")}, hw);
  EXPECT_GE(step_seconds(b, hw), step_seconds(a, hw) * 0.995);
}

DecodeCase decode_case(const char* hw, const char* kv, int64_t batch, int64_t seq, int64_t heads,
                       int64_t kv_heads) {
  return DecodeCase{hw, kv, batch, seq, heads, kv_heads, 128};
}

// A fifth sequence re-dealt the V cache over L2 partitions and channels (the address hashes
// took each block's position after all earlier tensors), and batch 5 decoded 2.5% faster than
// batch 4 (2.71 vs 2.78 us). Each tensor now has its own hash base.
TEST(PropertyRegressions, AnotherSequenceDoesNotReDealTheCache) {
  const HwSpec hw = HwSpec::load("h100", {});
  const AttentionTiming a =
      simulate_attention(decode_problem(decode_case("h100", "fp8_e4m3", 4, 512, 4, 1)), hw);
  const AttentionTiming b =
      simulate_attention(decode_problem(decode_case("h100", "fp8_e4m3", 5, 512, 4, 1)), hw);
  EXPECT_GE(step_seconds(b, hw), step_seconds(a, hw) * 0.995);
}

// 18 sequences x 1 KV head at 5120 tokens (40 KV blocks): 148 SMs chose 8 splits (144 CTAs; 7 since
// epilogue stores interleave with fills),
// 168 SMs 9 or 10, with 5 blocks per split at most as in 8 and more to reduce: 1.5% slower.
// Candidates are now balanced split counts (FlashAttention's is_split_eligible).
TEST(PropertyRegressions, MoreSmsKeepABalancedSplit) {
  const AttentionProblem p = decode_problem(decode_case("b200", "fp8_e4m3", 18, 5120, 8, 1));
  const HwSpec hw = HwSpec::load("b200", {});
  const HwSpec more = HwSpec::load("b200", {"sm.count=168"});
  const AttentionTiming a = simulate_attention(p, hw);
  const AttentionTiming b = simulate_attention(p, more);
  // Balanced: one split fewer would put more blocks in some split (40 blocks over s splits).
  const auto per_split = [](uint32_t s) { return (40 + s - 1) / s; };
  for (const AttentionTiming* t : {&a, &b}) {
    ASSERT_GT(t->plan.splits, 1u);
    EXPECT_LT(per_split(t->plan.splits), per_split(t->plan.splits - 1)) << t->plan.splits;
  }
  EXPECT_LE(step_seconds(b, more), step_seconds(a, hw) * 1.005);
}

// 17 sequences x 2 KV heads at 3072 tokens on an H100: 132 SMs split in 3, 165 SMs were offered
// only 4 (3.4% slower, seed 7). The next balanced split below each wave's is now a candidate.
TEST(PropertyRegressions, MoreSmsKeepTheSmallerGpusSplit) {
  const AttentionProblem p = decode_problem(decode_case("h100", "bf16", 17, 3072, 16, 2));
  const HwSpec hw = HwSpec::load("h100", {});
  const HwSpec more = HwSpec::load("h100", {"sm.count=165"});
  EXPECT_LE(step_seconds(simulate_attention(p, more), more),
            step_seconds(simulate_attention(p, hw), hw) * 1.005);
}

// StepProperties' first counterexample: with the analytic best plan alone (gemm_finalists = 1),
// Llama-3.1-8B's down_proj in a 256-token prefill chunk on a B200 (256 x 4096 x 14336 NVFP4) took
// 14.9 us at 64 B/clk per L2 slice and 19.3 us at 72, a different analytic pick. Steps and the
// planner simulate the finalists, and keep the same pace.
TEST(PropertyRegressions, TheFinalistsKeepDownProjMonotoneInL2Bandwidth) {
  const GemmProblem p{256, 4096, 14336, parse_gemm_format("nvfp4")};
  const HwSpec hw = HwSpec::load("b200", {});
  const HwSpec more = HwSpec::load("b200", {"l2.slice_bandwidth=\"72 B/clk\""});
  EXPECT_LE(step_seconds(simulate_gemm(p, more), more), step_seconds(simulate_gemm(p, hw), hw) * 1.005);
}

}  // namespace
}  // namespace bwsim
