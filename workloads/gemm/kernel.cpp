// GEMM kernels as CTA programs, modelled on how CUTLASS builds them.
//
// Blackwell (tcgen05): persistent clusters (a CTA pair for 256-row tiles) walk their share of
// the work items in raster order. Each CTA's producer TMA-loads its half of A and B (and the
// block scales) into a ring of SMEM stages; the leader's MMA role issues cta_group::2 MMAs
// into one of two TMEM accumulators (one when the tile is too wide to double-buffer) and
// commits each stage back to the producers; both CTAs' epilogues read their 128 rows out of
// TMEM, free the accumulator, convert, and TMA-store while the next tile's mainloop runs.
// Weight-only formats add a dequant role per CTA: narrow B -> BF16 in SMEM before the MMA.
//
// Hopper (wgmma): one CTA per tile, a producer and a cooperative consumer (two warpgroups of
// m64 wgmmas); accumulators live in registers, so the epilogue runs after the mainloop.
// Block FP8 promotes each 128-K block's partial sums in FP32 on the CUDA cores (as DeepGEMM).
//
// sm_120 (mma.sync): like Hopper, with ldmatrix traffic from SMEM before each stage's MMAs.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <span>

#include "isa/mma.hpp"
#include "workloads/gemm/plan.hpp"

