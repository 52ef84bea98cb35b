// Runs a kernel's clusters on the GPU's SMs: places them as occupancy allows, steps each role
// through its ops, handing each op to the unit that does it (models/unit.hpp), and turns barrier
// arrivals and completions into wake-ups. See isa/program.hpp for the ops.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "models/global_flags.hpp"
#include "models/gpu.hpp"

namespace bwsim {

class Executor : public Component {
 public:
  explicit Executor(Gpu& gpu);
  KernelResult run(const Kernel& k);
  /// run() in parts (see Gpu::start).
  void start(const Kernel& k);
  bool run_until(const std::function<bool(const std::vector<std::pair<uint32_t, Tick>>&)>& enough,
                 Tick window);
  KernelResult finish();
  [[nodiscard]] BusyTime busy_now() const;
  [[nodiscard]] std::string pending_work() const override;

 private:
  struct Barrier {
    uint32_t expected = 1;
    uint32_t count = 0;
    uint32_t completions = 0;
    std::vector<uint64_t> waiters;  // role ids
  };
  struct RoleState {
    size_t pc = 0;
    bool done = false;
    bool waiting = false;
    Tick stores_ack{0};
  };
  struct CtaState {
    uint32_t slot = 0;  // its index in ctas_
    uint32_t cluster = 0;
    uint32_t rank = 0;  // position in its cluster
    uint32_t sm = 0;
    CtaProgram prog;
    std::vector<Barrier> barriers;
    std::vector<RoleState> roles;
    uint32_t live_roles = 0;
    uint32_t async = 0;   // TMA loads and MMA commits issued by this CTA and not yet complete
    Tick last_commit{0};  // when the last MMA this CTA issued completes (for tcgen05.commit)
    bool retired = false;
    uint32_t tmem_offset = 0;
    Tick launched{0};
    uint32_t trace_slot = ~0u;  // occupancy slot in the trace (~0u: its SM is not traced)
  };
  struct Cluster {
    std::vector<uint32_t> ctas;  // slots in ctas_
    uint32_t live = 0;
    std::function<bool(std::span<CtaProgram* const>)> more;  // the rest of its program (null: none)
  };
  struct Completion {
    uint32_t cta = 0;  // issuing CTA slot
    uint16_t barrier = 0;
    uint16_t arrivals = 1;  // arrivals at each target (TMA loads issued together, completing together)
    uint32_t targets = 0;   // bitmask of cluster ranks to arrive at (0: the issuing CTA)
  };
  /// TMA loads a role issues back to back, to the same barrier and targets, complete as one
  /// event at the last one's time: their barrier cannot complete before that anyway, and a
  /// GEMM stage's A, B and scale loads then cost one event instead of four.
  struct LoadGroup {
    bool open = false;
    Completion comp;
    Tick done{0};
  };
  void flush(LoadGroup& g);

  void launch_pending(const std::vector<uint32_t>& sms);
  /// The SMs the running kernel may use (Kernel::sms), in order.
  [[nodiscard]] std::vector<uint32_t> allowed_sms() const;
  bool try_launch(uint32_t first_sm);
  /// Places cluster `index`'s CTAs on the SMs from `first_sm` (their slots: clusters_[index].ctas).
  void place_cluster(uint32_t index, uint32_t first_sm, ClusterProgram& prog);
  void step(uint64_t role_id);

  /// What a role is doing in one call of step(). Each op handler below returns true to go on
  /// with the role's next op in this call, false when the role now waits (it has scheduled its
  /// own wake-up, or a barrier or flag will wake it).
  struct Ctx {
    uint64_t id;
    uint32_t slot;
    uint32_t role;
    Tick now;
    CtaState& c;
    RoleState& r;
    LoadGroup& group;
  };
  bool exec(const op::Wait& o, Ctx& x);
  bool exec(const op::Arrive& o, Ctx& x);
  bool exec(const op::Mark& o, Ctx& x);
  bool exec(const op::FlagArrive& o, Ctx& x);
  bool exec(const op::FlagWait& o, Ctx& x);
  bool exec(const op::Delay& o, Ctx& x);
  bool exec(const op::TmaLoad& o, Ctx& x);
  bool exec(const op::TmaStore& o, Ctx& x);
  bool exec(const op::TmaStoreWait& o, Ctx& x);
  bool exec(const op::Load& o, Ctx& x);
  bool exec(const op::Mma& o, Ctx& x);
  bool exec(const op::MmaCommit& o, Ctx& x);
  bool exec(const op::TmemLoad& o, Ctx& x);
  bool exec(const op::TmemStore& o, Ctx& x);
  bool exec(const op::TmemCopy& o, Ctx& x);
  bool exec(const op::SmemRead& o, Ctx& x);
  bool exec(const op::SmemWrite& o, Ctx& x);
  bool exec(const op::Scalar& o, Ctx& x);
  /// tcgen05.ld / .st: the role waits for the TMEM port.
  bool tmem_move(uint64_t bytes, const char* what, Ctx& x);
  /// ld.shared (the role waits for the data) / st.shared (for the SMEM port).
  bool smem_access(uint64_t bytes, bool read, Ctx& x);
  /// The barrier `barrier` of the CTA at rank `cta` (kOwnCta: the role's own).
  Barrier& barrier_of(const CtaState& c, uint8_t cta, uint16_t barrier);
  /// Where a TMA load's completion arrives (a bitmask of cluster ranks; 0: the issuing CTA).
  static uint32_t load_targets(const op::TmaLoad& o);
  void throw_no_tmem() const;
  /// Appends the next parts of the cluster's program (after dropping the ops its roles have
  /// passed) until role `role` of CTA `slot` has ops again; false when the program has no more.
  bool extend(uint32_t slot, uint32_t role);
  void on_completion(uint64_t slot);
  void arrive(uint32_t cta_slot, uint16_t barrier);
  void resume_at(uint64_t role_id, Tick t);
  void role_finished(uint32_t cta_slot);
  /// Records a timed op of a role in the trace, when the CTA's SM is traced.
  void trace_op(const CtaState& c, uint32_t role, const char* op, Tick start, Tick end);
  /// Retires a CTA once its roles are done and its asynchronous work has drained.
  void maybe_retire(uint32_t cta_slot);
  uint32_t target_cta(const CtaState& c, uint8_t rank) const;
  uint64_t schedule_completion(Tick at, const Completion& c);

  Gpu& gpu_;
  const Kernel* kernel_ = nullptr;
  Tick start_{0};
  BusyTime busy_before_;
  uint64_t events_before_ = 0;
  std::vector<bool> sm_used_;  // SMs that have run a CTA of the kernel
  std::deque<CtaState> ctas_;
  std::vector<uint32_t> free_slots_;
  std::vector<Cluster> clusters_;
  std::vector<Completion> completions_;
  std::vector<uint64_t> free_completions_;
  uint32_t next_cluster_ = 0;
  uint32_t finished_clusters_ = 0;
  Tick last_end_{0};
  std::vector<std::pair<uint32_t, Tick>> marks_;
  GlobalFlags flags_;
};

}  // namespace bwsim
