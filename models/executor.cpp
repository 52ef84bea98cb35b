#include "models/executor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <optional>
#include <span>
#include <utility>
#include <variant>

#include "isa/mma.hpp"
#include "sim/errors.hpp"

namespace bwsim {

namespace {
uint64_t role_id(uint32_t slot, uint32_t role) { return (uint64_t{slot} << 8) | role; }
}  // namespace

Executor::Executor(Gpu& gpu) : Component(gpu.sim, "gpu.exec"), gpu_(gpu), flags_(gpu.mem.round_trip()) {}

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
  if (auto why = gpu_.sms[0].occupancy.never_fits(k.resources))
    throw InputError(fmt::format("kernel {}: a CTA {}", k.name, *why));
  kernel_ = &k;
  ctas_.clear();
  free_slots_.clear();
  clusters_.assign(k.clusters, Cluster{});
  next_cluster_ = 0;
  finished_clusters_ = 0;
  sm_used_.assign(gpu_.hw.sm.count, false);
  marks_.clear();
  flags_.reset(k.flags);
  Simulation& sim = gpu_.sim;
  start_ = sim.now();
  last_end_ = start_;
  busy_before_ = busy_now();
  sim.stats().roi_begin();
  events_before_ = sim.events().executed();
  launch_pending(allowed_sms());
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
  r.sms_used = static_cast<uint32_t>(std::count(sm_used_.begin(), sm_used_.end(), true));
  r.marks = std::move(marks_);
  if (GpuTrace* t = gpu_.trace()) t->kernel(k.name, r.start, r.end, r.ctas);
  r.stats = sim.stats().roi_delta();
  const BusyTime after = busy_now();
  r.busy.tensor = after.tensor - busy_before_.tensor;
  r.busy.tensor_math = after.tensor_math - busy_before_.tensor_math;
  r.busy.smem = after.smem - busy_before_.smem;
  r.busy.dram = after.dram - busy_before_.dram;
  kernel_ = nullptr;
  return r;
}

BusyTime Executor::busy_now() const {
  BusyTime b;
  for (const Sm& s : gpu_.sms) {
    b.tensor += s.tensor.busy();
    b.tensor_math += s.tensor.math();
    b.smem += s.smem.busy();
  }
  b.dram = gpu_.mem.dram_busy();
  return b;
}