namespace bwsim {
namespace {

using WorkItem = GemmWorkItem;

int64_t clamp_rows(int64_t row0, int64_t rows, int64_t total) {
  return std::max<int64_t>(0, std::min(rows, total - row0));
}

// A region, or nullopt when it lies wholly outside the tensor (an edge tile's missing half).
std::optional<Region> region(uint32_t tensor, int64_t row0, int64_t rows, int64_t total_rows, uint64_t byte0,
                             uint64_t bytes, uint64_t row_bytes) {
  const int64_t r = clamp_rows(row0, rows, total_rows);
  if (r == 0 || byte0 >= row_bytes) return std::nullopt;
  return Region{tensor, static_cast<uint64_t>(row0), static_cast<uint64_t>(r), byte0,
                std::min(bytes, row_bytes - byte0)};
}

struct Layout {
  uint16_t S;
  uint16_t full(uint32_t s) const { return static_cast<uint16_t>(s); }
  uint16_t empty(uint32_t s) const { return static_cast<uint16_t>(S + s); }
  uint16_t acc_full(uint32_t a) const { return static_cast<uint16_t>(2 * S + a); }
  uint16_t acc_empty(uint32_t a) const { return static_cast<uint16_t>(2 * S + 2 + a); }
  uint16_t narrow(uint32_t s) const { return static_cast<uint16_t>(2 * S + 4 + s); }  // weight-only B landed
  // Per math warpgroup w (up to 4): its wgmma/mma.sync drained; its block-FP8 partials ready.
  uint16_t done(uint32_t w) const { return static_cast<uint16_t>(3 * S + 4 + w); }
  uint16_t promo(uint32_t w) const { return static_cast<uint16_t>(3 * S + 8 + w); }
  uint32_t count() const { return 3u * S + 12; }
};

struct Shapes {
  const GemmPlan& pl;
  const GemmTensors& t;
  int64_t M, N, K;
  uint32_t cta_m, cta_n;
  [[nodiscard]] uint64_t bytes_of(uint64_t elems, int bits) const {
    return elems * static_cast<uint64_t>(bits) / 8;
  }
};

// Where a CTA sits in its cluster: `pairs` CTA pairs (or single CTAs) side by side along N; this
// one is half `half` of pair `pair`, working on tile column `tile_n`.
struct Seat {
  uint32_t pairs = 1;
  uint32_t pair = 0;
  uint32_t half = 0;
  uint32_t tile_n = 0;
  uint32_t pair_ranks = 1;  // CTAs per pair (2, or 1 without CTA pairs)
  [[nodiscard]] uint8_t leader() const { return static_cast<uint8_t>(pair * pair_ranks); }
};

// The producer's loads of one stage for one CTA. Without multicast each load arrives at the
// pair leader's `full` barrier (or, with `own_signal`, at this CTA's). With a cluster of several
// pairs, this CTA loads its pair's 1/pairs share of the A stage (and pair 0 the A scales) and
// multicasts it to the same half of every pair, arriving at every pair leader. Weight-only B
// goes to this CTA's `narrow` barrier for the dequant role.
void produce_stage(std::vector<Op>& ops, const Shapes& sh, const Layout& L, const WorkItem& wi,
                   const Seat& seat, uint64_t kk, uint32_t s, bool own_signal) {
  const GemmPlan& pl = sh.pl;
  const GemmMath& m = pl.math;
  const uint8_t signal = own_signal ? 0xFF : seat.leader();
  const uint64_t k0 = pl.k_range(wi.split).first + kk * pl.tile.k_stage;
  const uint64_t kst = std::min<uint64_t>(pl.tile.k_stage, static_cast<uint64_t>(sh.K) - k0);
  const int64_t a_row = int64_t{wi.tm} * pl.tile.tile_m + int64_t{seat.half} * sh.cta_m;
  const int64_t b_row = int64_t{seat.tile_n} * pl.tile.tile_n + int64_t{seat.half} * sh.cta_n;
  const auto load_or_arrive = [&](std::optional<Region> r, uint16_t barrier, uint8_t who) {
    ops.push_back(r ? Op::tma_load(*r, barrier, 0, who) : Op::arrive(barrier, who));
  };
  uint32_t same_half = 0;  // this half in every pair of the cluster
  for (uint32_t q = 0; q < seat.pairs; ++q) same_half |= 1u << (q * seat.pair_ranks + seat.half);
  const auto multicast_or_arrive = [&](std::optional<Region> r, uint16_t barrier) {
    if (r) {
      ops.push_back(Op::tma_load(*r, barrier, same_half, kSignalPairLeaders));
    } else {
      for (uint32_t q = 0; q < seat.pairs; ++q)
        ops.push_back(Op::arrive(barrier, static_cast<uint8_t>(q * seat.pair_ranks)));
    }
  };
  const uint64_t a_rb = static_cast<uint64_t>(sh.K) * m.a_bits / 8;
  const uint64_t b_rb = static_cast<uint64_t>(sh.K) * m.b_bits / 8;
  if (seat.pairs == 1) {
    load_or_arrive(
        region(sh.t.a, a_row, sh.cta_m, sh.M, sh.bytes_of(k0, m.a_bits), sh.bytes_of(kst, m.a_bits), a_rb),
        L.full(s), signal);
  } else {
    const uint64_t share = sh.bytes_of(pl.tile.k_stage, m.a_bits) / seat.pairs;
    const uint64_t byte0 = sh.bytes_of(k0, m.a_bits) + seat.pair * share;
    multicast_or_arrive(region(sh.t.a, a_row, sh.cta_m, sh.M, byte0, share, a_rb), L.full(s));
  }
  const uint16_t b_barrier = m.weight_only ? L.narrow(s) : L.full(s);
  const uint8_t b_signal = m.weight_only ? 0xFF : signal;
  load_or_arrive(
      region(sh.t.b, b_row, sh.cta_n, sh.N, sh.bytes_of(k0, m.b_bits), sh.bytes_of(kst, m.b_bits), b_rb),
      b_barrier, b_signal);
  // Scale factors (layouts in allocate_gemm): a stage's scales for 128 rows are one contiguous piece.
  const uint64_t kblocks = std::max<uint64_t>(1, kst / 128);
  if (sh.t.has_sfa) {
    const auto tiled = [&](uint64_t elems) { return elems / m.a_scale_block * m.a_scale_bytes * 128; };
    const auto r =
        m.block_fp8 ? region(sh.t.sfa, static_cast<int64_t>(k0 / 128), static_cast<int64_t>(kblocks),
                             sh.K / 128, static_cast<uint64_t>(a_row) * 4, uint64_t{sh.cta_m} * 4,
                             static_cast<uint64_t>(sh.M) * 4)
                    : region(sh.t.sfa, a_row / 128, std::max<int64_t>(1, sh.cta_m / 128), (sh.M + 127) / 128,
                             tiled(k0), tiled(kst), tiled(static_cast<uint64_t>(sh.K)));
    if (seat.pairs == 1) {
      load_or_arrive(r, L.full(s), signal);
    } else if (seat.pair == 0) {
      multicast_or_arrive(r, L.full(s));
    }
  }
  if (sh.t.has_sfb) {
    const auto tiled = [&](uint64_t elems) {
      return m.block_fp8 ? elems / 128 * 4 : elems / m.b_scale_block * m.b_scale_bytes * 128;
    };
    load_or_arrive(region(sh.t.sfb, b_row / 128, std::max<int64_t>(1, sh.cta_n / 128), (sh.N + 127) / 128,
                          tiled(k0), std::max<uint64_t>(tiled(kst), 1), tiled(static_cast<uint64_t>(sh.K))),
                   b_barrier, b_signal);
  }
}

uint32_t loads_per_stage(const GemmTensors& t) { return 2u + (t.has_sfa ? 1u : 0u) + (t.has_sfb ? 1u : 0u); }

// This CTA's rows and columns of a tile in workspace slot `slot` (FP32 partials, M x N a slot).
Region workspace_region(const Shapes& sh, uint32_t slot, int64_t row0, int64_t rows, int64_t col0,
                        int64_t cols) {
  return Region{sh.t.workspace, static_cast<uint64_t>(slot * sh.M + row0), static_cast<uint64_t>(rows),
                static_cast<uint64_t>(col0) * 4, static_cast<uint64_t>(cols) * 4};
}

constexpr uint32_t kNoSlot = ~0u;

// The epilogue of one tile for CTA `rank`: convert and store D, or (`partial_slot` other than
// kNoSlot) write FP32 partials to that workspace slot.
void epilogue_store(std::vector<Op>& ops, const Shapes& sh, uint32_t tm, uint32_t tn, uint32_t partial_slot,
                    uint32_t half, uint32_t rows_in_cta) {
  const GemmPlan& pl = sh.pl;
  const int64_t row0 = int64_t{tm} * pl.tile.tile_m + int64_t{half} * rows_in_cta;
  const int64_t col0 = int64_t{tn} * pl.tile.tile_n;
  const int64_t rows = clamp_rows(row0, rows_in_cta, sh.M);
  const int64_t cols = clamp_rows(col0, pl.tile.tile_n, sh.N);
  const uint64_t elems = static_cast<uint64_t>(rows_in_cta) * pl.tile.tile_n;
  const bool partials = partial_slot != kNoSlot;
  const int out_bits = partials ? 32 : gemm_out_bits(pl.problem.out);
  ops.push_back(Op::fma(static_cast<uint32_t>(2 * elems)));  // alpha, conversion
  if (!partials && pl.problem.out == GemmOut::kNvfp4) {
    ops.push_back(Op::fma(static_cast<uint32_t>(2 * elems)));  // block amax, scales
  }
  ops.push_back(Op::smem_write(elems * out_bits / 8));
  if (rows == 0 || cols == 0) return;
  if (partials) {
    ops.push_back(Op::tma_store(workspace_region(sh, partial_slot, row0, rows, col0, cols)));
    return;
  }
  ops.push_back(Op::tma_store(Region{sh.t.d, static_cast<uint64_t>(row0), static_cast<uint64_t>(rows),
                                     static_cast<uint64_t>(col0) * out_bits / 8,
                                     static_cast<uint64_t>(cols) * out_bits / 8}));
  if (sh.t.has_sfd) {  // 128x4-tiled: this CTA's rows of a 128-row block, all its columns' scales
    ops.push_back(
        Op::tma_store(Region{sh.t.sfd, static_cast<uint64_t>(row0 / 128), 1,
                             static_cast<uint64_t>(col0) / 16 * 128 + static_cast<uint64_t>(row0 % 128),
                             static_cast<uint64_t>(cols) / 16 * static_cast<uint64_t>(rows)}));
  }
}

// K stages a program builder appends per ClusterProgram::more call.
constexpr uint64_t kStagesPerPart = 4;

// Hopper / sm_120 math roles per CTA: one per 64-row warpgroup.
uint32_t math_warpgroups(const GemmPlan& pl) { return std::max(1u, pl.tile.tile_m / 64); }

// The weight-only dequant role's part of stage `s` (phase `ph`): narrow B -> BF16 in SMEM, then
// an arrival at the `full` barrier of CTA `arrive_at`.
void dequant_stage(std::vector<Op>& ops, const Shapes& sh, const Layout& L, uint32_t s, uint32_t ph,
                   uint8_t arrive_at) {
  const GemmMath& m = sh.pl.math;
  const uint64_t elems = uint64_t{sh.cta_n} * sh.pl.tile.k_stage;
  ops.push_back(Op::wait(L.narrow(s), ph));
  ops.push_back(Op::smem_read(elems * m.b_bits / 8));
  ops.push_back(Op::fma(static_cast<uint32_t>(2 * elems)));
  ops.push_back(Op::smem_write(elems * 2));
  ops.push_back(Op::arrive(L.full(s), arrive_at));
}

// A cluster program from a builder (start() and more(), below), which it keeps alive.
template <class Builder, class... Args>
ClusterProgram built_as_it_runs(Args&&... args) {
  auto b = std::make_shared<Builder>(std::forward<Args>(args)...);
  ClusterProgram prog = b->start();
  prog.more = [b](std::span<CtaProgram* const> ctas) { return b->more(ctas); };
  return prog;
}

// A Blackwell cluster's programs, built a few K stages at a time as the executor runs them
// (ClusterProgram::more): a persistent CTA's whole program is ~10^4 ops.
class BlackwellCluster {
 public:
  BlackwellCluster(const GemmPlan& plan, const GemmTensors& t, uint32_t cta_m, uint32_t cta_n,
                   uint32_t cluster, uint64_t total_work, std::shared_ptr<GemmSkip> skip)
      : skip_(std::move(skip)),
        pl_(plan),
        t_(t),
        sh_{pl_, t_, plan.problem.m, plan.problem.n, plan.problem.k, cta_m, cta_n},
        L_{static_cast<uint16_t>(plan.tile.stages)},
        segments_(plan.segments(cluster, total_work)) {
    const GemmMath& m = pl_.math;
    cs_ = pl_.cluster_size;
    pair_ranks_ = pl_.pair ? 2 : 1;
    pairs_ = pl_.tile.cluster_n;
    acc_bufs_ = pl_.resources.tmem_columns >= 2 * pl_.tile.tile_n ? 2 : 1;
    per_stage_ = std::max<uint32_t>(1, pl_.tile.k_stage / static_cast<uint32_t>(mma_k(m.kind)));
    shape_.kind = m.kind;
    shape_.m = static_cast<uint16_t>(pl_.tile.tile_m);
    shape_.n = static_cast<uint16_t>(pl_.tile.tile_n);
    shape_.cta_group = pl_.pair ? 2 : 1;
    sf_tmem_bytes_ = m.a_scale_block > 0 && !m.block_fp8
                         ? uint64_t{cta_m} * (pl_.tile.k_stage / m.a_scale_block) * m.a_scale_bytes +
                               uint64_t{cta_n} * (pl_.tile.k_stage / m.b_scale_block) * m.b_scale_bytes
                         : 0;
    if (!segments_.empty()) kk_ = segments_.front().kk0;
  }
  BlackwellCluster(const BlackwellCluster&) = delete;
  BlackwellCluster& operator=(const BlackwellCluster&) = delete;

