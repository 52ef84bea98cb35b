#include "models/executor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <span>
#include <utility>

#include "isa/mma.hpp"
#include "sim/errors.hpp"

namespace bwsim {

namespace {
uint64_t role_id(uint32_t slot, uint32_t role) { return (uint64_t{slot} << 8) | role; }
}  // namespace

Executor::Executor(Gpu& gpu) : Component(gpu.sim, "gpu.exec"), gpu_(gpu), tma_done_(gpu.hw.sm.count) {
  StatGroup g(gpu.sim.stats(), "gpu.sm");
  stats_.mma_instructions = g.counter("mma_instructions", "tensor instructions issued");
  stats_.mma_macs = g.counter("mma_macs", "multiply-accumulates done by tensor instructions");
  stats_.tma_loads = g.counter("tma_loads", "TMA box loads");
  stats_.tma_load_bytes = g.counter("tma_load_bytes", "bytes loaded by TMA (per destination SM)", "B");
  stats_.tma_store_bytes = g.counter("tma_store_bytes", "bytes stored by TMA", "B");
  stats_.loads = g.counter("loads", "global loads (LDG)");
  stats_.load_bytes = g.counter("load_bytes", "bytes of global loads", "B");
  stats_.smem_bytes = g.counter("smem_bytes", "shared-memory bytes read and written", "B");
  stats_.tmem_bytes = g.counter("tmem_bytes", "TMEM bytes moved by tcgen05.ld/st/cp", "B");
  stats_.exp2 = g.counter("exp2", "MUFU exp2 operations");
  stats_.fma = g.counter("fma", "FP32 FMA operations");
  stats_.ctas = g.counter("ctas", "CTAs run");
}

uint32_t Executor::target_cta(const CtaState& c, uint8_t rank) const {
  if (rank == kOwnCta) return c.slot;
  const Cluster& cl = clusters_[c.cluster];
  if (rank >= cl.ctas.size())
    throw std::logic_error("barrier of CTA rank " + std::to_string(rank) + " outside the cluster");
  return cl.ctas[rank];
}

KernelResult Executor::run(const Kernel& k) {
  start(k);
  gpu_.sim.run();
  return finish();
}

void Executor::start(const Kernel& k) {
  if (k.cluster_size < 1 || k.cluster_size > gpu_.hw.sm.max_cluster || k.cluster_size > gpu_.hw.sm.count) {
    throw InputError(fmt::format("kernel {}: a cluster of {} CTAs (sm.max_cluster is {})", k.name,
                                 k.cluster_size, gpu_.hw.sm.max_cluster));
  }
  if (auto why = gpu_.sms[0].never_fits(k.resources))
    throw InputError(fmt::format("kernel {}: a CTA {}", k.name, *why));
  kernel_ = &k;
  ctas_.clear();
  free_slots_.clear();
  clusters_.assign(k.clusters, Cluster{});
  next_cluster_ = 0;
  finished_clusters_ = 0;
  marks_.clear();
  flags_.assign(k.flags, Flag{});
  flag_latency_ = gpu_.l2_clock.span(gpu_.hw.noc.latency * 2 + gpu_.hw.l2.hit_latency);
  Simulation& sim = gpu_.sim;
  start_ = sim.now();
  last_end_ = start_;
  busy_before_ = busy_now();
  sim.stats().roi_begin();
  events_before_ = sim.events().executed();
  std::vector<uint32_t> all(gpu_.hw.sm.count);
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  launch_pending(all);
}

bool Executor::run_until(const std::function<bool(const std::vector<std::pair<uint32_t, Tick>>&)>& enough,
                         Tick window) {
  Simulation& sim = gpu_.sim;
  while (!sim.events().empty()) {
    if (enough(marks_)) return true;
    sim.run(std::max(sim.now(), sim.events().next_tick()) + window);
  }
  return enough(marks_);
}

KernelResult Executor::finish() {
  const Kernel& k = *kernel_;
  Simulation& sim = gpu_.sim;
  sim.run();
  if (finished_clusters_ != k.clusters)
    throw std::logic_error("kernel " + k.name + " ended with clusters unfinished");
  sim.stats().roi_end();
  KernelResult r;
  r.name = k.name;
  r.start = start_;
  r.end = last_end_;
  r.sm_cycles =
      static_cast<double>((r.end - r.start).ps()) * static_cast<double>(gpu_.sm_clock.frequency().hz) * 1e-12;
  r.events = sim.events().executed() - events_before_;
  r.ctas = k.clusters * k.cluster_size;
  r.marks = std::move(marks_);
  if (GpuTrace* t = gpu_.trace()) t->kernel(k.name, r.start, r.end, r.ctas);
  r.stats = sim.stats().roi_delta();
  const BusyTime after = busy_now();
  r.busy.tensor = after.tensor - busy_before_.tensor;
  r.busy.smem = after.smem - busy_before_.smem;
  r.busy.dram = after.dram - busy_before_.dram;
  kernel_ = nullptr;
  return r;
}

BusyTime Executor::busy_now() const {
  BusyTime b;
  for (const Sm& s : gpu_.sms) {
    b.tensor += s.tensor_busy;
    b.smem += s.smem.busy();
  }
  for (size_t i = 0; i < gpu_.mem.dram().channels(); ++i) b.dram += gpu_.mem.dram().channel(i).busy();
  return b;
}

// Places pending clusters on the given SMs (a cluster of n CTAs on n aligned SMs) breadth-first,
// one per SM per pass, as the hardware's CTA scheduler spreads a grid before stacking it.
void Executor::launch_pending(const std::vector<uint32_t>& sms) {
  const uint32_t step = kernel_->cluster_size;
  bool launched = true;
  while (launched && next_cluster_ < kernel_->clusters) {
    launched = false;
    for (size_t i = 0; i < sms.size() && next_cluster_ < kernel_->clusters; ++i) {
      const uint32_t first = sms[i] / step * step;
      if (first + step > gpu_.hw.sm.count) continue;  // a partial group at the end cannot host a cluster
      if (sms[i] != first && std::find(sms.begin(), sms.end(), first) != sms.end()) continue;
      launched = try_launch(first) || launched;
    }
  }
}

bool Executor::try_launch(uint32_t first_sm) {
  const uint32_t size = kernel_->cluster_size;
  for (uint32_t i = 0; i < size; ++i) {
    if (!gpu_.sms[first_sm + i].fits(kernel_->resources)) return false;
  }
  const uint32_t index = next_cluster_++;
  ClusterProgram prog = kernel_->program(index);
  if (prog.ctas.size() != size) {
    throw std::logic_error(fmt::format("kernel {}: cluster {} has {} CTAs, expected {}", kernel_->name, index,
                                       prog.ctas.size(), size));
  }
  Cluster& cl = clusters_[index];
  cl.live = size;
  cl.more = std::move(prog.more);
  for (uint32_t i = 0; i < size; ++i) {
    uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = static_cast<uint32_t>(ctas_.size());
      ctas_.emplace_back();
    }
    CtaState& c = ctas_[slot];
    c = CtaState{};
    c.slot = slot;
    c.cluster = index;
    c.rank = i;
    c.sm = first_sm + i;
    c.prog = std::move(prog.ctas[i]);
    c.barriers.resize(c.prog.barrier_counts.size());
    for (size_t b = 0; b < c.barriers.size(); ++b)
      c.barriers[b].expected = std::max(1u, c.prog.barrier_counts[b]);
    c.roles.resize(c.prog.roles.size());
    c.live_roles = static_cast<uint32_t>(c.roles.size());
    c.tmem_offset = gpu_.sms[c.sm].admit(kernel_->resources);
    c.launched = gpu_.sim.now();
    if (GpuTrace* t = gpu_.trace(); t != nullptr && t->wants(c.sm)) c.trace_slot = t->cta_begin(c.sm);
    cl.ctas.push_back(slot);
    gpu_.sim.stats().add(stats_.ctas);
  }
  for (uint32_t slot : cl.ctas) {
    CtaState& c = ctas_[slot];
    if (c.roles.empty()) {
      role_finished(slot);
      continue;
    }
    for (uint32_t r = 0; r < c.roles.size(); ++r)
      gpu_.sim.events().schedule(gpu_.sim.now(), bind<&Executor::step>(this), role_id(slot, r));
  }
  return true;
}

