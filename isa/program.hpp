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
#include <vector>

#include "isa/mma_kind.hpp"
#include "isa/region.hpp"

namespace bwsim {

enum class OpCode : uint8_t {
  kTmaLoad,       // region -> SMEM (multicast to `multicast` CTAs of the cluster); arrives on `barrier`
                  // of each destination, or without multicast of CTA `cta` (0xFF: own)
  kTmaStore,      // SMEM -> region, asynchronous; the role keeps count of its unacknowledged stores
  kTmaStoreWait,  // until every store of this role is acknowledged (cp.async.bulk.wait_group 0)
  kLoad,          // a global load (LDG); the role waits for the data
  kMma,         // `count` tensor instructions of shape `mma`; commit arrives on `barrier` (kNoBarrier: none)
  kMmaCommit,   // tcgen05.commit: arrives on `barrier` (ranks in `multicast`, or own CTA) once every
                // MMA this CTA has issued so far has completed
  kTmemLoad,    // tcgen05.ld of `bytes` into registers; the role waits
  kTmemStore,   // tcgen05.st of `bytes` from registers (attention's P, a rescaled O); the role waits
  kTmemCopy,    // tcgen05.cp of `bytes` from SMEM into TMEM (scale factors): asynchronous, in
                // order with this CTA's MMAs (a later MMA starts after it); the role goes on
  kSmemRead,    // ld.shared of `bytes`; the role waits
  kSmemWrite,   // st.shared of `bytes`; the role waits
  kFma,         // `count` FP32 FMAs spread over the CTA's warps; the role waits
  kMufu,        // `count` MUFU exp2; the role waits
  kMufuFma,     // `count` MUFU exp2 and `bytes` FP32 FMAs interleaved by the same warps (softmax):
                // both pipes work at once; the role waits for the later
  kWait,        // until barrier `barrier` (of CTA `cta`) completes its phase `count`
  kArrive,      // one arrival on barrier `barrier` of CTA `cta` (0xFF: this CTA)
  kDelay,       // `count` SM cycles of other work
  kMark,        // record the current time as mark `count` (measurements, traces)
  kFlagArrive,  // one arrival on the kernel's global flag `barrier` (a release atomic in memory)
  kFlagWait,    // until global flag `barrier` has had `count` arrivals (an acquire poll), across clusters
};

struct MmaShape {
  MmaKind kind = MmaKind::kF16;
  uint16_t m = 128;  // whole instruction (256 for a CTA pair)
  uint16_t n = 128;
  uint8_t cta_group = 1;
  bool a_in_tmem = false;  // A not read from SMEM: TMEM (tcgen05) or registers (Hopper wgmma)
};

inline constexpr uint16_t kNoBarrier = 0xFFFF;
/// Op::cta meaning the issuing CTA itself.
inline constexpr uint8_t kOwnCta = 0xFF;
/// kTmaLoad with multicast: arrive at the pair leader (rank & ~1) of each destination instead.
inline constexpr uint8_t kSignalPairLeaders = 0xFE;

struct Op {
  OpCode code = OpCode::kDelay;
  uint8_t cta = 0xFF;  // barrier owner for kWait/kArrive (0xFF: own CTA)
  uint16_t barrier = 0;
  uint32_t count = 0;      // instructions, FMAs, exp2s, cycles, phase or mark id
  uint64_t bytes = 0;      // SMEM/TMEM bytes
  uint32_t multicast = 0;  // kTmaLoad: bit i = deliver to cluster CTA i as well (0: own CTA only)
  MmaShape mma;
  Region region;

  static Op tma_load(const Region& r, uint16_t barrier, uint32_t multicast = 0, uint8_t signal_cta = 0xFF) {
    Op o;
    o.code = OpCode::kTmaLoad;
    o.region = r;
    o.barrier = barrier;
    o.multicast = multicast;
    o.cta = signal_cta;
    return o;
  }
  static Op mma_commit(uint16_t barrier, uint32_t ranks = 0) {
    Op o;
    o.code = OpCode::kMmaCommit;
    o.barrier = barrier;
    o.multicast = ranks;
    return o;
  }
  static Op tma_store(const Region& r) {
    Op o;
    o.code = OpCode::kTmaStore;
    o.region = r;
    return o;
  }
  static Op tma_store_wait() { return with(OpCode::kTmaStoreWait, 0); }
  static Op load(const Region& r) {
    Op o;
    o.code = OpCode::kLoad;
    o.region = r;
    return o;
  }
  static Op mma_op(MmaShape s, uint32_t instructions, uint16_t commit_barrier) {
    Op o;
    o.code = OpCode::kMma;
    o.mma = s;
    o.count = instructions;
    o.barrier = commit_barrier;
    return o;
  }
  static Op bytes_op(OpCode c, uint64_t bytes) {
    Op o;
    o.code = c;
    o.bytes = bytes;
    return o;
  }
  static Op wait(uint16_t barrier, uint32_t phase, uint8_t cta = 0xFF) {
    Op o = with(OpCode::kWait, phase);
    o.barrier = barrier;
    o.cta = cta;
    return o;
  }
  static Op arrive(uint16_t barrier, uint8_t cta = 0xFF) {
    Op o = with(OpCode::kArrive, 0);
    o.barrier = barrier;
    o.cta = cta;
    return o;
  }
  static Op mufu_fma(uint32_t exp2s, uint64_t fmas) {
    Op o = with(OpCode::kMufuFma, exp2s);
    o.bytes = fmas;
    return o;
  }
  static Op flag_arrive(uint16_t flag) {
    Op o = with(OpCode::kFlagArrive, 0);
    o.barrier = flag;
    return o;
  }
  static Op flag_wait(uint16_t flag, uint32_t arrivals) {
    Op o = with(OpCode::kFlagWait, arrivals);
    o.barrier = flag;
    return o;
  }
  static Op with(OpCode c, uint32_t count) {
    Op o;
    o.code = c;
    o.count = count;
    return o;
  }
};

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
  /// Builds the program of cluster `index` when it is launched.
  std::function<ClusterProgram(uint32_t index)> program;
};

}  // namespace bwsim