  /// The CTAs' roles and barriers, with the first part of their ops.
  ClusterProgram start() {
    const GemmMath& m = pl_.math;
    ClusterProgram prog;
    const uint32_t S = pl_.tile.stages;
    for (uint32_t rank = 0; rank < cs_; ++rank) {
      const Seat seat = seat_of(rank, 0);
      CtaProgram cta;
      cta.roles.push_back(Role{"tma", {}});
      cta.roles.push_back(Role{"epilogue", {}});
      if (seat.half == 0) cta.roles.push_back(Role{"mma", {}});
      if (m.weight_only) cta.roles.push_back(Role{"dequant", {}});
      cta.barrier_counts.assign(L_.count(), 1);
      // Arrivals at a pair leader's full barrier per stage: each A half as `pairs` multicast
      // shares, B per CTA, A scales from pair 0 per half, B scales per CTA.
      const uint32_t full_count =
          m.weight_only ? (1 + (t_.has_sfa ? 1 : 0) + 1) * pair_ranks_
                        : pair_ranks_ * (pairs_ + 1 + (t_.has_sfa ? 1 : 0) + (t_.has_sfb ? 1 : 0));
      for (uint32_t s = 0; s < S; ++s) {
        cta.barrier_counts[L_.full(s)] = full_count;
        cta.barrier_counts[L_.empty(s)] = pairs_;  // every pair leader's commit frees a stage everywhere
        cta.barrier_counts[L_.narrow(s)] = 1 + (t_.has_sfb ? 1 : 0);
      }
      for (uint32_t a = 0; a < 2; ++a) cta.barrier_counts[L_.acc_empty(a)] = pair_ranks_;
      prog.ctas.push_back(std::move(cta));
    }
    std::vector<CtaProgram*> ctas;
    for (CtaProgram& c : prog.ctas) ctas.push_back(&c);
    more(ctas);
    return prog;
  }