void Executor::resume_at(uint64_t id, Tick t) {
  gpu_.sim.events().schedule(t, bind<&Executor::step>(this), id);
}

uint64_t Executor::schedule_completion(Tick at, const Completion& c) {
  uint64_t slot;
  if (!free_completions_.empty()) {
    slot = free_completions_.back();
    free_completions_.pop_back();
    completions_[slot] = c;
  } else {
    slot = completions_.size();
    completions_.push_back(c);
  }
  gpu_.sim.events().schedule(at, bind<&Executor::on_completion>(this), slot);
  return slot;
}

void Executor::on_completion(uint64_t slot) {
  const Completion c = completions_[slot];
  free_completions_.push_back(slot);
  last_end_ = std::max(last_end_, gpu_.sim.now());
  for (uint32_t n = 0; n < c.arrivals; ++n) {
    if (c.targets == 0) {
      arrive(c.cta, c.barrier);
    } else {
      const Cluster& cl = clusters_[ctas_[c.cta].cluster];
      for (uint32_t rank = 0; rank < cl.ctas.size(); ++rank) {
        if ((c.targets >> rank) & 1u) arrive(cl.ctas[rank], c.barrier);
      }
    }
  }
  gpu_.sim.note_progress();
  ctas_[c.cta].async -= c.arrivals;
  maybe_retire(c.cta);
}

