#include "models/gpu_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "sim/errors.hpp"
#include "sim/strings.hpp"

namespace bwsim {
namespace {

constexpr int64_t kBinPs = 100'000;  // 100 ns
// The counters drawn: HBM reads, HBM writes, and L2 traffic (reads and writes) per second.
constexpr const char* kCounterNames[3] = {"HBM read (GB/s)", "HBM write (GB/s)", "L2 (GB/s)"};
uint64_t counter_bytes(const std::array<uint64_t, 4>& bin, size_t c) {
  return c < 2
             ? bin[c]
             : bin[static_cast<size_t>(MemCounter::kL2Read)] + bin[static_cast<size_t>(MemCounter::kL2Write)];
}

uint32_t parse_sm(std::string_view s, std::string_view whole, uint32_t sm_count, std::string_view flag) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) {
    throw InputError(
        fmt::format("{} {}: '{}' is not an SM number (expected e.g. 0-7,64 or all)", flag, whole, s));
  }
  if (v >= sm_count) {
    throw InputError(
        fmt::format("{} {}: SM {} does not exist (this GPU has SMs 0-{})", flag, whole, v, sm_count - 1));
  }
  return v;
}

}  // namespace

std::vector<uint32_t> parse_sm_list(std::string_view text, uint32_t sm_count, std::string_view flag) {
  std::vector<uint32_t> out;
  if (text == "all") return out;
  if (text.empty()) throw InputError(fmt::format("{}: empty SM list (expected e.g. 0-7,64 or all)", flag));
  for (const std::string_view item : split(text, ',')) {
    const size_t dash = item.find('-');
    const uint32_t lo = parse_sm(item.substr(0, dash), text, sm_count, flag);
    const uint32_t hi =
        dash == std::string_view::npos ? lo : parse_sm(item.substr(dash + 1), text, sm_count, flag);
    if (hi < lo) throw InputError(fmt::format("{} {}: range {} runs backwards", flag, text, item));
    for (uint32_t s = lo; s <= hi; ++s) out.push_back(s);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

GpuTrace::GpuTrace(const TraceOptions& o, uint32_t sm_count)
    : wanted_(sm_count, o.sms.empty()), max_events_(o.max_events), sm_(sm_count) {
  for (uint32_t s : o.sms) {
    if (s < sm_count) wanted_[s] = true;
  }
}

uint32_t GpuTrace::intern(std::string_view s) {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == s) return static_cast<uint32_t>(i);
  }
  names_.emplace_back(s);
  return static_cast<uint32_t>(names_.size() - 1);
}

void GpuTrace::push(const Span& s) {
  if (spans_.size() >= max_events_) {
    ++dropped_;
    return;
  }
  spans_.push_back(s);
}

void GpuTrace::kernel(const std::string& name, Tick start, Tick end, uint32_t ctas) {
  flush();
  kernels_.push_back({name, start, end, ctas});
}

uint32_t GpuTrace::cta_begin(uint32_t sm) {
  std::vector<bool>& slots = sm_[sm].slots;
  auto it = std::find(slots.begin(), slots.end(), false);
  if (it == slots.end()) it = slots.insert(slots.end(), false);
  *it = true;
  return static_cast<uint32_t>(it - slots.begin());
}

void GpuTrace::cta_end(uint32_t sm, uint32_t slot, Tick start, Tick end, uint32_t cluster, uint32_t rank) {
  SmState& st = sm_[sm];
  st.slots[slot] = false;
  // The CTA's role ops end with it.
  for (auto& [key, o] : st.roles) {
    if ((key >> 32) == slot && o.open) close_role(sm, key, o);
  }
  Span s{start, end,     sm,  Kind::kCta, static_cast<uint16_t>(slot), static_cast<uint32_t>(kernels_.size()),
         0,     cluster, rank};
  push(s);
}

void GpuTrace::tma_load(uint32_t sm, Tick start, Tick end, uint64_t bytes, uint32_t destinations) {
  const uint32_t lane = sm_[sm].tma.place(start, end);
  push({start, end, sm, Kind::kTmaLoad, static_cast<uint16_t>(lane), 0, 0, bytes, destinations});
}

void GpuTrace::tma_store(uint32_t sm, Tick start, Tick end, uint64_t bytes) {
  const uint32_t lane = sm_[sm].tma.place(start, end);
  push({start, end, sm, Kind::kTmaStore, static_cast<uint16_t>(lane), 0, 0, bytes, 0});
}

void GpuTrace::close_mma(uint32_t sm) {
  Open& o = sm_[sm].mma;
  if (!o.open) return;
  o.open = false;
  push({o.start, o.end, sm, Kind::kMma, 0, 0, 0, o.count, 0});
}

void GpuTrace::mma(uint32_t sm, Tick start, Tick end) {
  Open& o = sm_[sm].mma;
  if (o.open && start <= o.end) {  // back to back on the pipe: one busy span
    o.end = std::max(o.end, end);
    ++o.count;
    return;
  }
  close_mma(sm);
  o = Open{start, end, 1, 0, true};
}

void GpuTrace::close_role(uint32_t sm, uint64_t key, Open& o) {
  o.open = false;
  push({o.start, o.end, sm, Kind::kRoleOp, static_cast<uint16_t>(key >> 32), o.name,
        static_cast<uint32_t>(key & 0xFFFFFFFFu), o.count, 0});
}