  /// Appends up to kStagesPerPart more K stages (and the epilogues of the items they finish) to every
  /// role; false once everything has been appended.
  bool more(std::span<CtaProgram* const> ctas) {
    if (done_) return false;
    for (uint64_t n = 0; n < kStagesPerPart && seg_ < segments_.size(); ++n) {
      const GemmSegment& seg = segments_[seg_];
      for (uint32_t rank = 0; rank < cs_; ++rank) stage(*ctas[rank], rank, seg);
      ++it_;
      if (++kk_ < seg.kk1) continue;
      for (uint32_t rank = 0; rank < cs_; ++rank) epilogue(*ctas[rank], rank, seg);
      ++j_;
      if (++seg_ < segments_.size()) {
        if (skip_) seg_ = std::min(segments_.size(), seg_ + skip_->begin(seg_));
        if (seg_ < segments_.size()) kk_ = segments_[seg_].kk0;
      }
    }
    if (seg_ == segments_.size()) {
      for (uint32_t rank = 0; rank < cs_; ++rank)
        ctas[rank]->roles[kEpilogue].ops.push_back(Op::tma_store_wait());
      done_ = true;
    }
    return true;
  }

 private:
  static constexpr size_t kProducer = 0, kEpilogue = 1;

  [[nodiscard]] Seat seat_of(uint32_t rank, uint32_t tn) const {
    Seat seat{pairs_, rank / pair_ranks_, rank % pair_ranks_, 0, pair_ranks_};
    seat.tile_n = tn * pairs_ + seat.pair;
    return seat;
  }