void Executor::arrive(uint32_t slot, uint16_t barrier) {
  CtaState& c = ctas_[slot];
  if (barrier >= c.barriers.size())
    throw std::logic_error(fmt::format("kernel {}: barrier {} not declared", kernel_->name, barrier));
  Barrier& b = c.barriers[barrier];
  if (++b.count < b.expected) return;
  b.count = 0;
  ++b.completions;
  std::vector<uint64_t> waiters;
  waiters.swap(b.waiters);
  for (uint64_t id : waiters) resume_at(id, gpu_.sim.now());
}

Tick Executor::issue_mma(CtaState& c, const Op& op, Tick now) {
  const HwSpec& hw = gpu_.hw;
  const MmaShape& s = op.mma;
  const uint64_t rate = hw.tensor.rate(s.kind);
  if (rate == 0) {
    throw InputError(fmt::format("kernel {}: {} has no kind::{} tensor instructions", kernel_->name, hw.name,
                                 mma_kind_name(s.kind)));
  }
  const uint32_t group = s.cta_group;
  const uint64_t k = static_cast<uint64_t>(mma_k(s.kind));
  const uint64_t m_sm = s.m / group;
  const int bits = mma_operand_bits(s.kind);
  // tcgen05.mma and wgmma read their operands from SMEM (A may come from TMEM or registers);
  // warp-level mma.sync (sm_120) reads registers, filled by separate ldmatrix (SMEM) ops.
  const bool warp_level = !has_tcgen05(hw.arch) && !has_wgmma(hw.arch);
  const uint64_t smem_bytes =
      warp_level ? 0 : ((s.a_in_tmem ? 0 : m_sm * k * bits) + (s.n / group) * k * bits) / 8;
  const auto compute = static_cast<int64_t>((m_sm * s.n * k + rate - 1) / rate);
  const double fetch_cycles = static_cast<double>(smem_bytes) / hw.smem.bandwidth.value;
  const ClockDomain& clk = gpu_.sm_clock;
  const Tick compute_t = clk.span(Cycles{compute});
  const Tick fetch_t = clk.span(Cycles{static_cast<int64_t>(std::ceil(fetch_cycles))});
  const Cycles fixed =
      group == 2 ? hw.tensor.latency_pair : (s.a_in_tmem ? hw.tensor.latency_tmem_a : hw.tensor.latency_smem);
  std::array<Sm*, 2> sm_pair{&gpu_.sms[c.sm], nullptr};
  std::span<Sm*> sms(sm_pair.data(), 1);
  if (group == 2) {
    const Cluster& cl = clusters_[c.cluster];
    const uint32_t even = c.rank & ~1u;  // the pair is ranks (2i, 2i+1) of the cluster
    if (even + 1 >= cl.ctas.size()) throw std::logic_error("a cta_group::2 MMA outside a CTA pair");
    sm_pair = {&gpu_.sms[ctas_[cl.ctas[even]].sm], &gpu_.sms[ctas_[cl.ctas[even + 1]].sm]};
    sms = std::span<Sm*>(sm_pair.data(), 2);
  }
  Tick last_start = now;
  uint64_t copy_bytes = 0;
  for (Sm* sm : sms) copy_bytes = std::max(copy_bytes, std::exchange(sm->pending_copy_bytes, uint64_t{0}));
  const Tick copy_fetch = clk.span(
      Cycles{static_cast<int64_t>(std::ceil(static_cast<double>(copy_bytes) / hw.smem.bandwidth.value))});
  for (uint32_t i = 0; i < op.count; ++i) {
    Tick start = clk.after(now, hw.tensor.issue * static_cast<int64_t>(i));
    for (Sm* sm : sms) start = std::max({start, sm->tensor_pipe.next_free(), sm->copy_ready});
    Tick end = start + compute_t;
    const Tick fetch_i = i == 0 ? fetch_t + copy_fetch : fetch_t;
    if (fetch_i > Tick{}) {  // mma.sync reads registers: nothing to fetch, nothing to wait for
      for (Sm* sm : sms) end = std::max(end, sm->smem.reserve_split(now, start, fetch_i));
    }
    for (Sm* sm : sms) {
      sm->tensor_pipe.reserve(start, end - start);
      sm->tensor_busy += end - start;
      if (GpuTrace* t = gpu_.trace(); t != nullptr && t->wants(sm->index)) t->mma(sm->index, start, end);
    }
    last_start = start;
  }
  gpu_.sim.stats().add(stats_.mma_instructions, op.count);
  gpu_.sim.stats().add(stats_.mma_macs, uint64_t{op.count} * s.m * s.n * k);
  gpu_.sim.stats().add(stats_.smem_bytes, uint64_t{op.count} * smem_bytes * group);
  const Tick commit = last_start + clk.span(fixed) + compute_t;
  c.last_commit = std::max(c.last_commit, commit);
  if (op.barrier != kNoBarrier) {
    Completion comp;
    comp.cta = c.slot;
    comp.barrier = op.barrier;
    comp.targets = op.multicast;
    schedule_completion(commit, comp);
    ++c.async;
  }
  return clk.after(now, hw.tensor.issue * static_cast<int64_t>(op.count));
}