void GpuTrace::role_op(uint32_t sm, uint32_t slot, const std::string& role, const char* op, Tick start,
                       Tick end) {
  const uint64_t key = (uint64_t{slot} << 32) | intern(role);
  const uint32_t name = intern(op);
  auto& roles = sm_[sm].roles;
  auto it = std::find_if(roles.begin(), roles.end(), [&](const auto& r) { return r.first == key; });
  if (it == roles.end()) {
    roles.emplace_back(key, Open{});
    it = roles.end() - 1;
  }
  Open& o = it->second;
  if (o.open && o.name == name && start <= o.end) {  // the same op again, back to back
    o.end = std::max(o.end, end);
    ++o.count;
    return;
  }
  if (o.open) close_role(sm, key, o);
  o = Open{start, end, 1, name, true};
}

void GpuTrace::mem(MemCounter c, Tick at, uint64_t bytes) {
  const auto bin = static_cast<size_t>(std::max<int64_t>(0, at.ps()) / kBinPs);
  if (bin >= bins_.size()) bins_.resize(std::max(bin + 1, bins_.size() * 2));
  bins_[bin][static_cast<size_t>(c)] += bytes;
}

uint64_t GpuTrace::total(MemCounter c) const {
  uint64_t t = 0;
  for (const auto& b : bins_) t += b[static_cast<size_t>(c)];
  return t;
}

void GpuTrace::flush() {
  for (uint32_t sm = 0; sm < sm_.size(); ++sm) {
    close_mma(sm);
    for (auto& [key, o] : sm_[sm].roles) {
      if (o.open) close_role(sm, key, o);
    }
  }
}

void GpuTrace::emit(TraceDoc& doc, Tick offset, const std::string& kernel_track, uint64_t max_events) const {
  const uint32_t gpu = doc.process("GPU", 0);
  {
    const uint32_t tid = doc.thread(gpu, kernel_track, 3);
    for (const Kernel& k : kernels_) {
      doc.span(gpu, tid, k.name, k.start + offset, k.end + offset,
               fmt::format(R"("ctas":{},"us":{:.4f})", k.ctas, (k.end - k.start).seconds() * 1e6));
    }
  }
  // Bandwidth counters: the 100 ns bins merged so that a recording has at most ~1000 points, a
  // value emitted only where it changes (counters are step functions), back to 0 at the end.
  Tick end{0};
  for (const Kernel& k : kernels_) end = std::max(end, k.end);
  size_t used = bins_.size();
  while (used > 0 && bins_[used - 1] == std::array<uint64_t, 4>{}) --used;
  const size_t need =
      std::max<size_t>(1, (std::max<size_t>(used, static_cast<size_t>(end.ps() / kBinPs)) + 999) / 1000);
  size_t width = 1;
  for (size_t scale = 1;; scale *= 10) {
    if (need <= scale) {
      width = scale;
      break;
    }
    if (need <= 2 * scale) {
      width = 2 * scale;
      break;
    }
    if (need <= 5 * scale) {
      width = 5 * scale;
      break;
    }
  }
  const double seconds = static_cast<double>(width) * static_cast<double>(kBinPs) * 1e-12;
  for (size_t c = 0; c < 3; ++c) {
    double last = -1;
    for (size_t b0 = 0; b0 < used; b0 += width) {
      uint64_t bytes = 0;
      for (size_t b = b0; b < std::min(used, b0 + width); ++b) bytes += counter_bytes(bins_[b], c);
      const double gbs = static_cast<double>(bytes) / seconds * 1e-9;
      if (gbs != last)
        doc.counter(gpu, kCounterNames[c], Tick{static_cast<int64_t>(b0) * kBinPs} + offset, gbs);
      last = gbs;
    }
    doc.counter(gpu, kCounterNames[c], std::max(end, Tick{static_cast<int64_t>(used) * kBinPs}) + offset, 0);
  }
  // Per-SM detail.
  uint64_t emitted = 0;
  for (const Span& s : spans_) {
    if (doc.events() >= max_events) break;
    ++emitted;
    const uint32_t pid = doc.process(fmt::format("SM {}", s.sm), 10 + static_cast<int>(s.sm));
    switch (s.kind) {
      case Kind::kCta: {
        const uint32_t tid = doc.thread(pid, fmt::format("CTA slot {}", s.lane), 100 + 20 * s.lane);
        const std::string& kname = s.name < kernels_.size() ? kernels_[s.name].name : std::string("kernel");
        doc.span(pid, tid, fmt::format("{} cluster {}.{}", kname, s.a, s.b), s.start + offset, s.end + offset,
                 fmt::format(R"("kernel":{},"cluster":{},"rank":{})", json_quote(kname), s.a, s.b));
        break;
      }
      case Kind::kTmaLoad:
      case Kind::kTmaStore: {
        const uint32_t tid = doc.thread(pid, fmt::format("TMA {}", s.lane), 10 + s.lane);
        const bool load = s.kind == Kind::kTmaLoad;
        doc.span(pid, tid, load ? "TMA load" : "TMA store", s.start + offset, s.end + offset,
                 load && s.b > 1 ? fmt::format(R"("bytes":{},"multicast":{})", s.a, s.b)
                                 : fmt::format(R"("bytes":{})", s.a));
        break;
      }
      case Kind::kMma: {
        const uint32_t tid = doc.thread(pid, "MMA (tensor pipe)", 0);
        doc.span(pid, tid, "MMA", s.start + offset, s.end + offset, fmt::format(R"("instructions":{})", s.a));
        break;
      }
      case Kind::kRoleOp: {
        const uint32_t tid = doc.thread(pid, fmt::format("CTA slot {} {}", s.lane, names_[s.role]),
                                        101 + 20 * s.lane + static_cast<int>(s.role % 19));
        doc.span(pid, tid, names_[s.name], s.start + offset, s.end + offset, fmt::format(R"("ops":{})", s.a));
        break;
      }
    }
  }
  doc.add_dropped(spans_.size() - emitted + dropped_);
}

}  // namespace bwsim
