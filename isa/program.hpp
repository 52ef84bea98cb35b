// The op vocabulary of CTA programs, and kernels as grids of them.
//
// A kernel is a grid of clusters of CTAs (ranks 2i and 2i+1 of a cluster form the CTA pairs that
// cta_group::2 MMAs span; TMA multicast reaches any ranks of the cluster). Each CTA runs
// a few roles, the warp-specialized parts of a real kernel: a TMA producer, an MMA issuer,
// epilogue warps. A role is a straight list of ops executed in order; ops that start work
// asynchronously (TMA loads, MMAs, TMA stores) let the role continue after their issue cost,
// and signal completion by arriving on a barrier; the others occupy the role until done.
//
// Barriers work like mbarriers counted by completion number rather than parity: a barrier
// with expected count c completes once every c arrivals, and `Wait(b, k)` blocks until it has
// completed k + 1 times (its k-th phase, 0-based), so generated programs cannot confuse phases.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "isa/mma_kind.hpp"
#include "isa/region.hpp"

namespace bwsim {

struct MmaShape {
  MmaKind kind = MmaKind::kF16;
  uint16_t m = 128;  // whole instruction (256 for a CTA pair)
  uint16_t n = 128;
  uint8_t cta_group = 1;
  bool a_in_tmem = false;  // A not read from SMEM: TMEM (tcgen05) or registers (Hopper wgmma)
};

inline constexpr uint16_t kNoBarrier = 0xFFFF;
/// A barrier owner meaning the issuing CTA itself.
inline constexpr uint8_t kOwnCta = 0xFF;
/// TmaLoad with multicast: arrive at the pair leader (rank & ~1) of each destination instead.
inline constexpr uint8_t kSignalPairLeaders = 0xFE;

/// One struct per kind of op, each with only the fields that kind has.
namespace op {

/// region -> SMEM, asynchronous. Without multicast the data lands in the issuing CTA and the
/// completion arrives on `barrier` of CTA `signal_cta` (kOwnCta: itself); with multicast (bit i:
/// cluster rank i) it lands in each destination and arrives on each one's `barrier` (or, with
/// kSignalPairLeaders, on each destination pair leader's).
struct TmaLoad {
  Region region;
  uint32_t multicast = 0;
  uint16_t barrier = 0;
  uint8_t signal_cta = kOwnCta;
};
/// SMEM -> region, asynchronous; the role keeps count of its unacknowledged stores.
struct TmaStore {
  Region region;
};
/// Until every store of this role is acknowledged (cp.async.bulk.wait_group 0).
struct TmaStoreWait {};
/// A global load (LDG); the role waits for the data.
struct Load {
  Region region;
};
/// `instructions` tensor instructions of `shape`; their commit arrives on `commit_barrier`
/// (kNoBarrier: none) of the ranks in `commit_ranks` (0: own CTA).
struct Mma {
  MmaShape shape;
  uint16_t commit_barrier = kNoBarrier;
  uint32_t instructions = 1;
  uint32_t commit_ranks = 0;
};
/// tcgen05.commit: arrives on `barrier` (of the ranks in `ranks`, or own CTA) once every MMA this
/// CTA has issued so far has completed.
struct MmaCommit {
  uint16_t barrier = 0;
  uint32_t ranks = 0;
};
/// tcgen05.ld: TMEM -> registers; the role waits.
struct TmemLoad {
  uint64_t bytes = 0;
};
/// tcgen05.st: registers -> TMEM (attention's P, a rescaled O); the role waits.
struct TmemStore {
  uint64_t bytes = 0;
};
/// tcgen05.cp: SMEM -> TMEM (scale factors), asynchronous, in order with this CTA's MMAs (a
/// later MMA starts after it); the role goes on.
struct TmemCopy {
  uint64_t bytes = 0;
};
/// ld.shared; the role waits for the data.
struct SmemRead {
  uint64_t bytes = 0;
};
/// st.shared; the role waits until the port has taken the bytes.
struct SmemWrite {
  uint64_t bytes = 0;
};
/// Scalar work spread over the CTA's warps: `fma` FP32 FMAs and `exp2` MUFU exp2s, interleaved
/// by the same warps (softmax) so both pipes work at once; the role waits for the later.
struct Scalar {
  uint64_t fma = 0;
  uint32_t exp2 = 0;
};
/// Until barrier `barrier` of CTA `cta` (kOwnCta: own) completes its phase `phase` (0-based).
struct Wait {
  uint32_t phase = 0;
  uint16_t barrier = 0;
  uint8_t cta = kOwnCta;
};
/// One arrival on barrier `barrier` of CTA `cta` (kOwnCta: own).
struct Arrive {
  uint16_t barrier = 0;
  uint8_t cta = kOwnCta;
};
/// `cycles` SM cycles of other work.
struct Delay {
  uint32_t cycles = 0;
};
/// Records the current time as mark `id` (measurements, traces).
struct Mark {
  uint32_t id = 0;
};
/// One arrival on the kernel's global flag `flag` (a release atomic in memory).
struct FlagArrive {
  uint16_t flag = 0;
};
/// Until global flag `flag` has had `arrivals` arrivals (an acquire poll), across clusters.
struct FlagWait {
  uint32_t arrivals = 0;
  uint16_t flag = 0;
};

}  // namespace op

/// One op of a role's program. Kernels are lists of millions of ops walked once, so an op is a
/// small variant (48 bytes) rather than a struct with every kind's fields.
struct Op {
  using Kind =
      std::variant<op::TmaLoad, op::TmaStore, op::TmaStoreWait, op::Load, op::Mma, op::MmaCommit,
                   op::TmemLoad, op::TmemStore, op::TmemCopy, op::SmemRead, op::SmemWrite, op::Scalar,
                   op::Wait, op::Arrive, op::Delay, op::Mark, op::FlagArrive, op::FlagWait>;
  Kind kind;