void Executor::flush(LoadGroup& g) {
  if (!g.open) return;
  g.open = false;
  schedule_completion(g.done, g.comp);
}

void Executor::step(uint64_t id) {
  // Loads grouped in this call complete however the call ends (a return, or an exception).
  struct Flusher {
    Executor* e;
    LoadGroup g;
    ~Flusher() { e->flush(g); }
  } group{this, {}};
  const auto slot = static_cast<uint32_t>(id >> 8);
  const auto ri = static_cast<uint32_t>(id & 0xFF);
  Simulation& sim = gpu_.sim;
  const HwSpec& hw = gpu_.hw;
  const ClockDomain& clk = gpu_.sm_clock;
  const Tick now = sim.now();
  CtaState& c = ctas_[slot];
  RoleState& r = c.roles[ri];
  r.waiting = false;
  const std::vector<Op>& ops = c.prog.roles[ri].ops;
  Sm& sm = gpu_.sms[c.sm];
  // Runs until the role's ops run out and its cluster's program has no more (a TMA load group
  // stays open across an extension).
  while (r.pc < ops.size() || extend(slot, ri)) {
    const Op& op = ops[r.pc];
    if (op.code != OpCode::kTmaLoad) flush(group.g);
    switch (op.code) {
      case OpCode::kWait: {
        CtaState& owner = ctas_[target_cta(c, op.cta)];
        if (op.barrier >= owner.barriers.size()) {
          throw std::logic_error(
              fmt::format("kernel {}: barrier {} not declared", kernel_->name, op.barrier));
        }
        Barrier& b = owner.barriers[op.barrier];
        if (b.completions > op.count) {
          ++r.pc;
          continue;
        }
        b.waiters.push_back(id);
        r.waiting = true;
        return;
      }
      case OpCode::kArrive:
        ++r.pc;
        arrive(target_cta(c, op.cta), op.barrier);
        continue;
      case OpCode::kMark:
        marks_.emplace_back(op.count, now);
        ++r.pc;
        continue;
      case OpCode::kFlagArrive: {
        if (op.barrier >= flags_.size())
          throw std::logic_error(fmt::format("kernel {}: flag {} not declared", kernel_->name, op.barrier));
        Flag& f = flags_[op.barrier];
        ++f.arrivals;
        std::vector<uint64_t> waiters;
        waiters.swap(f.waiters);
        for (uint64_t w : waiters) resume_at(w, now + flag_latency_);
        ++r.pc;
        continue;
      }
      case OpCode::kFlagWait: {
        if (op.barrier >= flags_.size())
          throw std::logic_error(fmt::format("kernel {}: flag {} not declared", kernel_->name, op.barrier));
        Flag& f = flags_[op.barrier];
        if (f.arrivals >= op.count) {
          ++r.pc;
          continue;
        }
        f.waiters.push_back(id);
        r.waiting = true;
        return;
      }
      case OpCode::kDelay:
        ++r.pc;
        trace_op(c, ri, "delay", now, clk.after(now, Cycles{op.count}));
        resume_at(id, clk.after(now, Cycles{op.count}));
        return;
      case OpCode::kTmaLoad: {
        // At most max_inflight_boxes loads in flight per SM: when full, try again when the
        // first of them completes.
        std::vector<Tick>& inflight = tma_done_[c.sm];
        std::erase_if(inflight, [&](Tick t) { return t <= now; });
        if (inflight.size() >= hw.tma.max_inflight_boxes) {
          resume_at(id, *std::min_element(inflight.begin(), inflight.end()));
          return;
        }
        const Reservation issue = sm.tma_issue.reserve(now, clk.span(hw.tma.issue));
        std::array<uint32_t, 32> dest_buf{};
        size_t ndest = 0;
        if (op.multicast != 0) {
          const Cluster& cl = clusters_[c.cluster];
          for (uint32_t rank = 0; rank < cl.ctas.size(); ++rank) {
            if ((op.multicast >> rank) & 1u) dest_buf[ndest++] = ctas_[cl.ctas[rank]].sm;
          }
        }
        const std::span<const uint32_t> dests(dest_buf.data(), ndest);
        const MemResult m = gpu_.mem.read(c.sm, op.region, dests, issue.end);
        // The fill streams into SMEM as the data arrives. It shares the SMEM port with MMA
        // operand fetches, which the hardware interleaves finely; chunks of kFillChunk bytes
        // let the fill back-fill the gaps between reserved fetch windows instead of queueing
        // behind all of them.
        constexpr uint64_t kFillChunk = 4096;
        const Tick fill = clk.span(
            Cycles{static_cast<int64_t>(std::ceil(static_cast<double>(m.bytes) / hw.smem.bandwidth.value))});
        const uint64_t chunks = std::max<uint64_t>(1, (m.bytes + kFillChunk - 1) / kFillChunk);
        const Tick piece =
            Tick{(fill.ps() + static_cast<int64_t>(chunks) - 1) / static_cast<int64_t>(chunks)};
        Tick done = m.ready;
        const uint32_t own[1] = {c.sm};
        for (uint32_t d : dests.empty() ? std::span<const uint32_t>(own, 1) : dests) {
          Sm& ds = gpu_.sms[d];
          const Tick from = m.ready - fill > now ? m.ready - fill : now;
          done = std::max(done, ds.smem.reserve_stream(now, from, piece, chunks));
        }
        Completion comp;
        comp.cta = slot;
        comp.barrier = op.barrier;
        if (op.multicast != 0 && op.cta == kSignalPairLeaders) {
          comp.targets = 0;
          for (uint32_t rank = 0; rank < 32; ++rank) {
            if ((op.multicast >> rank) & 1u) comp.targets |= 1u << (rank & ~1u);
          }
        } else {
          comp.targets = op.multicast != 0 ? op.multicast : (op.cta == kOwnCta ? 0u : 1u << op.cta);
        }
        inflight.push_back(done);
        LoadGroup& g = group.g;
        // A group stays within one phase of its barrier (at most its expected arrivals).
        const auto phase_has_room = [&] {
          const uint32_t first =
              comp.targets == 0 ? slot : target_cta(c, static_cast<uint8_t>(std::countr_zero(comp.targets)));
          const std::vector<Barrier>& bs = ctas_[first].barriers;
          return g.comp.arrivals < (op.barrier < bs.size() ? bs[op.barrier].expected : 1);
        };
        if (g.open && g.comp.cta == comp.cta && g.comp.barrier == comp.barrier &&
            g.comp.targets == comp.targets && phase_has_room()) {
          ++g.comp.arrivals;
          g.done = std::max(g.done, done);
        } else {
          flush(g);
          g = LoadGroup{true, comp, done};
        }
        if (c.trace_slot != ~0u)
          gpu_.trace()->tma_load(c.sm, now, done, m.bytes, static_cast<uint32_t>(std::max<size_t>(1, ndest)));
        ++c.async;
        sim.stats().add(stats_.tma_loads);
        sim.stats().add(stats_.tma_load_bytes, m.bytes * std::max<size_t>(1, dests.size()));
        ++r.pc;
        continue;  // the request leaves when its issue slot ends; the role need not wait for it
      }
      case OpCode::kMma: {
        issue_mma(c, op, now);  // instruction issue times are part of the MMA timing
        ++r.pc;
        continue;
      }
      case OpCode::kMmaCommit: {
        Completion comp;
        comp.cta = slot;
        comp.barrier = op.barrier;
        comp.targets = op.multicast;
        schedule_completion(std::max(now, c.last_commit), comp);
        ++c.async;
        ++r.pc;
        continue;
      }
      case OpCode::kLoad: {
        const MemResult m = gpu_.mem.read(c.sm, op.region);
        sim.stats().add(stats_.loads);
        sim.stats().add(stats_.load_bytes, m.bytes);
        trace_op(c, ri, "ld.global", now, m.ready);
        ++r.pc;
        resume_at(id, m.ready);
        return;
      }
      case OpCode::kTmaStore: {
        const uint64_t bytes = op.region.size();
        const Tick read = clk.span(
            Cycles{static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / hw.smem.bandwidth.value))});
        sm.smem.reserve(now, now, read);
        const Reservation issue = sm.tma_issue.reserve(now, clk.span(hw.tma.issue));
        const MemResult m = gpu_.mem.write(c.sm, op.region, issue.end);
        r.stores_ack = std::max(r.stores_ack, m.ready);
        if (c.trace_slot != ~0u) gpu_.trace()->tma_store(c.sm, now, m.ready, m.bytes);
        sim.stats().add(stats_.tma_store_bytes, m.bytes);
        ++r.pc;
        continue;  // the request leaves when its issue slot ends; the role need not wait for it
      }
      case OpCode::kTmaStoreWait:
        ++r.pc;
        if (r.stores_ack > now) {
          resume_at(id, r.stores_ack);
          return;
        }
        continue;
      case OpCode::kTmemLoad:
      case OpCode::kTmemStore:
      case OpCode::kTmemCopy: {
        if (!hw.tmem.present)
          throw InputError(fmt::format("kernel {}: {} has no TMEM", kernel_->name, hw.name));
        const Tick t = clk.span(
            Cycles{static_cast<int64_t>(std::ceil(static_cast<double>(op.bytes) / hw.tmem.bandwidth.value))});
        sim.stats().add(stats_.tmem_bytes, op.bytes);
        ++r.pc;
        if (op.code != OpCode::kTmemCopy) {
          const Reservation res = sm.tmem_port.reserve(now, t);
          trace_op(c, ri, op.code == OpCode::kTmemLoad ? "tcgen05.ld" : "tcgen05.st", res.start, res.end);
          resume_at(id, res.end);
          return;
        }
        // tcgen05.cp is part of the tensor core's own operand stream: its SMEM read is charged
        // in the fetch window of the next MMA (which uses the copied scales), and its TMEM
        // write must land before that MMA starts. The issuing thread goes on.
        sm.pending_copy_bytes += op.bytes;
        sm.copy_ready = std::max(sm.copy_ready, sm.tmem_port.reserve(now, t).end);
        sim.stats().add(stats_.smem_bytes, op.bytes);
        continue;
      }
      case OpCode::kSmemRead:
      case OpCode::kSmemWrite: {
        const Tick t = clk.span(
            Cycles{static_cast<int64_t>(std::ceil(static_cast<double>(op.bytes) / hw.smem.bandwidth.value))});
        GapTimeline& port = sm.smem;
        const Tick end = port.reserve(now, now, t);
        trace_op(c, ri, op.code == OpCode::kSmemRead ? "ld.shared" : "st.shared", now, end);
        sim.stats().add(stats_.smem_bytes, op.bytes);
        ++r.pc;
        resume_at(id, end);
        return;
      }
      case OpCode::kMufuFma: {
        const auto span = [&](uint64_t n, uint32_t per_clk) {
          return clk.span(Cycles{static_cast<int64_t>((n + per_clk - 1) / per_clk)});
        };
        Tick end = now;
        if (op.count > 0)
          end = std::max(end, sm.mufu.reserve(now, span(op.count, hw.pipes.mufu_exp2_per_clk)).end);
        if (op.bytes > 0)
          end = std::max(end, sm.fma.reserve(now, span(op.bytes, hw.pipes.fma_fp32_per_clk)).end);
        sim.stats().add(stats_.exp2, op.count);
        sim.stats().add(stats_.fma, op.bytes);
        trace_op(c, ri, "exp2 + fma", now, end);
        ++r.pc;
        resume_at(id, end);
        return;
      }
      case OpCode::kFma:
      case OpCode::kMufu: {
        const bool mufu = op.code == OpCode::kMufu;
        const uint32_t per_clk = mufu ? hw.pipes.mufu_exp2_per_clk : hw.pipes.fma_fp32_per_clk;
        const Tick t = clk.span(Cycles{(op.count + per_clk - 1) / per_clk});
        const Tick end = (mufu ? sm.mufu : sm.fma).reserve(now, t).end;
        sim.stats().add(mufu ? stats_.exp2 : stats_.fma, op.count);
        trace_op(c, ri, mufu ? "exp2" : "fma", now, end);
        ++r.pc;
        resume_at(id, end);
        return;
      }
    }
  }
  if (!r.done) {
    r.done = true;
    sim.note_progress();
    role_finished(slot);
  }
}

