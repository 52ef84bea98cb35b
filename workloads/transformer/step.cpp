#include "workloads/transformer/step.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "sim/errors.hpp"
#include "workloads/attention/timing.hpp"
#include "workloads/gemm/gemm.hpp"

namespace bwsim {
namespace {

// A kernel's power report with its launch gaps added: the GPU idles through them.
PowerReport with_gaps(PowerReport p, Tick gaps, const HwSpec& hw) {
  p.energy.static_j += hw.power.idle.watts * gaps.seconds();
  p.seconds += gaps.seconds();
  return p;
}

// An unsimulated kernel's (a stream's, an all-reduce's) power: its bytes at boost, which it holds
// (data movement alone draws far below any power limit), over its run, the gap at idle.
PowerReport unsimulated_power(const HwSpec& hw, const Activity& a, const StepKernel& k) {
  return with_gaps(power_at(hw, MmaKind::kF16, {k.each - k.gap_each, a}, hw.clock.sm, ClockLimit::kBoost),
                   k.gap_each, hw);
}

// The step's time, FLOPs, bytes and energy from its kernels and their launches.
void add_totals(StepTiming& t, const HwSpec& hw) {
  t.power.clock = hw.clock.sm;
  for (const StepKernel& k : t.kernels) {
    t.time += k.total();
    t.flops += k.flops_each * static_cast<double>(k.launches);
    t.hbm_bytes += k.hbm_bytes_each * static_cast<double>(k.launches);
    t.power.energy.add(k.power_each.energy, static_cast<double>(k.launches));
    if (k.power_each.clock < t.power.clock ||
        (k.power_each.clock == t.power.clock && k.power_each.limit > t.power.limit)) {
      t.power.clock = k.power_each.clock;
      t.power.limit = k.power_each.limit;
    }
  }
  t.power.seconds = t.time.seconds();
}

class Builder {
 public:
  Builder(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, const StepShape& s, const StepOptions& o,
          StepCache& cache)
      : m_(m), q_(q), hw_(hw), s_(s), o_(o), cache_(cache) {}

  // A GEMM of the step: D[M x N] = A[M x K] B[N x K]^T with the class's format.
  void gemm(const std::string& name, WeightClass c, int64_t M, int64_t N, int64_t K, int64_t launches) {
    GemmProblem p;
    p.m = M;
    p.n = N;
    p.k = K;
    p.format = q_.gemm_format(c);
    const std::string shape = fmt::format("{} x {} x {} {}", M, N, K, p.format.name);
    add(name, "gemm", shape, launches, [&] {
      GemmTimingOptions go;
      go.clock = o_.clock;
      go.max_finalists = o_.gemm_finalists;
      go.trace = o_.trace;
      const GemmTiming g = simulate_gemm(p, hw_, go);
      StepKernel k;
      k.gap_each = hw_.launch.gaps(g.kernels.size());
      k.each = g.time + k.gap_each;
      k.flops_each = g.flops;
      k.hbm_bytes_each = static_cast<double>(g.hbm_read + g.hbm_write);
      k.hbm_read_each = static_cast<double>(g.hbm_read);
      k.l2_bytes_each = static_cast<double>(g.l2_read + g.l2_write);
      k.bound = g.bound;
      k.trace = g.trace;
      k.power_each = with_gaps(g.power, k.gap_each, hw_);
      return k;
    });
  }

  // An element-wise kernel streaming `read` bytes from HBM and `write` bytes to it.
  void stream(const std::string& name, const std::string& shape, double read, double write,
              int64_t launches) {
    // Cached by its bytes too: one shape moves other bytes under another plan (a norm writing FP4).
    add(
        name, "stream", shape, launches,
        [&] {
          StepKernel k;
          const double bytes = read + write;
          k.gap_each = hw_.launch.gap.tick;
          k.each = seconds_to_tick(bytes / (static_cast<double>(hw_.dram.bandwidth.bytes_per_s) *
                                            hw_.launch.stream_efficiency)) +
                   k.gap_each;
          k.hbm_bytes_each = bytes;
          k.hbm_read_each = read;
          k.l2_bytes_each = bytes;
          k.bound = "HBM";
          Activity a;
          a.dram_bytes = bytes;
          a.l2_bytes = bytes;
          k.power_each = unsimulated_power(hw_, a, k);
          return k;
        },
        fmt::format("{:a}|{:a}", read, write));
  }