  // One K stage `kk_` of segment `seg` (the it_-th stage of this cluster) for CTA `rank`.
  void stage(CtaProgram& cta, uint32_t rank, const GemmSegment& seg) {
    const GemmMath& m = pl_.math;
    const uint32_t S = pl_.tile.stages;
    const WorkItem wi = pl_.work_item(seg.item);
    const Seat seat = seat_of(rank, wi.tn);
    const uint32_t all = (1u << cs_) - 1;
    const uint32_t own_pair = ((1u << pair_ranks_) - 1) << (seat.pair * pair_ranks_);
    const auto acc = static_cast<uint32_t>(j_ % acc_bufs_);
    const auto s = static_cast<uint32_t>(it_ % S);
    const auto ph = static_cast<uint32_t>(it_ / S);
    std::vector<Op>& producer = cta.roles[kProducer].ops;
    if (it_ >= S) producer.push_back(Op::wait(L_.empty(s), ph - 1));
    produce_stage(producer, sh_, L_, wi, seat, kk_, s, false);
    if (m.weight_only) dequant_stage(cta.roles.back().ops, sh_, L_, s, ph, seat.leader());
    if (seat.half == 0) {  // the pair leader issues the pair's MMAs
      std::vector<Op>& mma = cta.roles[2].ops;
      if (kk_ == seg.kk0 && j_ >= acc_bufs_)
        mma.push_back(Op::wait(L_.acc_empty(acc), static_cast<uint32_t>(j_ / acc_bufs_ - 1)));
      mma.push_back(Op::wait(L_.full(s), ph));
      if (sf_tmem_bytes_ > 0) mma.push_back(Op::tmem_copy(sf_tmem_bytes_));
      mma.push_back(Op::mma_op(shape_, per_stage_, kNoBarrier));
      mma.push_back(Op::mma_commit(L_.empty(s), all));
      if (kk_ + 1 == seg.kk1) mma.push_back(Op::mma_commit(L_.acc_full(acc), own_pair));
    }
  }

  // The epilogue of segment `seg` (this cluster's j_-th) for CTA `rank`.
  void epilogue(CtaProgram& cta, uint32_t rank, const GemmSegment& seg) {
    const WorkItem wi = pl_.work_item(seg.item);
    const Seat seat = seat_of(rank, wi.tn);
    const auto acc = static_cast<uint32_t>(j_ % acc_bufs_);
    std::vector<Op>& epilogue = cta.roles[kEpilogue].ops;
    epilogue.push_back(Op::wait(L_.acc_full(acc), static_cast<uint32_t>(j_ / acc_bufs_)));
    epilogue.push_back(Op::tmem_load(uint64_t{sh_.cta_m} * pl_.tile.tile_n * 4));
    epilogue.push_back(Op::arrive(L_.acc_empty(acc), seat.leader()));
    if (j_ > 0) epilogue.push_back(Op::tma_store_wait());
    // Stream-K: one flag per shared item and CTA seat; a partial is stored, then flagged.
    const auto flag = static_cast<uint16_t>((seg.sk_index * pairs_ + seat.pair) * pair_ranks_ + seat.half);
    if (seg.piece > 0) {
      epilogue_store(epilogue, sh_, wi.tm, seat.tile_n, seg.piece - 1, seat.half, sh_.cta_m);
      epilogue.push_back(Op::tma_store_wait());
      epilogue.push_back(Op::flag_arrive(flag));
    } else {
      if (seg.pieces > 1) {  // the owner adds the other clusters' partials, in order
        epilogue.push_back(Op::flag_wait(flag, seg.pieces - 1));
        const int64_t row0 = int64_t{wi.tm} * pl_.tile.tile_m + int64_t{seat.half} * sh_.cta_m;
        const int64_t col0 = int64_t{seat.tile_n} * pl_.tile.tile_n;
        const int64_t rows = clamp_rows(row0, sh_.cta_m, sh_.M);
        const int64_t cols = clamp_rows(col0, pl_.tile.tile_n, sh_.N);
        for (uint32_t q = 1; q < seg.pieces && rows > 0 && cols > 0; ++q)
          epilogue.push_back(Op::load(workspace_region(sh_, q - 1, row0, rows, col0, cols)));
        epilogue.push_back(
            Op::fma(static_cast<uint32_t>(uint64_t{sh_.cta_m} * pl_.tile.tile_n * (seg.pieces - 1))));
      }
      epilogue_store(epilogue, sh_, wi.tm, seat.tile_n, pl_.tile.split_k > 1 ? wi.split : kNoSlot, seat.half,
                     sh_.cta_m);
    }
    epilogue.push_back(Op::mark(static_cast<uint32_t>(j_)));  // item j's accumulator drained
  }