bool Executor::extend(uint32_t slot, uint32_t role) {
  Cluster& cl = clusters_[ctas_[slot].cluster];
  std::array<CtaProgram*, 32> progs{};
  while (cl.more) {
    for (size_t i = 0; i < cl.ctas.size(); ++i) {
      CtaState& c = ctas_[cl.ctas[i]];
      for (size_t ri = 0; ri < c.roles.size(); ++ri) {
        std::vector<Op>& ops = c.prog.roles[ri].ops;
        ops.erase(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(c.roles[ri].pc));
        c.roles[ri].pc = 0;
      }
      progs[i] = &c.prog;
    }
    if (!cl.more(std::span<CtaProgram* const>(progs.data(), cl.ctas.size()))) cl.more = nullptr;
    if (!ctas_[slot].prog.roles[role].ops.empty()) return true;
  }
  return false;
}

void Executor::trace_op(const CtaState& c, uint32_t role, const char* op, Tick start, Tick end) {
  if (c.trace_slot != ~0u) gpu_.trace()->role_op(c.sm, c.trace_slot, c.prog.roles[role].name, op, start, end);
}

void Executor::role_finished(uint32_t slot) {
  CtaState& c = ctas_[slot];
  if (c.live_roles > 0) --c.live_roles;
  maybe_retire(slot);
}