  // A ring all-reduce of `bytes` over the TP group's link (NVLink, else PCIe): 2 (n - 1) / n of
  // the data each way, 2 (n - 1) hops of latency.
  void all_reduce(const std::string& name, double bytes, int64_t launches) {
    if (o_.tp <= 1) return;
    const auto n = static_cast<double>(o_.tp);
    add(name, "all-reduce", fmt::format("{} over {} GPUs", fmt::format("{:.3g} MB", bytes * 1e-6), o_.tp),
        launches, [&] {
          const NvlinkSpec* link = hw_.tp_link();
          if (link == nullptr) {
            throw InputError(
                fmt::format("--tp {}: {} has neither [nvlink] nor [pcie] in its config", o_.tp, hw_.name));
          }
          const bool pcie = link == &hw_.pcie;
          StepKernel k;
          k.gap_each = hw_.launch.gap.tick;
          k.each = seconds_to_tick(ring_all_reduce_seconds(*link, bytes, n)) + k.gap_each;
          k.bound = pcie ? "PCIe" : "NVLink";
          // Each GPU sends 2 (n - 1) / n of the data, reading and writing it once in DRAM.
          Activity a;
          const double sent = 2 * (n - 1) / n * bytes;
          (pcie ? a.pcie_bytes : a.nvlink_bytes) = sent;
          a.dram_bytes = 2 * sent;
          a.l2_bytes = a.dram_bytes;
          k.power_each = unsimulated_power(hw_, a, k);
          return k;
        });
  }

  // The attention kernels of the step for `p` (its batch, context and queries filled in here).
  void attention(AttentionProblem p, int64_t launches, bool nope = false) {
    p.batch = s_.batch;
    p.seq = s_.context;
    p.q_len = s_.q_len;
    p.causal = true;
    p.rope = nope ? std::nullopt : m_.rope;
    p.kv = q_.kv;
    const std::string shape = fmt::format(
        "{} seqs x {} queries, context {}{}, {} / {} heads x {}{}{}, KV {}", p.batch, p.q_len, p.seq,
        p.window > 0  ? fmt::format(", window {}", p.window)
        : p.chunk > 0 ? fmt::format(", chunks of {}", p.chunk)
                      : "",
        p.heads, p.kv_heads, p.head_dim, p.rope_dim > 0 ? fmt::format(" + {}", p.rope_dim) : "",
        p.latent_kv ? " latent" : "", kv_format_name(p.kv));
    add(p.window > 0 || p.chunk > 0 ? "attention_window" : "attention", "attention", shape, launches, [&] {
      AttentionTimingOptions ao;
      ao.clock = o_.clock;
      ao.trace = o_.trace;
      AttentionTiming t;
      try {
        t = simulate_attention(p, hw_, ao);
      } catch (const InputError& e) {
        if (!p.latent_kv) throw;
        throw InputError(fmt::format("{}: MLA decode over a {} latent cache: {} (a BF16 KV cache fits)",
                                     m_.name, kv_format_name(p.kv), e.what()));
      }
      StepKernel k;
      k.gap_each = hw_.launch.gaps(t.kernels.size());
      k.each = t.time + k.gap_each;
      k.flops_each = t.flops;
      k.hbm_bytes_each = static_cast<double>(t.hbm_read + t.hbm_write);
      k.hbm_read_each = static_cast<double>(t.hbm_read);
      k.l2_bytes_each = static_cast<double>(t.l2_read + t.l2_write);
      k.bound = t.bound;
      k.trace = t.trace;
      k.trace_note = t.trace_note;
      k.power_each = with_gaps(t.power, k.gap_each, hw_);
      return k;
    });
  }