std::vector<uint32_t> Executor::allowed_sms() const {
  const uint32_t count = gpu_.hw.sm.count;
  const uint32_t dies = std::max(1u, gpu_.hw.sm.dies);
  const uint32_t per_die = count / dies;
  // A restricted kernel (Kernel::sms) gets as many SMs on every die (the dies' L2 partitions and
  // DRAM channels stay evenly loaded).
  const bool whole_gpu = kernel_->sms == 0 || kernel_->sms >= count;
  const uint32_t take = whole_gpu ? per_die : std::max(1u, kernel_->sms / dies);
  // The CTA scheduler spreads a grid over the SMs before it stacks CTAs (docs/architecture.md,
  // design notes); across dies its order is not published: consecutive clusters alternate
  // between the dies, a cluster's worth of SMs at a time, so that cluster i lands on the same
  // die and slot whatever the grid size or SM count.
  const uint32_t step = std::max(1u, kernel_->cluster_size);
  std::vector<uint32_t> out;
  out.reserve(static_cast<size_t>(take) * dies);
  for (uint32_t j = 0; j < std::min(take, per_die); j += step) {
    for (uint32_t d = 0; d < dies; ++d) {
      for (uint32_t i = j; i < std::min({j + step, take, per_die}); ++i) out.push_back(d * per_die + i);
    }
  }
  return out;
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
    if (!gpu_.sms[first_sm + i].occupancy.fits(kernel_->resources)) return false;
  }
  const uint32_t index = next_cluster_++;
  ClusterProgram prog = kernel_->program(index);
  if (prog.ctas.size() != size) {
    throw std::logic_error(fmt::format("kernel {}: cluster {} has {} CTAs, expected {}", kernel_->name, index,
                                       prog.ctas.size(), size));
  }
  place_cluster(index, first_sm, prog);
  for (uint32_t slot : clusters_[index].ctas) {
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

void Executor::place_cluster(uint32_t index, uint32_t first_sm, ClusterProgram& prog) {
  Cluster& cl = clusters_[index];
  cl.live = static_cast<uint32_t>(prog.ctas.size());
  cl.more = std::move(prog.more);
  for (uint32_t i = 0; i < prog.ctas.size(); ++i) {
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
    sm_used_[c.sm] = true;
    c.prog = std::move(prog.ctas[i]);
    c.barriers.resize(c.prog.barrier_counts.size());
    for (size_t b = 0; b < c.barriers.size(); ++b)
      c.barriers[b].expected = std::max(1u, c.prog.barrier_counts[b]);
    c.roles.resize(c.prog.roles.size());
    c.live_roles = static_cast<uint32_t>(c.roles.size());
    c.tmem_offset = gpu_.sms[c.sm].occupancy.admit(kernel_->resources);
    c.launched = gpu_.sim.now();
    if (GpuTrace* t = gpu_.trace(); t != nullptr && t->wants(c.sm)) c.trace_slot = t->cta_begin(c.sm);
    cl.ctas.push_back(slot);
    gpu_.counters.add(gpu_.counters.ctas);
  }
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
  Barrier& b = barrier_of(ctas_[slot], kOwnCta, barrier);
  if (++b.count < b.expected) return;
  b.count = 0;
  ++b.completions;
  std::vector<uint64_t> waiters;
  waiters.swap(b.waiters);
  for (uint64_t id : waiters) resume_at(id, gpu_.sim.now());
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
  CtaState& c = ctas_[slot];
  RoleState& r = c.roles[ri];
  r.waiting = false;
  const std::vector<Op>& ops = c.prog.roles[ri].ops;
  Ctx x{id, slot, ri, gpu_.sim.now(), c, r, group.g};
  // Runs until the role's ops run out and its cluster's program has no more (a TMA load group
  // stays open across an extension).
  while (r.pc < ops.size() || extend(slot, ri)) {
    const Op& op = ops[r.pc];
    if (!std::holds_alternative<op::TmaLoad>(op.kind)) flush(group.g);
    if (!std::visit([&](const auto& o) { return exec(o, x); }, op.kind)) return;
  }
  if (!r.done) {
    r.done = true;
    gpu_.sim.note_progress();
    role_finished(slot);
  }
}

Executor::Barrier& Executor::barrier_of(const CtaState& c, uint8_t cta, uint16_t barrier) {
  CtaState& owner = ctas_[target_cta(c, cta)];
  if (barrier >= owner.barriers.size())
    throw std::logic_error(fmt::format("kernel {}: barrier {} not declared", kernel_->name, barrier));
  return owner.barriers[barrier];
}

bool Executor::exec(const op::Wait& o, Ctx& x) {
  Barrier& b = barrier_of(x.c, o.cta, o.barrier);
  if (b.completions > o.phase) {
    ++x.r.pc;
    return true;
  }
  b.waiters.push_back(x.id);
  x.r.waiting = true;
  return false;
}

bool Executor::exec(const op::Arrive& o, Ctx& x) {
  ++x.r.pc;
  arrive(target_cta(x.c, o.cta), o.barrier);
  return true;
}

bool Executor::exec(const op::Mark& o, Ctx& x) {
  marks_.emplace_back(o.id, x.now);
  ++x.r.pc;
  return true;
}

bool Executor::exec(const op::FlagArrive& o, Ctx& x) {
  for (uint64_t w : flags_.arrive(o.flag)) resume_at(w, x.now + flags_.latency());
  ++x.r.pc;
  return true;
}

bool Executor::exec(const op::FlagWait& o, Ctx& x) {
  if (flags_.passed_or_wait(o.flag, o.arrivals, x.id)) {
    ++x.r.pc;
    return true;
  }
  x.r.waiting = true;
  return false;
}

bool Executor::exec(const op::Delay& o, Ctx& x) {
  ++x.r.pc;
  const Tick end = gpu_.sm_clock.after(x.now, Cycles{o.cycles});
  trace_op(x.c, x.role, "delay", x.now, end);
  resume_at(x.id, end);
  return false;
}

uint32_t Executor::load_targets(const op::TmaLoad& o) {
  if (o.multicast != 0 && o.signal_cta == kSignalPairLeaders) {
    uint32_t targets = 0;
    for (uint32_t rank = 0; rank < 32; ++rank) {
      if ((o.multicast >> rank) & 1u) targets |= 1u << (rank & ~1u);
    }
    return targets;
  }
  return o.multicast != 0 ? o.multicast : (o.signal_cta == kOwnCta ? 0u : 1u << o.signal_cta);
}

bool Executor::exec(const op::TmaLoad& o, Ctx& x) {
  Sm& sm = gpu_.sms[x.c.sm];
  // At most tma.max_inflight_boxes loads in flight per SM: when full, try again when the first
  // of them completes.
  if (const std::optional<Tick> retry = sm.tma.full_until(x.now)) {
    resume_at(x.id, *retry);
    return false;
  }
  std::array<uint32_t, 32>
      dest_sms;  // NOLINT(cppcoreguidelines-pro-type-member-init): the first ndest are set
  std::array<SmemPort*, 32> dest_ports;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  size_t ndest = 0;
  if (o.multicast != 0) {
    const Cluster& cl = clusters_[x.c.cluster];
    for (uint32_t rank = 0; rank < cl.ctas.size(); ++rank) {
      if (((o.multicast >> rank) & 1u) == 0) continue;
      dest_sms[ndest] = ctas_[cl.ctas[rank]].sm;
      dest_ports[ndest++] = &gpu_.sms[ctas_[cl.ctas[rank]].sm].smem;
    }
  }
  const Tick done = sm.tma.load(o.region, std::span<const uint32_t>(dest_sms.data(), ndest),
                                std::span<SmemPort* const>(dest_ports.data(), ndest), x.now);
  Completion comp;
  comp.cta = x.slot;
  comp.barrier = o.barrier;
  comp.targets = load_targets(o);
  LoadGroup& g = x.group;
  // A group stays within one phase of its barrier (at most its expected arrivals).
  const auto phase_has_room = [&] {
    const uint32_t first =
        comp.targets == 0 ? x.slot : target_cta(x.c, static_cast<uint8_t>(std::countr_zero(comp.targets)));
    const std::vector<Barrier>& bs = ctas_[first].barriers;
    return g.comp.arrivals < (o.barrier < bs.size() ? bs[o.barrier].expected : 1);
  };
  if (g.open && g.comp.cta == comp.cta && g.comp.barrier == comp.barrier && g.comp.targets == comp.targets &&
      phase_has_room()) {
    ++g.comp.arrivals;
    g.done = std::max(g.done, done);
  } else {
    flush(g);
    g = LoadGroup{true, comp, done};
  }
  ++x.c.async;
  ++x.r.pc;
  return true;  // the request leaves when its issue slot ends; the role need not wait for it
}

bool Executor::exec(const op::TmaStore& o, Ctx& x) {
  x.r.stores_ack = std::max(x.r.stores_ack, gpu_.sms[x.c.sm].tma.store(o.region, x.now));
  ++x.r.pc;
  return true;  // the request leaves when its issue slot ends; the role need not wait for it
}

bool Executor::exec(const op::TmaStoreWait& /*o*/, Ctx& x) {
  ++x.r.pc;
  if (x.r.stores_ack > x.now) {
    resume_at(x.id, x.r.stores_ack);
    return false;
  }
  return true;
}

bool Executor::exec(const op::Load& o, Ctx& x) {
  const MemResult m = gpu_.mem.read(x.c.sm, o.region);
  gpu_.counters.add(gpu_.counters.loads);
  gpu_.counters.add(gpu_.counters.load_bytes, m.bytes);
  trace_op(x.c, x.role, "ld.global", x.now, m.ready);
  ++x.r.pc;
  resume_at(x.id, m.ready);
  return false;
}

bool Executor::exec(const op::Mma& o, Ctx& x) {
  const MmaShape& s = o.shape;
  if (gpu_.hw.tensor.rate(s.kind) == 0) {
    throw InputError(fmt::format("kernel {}: {} has no kind::{} tensor instructions", kernel_->name,
                                 gpu_.hw.name, mma_kind_name(s.kind)));
  }
  std::array<TensorPipe*, 2> pipes{&gpu_.sms[x.c.sm].tensor, nullptr};
  size_t n = 1;
  if (s.cta_group == 2) {
    const Cluster& cl = clusters_[x.c.cluster];
    const uint32_t even = x.c.rank & ~1u;  // the pair is ranks (2i, 2i+1) of the cluster
    if (even + 1 >= cl.ctas.size()) throw std::logic_error("a cta_group::2 MMA outside a CTA pair");
    pipes = {&gpu_.sms[ctas_[cl.ctas[even]].sm].tensor, &gpu_.sms[ctas_[cl.ctas[even + 1]].sm].tensor};
    n = 2;
  }
  // The instructions' issue times are part of the MMA timing; the role goes on.
  const MmaTiming t = TensorPipe::issue(o, x.now, std::span<TensorPipe* const>(pipes.data(), n));
  x.c.last_commit = std::max(x.c.last_commit, t.commit);
  if (o.commit_barrier != kNoBarrier) {
    Completion comp;
    comp.cta = x.slot;
    comp.barrier = o.commit_barrier;
    comp.targets = o.commit_ranks;
    schedule_completion(t.commit, comp);
    ++x.c.async;
  }
  ++x.r.pc;
  return true;
}

bool Executor::exec(const op::MmaCommit& o, Ctx& x) {
  Completion comp;
  comp.cta = x.slot;
  comp.barrier = o.barrier;
  comp.targets = o.ranks;
  schedule_completion(std::max(x.now, x.c.last_commit), comp);
  ++x.c.async;
  ++x.r.pc;
  return true;
}

void Executor::throw_no_tmem() const {
  throw InputError(fmt::format("kernel {}: {} has no TMEM", kernel_->name, gpu_.hw.name));
}

bool Executor::tmem_move(uint64_t bytes, const char* what, Ctx& x) {
  TmemPort& tmem = gpu_.sms[x.c.sm].tmem;
  if (!tmem.present()) throw_no_tmem();
  gpu_.counters.add(gpu_.counters.tmem_bytes, bytes);
  ++x.r.pc;
  const Reservation res = tmem.move(x.now, bytes);
  trace_op(x.c, x.role, what, res.start, res.end);
  resume_at(x.id, res.end);
  return false;
}

bool Executor::exec(const op::TmemLoad& o, Ctx& x) { return tmem_move(o.bytes, "tcgen05.ld", x); }
bool Executor::exec(const op::TmemStore& o, Ctx& x) { return tmem_move(o.bytes, "tcgen05.st", x); }

bool Executor::exec(const op::TmemCopy& o, Ctx& x) {
  TmemPort& tmem = gpu_.sms[x.c.sm].tmem;
  if (!tmem.present()) throw_no_tmem();
  gpu_.counters.add(gpu_.counters.tmem_bytes, o.bytes);
  gpu_.counters.add(gpu_.counters.smem_bytes, o.bytes);
  // Its SMEM read is charged in the next MMA's fetch window and its TMEM write lands before
  // that MMA starts (TmemPort::copy); the issuing thread goes on.
  tmem.copy(x.now, o.bytes);
  ++x.r.pc;
  return true;
}

bool Executor::smem_access(uint64_t bytes, bool read, Ctx& x) {
  SmemPort& smem = gpu_.sms[x.c.sm].smem;
  const Tick end = read ? smem.read(x.now, bytes) : smem.access(x.now, bytes);
  const char* what = read ? "ld.shared" : "st.shared";
  trace_op(x.c, x.role, what, x.now, end);
  gpu_.counters.add(gpu_.counters.smem_bytes, bytes);
  ++x.r.pc;
  resume_at(x.id, end);
  return false;
}

bool Executor::exec(const op::SmemRead& o, Ctx& x) { return smem_access(o.bytes, true, x); }
bool Executor::exec(const op::SmemWrite& o, Ctx& x) { return smem_access(o.bytes, false, x); }

bool Executor::exec(const op::Scalar& o, Ctx& x) {
  const Tick end = gpu_.sms[x.c.sm].pipes.run(o, x.now);
  trace_op(x.c, x.role, ScalarPipes::label(o), x.now, end);
  ++x.r.pc;
  resume_at(x.id, end);
  return false;
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
  gpu_.sms[c.sm].occupancy.release(kernel_->resources, c.tmem_offset);
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
      std::string what;
      if (const auto* w = op.as<op::Wait>()) {
        what = fmt::format("waits for barrier {} phase {}", w->barrier, w->phase);
      } else if (const auto* f = op.as<op::FlagWait>()) {
        what = fmt::format("waits for flag {} to reach {}", f->flag, f->arrivals);
      }
      out += fmt::format("{}kernel {} cluster {} CTA {} (SM {}) role '{}' op {} {}", out.empty() ? "" : "; ",
                         kernel_->name, c.cluster, c.rank, c.sm, c.prog.roles[ri].name, r.pc, what);
      ++shown;
    }
  }
  return out;
}

}  // namespace bwsim