  std::shared_ptr<GemmSkip> skip_;
  const GemmPlan pl_;
  const GemmTensors t_;
  const Shapes sh_;
  const Layout L_;
  const std::vector<GemmSegment> segments_;
  uint32_t cs_ = 1, pair_ranks_ = 1, pairs_ = 1, acc_bufs_ = 1, per_stage_ = 1;
  MmaShape shape_;
  uint64_t sf_tmem_bytes_ = 0;
  // Where the build is: segment seg_ at K stage kk_, the cluster's it_-th stage and j_-th item.
  size_t seg_ = 0;
  uint64_t kk_ = 0;
  uint64_t it_ = 0;
  uint64_t j_ = 0;
  bool done_ = false;
};

// Hopper and sm_120: one CTA per tile, accumulators in registers. Built a few K stages at a
// time as it runs, like BlackwellCluster.
class RegisterAccCta {
 public:
  RegisterAccCta(const GemmPlan& plan, const GemmTensors& t, const HwSpec& hw, uint32_t cta_m, uint32_t cta_n,
                 uint32_t cluster, uint64_t total_work, std::shared_ptr<GemmSkip> skip)
      : skip_(std::move(skip)),
        pl_(plan),
        t_(t),
        sh_{pl_, t_, plan.problem.m, plan.problem.n, plan.problem.k, cta_m, cta_n},
        L_{static_cast<uint16_t>(plan.tile.stages)},
        w_(cluster),
        total_(total_work) {
    const GemmMath& m = pl_.math;
    const int kinstr = mma_k(m.kind);
    const bool hopper = has_wgmma(hw.arch);
    shape_.kind = m.kind;
    uint32_t per_stage = 0;
    if (hopper) {  // m64nNkK wgmmas: tile_m/64 warpgroup slices
      shape_.m = 64;
      shape_.n = static_cast<uint16_t>(pl_.tile.tile_n);
      per_stage = (pl_.tile.tile_m / 64) * (pl_.tile.k_stage / static_cast<uint32_t>(kinstr));
    } else {  // m16n8kK mma.sync over the whole tile
      shape_.m = 16;
      shape_.n = 8;
      per_stage =
          (pl_.tile.tile_m / 16) * (pl_.tile.tile_n / 8) * (pl_.tile.k_stage / static_cast<uint32_t>(kinstr));
    }
    // One math role per 64-row warpgroup, as CUTLASS's cooperative kernels and DeepGEMM run
    // them: one warpgroup's promotion FMAs (Hopper) or fragment loads (sm_120) overlap the
    // other's MMAs.
    wgs_ = math_warpgroups(pl_);
    wg_rows_ = pl_.tile.tile_m / wgs_;
    // sm_120: each warpgroup's ldmatrix traffic for a stage: its A rows once per 64 columns of
    // N, all of B once per 32 of its rows (each warp's fragments are read from SMEM).
    const int op_bits = mma_operand_bits(m.kind);
    ldmatrix_ =
        hopper
            ? 0
            : (uint64_t{wg_rows_} * pl_.tile.k_stage * op_bits / 8) * std::max(1u, pl_.tile.tile_n / 64) +
                  (uint64_t{pl_.tile.tile_n} * pl_.tile.k_stage * op_bits / 8) * std::max(1u, wg_rows_ / 32);
    wg_mmas_ = per_stage / wgs_;
  }
  RegisterAccCta(const RegisterAccCta&) = delete;
  RegisterAccCta& operator=(const RegisterAccCta&) = delete;