  template <class T>
  Op(T k) : kind(std::move(k)) {}  // NOLINT(google-explicit-constructor): ops are built from their kinds

  template <class T>
  [[nodiscard]] const T* as() const {
    return std::get_if<T>(&kind);
  }

  static Op tma_load(const Region& r, uint16_t barrier, uint32_t multicast = 0,
                     uint8_t signal_cta = kOwnCta) {
    return op::TmaLoad{r, multicast, barrier, signal_cta};
  }
  static Op tma_store(const Region& r) { return op::TmaStore{r}; }
  static Op tma_store_wait() { return op::TmaStoreWait{}; }
  static Op load(const Region& r) { return op::Load{r}; }
  static Op mma_op(MmaShape s, uint32_t instructions, uint16_t commit_barrier, uint32_t commit_ranks = 0) {
    return op::Mma{s, commit_barrier, instructions, commit_ranks};
  }
  static Op mma_commit(uint16_t barrier, uint32_t ranks = 0) { return op::MmaCommit{barrier, ranks}; }
  static Op tmem_load(uint64_t bytes) { return op::TmemLoad{bytes}; }
  static Op tmem_store(uint64_t bytes) { return op::TmemStore{bytes}; }
  static Op tmem_copy(uint64_t bytes) { return op::TmemCopy{bytes}; }
  static Op smem_read(uint64_t bytes) { return op::SmemRead{bytes}; }
  static Op smem_write(uint64_t bytes) { return op::SmemWrite{bytes}; }
  static Op fma(uint64_t n) { return op::Scalar{n, 0}; }
  static Op mufu(uint32_t exp2s) { return op::Scalar{0, exp2s}; }
  static Op mufu_fma(uint32_t exp2s, uint64_t fmas) { return op::Scalar{fmas, exp2s}; }
  static Op wait(uint16_t barrier, uint32_t phase, uint8_t cta = kOwnCta) {
    return op::Wait{phase, barrier, cta};
  }
  static Op arrive(uint16_t barrier, uint8_t cta = kOwnCta) { return op::Arrive{barrier, cta}; }
  static Op delay(uint32_t cycles) { return op::Delay{cycles}; }
  static Op mark(uint32_t id) { return op::Mark{id}; }
  static Op flag_arrive(uint16_t flag) { return op::FlagArrive{flag}; }
  static Op flag_wait(uint16_t flag, uint32_t arrivals) { return op::FlagWait{arrivals, flag}; }
};
static_assert(sizeof(Op) <= 48, "ops are walked by the million: keep them small");

struct Role {
  std::string name;
  std::vector<Op> ops;
};

struct CtaProgram {
  std::vector<Role> roles;
  std::vector<uint32_t> barrier_counts;  // expected arrivals per barrier
};

struct ClusterProgram {
  std::vector<CtaProgram> ctas;  // one per CTA of the cluster; CTA i runs on the cluster's i-th SM
  /// Optional: appends the next part of the cluster's ops (to ctas[i]->roles[r].ops for CTA i),
  /// returning false when there is no more. The executor calls it when a role has run through
  /// its ops, after dropping the ops every role has passed. A persistent kernel's programs are
  /// then built as they run and only a window of them exists at a time: built whole, a GEMM's
  /// are tens of megabytes of ops, each written once and read once, from host DRAM.
  /// Null: `ctas` holds the whole program.
  std::function<bool(std::span<CtaProgram* const> ctas)> more;
};

/// What one CTA occupies on its SM while resident.
struct CtaResources {
  uint64_t smem_bytes = 0;
  uint32_t tmem_columns = 0;  // rounded up to a power of two >= the allocation minimum
  uint32_t threads = 128;
  uint32_t registers_per_thread = 64;
};

struct Kernel {
  std::string name;
  uint32_t clusters = 1;      // grid size, in clusters
  uint32_t cluster_size = 1;  // CTAs per cluster, on aligned adjacent SMs; ranks (2i, 2i+1) form CTA pairs
  CtaResources resources;
  uint32_t flags = 0;  // global flags (kFlagArrive / kFlagWait), zero at launch
  /// SMs the grid may use (0: all): the first sms / dies of every die. A persistent kernel
  /// launched on fewer SMs than the GPU has, each CTA taking the next work item as it frees up.
  uint32_t sms = 0;
  /// Builds the program of cluster `index` when it is launched.
  std::function<ClusterProgram(uint32_t index)> program;
};

}  // namespace bwsim