  /// Launches added from now on are recorded in `seg` (in order), until the next call.
  void segment(std::vector<size_t>* seg, bool head = false) {
    seg_ = seg;
    in_head_ = head;
  }

  StepTiming finish() {
    StepTiming t;
    t.shape = s_;
    t.kernels = std::move(out_);
    add_totals(t, hw_);
    return t;
  }

 private:
  template <class Fn>
  void add(const std::string& name, const std::string& kind, const std::string& shape, int64_t launches,
           Fn&& run, const std::string& key_extra = "") {
    if (launches <= 0) return;
    const uint8_t part = in_head_ ? kStepHead : kind == "attention" ? kStepAttention : kStepDense;
    if ((o_.parts & part) == 0) return;
    const std::string key = name + "|" + shape + key_extra;
    auto it = cache_.kernels.find(key);
    if (it == cache_.kernels.end()) {
      StepKernel k = run();
      k.name = name;
      k.kind = kind;
      k.shape = shape;
      it = cache_.kernels.emplace(key, std::move(k)).first;
    }
    StepKernel k = it->second;
    k.launches = launches;
    if (seg_ != nullptr) seg_->push_back(out_.size());
    out_.push_back(std::move(k));
  }

  const ModelSpec& m_;
  const QuantPlan& q_;
  const HwSpec& hw_;
  const StepShape& s_;
  const StepOptions& o_;
  StepCache& cache_;
  std::vector<StepKernel> out_;
  std::vector<size_t>* seg_ = nullptr;
  bool in_head_ = false;
};

// MLA's attention block. Decode and verify steps (a few queries per sequence) run absorbed, as
// DeepSeek's serving kernels do: W_UK folds into the query (q_absorb), attention is MQA over the
// cached latent + rope key (heads in tiles of up to 64 rows reading one latent), and W_UV maps
// the latent output back (v_up). Prefill runs expanded: kv_b_proj rebuilds K and V of every
// cached token, then multi-head attention over 128 + 64 / 128 dims.
void mla_layer(Builder& b, const ModelSpec& m, const StepShape& s, int64_t heads, int64_t T, int64_t L) {
  const MlaSpec& a = *m.mla;
  const int64_t H = m.hidden;
  const int64_t qk = a.nope_dim + a.rope_dim;
  if (a.q_lora_rank > 0) {
    b.gemm("q_a_proj", WeightClass::kAttention, T, a.q_lora_rank, H, L);
    b.gemm("q_b_proj", WeightClass::kAttention, T, heads * qk, a.q_lora_rank, L);
  } else {
    b.gemm("q_proj", WeightClass::kAttention, T, heads * qk, H, L);
  }
  b.gemm("kv_a_proj", WeightClass::kAttention, T, a.kv_lora_rank + a.rope_dim, H, L);
  const double latents = static_cast<double>(T) * static_cast<double>(a.q_lora_rank + a.kv_lora_rank) * 2;
  b.stream("mla_norms", fmt::format("{} x ({} + {})", T, a.q_lora_rank, a.kv_lora_rank), latents, latents, L);
  AttentionProblem p;
  p.heads = heads;
  p.rope_dim = a.rope_dim;
  if (s.q_len <= 16) {
    b.gemm("q_absorb", WeightClass::kAttention, T, heads * a.kv_lora_rank, a.nope_dim, L);
    int64_t group = std::max<int64_t>(1, 64 / s.q_len);
    while (heads % group != 0) --group;
    p.kv_heads = heads / group;
    p.head_dim = a.kv_lora_rank;
    p.latent_kv = true;
    b.attention(p, L);
    b.gemm("v_up", WeightClass::kAttention, T, heads * a.v_dim, a.kv_lora_rank, L);
  } else {
    if (a.v_dim != a.nope_dim) {
      throw InputError(
          fmt::format("{}: MLA prefill with v_head_dim {} != qk_nope_head_dim {} is not modelled", m.name,
                      a.v_dim, a.nope_dim));
    }
    b.gemm("kv_b_proj", WeightClass::kAttention, s.batch * s.context, heads * (a.nope_dim + a.v_dim),
           a.kv_lora_rank, L);
    p.kv_heads = heads;
    p.head_dim = a.nope_dim;
    b.attention(p, L);
  }
  b.gemm("o_proj", WeightClass::kAttention, T, H, heads * a.v_dim, L);
}

}  // namespace

static StepTiming uniform_step(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, const StepShape& s,
                               const StepOptions& o, StepCache& cache) {
  if (o.tp < 1 || m.heads % o.tp != 0) {
    throw InputError(
        fmt::format("--tp {}: must be >= 1 and divide the model's {} attention heads", o.tp, m.heads));
  }
  if (s.batch < 1 || s.q_len < 1 || s.context < s.q_len) {
    throw InputError(
        fmt::format("step of {} sequences x {} new tokens at context {}: needs batch, q_len >= 1 and "
                    "context >= q_len",
                    s.batch, s.q_len, s.context));
  }
  if (o.expert_imbalance < 1)
    throw InputError(fmt::format("expert_imbalance {}: must be >= 1", o.expert_imbalance));
  if (o.ep != 1) {
    if (!m.moe) throw InputError(fmt::format("ep = {}: {} has no experts to spread", o.ep, m.name));
    if (o.ep != o.tp) {
      throw InputError(
          fmt::format("ep = {}: expert parallelism spreads whole experts over the TP group's GPUs, so ep "
                      "must be 1 or tp ({})",
                      o.ep, o.tp));
    }
    if (m.moe->experts % o.ep != 0)
      throw InputError(fmt::format("ep = {}: must divide the model's {} experts", o.ep, m.moe->experts));
  }
  Builder b(m, q, hw, s, o, cache);
  const int64_t T = s.batch * s.q_len;
  const int64_t L = m.layers;
  const int64_t tp = o.tp;
  const int64_t H = m.hidden;
  const auto Td = static_cast<double>(T);
  const auto Hd = static_cast<double>(H);
  // Activations into the GEMMs: BF16, or quantized by the norm / activation kernel that writes them.
  const auto act_bytes = [&](WeightClass c) {
    const GemmFormat f = q.gemm_format(c);
    return f.weight_only ? 2.0 : storage_bits(f.a) / 8;
  };
  const int64_t heads = m.heads / tp;
  const int64_t kvh = std::max<int64_t>(1, m.kv_heads / tp);
  // Fused residual add + RMSNorm (+ quantize): read x and the residual, write both.
  // Launches per part of a layer, in program order, to lay the step out as a timeline.
  std::vector<size_t> norm, attn, reduce, moe, dense, head;
  bool window_split = false;  // windowed layers run their own attention kernel
  b.segment(&norm);
  b.stream("rmsnorm", fmt::format("{} x {}", T, H), Td * Hd * (2 + 2),
           Td * Hd * (2 + act_bytes(WeightClass::kAttention)), 2 * L);
  b.segment(&attn);
  if (m.mla) {
    mla_layer(b, m, s, heads, T, L);
  } else {
    b.gemm("qkv_proj", WeightClass::kAttention, T, (heads + 2 * kvh) * m.head_dim, H, L);
    AttentionProblem p;
    p.heads = heads;
    p.kv_heads = kvh;
    p.head_dim = m.head_dim;
    p.sinks = m.attention_sinks;
    // Windowed layers attend through their window or chunk (their own kernel) once the context is
    // longer.
    const int64_t windowed = m.window_layers();
    window_split = windowed > 0 && s.context > m.window;
    if (window_split) {
      // The global layers use no RoPE where they are exactly the NoPE ones (Llama 4).
      bool global_nope = m.nope_every > 0;
      for (int64_t l = 0; l < m.layers; ++l)
        global_nope = global_nope && m.nope_layer(l) == !m.window_layer(l);
      if (L > windowed) b.attention(p, L - windowed, global_nope);
      (m.window_chunked ? p.chunk : p.window) = m.window;
      b.attention(p, windowed);
    } else {
      b.attention(p, L);
    }
    b.gemm("o_proj", WeightClass::kAttention, T, H, heads * m.head_dim, L);
  }
  b.segment(&reduce);
  b.all_reduce("all_reduce", Td * Hd * 2, 2 * L);
  b.segment(&moe);
  int64_t dense_layers = L;
  if (m.moe) {
    int64_t moe_layers = 0;
    for (int64_t l = 0; l < L; ++l) moe_layers += m.moe_layer(l) ? 1 : 0;
    dense_layers = L - moe_layers;
    const auto E = static_cast<double>(m.moe->experts);
    const double assignments = Td * static_cast<double>(m.moe->top_k);
    // Experts that get at least one token, and the busiest one's tokens.
    const double active = std::max(1.0, std::round(E * (1 - std::pow(1 - 1 / E, assignments))));
    const auto busiest = static_cast<int64_t>(std::ceil(assignments / active * o.expert_imbalance));
    // Tensor-parallel experts: every GPU runs every active expert, 1/tp of its FFN width.
    // Expert parallelism (ep = tp): each GPU holds E/ep whole experts and runs the active ones
    // among them (the active experts spread evenly) on the tokens routed to them; the tokens are
    // already on every GPU (TP attention), and the all-reduce after the layer combines them.
    const bool ep = o.ep > 1;
    const int64_t inner = ep ? m.moe->expert_ffn : m.moe->expert_ffn / tp;
    const auto A = ep ? std::min<int64_t>(m.moe->experts / o.ep,
                                          static_cast<int64_t>(std::ceil(active / static_cast<double>(o.ep))))
                      : static_cast<int64_t>(active);
    const double local =
        ep ? assignments / static_cast<double>(o.ep) : assignments;  // expert-token pairs here
    b.stream("router", fmt::format("{} x {} -> {} experts, top {}", T, H, m.moe->experts, m.moe->top_k),
             E * Hd * 2 + Td * Hd * 2, 0, moe_layers);
    // A grouped GEMM over the active experts: their tiles side by side along N.
    b.gemm("experts_gate_up", WeightClass::kExperts, busiest, A * 2 * inner, H, moe_layers);
    b.stream("experts_silu_mul", fmt::format("{:g} x {}", local, 2 * inner),
             local * static_cast<double>(inner) * 4,
             local * static_cast<double>(inner) * act_bytes(WeightClass::kExperts), moe_layers);
    b.gemm("experts_down", WeightClass::kExperts, busiest, A * H, inner, moe_layers);
    b.stream("moe_combine",
             fmt::format("{} x {} x top {}{}", T, H, m.moe->top_k, ep ? fmt::format(" / ep {}", o.ep) : ""),
             local * Hd * 2, local * Hd * 2, moe_layers);
    if (m.moe->shared_ffn > 0) {
      const int64_t sh = m.moe->shared_ffn / tp;
      b.gemm("shared_gate_up", WeightClass::kMlp, T, 2 * sh, H, moe_layers);
      b.stream("shared_silu_mul", fmt::format("{} x {}", T, 2 * sh), Td * static_cast<double>(sh) * 4,
               Td * static_cast<double>(sh) * act_bytes(WeightClass::kMlp), moe_layers);
      b.gemm("shared_down", WeightClass::kMlp, T, H, sh, moe_layers);
    }
  }
  b.segment(&dense);
  if (dense_layers > 0) {
    const int64_t inner = m.ffn / tp;
    b.gemm("gate_up_proj", WeightClass::kMlp, T, 2 * inner, H, dense_layers);
    b.stream("silu_mul", fmt::format("{} x {}", T, 2 * inner), Td * static_cast<double>(inner) * 4,
             Td * static_cast<double>(inner) * act_bytes(WeightClass::kMlp), dense_layers);
    b.gemm("down_proj", WeightClass::kMlp, T, H, inner, dense_layers);
  }
  // Head: final norm, lm_head on the rows that need logits, sampling over FP32 logits.
  b.segment(&head, true);
  const int64_t rows = s.logits_all ? T : s.batch;
  b.stream("final_norm", fmt::format("{} x {}", rows, H), static_cast<double>(rows) * Hd * 2,
           static_cast<double>(rows) * Hd * 2, 1);
  const int64_t vocab_shard = m.vocab / tp;  // vocabulary-parallel lm_head
  b.gemm("lm_head", WeightClass::kLmHead, rows, vocab_shard, H, 1);
  b.stream("sampling", fmt::format("{} x {}", rows, vocab_shard),
           static_cast<double>(rows) * static_cast<double>(vocab_shard) * 4, 0, 1);
  StepTiming t = b.finish();
  const auto put = [&](const std::vector<size_t>& seg, int64_t layer) {
    for (size_t i : seg) t.launches.emplace_back(i, layer);
  };
  for (int64_t l = 0; l < L; ++l) {
    put(norm, l);
    for (size_t i : attn) {  // a layer runs the attention of its kind
      const std::string& name = t.kernels[i].name;
      if (window_split && name == (m.window_layer(l) ? "attention" : "attention_window")) continue;
      t.launches.emplace_back(i, l);
    }
    put(reduce, l);
    put(norm, l);
    put(m.moe && m.moe_layer(l) ? moe : dense, l);
    put(reduce, l);
  }
  put(head, -1);
  return t;
}

// A plan with kept layers (QuantPlan::keep_layers): the step of the plan and the step of its kept
// plan, each layer's launches taken from the one it follows, the head from the plan's. Kernels
// both steps share (norms, attention, all-reduce) are one; the kept layers' GEMMs are their own,
// named with their format.
StepTiming simulate_step(const ModelSpec& m, const QuantPlan& q, const HwSpec& hw, const StepShape& s,
                         const StepOptions& o, StepCache& cache) {
  if (q.keep_layers.empty()) return uniform_step(m, q, hw, s, o, cache);
  check_keep_layers(q, m.layers, m.name);
  QuantPlan main = q;
  main.keep_layers.clear();
  const StepTiming a = uniform_step(m, main, hw, s, o, cache);
  if (!cache.kept) cache.kept = std::make_shared<StepCache>();
  const StepTiming b = uniform_step(m, q.kept_plan(), hw, s, o, *cache.kept);
  StepTiming t;
  t.shape = a.shape;
  std::map<std::string, size_t> index;  // name|shape -> kernel of t
  std::set<std::string> a_names;
  for (const StepKernel& k : a.kernels) a_names.insert(k.name);
  // A kept layer's kernel is the plan's own where it is the same launch (shape, time, bytes);
  // otherwise its own, named with the kept format (a norm writing BF16 instead of FP4 as well).
  const auto same = [](const StepKernel& x, const StepKernel& y) {
    return x.name == y.name && x.shape == y.shape && x.each == y.each &&
           x.hbm_bytes_each == y.hbm_bytes_each && x.flops_each == y.flops_each;
  };
  const auto take = [&](const StepKernel& k, bool kept, int64_t layer) {
    bool shared = !kept;
    for (const StepKernel& x : a.kernels) shared = shared || same(x, k);
    const std::string key = k.name + "|" + k.shape + (shared ? "" : "|kept");
    auto it = index.find(key);
    if (it == index.end()) {
      StepKernel c = k;
      c.launches = 0;
      if (!shared && a_names.count(k.name) != 0)
        c.name = fmt::format("{} [{}]", k.name, scheme_name(q.keep_format));
      it = index.emplace(key, t.kernels.size()).first;
      t.kernels.push_back(std::move(c));
    }
    ++t.kernels[it->second].launches;
    t.launches.emplace_back(it->second, layer);
  };
  for (int64_t l = 0; l < m.layers; ++l) {
    const bool kept = q.kept(l, m.layers);
    const StepTiming& src = kept ? b : a;
    for (const auto& [i, layer] : src.launches) {
      if (layer == l) take(src.kernels[i], kept, l);
    }
  }
  for (const auto& [i, layer] : a.launches) {
    if (layer < 0) take(a.kernels[i], false, layer);
  }
  add_totals(t, hw);
  return t;
}

}  // namespace bwsim