  ClusterProgram start() {
    const GemmMath& m = pl_.math;
    const uint32_t S = pl_.tile.stages;
    CtaProgram cta;
    cta.roles.push_back(Role{"tma", {}});
    for (uint32_t g = 0; g < wgs_; ++g)
      cta.roles.push_back(Role{wgs_ > 1 ? fmt::format("math{}", g) : "math", {}});
    if (m.weight_only) cta.roles.push_back(Role{"dequant", {}});
    cta.barrier_counts.assign(L_.count(), 1);
    for (uint32_t s = 0; s < S; ++s) cta.barrier_counts[L_.empty(s)] = wgs_;
    const uint32_t full_count = m.weight_only ? 1 + (t_.has_sfa ? 1 : 0) + 1 : loads_per_stage(t_);
    for (uint32_t s = 0; s < S; ++s) {
      cta.barrier_counts[L_.full(s)] = full_count;
      cta.barrier_counts[L_.narrow(s)] = 1 + (t_.has_sfb ? 1 : 0);
    }
    ClusterProgram prog;
    prog.ctas.push_back(std::move(cta));
    CtaProgram* ctas[1] = {&prog.ctas.front()};
    more(ctas);
    return prog;
  }

  /// Appends up to kStagesPerPart more K stages (and the epilogues of the items they finish).
  bool more(std::span<CtaProgram* const> ctas) {
    if (done_) return false;
    CtaProgram& cta = *ctas[0];
    for (uint64_t n = 0; n < kStagesPerPart && w_ < total_; ++n) {
      const WorkItem wi = pl_.work_item(w_);
      stage(cta, wi);
      ++it_;
      if (++kk_ < pl_.k_iters(wi.split)) continue;
      epilogue(cta, wi);
      kk_ = 0;
      ++j_;
      w_ += pl_.clusters;
      if (skip_ && w_ < total_) w_ += skip_->begin(j_) * pl_.clusters;
    }
    if (w_ >= total_) {
      for (uint32_t g = 0; g < wgs_; ++g) cta.roles[1 + g].ops.push_back(Op::tma_store_wait());
      done_ = true;
    }
    return true;
  }

 private:
  void stage(CtaProgram& cta, const WorkItem& wi) {
    const GemmMath& m = pl_.math;
    const uint32_t S = pl_.tile.stages;
    const auto s = static_cast<uint32_t>(it_ % S);
    const auto ph = static_cast<uint32_t>(it_ / S);
    std::vector<Op>& producer = cta.roles[0].ops;
    if (it_ >= S) producer.push_back(Op::wait(L_.empty(s), ph - 1));
    produce_stage(producer, sh_, L_, wi, Seat{1, 0, 0, wi.tn, 1}, kk_, s, true);
    if (m.weight_only) dequant_stage(cta.roles.back().ops, sh_, L_, s, ph, kOwnCta);
    for (uint32_t g = 0; g < wgs_; ++g) {
      std::vector<Op>& ops = cta.roles[1 + g].ops;
      ops.push_back(Op::wait(L_.full(s), ph));
      if (ldmatrix_ > 0) ops.push_back(Op::smem_read(ldmatrix_));
      if (m.block_fp8) {  // partials of this 128-K block, then FP32 promotion on the CUDA cores
        ops.push_back(Op::mma_op(shape_, wg_mmas_, L_.promo(g)));
        ops.push_back(Op::wait(L_.promo(g), static_cast<uint32_t>(it_)));
        ops.push_back(Op::arrive(L_.empty(s)));
        ops.push_back(Op::fma(wg_rows_ * pl_.tile.tile_n));
      } else {
        ops.push_back(Op::mma_op(shape_, wg_mmas_, L_.empty(s)));
      }
    }
  }

  void epilogue(CtaProgram& cta, const WorkItem& wi) {
    for (uint32_t g = 0; g < wgs_; ++g) {
      std::vector<Op>& ops = cta.roles[1 + g].ops;
      ops.push_back(Op::mma_commit(L_.done(g)));
      ops.push_back(Op::wait(L_.done(g), static_cast<uint32_t>(j_)));
      if (j_ > 0) ops.push_back(Op::tma_store_wait());
      epilogue_store(ops, sh_, wi.tm, wi.tn, pl_.tile.split_k > 1 ? wi.split : kNoSlot, g, wg_rows_);
      ops.push_back(Op::mark(static_cast<uint32_t>(j_)));
    }
  }

