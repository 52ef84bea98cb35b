#include "models/tma_engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "models/gpu_trace.hpp"

namespace bwsim {

void TmaSpec::read(ConfigReader& r, Arch arch) {
  r.owned_by("tma_engine");
  r.opt("issue", issue, Cycles{2}, "SM cycles to issue one TMA box");
  r.opt("max_inflight_boxes", max_inflight_boxes, 32u, "TMA boxes one SM may have in flight");
  r.opt("multicast", multicast, has_tma_multicast(arch),
        "TMA multicast to the CTAs of a cluster (off: GEMM clusters that share A by multicast are not "
        "planned)");
  r.check(!multicast || has_tma_multicast(arch), "multicast",
          fmt::format("is not available on {}", arch_name(arch)));
  r.range("issue", issue, Cycles{0}, Cycles{100000});
  r.range("max_inflight_boxes", max_inflight_boxes, 1u, 4096u);
}

TmaEngine::TmaEngine(uint32_t sm, const TmaSpec& spec, const ClockDomain& clk, MemoryPath& mem,
                     SmemPort& smem, const SmCounters& counters)
    : sm_(sm), spec_(&spec), clk_(&clk), mem_(&mem), smem_(&smem), counters_(&counters) {}

std::optional<Tick> TmaEngine::full_until(Tick now) {
  std::erase_if(inflight_, [&](Tick t) { return t <= now; });
  if (inflight_.size() < spec_->max_inflight_boxes) return std::nullopt;
  return *std::min_element(inflight_.begin(), inflight_.end());
}

Tick TmaEngine::load(const Region& r, std::span<const uint32_t> dest_sms,
                     std::span<SmemPort* const> dest_ports, Tick now) {
  if (!dest_sms.empty() && !spec_->multicast)
    throw std::logic_error("a TMA multicast with tma.multicast off");
  const Reservation issue = issue_.reserve(now, clk_->span(spec_->issue));
  const MemResult m = mem_->read(sm_, r, dest_sms, issue.end);
  // The fill streams into SMEM as the data arrives. It shares the SMEM port with MMA operand
  // fetches, which the hardware interleaves finely; chunks of kFillChunk bytes let the fill
  // back-fill the gaps between reserved fetch windows instead of queueing behind all of them.
  // Four 128-byte lines (4 cycles of a 128 B/clk port): with 4 KiB chunks (32 cycles) a kernel
  // near the port's limit (FP8 256x256x128 pairs need ~100% of it) fell into one of two regimes
  // by the phase of its fills against the fetches, 875k or 965k cycles a 10 MHz clock step
  // apart; at 512 B the time moves smoothly with the clock.
  constexpr uint64_t kFillChunk = 512;
  const Tick fill = smem_->time_for(m.bytes);
  const uint64_t chunks = std::max<uint64_t>(1, (m.bytes + kFillChunk - 1) / kFillChunk);
  const Tick piece = Tick{(fill.ps() + static_cast<int64_t>(chunks) - 1) / static_cast<int64_t>(chunks)};
  const Tick from = m.ready - fill > now ? m.ready - fill : now;
  Tick done = m.ready;
  if (dest_ports.empty()) {
    done = std::max(done, smem_->fill(now, from, piece, chunks));
  } else {
    for (SmemPort* p : dest_ports) done = std::max(done, p->fill(now, from, piece, chunks));
  }
  inflight_.push_back(done);
  const auto copies = static_cast<uint32_t>(std::max<size_t>(1, dest_sms.size()));
  if (trace_ != nullptr && trace_->wants(sm_)) trace_->tma_load(sm_, now, done, m.bytes, copies);
  counters_->add(counters_->tma_loads);
  counters_->add(counters_->tma_load_bytes, m.bytes * copies);
  return done;
}

Tick TmaEngine::store(const Region& r, Tick now) {
  smem_->access(now, r.size());
  const Reservation issue = issue_.reserve(now, clk_->span(spec_->issue));
  const MemResult m = mem_->write(sm_, r, issue.end);
  if (trace_ != nullptr && trace_->wants(sm_)) trace_->tma_store(sm_, now, m.ready, m.bytes);
  counters_->add(counters_->tma_store_bytes, m.bytes);
  return m.ready;
}

}  // namespace bwsim