namespace bwsim {
namespace {}  // namespace

Tick step_trace_length(const StepTiming& t) {
  Tick at{0};
  for (const auto& [index, l] : t.launches) at += t.kernels[index].each;
  return at;
}

void emit_step_trace(TraceDoc& doc, const StepTiming& t, Tick offset, const std::string& label,
                     const std::vector<bool>& detailed, Power idle) {
  const uint32_t gpu = doc.process("GPU", 0);
  const uint32_t steps = doc.thread(gpu, "steps", 0);
  const uint32_t layers = doc.thread(gpu, "layers", 1);
  const uint32_t kernels = doc.thread(gpu, "kernels", 2);
  Tick at = offset;
  int64_t layer = -2;
  Tick layer_start = at;
  const auto close_layer = [&] {
    if (layer >= 0) doc.span(gpu, layers, fmt::format("layer {}", layer), layer_start, at);
  };
  for (size_t i = 0; i < t.launches.size(); ++i) {
    const auto& [index, l] = t.launches[i];
    const StepKernel& k = t.kernels[index];
    if (l != layer) {
      close_layer();
      layer = l;
      layer_start = at;
    }
    const Tick run = std::max(Tick{0}, k.run_each());
    const Tick start = at;
    const Tick end = at + k.each;
    doc.span(gpu, kernels, k.name, at, at + run,
             fmt::format(R"("shape":{},"kind":{},"bound":{},"us":{:.4f})", json_quote(k.shape),
                         json_quote(k.kind), json_quote(k.bound), run.seconds() * 1e6));
    trace_power(doc, gpu, k.power_each, start);  // over the whole launch, its gap at idle included
    at = end;
    if (i < detailed.size() && detailed[i]) continue;
    // Average bandwidth over the kernel.
    const double secs = std::max(1e-12, run.seconds());
    doc.counter(gpu, "HBM read (GB/s)", start, k.hbm_read_each / secs * 1e-9);
    doc.counter(gpu, "HBM write (GB/s)", start, (k.hbm_bytes_each - k.hbm_read_each) / secs * 1e-9);
    doc.counter(gpu, "L2 (GB/s)", start, k.l2_bytes_each / secs * 1e-9);
    for (const char* c : {"HBM read (GB/s)", "HBM write (GB/s)", "L2 (GB/s)"})
      doc.counter(gpu, c, start + run, 0);
  }
  close_layer();
  trace_idle_power(doc, gpu, idle, at);
  doc.span(gpu, steps, label, offset, at,
           fmt::format(R"("batch":{},"q_len":{},"context":{},"ms":{:.4f})", t.shape.batch, t.shape.q_len,
                       t.shape.context, t.time.seconds() * 1e3));
}

std::vector<bool> emit_step_detail(TraceDoc& doc, const StepTiming& t, Tick offset, uint64_t max_events,
                                   std::vector<const GpuTrace*>& done) {
  std::vector<bool> detailed(t.launches.size(), false);
  Tick at = offset;
  for (size_t i = 0; i < t.launches.size(); ++i) {
    const StepKernel& k = t.kernels[t.launches[i].first];
    const GpuTrace* rec = k.trace.get();
    if (rec != nullptr && std::find(done.begin(), done.end(), rec) == done.end() &&
        doc.events() < max_events) {
      done.push_back(rec);
      detailed[i] = true;
      rec->emit(doc, at, "simulated kernels", max_events);
      if (!k.trace_note.empty())
        doc.metadata(fmt::format("note: {} at {:.3f} us", k.name, at.seconds() * 1e6),
                     json_quote(k.trace_note));
    }
    at += k.each;
  }
  return detailed;
}

}  // namespace bwsim
