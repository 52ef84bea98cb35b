#include "models/tensor_pipe.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "isa/mma.hpp"
#include "models/gpu_trace.hpp"

namespace bwsim {

void TensorSpec::read(ConfigReader& r, Arch arch) {
  r.owned_by("tensor_pipe");
  ConfigReader rate = r.section("rate", "dense MACs per clock per SM for each instruction kind the SM has");
  for (const auto& [name, kind] : kMmaKindNames) {
    const bool exists = arch_has_kind(arch, kind);
    if (!exists) {
      rate.check(
          !rate.has(name), name,
          fmt::format("is an MMA kind that {} does not have{}", arch_name(arch),
                      arch == Arch::kSm90 ? " (Hopper has no block-scaled or FP4/FP6 tensor math)" : ""));
      continue;
    }
    uint64_t v = 0;
    rate.opt(name, v, uint64_t{0}, fmt::format("kind::{} MACs/clk/SM (0: not supported)", name));
    rate.range(name, v, uint64_t{0}, uint64_t{1} << 20);  // 1024-16384 on today's SMs
    macs_per_clk[static_cast<size_t>(kind)] = v;
  }
  r.req("latency_smem", latency_smem,
        "MMA issue->commit fixed cycles, A and B in SMEM, besides smem.latency and the math (M*N*K / rate)");
  r.opt("issue", issue, Cycles{1}, "cycles the issuing thread spends per MMA instruction");
  r.range("latency_smem", latency_smem, Cycles{0}, Cycles{100000});
  r.range("issue", issue, Cycles{0}, Cycles{100000});
  if (has_tmem(arch)) {
    r.req("latency_tmem_a", latency_tmem_a,
          "MMA issue->commit fixed cycles with A in TMEM, besides smem.latency");
    r.req("latency_pair", latency_pair,
          "MMA issue->commit fixed cycles for a CTA pair (cta_group::2), besides smem.latency");
    r.range("latency_tmem_a", latency_tmem_a, Cycles{0}, Cycles{100000});
    r.range("latency_pair", latency_pair, Cycles{0}, Cycles{100000});
  } else {
    r.check(!r.has("latency_tmem_a"), "latency_tmem_a",
            fmt::format("needs TMEM, which {} lacks", arch_name(arch)));
    r.check(!r.has("latency_pair"), "latency_pair",
            fmt::format("needs CTA-pair MMA, which {} lacks", arch_name(arch)));
  }
  r.check(rate.has("f16") && macs_per_clk[static_cast<size_t>(MmaKind::kF16)] > 0, "rate",
          "needs a non-zero f16 rate");
}

int mma_operand_bits(MmaKind kind) {
  switch (kind) {
    case MmaKind::kF16:
      return 16;
    case MmaKind::kTf32:
      return 32;
    case MmaKind::kMxF4:
    case MmaKind::kMxF4NvF4:
      return 4;
    default:
      return 8;  // FP8/FP6/FP4 in 8-bit slots (f8f6f4, mxf8f6f4), INT8
  }
}

TensorPipe::TensorPipe(uint32_t sm, const TensorSpec& spec, Arch arch, const ClockDomain& clk, SmemPort& smem,
                       TmemPort& tmem, const SmCounters& counters)
    : sm_(sm),
      spec_(&spec),
      warp_level_(!has_tcgen05(arch) && !has_wgmma(arch)),
      clk_(&clk),
      smem_(&smem),
      tmem_(&tmem),
      counters_(&counters) {}

MmaTiming TensorPipe::issue(const op::Mma& mma, Tick now, std::span<TensorPipe* const> pipes) {
  const TensorPipe& lead = *pipes[0];
  const TensorSpec& spec = *lead.spec_;
  const ClockDomain& clk = *lead.clk_;
  const MmaShape& s = mma.shape;
  const uint64_t rate = spec.rate(s.kind);
  const uint32_t group = s.cta_group;
  const uint64_t k = static_cast<uint64_t>(mma_k(s.kind));
  const uint64_t m_sm = s.m / group;
  const int bits = mma_operand_bits(s.kind);
  // tcgen05.mma and wgmma read their operands from SMEM (A may come from TMEM or registers);
  // warp-level mma.sync (sm_120) reads registers, filled by separate ldmatrix (SMEM) ops.
  const uint64_t smem_bytes =
      lead.warp_level_ ? 0 : ((s.a_in_tmem ? 0 : m_sm * k * bits) + (s.n / group) * k * bits) / 8;
  const Tick compute_t = clk.span(Cycles{static_cast<int64_t>((m_sm * s.n * k + rate - 1) / rate)});
  const Tick fetch_t = lead.smem_->time_for(smem_bytes);
  const Cycles fixed =
      group == 2 ? spec.latency_pair : (s.a_in_tmem ? spec.latency_tmem_a : spec.latency_smem);
  uint64_t copy_bytes = 0;
  for (TensorPipe* p : pipes) copy_bytes = std::max(copy_bytes, p->tmem_->take_pending_copy_bytes());
  const Tick copy_fetch = lead.smem_->time_for(copy_bytes);
  Tick last_start = now;
  for (uint32_t i = 0; i < mma.instructions; ++i) {
    Tick start = clk.after(now, spec.issue * static_cast<int64_t>(i));
    for (TensorPipe* p : pipes) start = std::max({start, p->pipe_.next_free(), p->tmem_->copy_ready()});
    Tick end = start + compute_t;
    const Tick fetch_i = i == 0 ? fetch_t + copy_fetch : fetch_t;
    if (fetch_i > Tick{}) {  // mma.sync reads registers: nothing to fetch, nothing to wait for
      for (TensorPipe* p : pipes) end = std::max(end, p->smem_->fetch(now, start, fetch_i));
    }
    for (TensorPipe* p : pipes) {
      p->pipe_.reserve(start, end - start);
      p->busy_ += end - start;
      p->math_ += compute_t;
      if (p->trace_ != nullptr && p->trace_->wants(p->sm_)) p->trace_->mma(p->sm_, start, end);
    }
    last_start = start;
  }
  const SmCounters& c = *lead.counters_;
  c.add(c.mma_instructions, mma.instructions);
  c.add(c.mma_macs, uint64_t{mma.instructions} * s.m * s.n * k);
  c.add(c.smem_bytes, uint64_t{mma.instructions} * smem_bytes * group);
  return {
      clk.after(now, spec.issue * static_cast<int64_t>(mma.instructions)),
      last_start + clk.span(fixed + (lead.warp_level_ ? Cycles{0} : lead.smem_->spec().latency)) + compute_t};
}

}  // namespace bwsim