void Executor::maybe_retire(uint32_t slot) {
  CtaState& c = ctas_[slot];
  if (c.live_roles > 0 || c.async > 0 || c.retired) return;
  c.retired = true;
  const Tick now = gpu_.sim.now();
  last_end_ = std::max(last_end_, now);
  Tick end = now;
  for (const RoleState& r : c.roles) end = std::max(end, r.stores_ack);
  last_end_ = std::max(last_end_, end);
  // The CTA's span ends as its slot frees; stores still in flight show on the TMA lanes.
  if (c.trace_slot != ~0u) gpu_.trace()->cta_end(c.sm, c.trace_slot, c.launched, now, c.cluster, c.rank);
  gpu_.sms[c.sm].release(kernel_->resources, c.tmem_offset);
  Cluster& cl = clusters_[c.cluster];
  free_slots_.push_back(slot);
  if (--cl.live > 0) return;
  ++finished_clusters_;
  std::vector<uint32_t> freed;
  for (uint32_t s : cl.ctas) freed.push_back(ctas_[s].sm);
  launch_pending(freed);
}

std::string Executor::pending_work() const {
  if (kernel_ == nullptr) return {};
  std::string out;
  size_t shown = 0;
  for (size_t slot = 0; slot < ctas_.size() && shown < 8; ++slot) {
    const CtaState& c = ctas_[slot];
    if (c.live_roles == 0) continue;
    for (size_t ri = 0; ri < c.roles.size(); ++ri) {
      const RoleState& r = c.roles[ri];
      if (r.done || !r.waiting) continue;
      const Op& op = c.prog.roles[ri].ops[r.pc];
      std::string what = op.code == OpCode::kWait
                             ? fmt::format("waits for barrier {} phase {}", op.barrier, op.count)
                             : fmt::format("waits for flag {} to reach {}", op.barrier, op.count);
      out += fmt::format("{}kernel {} cluster {} CTA {} (SM {}) role '{}' op {} {}", out.empty() ? "" : "; ",
                         kernel_->name, c.cluster, c.rank, c.sm, c.prog.roles[ri].name, r.pc, what);
      ++shown;
    }
  }
  return out;
}

}  // namespace bwsim
