// GEMM problems, tile configurations, and the kernels a configuration becomes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "isa/program.hpp"
#include "models/gpu.hpp"
#include "workloads/gemm/format.hpp"

namespace bwsim {

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
  /// Swap A and B (compute D^T = B A^T): the weights fill the MMA's 128-row side and the few
  /// tokens of a decode step its narrow N side, instead of padding M up to 128 (what cuBLAS and
  /// TensorRT-LLM do for small M). Tile sizes are then in the swapped view: tile_m runs along N.
  bool swap_ab = false;
  [[nodiscard]] std::string name() const;
};

/// "256x256", "128x128x64", "256x128:stages=4:split=2:raster=4", "128x16:swap". Throws InputError
/// naming --tile.
TileConfig parse_tile(std::string_view text);

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
  CtaResources resources;
  /// K per split, rounded up to whole stages so that splits start on stage boundaries.
  [[nodiscard]] uint64_t k_per_split() const;
  /// [k0, k1) of split `s` (the last split may be shorter).
  [[nodiscard]] std::pair<uint64_t, uint64_t> k_range(uint32_t s) const;
  /// Stages of K in split `s`.
  [[nodiscard]] uint64_t k_iters(uint32_t s = 0) const;
  /// The problem as the user posed it (`problem` with any swap undone).
  [[nodiscard]] GemmProblem user_problem() const;
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

/// The main kernel of `plan` (Blackwell tcgen05, Hopper wgmma or sm_120 mma.sync), limited to
/// `max_work` work items if nonzero (used to estimate a configuration from a partial run).
Kernel gemm_kernel(const GemmPlan& plan, const HwSpec& hw, const GemmTensors& t, uint64_t max_work = 0);
/// The split-K reduction kernel (only when plan.tile.split_k > 1).
Kernel splitk_reduce_kernel(const GemmPlan& plan, const HwSpec& hw, const GemmTensors& t);

}  // namespace bwsim
