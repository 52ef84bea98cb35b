// What a simulated GPU did, over time, for a trace viewer: each kernel; per SM, the CTAs resident
// in each occupancy slot, TMA loads and stores in flight, the tensor pipe's busy spans and the
// timed ops of every role (tcgen05.ld, st.shared, exp2, ...: a GEMM's epilogue, attention's
// softmax); and the bytes moved through HBM and L2, in 100 ns bins.
//
// The recorder is attached to one Gpu (Gpu::set_trace) and keeps times of that simulation; emit()
// writes it into a TraceDoc shifted to where the kernel sits in a larger timeline. Size is bounded:
// only the SMs asked for get per-SM detail, back-to-back MMAs (and repeats of one role op) merge
// into one span, and past `max_events` spans further detail is dropped and counted.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/time.hpp"
#include "sim/trace.hpp"

namespace bwsim {

struct TraceOptions {
  std::vector<uint32_t> sms;     // SMs that get per-SM detail (empty: all)
  uint64_t max_events = 800000;  // per-SM detail spans kept per recording (and per trace file)
};

/// Parses --trace-sms: "all", or comma-separated SMs and ranges ("0-7,64,100-103").
/// Throws InputError naming the flag on bad syntax or an SM outside [0, sm_count).
std::vector<uint32_t> parse_sm_list(std::string_view text, uint32_t sm_count, std::string_view flag);

enum class MemCounter : uint8_t { kHbmRead, kHbmWrite, kL2Read, kL2Write };

class GpuTrace {
 public:
  GpuTrace(const TraceOptions& o, uint32_t sm_count);

  [[nodiscard]] bool wants(uint32_t sm) const { return sm < wanted_.size() && wanted_[sm]; }

  /// A kernel ran from `start` to `end` (called by the executor when it ends).
  void kernel(const std::string& name, Tick start, Tick end, uint32_t ctas);
  /// A CTA took an occupancy slot on `sm`; returns the slot.
  uint32_t cta_begin(uint32_t sm);
  void cta_end(uint32_t sm, uint32_t slot, Tick start, Tick end, uint32_t cluster, uint32_t rank);
  void tma_load(uint32_t sm, Tick start, Tick end, uint64_t bytes, uint32_t destinations);
  void tma_store(uint32_t sm, Tick start, Tick end, uint64_t bytes);
  /// One MMA instruction on `sm`'s tensor pipe (in issue order per SM).
  void mma(uint32_t sm, Tick start, Tick end);
  /// A timed op of role `role` of the CTA in `slot` of `sm`.
  void role_op(uint32_t sm, uint32_t slot, const std::string& role, const char* op, Tick start, Tick end);
  /// Bytes moved through a memory level, at time `at`.
  void mem(MemCounter c, Tick at, uint64_t bytes);

  struct Kernel {
    std::string name;
    Tick start, end;
    uint32_t ctas = 0;
  };
  [[nodiscard]] const std::vector<Kernel>& kernels() const { return kernels_; }
  [[nodiscard]] uint64_t spans() const { return spans_.size(); }
  [[nodiscard]] uint64_t dropped() const { return dropped_; }
  /// Bytes of a counter over the whole recording.
  [[nodiscard]] uint64_t total(MemCounter c) const;

  /// Writes the recording into `doc`, its times shifted by `offset`: the kernels on the GPU's
  /// thread `kernel_track`, the bandwidth counters, and per-SM detail while `doc` holds fewer
  /// than `max_events` events.
  void emit(TraceDoc& doc, Tick offset, const std::string& kernel_track, uint64_t max_events) const;

 private:
  enum class Kind : uint8_t { kCta, kTmaLoad, kTmaStore, kMma, kRoleOp };
  struct Span {
    Tick start, end;
    uint32_t sm = 0;
    Kind kind = Kind::kCta;
    uint16_t lane = 0;  // CTA slot, TMA lane
    uint32_t name = 0;  // kRoleOp: op name id; kCta: kernel index
    uint32_t role = 0;  // kRoleOp: role name id
    uint64_t a = 0, b = 0;
  };
  struct Open {  // a mergeable span being extended
    Tick start, end;
    uint64_t count = 0;
    uint32_t name = 0;
    bool open = false;
  };
  struct SmState {
    std::vector<bool> slots;  // CTA occupancy slots in use
    Lanes tma;
    Open mma;
    std::vector<std::pair<uint64_t, Open>> roles;  // by (slot << 32 | role id)
  };
  void push(const Span& s);
  void close_mma(uint32_t sm);
  void close_role(uint32_t sm, uint64_t key, Open& o);
  void flush();
  uint32_t intern(std::string_view s);

  std::vector<bool> wanted_;
  uint64_t max_events_;
  std::vector<SmState> sm_;
  std::vector<Span> spans_;
  std::vector<Kernel> kernels_;
  std::vector<std::string> names_;
  std::vector<std::array<uint64_t, 4>> bins_;  // bytes per 100 ns, per MemCounter
  uint64_t dropped_ = 0;
};

}  // namespace bwsim
