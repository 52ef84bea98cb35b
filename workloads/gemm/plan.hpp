// GEMM problems, tile configurations, and the kernels a configuration becomes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "isa/program.hpp"
#include "models/gpu.hpp"
#include "workloads/gemm/format.hpp"

namespace bwsim {

/// The largest M, N or K a GEMM may have: the address map tracks at most 2^28 block rows of a
/// tensor, and 2^24 per dimension stays inside it for every format (16.7 M tokens, features or K).
constexpr int64_t kMaxGemmDim = int64_t{1} << 24;

/// D[M x N] = A[M x K] * B[N x K]^T (the TN layout block-scaled MMAs need).
struct GemmProblem {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  GemmFormat format;
  GemmOut out = GemmOut::kBf16;
  [[nodiscard]] double flops() const {
    return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  }
};

/// How the work is cut up; 0 fields mean "planner's choice".
struct TileConfig {
  uint32_t tile_m = 0;  // rows of one output tile (Blackwell: 256 = a CTA pair, or 128)
  uint32_t tile_n = 0;
  uint32_t k_stage = 0;    // K elements per pipeline stage
  uint32_t stages = 0;     // pipeline depth (0: as many as SMEM allows, up to 8)
  uint32_t split_k = 1;    // K split over CTAs, partials reduced by a second kernel
  uint32_t cluster_n = 1;  // Blackwell: CTA pairs per cluster along N, sharing A by TMA multicast
  uint32_t raster = 8;     // tile-rows per raster band (L2 reuse)
  /// Most clusters launched (0: as many as the GPU holds): a persistent kernel may be launched on
  /// fewer SMs than the GPU has (CUTLASS's KernelHardwareInfo::sm_count). The planner offers it
  /// for stream-K (which otherwise spreads the last wave over every cluster and pays more
  /// fix-ups the more SMs there are) and for data-parallel plans (balanced waves, the grids of
  /// smaller GPUs): the plan a smaller GPU would run stays available on a larger one.
  uint32_t grid = 0;
  /// Swap A and B (compute D^T = B A^T): the weights fill the MMA's 128-row side and the few
  /// tokens of a decode step its narrow N side, instead of padding M up to 128 (what cuBLAS and
  /// TensorRT-LLM do for small M). Tile sizes are then in the swapped view: tile_m runs along N.
  bool swap_ab = false;
  /// Stream-K (Blackwell): the full waves of tiles run data-parallel; the K stages of the tiles
  /// of the last, partial wave are spread evenly over every cluster. A tile split between
  /// clusters is finished by the one holding its first K stages, which adds the others' FP32
  /// partials (from a workspace, once their global flags say they are stored) before the epilogue.
  bool stream_k = false;
  [[nodiscard]] std::string name() const;
};

/// "256x256", "128x128x64", "256x128:stages=4:split=2:raster=4", "128x16:swap", "256x64:streamk",
/// "256x32:swap:streamk:grid=80".
/// Throws InputError naming --tile.
TileConfig parse_tile(std::string_view text);

/// A work item's place: tile row, cluster-tile column (cluster_n tiles along N), split-K slice.
struct GemmWorkItem {
  uint32_t tm = 0;
  uint32_t tn = 0;
  uint32_t split = 0;
};

/// The part of a work item one cluster computes: all of it, or (stream-K) a run of its K stages.
struct GemmSegment {
  uint64_t item = 0;
  uint64_t kk0 = 0, kk1 = 0;  // K stages [kk0, kk1) of the item's split
  uint32_t piece = 0;         // stream-K: 0 is the owner (the item's first K stages); others are partials
  uint32_t pieces = 1;        // clusters sharing the item
  uint64_t sk_index = 0;      // stream-K items: item - dp_items
};

/// A resolved plan: the configuration with everything derived from it.
struct GemmPlan {
  GemmProblem problem;  // as the kernel sees it: M and N, A and B exchanged when tile.swap_ab
  GemmMath math;        // for `problem`
  TileConfig tile;
  bool pair = false;  // CTA-pair tiles (cta_group::2)
  uint32_t cluster_size = 1;
  uint32_t tiles_m = 0;
  uint32_t tiles_n = 0;
  uint64_t work_items = 0;   // cluster tiles (cluster_n tiles along N) x split_k
  uint32_t clusters = 0;     // persistent clusters launched
  uint64_t stage_bytes = 0;  // SMEM per stage per CTA
  uint64_t dp_items = 0;     // stream-K: work items run whole (the full waves); the rest are shared
  uint32_t sk_partials = 0;  // stream-K: most partials any item takes from other clusters
  CtaResources resources;
  /// K per split, rounded up to whole stages so that splits start on stage boundaries.
  [[nodiscard]] uint64_t k_per_split() const;
  /// [k0, k1) of split `s` (the last split may be shorter).
  [[nodiscard]] std::pair<uint64_t, uint64_t> k_range(uint32_t s) const;
  /// Stages of K in split `s`.
  [[nodiscard]] uint64_t k_iters(uint32_t s = 0) const;
  /// The problem as the user posed it (`problem` with any swap undone).
  [[nodiscard]] GemmProblem user_problem() const;
  /// Waves of work items over the clusters (the last may be partial).
  [[nodiscard]] uint64_t waves() const { return (work_items + clusters - 1) / clusters; }
  /// Kernels the plan launches: the main one, and the split-K reduction.
  [[nodiscard]] size_t kernels() const { return tile.split_k > 1 ? 2 : 1; }
  /// A data-parallel plan of several waves on the full grid: its waves balanced over fewer
  /// clusters, ceil(work_items / waves), where that is fewer (the same waves with every cluster
  /// busy to the end; the grid any GPU with enough SMs for those waves gives it). Else nullopt.
  [[nodiscard]] std::optional<uint32_t> balanced_grid() const;
  /// Work item `w` in raster order.
  [[nodiscard]] GemmWorkItem work_item(uint64_t w) const;
  /// What cluster `cluster` computes, in order, of the first `total_work` items (all of them
  /// with stream-K).
  [[nodiscard]] std::vector<GemmSegment> segments(uint32_t cluster, uint64_t total_work) const;
  /// The K ranges whose FP32 sums make output (row, col) of `problem`, in the order they are
  /// added: split-K slices, or a stream-K item's owner piece and then its partials.
  [[nodiscard]] std::vector<std::pair<uint64_t, uint64_t>> k_pieces(int64_t row, int64_t col) const;
};

/// Checks `p` (shape against the format's blocks, format against the GPU) and resolves `t`
/// (zeros filled in) on `hw`. Throws InputError with a clear message.
GemmPlan make_plan(const GemmProblem& p, const HwSpec& hw, TileConfig t);

/// Candidate configurations for `p` on `hw`, each resolved.
std::vector<GemmPlan> candidate_plans(const GemmProblem& p, const HwSpec& hw);

/// Tensors of one GEMM in a GPU's address space.
struct GemmTensors {
  uint32_t a = 0, b = 0, sfa = 0, sfb = 0, d = 0, sfd = 0, workspace = 0;
  bool has_sfa = false, has_sfb = false, has_sfd = false, has_workspace = false;
};
GemmTensors allocate_gemm(Gpu& gpu, const GemmPlan& plan);

/// Steady-state sampling of a GEMM kernel (workloads/gemm/gemm.cpp): once its waves repeat, every
/// cluster skips the same number of its work items, from its `at`-th on, and the simulator adds
/// the skipped waves' time and counts from the measured steady state. The kernel's program
/// builders (each cluster's, built as it runs) call begin() as they reach each item, so the
/// sampler knows which items no cluster has begun and may still be skipped.
struct GemmSkip {
  uint64_t at = UINT64_MAX;  // a cluster's item ordinal where the skip happens (UINT64_MAX: none)
  uint64_t items = 0;        // ordinals every cluster skips there
  uint64_t built = 0;        // the highest ordinal any cluster's program has begun
  /// A builder begins its item of ordinal `j` (counted before any skip): how many to skip here.
  uint64_t begin(uint64_t j) {
    built = std::max(built, j);
    return j == at ? items : 0;
  }
};

/// The main kernel of `plan` (Blackwell tcgen05, Hopper wgmma or sm_120 mma.sync). Each CTA
/// marks (kMark, id j) when its j-th work item's accumulator is drained (j counts the items it
/// ran: skipped ones are not counted). `skip`, when given, may skip items (GemmSkip).
Kernel gemm_kernel(const GemmPlan& plan, const HwSpec& hw, const GemmTensors& t,
                   const std::shared_ptr<GemmSkip>& skip = nullptr);
/// How many kMark ops each cluster of gemm_kernel(plan) records per work item.
uint32_t gemm_marks_per_item(const GemmPlan& plan, const HwSpec& hw);
/// The split-K reduction kernel (only when plan.tile.split_k > 1).
Kernel splitk_reduce_kernel(const GemmPlan& plan, const HwSpec& hw, const GemmTensors& t);

}  // namespace bwsim