  std::shared_ptr<GemmSkip> skip_;
  const GemmPlan pl_;
  const GemmTensors t_;
  const Shapes sh_;
  const Layout L_;
  MmaShape shape_;
  uint32_t wgs_ = 1, wg_rows_ = 64, wg_mmas_ = 1;
  uint64_t ldmatrix_ = 0;
  // Where the build is: work item w_ (this CTA's j_-th) at K stage kk_, the CTA's it_-th stage.
  uint64_t w_;
  const uint64_t total_;
  uint64_t kk_ = 0;
  uint64_t it_ = 0;
  uint64_t j_ = 0;
  bool done_ = false;
};

}  // namespace

uint32_t gemm_marks_per_item(const GemmPlan& plan, const HwSpec& hw) {
  // Blackwell: each CTA's epilogue marks its item; Hopper and sm_120: each math warpgroup.
  return has_tcgen05(hw.arch) ? plan.cluster_size : math_warpgroups(plan);
}

Kernel gemm_kernel(const GemmPlan& plan, const HwSpec& hw, const GemmTensors& t,
                   const std::shared_ptr<GemmSkip>& skip) {
  Kernel k;
  k.name = fmt::format("gemm {}x{}x{} {} {}", plan.problem.m, plan.problem.n, plan.problem.k,
                       plan.problem.format.name, plan.tile.name());
  const uint64_t total = plan.work_items;
  // Stream-K launches every cluster, even with fewer items than clusters (they share K).
  k.clusters =
      plan.tile.stream_k ? plan.clusters : static_cast<uint32_t>(std::min<uint64_t>(plan.clusters, total));
  k.cluster_size = plan.cluster_size;
  k.resources = plan.resources;
  if (plan.tile.stream_k) {
    k.flags =
        static_cast<uint32_t>((plan.work_items - plan.dp_items) * plan.tile.cluster_n * (plan.pair ? 2 : 1));
  }
  const bool tcgen05 = has_tcgen05(hw.arch);
  const uint32_t cta_m = plan.pair ? plan.tile.tile_m / 2 : plan.tile.tile_m;
  const uint32_t cta_n = plan.pair ? plan.tile.tile_n / 2 : plan.tile.tile_n;
  k.program = [plan, hw, t, total, tcgen05, cta_m, cta_n, skip](uint32_t cluster) {
    return tcgen05 ? built_as_it_runs<BlackwellCluster>(plan, t, cta_m, cta_n, cluster, total, skip)
                   : built_as_it_runs<RegisterAccCta>(plan, t, hw, cta_m, cta_n, cluster, total, skip);
  };
  return k;
}

Kernel splitk_reduce_kernel(const GemmPlan& plan, const HwSpec& hw, const GemmTensors& t) {
  Kernel k;
  k.name = fmt::format("split-K reduce x{}", plan.tile.split_k);
  const uint32_t tm = 128;
  const uint32_t tn = 128;
  const auto tiles_m = static_cast<uint32_t>((plan.problem.m + tm - 1) / tm);
  const auto tiles_n = static_cast<uint32_t>((plan.problem.n + tn - 1) / tn);
  k.clusters = tiles_m * tiles_n;
  k.resources.smem_bytes = std::min<uint64_t>(uint64_t{tm} * tn * 4 * 2, hw.smem.max_per_cta.bytes);
  const GemmProblem p = plan.problem;
  const uint32_t split = plan.tile.split_k;
  k.program = [=](uint32_t index) {
    const int64_t row0 = int64_t{index / tiles_n} * tm;
    const int64_t col0 = int64_t{index % tiles_n} * tn;
    const int64_t rows = clamp_rows(row0, tm, p.m);
    const int64_t cols = clamp_rows(col0, tn, p.n);
    Role r{"reduce", {}};
    for (uint32_t s = 0; s < split; ++s) {
      r.ops.push_back(
          Op::tma_load(Region{t.workspace, static_cast<uint64_t>(s * p.m + row0), static_cast<uint64_t>(rows),
                              static_cast<uint64_t>(col0) * 4, static_cast<uint64_t>(cols) * 4},
                       0));
    }
    r.ops.push_back(Op::wait(0, 0));
    r.ops.push_back(Op::fma(static_cast<uint32_t>(rows * cols * split)));
    const int ob = gemm_out_bits(p.out);
    r.ops.push_back(
        Op::tma_store(Region{t.d, static_cast<uint64_t>(row0), static_cast<uint64_t>(rows),
                             static_cast<uint64_t>(col0) * ob / 8, static_cast<uint64_t>(cols) * ob / 8}));
    r.ops.push_back(Op::tma_store_wait());
    ClusterProgram prog;
    prog.ctas.push_back(CtaProgram{{r}, {split}});
    return prog;
  };
  return k;
}

}  // namespace bwsim
