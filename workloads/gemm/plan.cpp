#include "workloads/gemm/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>

#include "isa/mma.hpp"
#include "sim/errors.hpp"

namespace bwsim {

std::string TileConfig::name() const {
  // The --tile syntax, so that a reported plan can be forced back.
  std::string s = fmt::format("{}x{}x{}:stages={}", tile_m, tile_n, k_stage, stages);
  if (cluster_n > 1) s += fmt::format(":cluster={}", cluster_n);
  if (split_k > 1) s += fmt::format(":split={}", split_k);
  if (raster != 8) s += fmt::format(":raster={}", raster);
  if (swap_ab) s += ":swap";
  if (stream_k) s += ":streamk";
  if (grid > 0) s += fmt::format(":grid={}", grid);
  return s;
}

TileConfig parse_tile(std::string_view text) {
  TileConfig t;
  const auto bad = [&](std::string_view why) {
    return InputError(
        fmt::format("--tile {}: {} (expected "
                    "MxN[xK][:stages=S][:split=S][:cluster=C][:raster=R][:swap][:streamk][:grid=G])",
                    text, why));
  };
  std::string_view rest = text;
  const size_t colon = rest.find(':');
  std::string_view dims = rest.substr(0, colon);
  uint32_t v[3] = {0, 0, 0};
  int count = 0;
  while (!dims.empty()) {
    if (count == 3) throw bad("too many dimensions");
    const size_t x = dims.find('x');
    const std::string_view part = dims.substr(0, x);
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v[count]);
    if (ec != std::errc{} || p != part.data() + part.size() || v[count] == 0)
      throw bad("dimensions must be positive integers");
    ++count;
    dims = x == std::string_view::npos ? std::string_view{} : dims.substr(x + 1);
  }
  if (count < 2) throw bad("need at least MxN");
  t.tile_m = v[0];
  t.tile_n = v[1];
  t.k_stage = v[2];
  rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  while (!rest.empty()) {
    const size_t next = rest.find(':');
    const std::string_view kv = rest.substr(0, next);
    if (kv == "swap" || kv == "streamk") {
      (kv == "swap" ? t.swap_ab : t.stream_k) = true;
      rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
      continue;
    }
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) throw bad(fmt::format("'{}' is not key=value", kv));
    const std::string_view key = kv.substr(0, eq);
    const std::string_view val = kv.substr(eq + 1);
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), n);
    if (ec != std::errc{} || p != val.data() + val.size() || n == 0)
      throw bad(fmt::format("'{}' needs a positive integer", key));
    if (key == "stages") {
      t.stages = n;
    } else if (key == "split") {
      t.split_k = n;
    } else if (key == "raster") {
      t.raster = n;
    } else if (key == "cluster") {
      t.cluster_n = n;
    } else if (key == "grid") {
      t.grid = n;
    } else {
      throw bad(fmt::format("unknown key '{}'", key));
    }
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
  }
  return t;
}

uint64_t GemmPlan::k_per_split() const {
  const uint64_t k_split = (static_cast<uint64_t>(problem.k) + tile.split_k - 1) / tile.split_k;
  return (k_split + tile.k_stage - 1) / tile.k_stage * tile.k_stage;
}

std::pair<uint64_t, uint64_t> GemmPlan::k_range(uint32_t s) const {
  const auto k = static_cast<uint64_t>(problem.k);
  const uint64_t k0 = std::min(k, s * k_per_split());
  return {k0, std::min(k, k0 + k_per_split())};
}

namespace {
GemmProblem swapped(const GemmProblem& p) {
  GemmProblem q = p;
  std::swap(q.m, q.n);
  std::swap(q.format.a, q.format.b);
  return q;
}
}  // namespace

std::optional<uint32_t> GemmPlan::balanced_grid() const {
  if (tile.stream_k || tile.grid != 0 || work_items <= clusters) return std::nullopt;
  const uint64_t w = waves();
  const auto balanced = static_cast<uint32_t>((work_items + w - 1) / w);
  if (balanced >= clusters) return std::nullopt;
  return balanced;
}

GemmProblem GemmPlan::user_problem() const { return tile.swap_ab ? swapped(problem) : problem; }

uint64_t GemmPlan::k_iters(uint32_t s) const {
  const auto [k0, k1] = k_range(s);
  return (k1 - k0 + tile.k_stage - 1) / tile.k_stage;
}

// Raster order: bands of `raster` tile-rows, column-major within a band, so the tiles in flight
// share a few rows of A and a band of B (L2 reuse); split-K pieces of a tile adjacent. With
// multicast clusters a work item is a cluster tile (cluster_n tiles along N), and `tn` counts
// cluster tiles.
GemmWorkItem GemmPlan::work_item(uint64_t w) const {
  const uint64_t split = tile.split_k;
  const uint64_t t = w / split;
  const uint64_t group = std::max<uint32_t>(1, tile.raster);
  const uint64_t cols = tiles_n / tile.cluster_n;
  const uint64_t band = t / (group * cols);
  const uint64_t within = t % (group * cols);
  const uint64_t band_rows = std::min<uint64_t>(group, tiles_m - band * group);
  return {static_cast<uint32_t>(band * group + within % band_rows), static_cast<uint32_t>(within / band_rows),
          static_cast<uint32_t>(w % split)};
}

namespace {
// Stream-K: units are (item, K stage) pairs of the shared items in order; cluster c takes units
// [c U / C, (c + 1) U / C).
uint64_t unit_begin(uint64_t c, uint64_t units, uint64_t clusters) { return c * units / clusters; }
uint64_t cluster_of_unit(uint64_t u, uint64_t units, uint64_t clusters) {
  uint64_t c = u * clusters / units;
  while (c + 1 < clusters && unit_begin(c + 1, units, clusters) <= u) ++c;
  while (c > 0 && unit_begin(c, units, clusters) > u) --c;
  return c;
}
}  // namespace

std::vector<GemmSegment> GemmPlan::segments(uint32_t cluster, uint64_t total_work) const {
  std::vector<GemmSegment> out;
  if (!tile.stream_k) {
    for (uint64_t w = cluster; w < total_work; w += clusters) {
      const GemmWorkItem wi = work_item(w);
      out.push_back({w, 0, k_iters(wi.split), 0, 1, 0});
    }
    return out;
  }
  for (uint64_t w = cluster; w < dp_items; w += clusters) out.push_back({w, 0, k_iters(), 0, 1, 0});
  const uint64_t kit = k_iters();
  const uint64_t units = (work_items - dp_items) * kit;
  const uint64_t u1 = unit_begin(cluster + 1, units, clusters);
  for (uint64_t u = unit_begin(cluster, units, clusters); u < u1;) {
    const uint64_t i = u / kit;
    const uint64_t end = std::min(u1, (i + 1) * kit);
    const uint64_t first = cluster_of_unit(i * kit, units, clusters);
    const uint64_t last = cluster_of_unit((i + 1) * kit - 1, units, clusters);
    out.push_back({dp_items + i, u - i * kit, end - i * kit, static_cast<uint32_t>(cluster - first),
                   static_cast<uint32_t>(last - first + 1), i});
    u = end;
  }
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> GemmPlan::k_pieces(int64_t row, int64_t col) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (!tile.stream_k) {
    for (uint32_t s = 0; s < tile.split_k; ++s) out.push_back(k_range(s));
    return out;
  }
  const auto tm = static_cast<uint32_t>(row / tile.tile_m);
  const auto tn = static_cast<uint32_t>(col / tile.tile_n / tile.cluster_n);
  const uint64_t kit = k_iters();
  const uint64_t units = (work_items - dp_items) * kit;
  const auto k = static_cast<uint64_t>(problem.k);
  for (uint64_t w = dp_items; w < work_items; ++w) {
    const GemmWorkItem wi = work_item(w);
    if (wi.tm != tm || wi.tn != tn) continue;
    const uint64_t i = w - dp_items;
    const uint64_t first = cluster_of_unit(i * kit, units, clusters);
    const uint64_t last = cluster_of_unit((i + 1) * kit - 1, units, clusters);
    for (uint64_t c = first; c <= last; ++c) {
      const uint64_t a = std::max(unit_begin(c, units, clusters), i * kit) - i * kit;
      const uint64_t b = std::min(unit_begin(c + 1, units, clusters), (i + 1) * kit) - i * kit;
      out.emplace_back(std::min(k, a * tile.k_stage), std::min(k, b * tile.k_stage));
    }
    return out;
  }
  out.emplace_back(0, k);  // a data-parallel tile
  return out;
}

namespace {

constexpr uint64_t kEpilogueSmem = uint64_t{32} * 1024;  // epilogue staging buffers
constexpr uint64_t kBarrierSmem = 1024;

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// The problem's own checks (shape against the format's blocks, format against the GPU),
// independent of any tile; returns the format's math on this GPU.
GemmMath check_problem(const GemmProblem& p, const HwSpec& hw) {
  if (p.m <= 0 || p.n <= 0 || p.k <= 0) {
    throw InputError(
        fmt::format("GEMM shape M={} N={} K={}: every dimension must be positive", p.m, p.n, p.k));
  }
  if (p.m > kMaxGemmDim || p.n > kMaxGemmDim || p.k > kMaxGemmDim) {
    throw InputError(fmt::format("GEMM shape M={} N={} K={}: each dimension must be at most {} (2^24)", p.m,
                                 p.n, p.k, kMaxGemmDim));
  }
  const GemmMath m = gemm_math(p.format, hw.arch, hw.name);
  const int scale_k = std::max(m.a_scale_block, m.b_scale_block);
  if (scale_k > 0 && p.k % scale_k != 0) {
    throw InputError(fmt::format("K = {} is not a multiple of {}'s scale block ({} elements along K)", p.k,
                                 p.format.name, scale_k));
  }
  if ((p.k * std::min(m.a_bits, m.b_bits)) % 128 != 0) {
    throw InputError(
        fmt::format("K = {}: rows of {} must be a multiple of 16 bytes for TMA (K a multiple of {})", p.k,
                    p.format.name, 128 / std::min(m.a_bits, m.b_bits)));
  }
  if (m.b_scale_rows > 1 && p.n % m.b_scale_rows != 0) {
    throw InputError(fmt::format("N = {} is not a multiple of {}: {} weights have one scale per {}x{} block",
                                 p.n, m.b_scale_rows, p.format.name, m.b_scale_rows, m.b_scale_block));
  }
  if (p.out == GemmOut::kNvfp4 && p.n % 16 != 0) {
    throw InputError(fmt::format("N = {}: NVFP4 output needs N a multiple of 16", p.n));
  }
  return m;
}

}  // namespace

GemmPlan make_plan(const GemmProblem& p, const HwSpec& hw, TileConfig t) {
  if (t.swap_ab) {
    const GemmMath um = check_problem(p, hw);  // the user's shape checks, with the user's names
    const auto no = [&](std::string_view why) {
      return InputError(fmt::format("tile {}: swapping A and B is not modelled for {}", t.name(), why));
    };
    if (um.weight_only) throw no("weight-only formats (the narrow operand is dequantized as B)");
    if (um.block_fp8) throw no("block FP8 (1x128 and 128x128 scales are not symmetric)");
    if (p.out == GemmOut::kNvfp4) throw no("NVFP4 output (its scales run along N)");
    TileConfig u = t;
    u.swap_ab = false;
    GemmPlan plan = make_plan(swapped(p), hw, u);
    plan.problem.format.name = p.format.name;
    plan.tile.swap_ab = true;
    return plan;
  }
  GemmPlan plan;
  plan.problem = p;
  plan.math = check_problem(p, hw);
  const GemmMath& m = plan.math;
  const int scale_k = std::max(m.a_scale_block, m.b_scale_block);
  const bool tcgen05 = has_tcgen05(hw.arch);
  const bool hopper = has_wgmma(hw.arch);
  const int op_bits = mma_operand_bits(m.kind);
  // Tile shape: Blackwell pairs 256-row tiles over two SMs; Hopper and sm_120 use one CTA.
  if (t.tile_m == 0) t.tile_m = tcgen05 ? (p.m > 128 ? 256 : 128) : 128;
  if (t.tile_n == 0) t.tile_n = tcgen05 ? (p.n > 128 ? 256 : 128) : (hopper ? (p.n > 128 ? 256 : 128) : 128);
  if (t.k_stage == 0) t.k_stage = static_cast<uint32_t>(128 * 8 / op_bits);  // 128-byte rows per stage
  plan.pair = tcgen05 && t.tile_m == 256;
  if (t.cluster_n < 1) t.cluster_n = 1;
  plan.cluster_size = (plan.pair ? 2 : 1) * t.cluster_n;
  const uint32_t cta_m = plan.pair ? 128 : t.tile_m;
  const uint32_t cta_n = plan.pair ? t.tile_n / 2 : t.tile_n;
  // The instruction shapes the tile must decompose into.
  const auto tile_error = [&](std::string_view why) {
    return InputError(fmt::format("tile {}x{}x{} on {}: {}", t.tile_m, t.tile_n, t.k_stage, hw.name, why));
  };
  const int kinstr = mma_k(m.kind);
  if (t.k_stage % static_cast<uint32_t>(kinstr) != 0)
    throw tile_error(fmt::format("K per stage must be a multiple of {}", kinstr));
  if (scale_k > 0 && t.k_stage % static_cast<uint32_t>(scale_k) != 0)
    throw tile_error("K per stage must hold whole scale blocks");
  if (tcgen05) {
    if (t.tile_m != 128 && t.tile_m != 256)
      throw tile_error("Blackwell tiles are 128 (one SM) or 256 (a CTA pair) rows");
    MmaSpec s;
    s.arch = hw.arch;
    s.kind = m.kind;
    s.m = static_cast<int>(t.tile_m);
    s.n = static_cast<int>(t.tile_n);
    s.cta_group = plan.pair ? 2 : 1;
    s.tf32 = m.kind == MmaKind::kTf32;
    // shape only: formats were checked by gemm_math
    s.a = s.b = m.kind == MmaKind::kF16 ? ScalarFormat::kBF16 : ScalarFormat::kE4M3;
    if (m.kind == MmaKind::kMxF4 || m.kind == MmaKind::kMxF4NvF4) s.a = s.b = ScalarFormat::kE2M1;
    if (m.kind == MmaKind::kI8) s.a = s.b = ScalarFormat::kINT8;
    if (m.kind == MmaKind::kMxF8F6F4 || m.kind == MmaKind::kMxF4) {
      s.scale = ScalarFormat::kUE8M0;
      s.scale_block = 32;
    }
    if (m.kind == MmaKind::kMxF4NvF4) {
      s.scale = ScalarFormat::kUE4M3;
      s.scale_block = 16;
    }
    if (auto why = mma_invalid_reason(s)) throw tile_error(*why);
  } else {
    if (t.tile_m % 64 != 0 || t.tile_n % 8 != 0 || t.tile_n > 256)
      throw tile_error("tiles are multiples of 64 x 8, N up to 256");
  }
  // Pipeline stages from SMEM: A and B (B also narrow, for weight-only), scales.
  const uint64_t a_stage = uint64_t{cta_m} * t.k_stage * op_bits / 8;
  uint64_t b_stage = uint64_t{cta_n} * t.k_stage * op_bits / 8;
  if (m.weight_only) b_stage += uint64_t{cta_n} * t.k_stage * m.b_bits / 8;  // narrow copy + BF16 copy
  uint64_t sf_stage = 0;
  if (m.a_scale_block > 0) sf_stage += uint64_t{cta_m} * (t.k_stage / m.a_scale_block) * m.a_scale_bytes;
  if (m.b_scale_block > 0) sf_stage += uint64_t{cta_n} * (t.k_stage / m.b_scale_block) * m.b_scale_bytes;
  plan.stage_bytes = a_stage + b_stage + sf_stage;
  const uint64_t budget = hw.smem.max_per_cta.bytes - kEpilogueSmem - kBarrierSmem;
  const uint64_t fit = budget / plan.stage_bytes;
  if (t.stages == 0) t.stages = static_cast<uint32_t>(std::min<uint64_t>(8, fit));
  if (t.stages < 2 || t.stages > fit) {
    throw tile_error(
        fmt::format("{} stages of {} B do not fit in {} of shared memory with the epilogue (at most {})",
                    std::max(t.stages, 2u), plan.stage_bytes, to_string(hw.smem.max_per_cta), fit));
  }
  plan.tile = t;
  if (t.split_k < 1 || static_cast<int64_t>(t.split_k - 1) * static_cast<int64_t>(plan.k_per_split()) >= p.k)
    throw tile_error(
        fmt::format("split={} leaves a split without K (K = {} in stages of {})", t.split_k, p.k, t.k_stage));
  plan.tiles_m = static_cast<uint32_t>(ceil_div(static_cast<uint64_t>(p.m), t.tile_m));
  plan.tiles_n = static_cast<uint32_t>(ceil_div(static_cast<uint64_t>(p.n), t.tile_n));
  if (t.cluster_n > 1) {
    if (!plan.pair || m.weight_only) {
      throw tile_error("multicast clusters are for CTA-pair tiles (256 rows) of tensor-core formats");
    }
    if (!hw.tma.multicast) throw tile_error("clusters share A by TMA multicast, and tma.multicast is off");
    if (plan.cluster_size > hw.sm.max_cluster) {
      throw tile_error(fmt::format("a cluster of {} CTAs exceeds sm.max_cluster ({})", plan.cluster_size,
                                   hw.sm.max_cluster));
    }
    if (plan.tiles_n % t.cluster_n != 0) throw tile_error("the tiles along N must divide into clusters");
    if (uint64_t{t.k_stage} * m.a_bits / 8 % (uint64_t{16} * t.cluster_n) != 0) {
      throw tile_error("each CTA's multicast share of an A stage must be a multiple of 16 bytes");
    }
  }
  plan.work_items = uint64_t{plan.tiles_m} * (plan.tiles_n / t.cluster_n) * t.split_k;
  const uint32_t full = hw.sm.count / plan.cluster_size;
  if (full == 0) {
    throw tile_error(fmt::format("a cluster of {} CTAs needs more than the {} SMs of {}", plan.cluster_size,
                                 hw.sm.count, hw.name));
  }
  if (t.grid > full) {
    throw tile_error(fmt::format("grid={} clusters of {} CTAs exceed the {} SMs of {}", t.grid,
                                 plan.cluster_size, hw.sm.count, hw.name));
  }
  const uint32_t grid = t.grid > 0 ? t.grid : full;
  plan.clusters = static_cast<uint32_t>(std::min<uint64_t>(plan.work_items, grid));
  if (t.stream_k) {
    if (!tcgen05) throw tile_error("stream-K is modelled for Blackwell (tcgen05) kernels only");
    if (t.split_k > 1) throw tile_error("stream-K replaces split-K: give one of them");
    // Every cluster works; the full waves run whole, the partial wave's K stages are shared.
    plan.clusters = grid;
    if (plan.work_items % plan.clusters == 0) {
      throw tile_error(
          fmt::format("{} work items fill {} clusters in whole waves: nothing for stream-K to even out",
                      plan.work_items, plan.clusters));
    }
    // "Two-tile" stream-K (Osama et al., 2023): the last full wave joins the partial one, so each
    // cluster shares 1-2 items' worth of K; balancing one item's worth left the variance of the
    // data-parallel wave's memory stalls in the tail (simulated M = 64 decode: 87% -> 92% of TMA
    // bandwidth).
    plan.dp_items =
        plan.work_items / plan.clusters > 0 ? (plan.work_items / plan.clusters - 1) * plan.clusters : 0;
    if ((plan.work_items - plan.dp_items) * plan.k_iters() < plan.clusters) {
      throw tile_error(
          fmt::format("the last wave's {} items of {} K stages cannot give each of {} clusters a stage",
                      plan.work_items - plan.dp_items, plan.k_iters(), plan.clusters));
    }
    for (uint32_t c = 0; c < plan.clusters; ++c) {
      for (const GemmSegment& g : plan.segments(c, plan.work_items))
        plan.sk_partials = std::max(plan.sk_partials, g.pieces - 1);
    }
  }
  plan.resources.smem_bytes = t.stages * plan.stage_bytes + kEpilogueSmem + kBarrierSmem;
  plan.resources.threads = hopper ? 384 : 256;
  plan.resources.registers_per_thread = hopper ? 168 : 128;
  if (tcgen05) {
    // Two accumulator buffers let the epilogue overlap the next tile; block-scaled kinds also
    // keep their scale factors in TMEM.
    const uint32_t sf_cols = m.a_scale_block > 0 && !m.block_fp8 ? 32 : 0;
    const uint32_t two = std::bit_ceil(2 * t.tile_n + sf_cols);
    plan.resources.tmem_columns = two <= hw.tmem.columns ? two : std::bit_ceil(t.tile_n + sf_cols);
    if (plan.resources.tmem_columns > hw.tmem.columns)
      throw tile_error("the accumulator does not fit in TMEM");
  }
  return plan;
}

std::vector<GemmPlan> candidate_plans(const GemmProblem& p, const HwSpec& hw) {
  std::vector<TileConfig> configs;
  const bool tcgen05 = has_tcgen05(hw.arch);
  const std::vector<uint32_t> ms = tcgen05 ? std::vector<uint32_t>{256, 128} : std::vector<uint32_t>{128};
  const std::vector<uint32_t> ns =
      has_wgmma(hw.arch) || tcgen05 ? std::vector<uint32_t>{256, 128, 64} : std::vector<uint32_t>{128, 64};
  // K per stage: 128-byte operand rows (the widest TMA swizzle), or 64-byte rows where SMEM is
  // small (sm_120's 99 KiB holds too few 128-byte stages of a 128x128 tile).
  std::vector<uint32_t> ks{0};
  try {
    const uint32_t bits = static_cast<uint32_t>(mma_operand_bits(gemm_math(p.format, hw.arch, hw.name).kind));
    ks = {128 * 8 / bits, 64 * 8 / bits};
  } catch (const InputError&) {
    // the format does not run here; make_plan below says why
  }
  // Skinny M (decode): also the swapped view, weights along the MMA's M and the tokens along a
  // narrow N (tile_n from 16 up to M rounded up).
  std::vector<uint32_t> swap_ns;
  if (p.m <= 64) {
    for (uint32_t n = 16; n <= 64; n *= 2) {
      swap_ns.push_back(n);
      if (n >= p.m) break;
    }
  }
  for (const bool swap : {false, true}) {
    for (uint32_t tm : ms) {
      for (uint32_t tn : swap ? swap_ns : ns) {
        for (uint32_t kst : ks) {
          for (uint32_t split : {1u, 2u, 4u, 8u, 16u}) {
            for (uint32_t cn : {1u, 2u, 4u}) {
              if (cn > 1 && (tm != 256 || split > 1 || !hw.tma.multicast)) continue;
              TileConfig t;
              t.tile_m = tm;
              t.tile_n = tn;
              t.k_stage = kst;
              t.split_k = split;
              t.cluster_n = cn;
              t.swap_ab = swap;
              configs.push_back(t);
            }
          }
        }
      }
    }
  }
  std::vector<GemmPlan> plans;
  for (const TileConfig& t : configs) {
    try {
      GemmPlan plan = make_plan(p, hw, t);
      // Split-K only helps when the tiles alone leave SMs idle, or fill the last of a few waves
      // poorly (skinny decode shapes).
      const uint64_t tiles = uint64_t{plan.tiles_m} * plan.tiles_n;
      if (t.split_k > 1 && tiles * (plan.pair ? 2 : 1) >= 4 * uint64_t{hw.sm.count}) continue;
      if (t.split_k > 1 && plan.k_iters() < 4) continue;
      // Stream-K where the last wave would leave clusters idle, for skinny shapes (decode: the
      // GEMM streams its weights, and idle clusters leave HBM idle) of a few waves (simulated
      // whole; the tail weighs most there). On compute-bound shapes its fix-ups cost more than
      // the tail it saves (simulated: 1-3% slower at M = 1024).
      const uint64_t full = hw.sm.count / plan.cluster_size;  // 0 on a GPU smaller than the cluster
      const bool sk = tcgen05 && full > 0 && std::min(p.m, p.n) <= 256 && t.split_k == 1 &&
                      plan.work_items % full != 0 && plan.work_items <= 8 * full && plan.k_iters() >= 4;
      const uint64_t items = plan.work_items;
      // Data-parallel waves balanced over fewer clusters (GemmPlan::balanced_grid), with less
      // traffic contending in each wave: a larger GPU keeps the smaller one's balanced plan.
      const std::optional<uint32_t> balanced = plan.balanced_grid();
      plans.push_back(std::move(plan));
      if (balanced) {
        TileConfig b = t;
        b.grid = *balanced;
        plans.push_back(make_plan(p, hw, b));
      }
      if (sk) {
        TileConfig s = t;
        s.stream_k = true;
        plans.push_back(make_plan(p, hw, s));
        // Stream-K on fewer clusters: a whole number of clusters per item (2, 3, 4), so each
        // item's K is shared evenly with at most one fix-up per piece, as on a GPU with that many
        // SMs. The grid sizes depend on the problem, not on the GPU: a larger GPU offers every
        // one a smaller GPU does.
        for (uint64_t per = 2; per <= 4 && per * items < full; ++per) {
          s.grid = static_cast<uint32_t>(per * items);
          plans.push_back(make_plan(p, hw, s));
        }
      }
    } catch (const InputError&) {
      // a configuration that does not fit this problem or GPU is not a candidate
    }
  }
  if (plans.empty()) plans.push_back(make_plan(p, hw, {}));  // rethrows the real reason
  return plans;
}

GemmTensors allocate_gemm(Gpu& gpu, const GemmPlan& plan) {
  const GemmProblem& p = plan.problem;
  const GemmMath& m = plan.math;
  const auto rows = [](int64_t r) { return static_cast<uint64_t>(r); };
  GemmTensors t;
  // A and B are read in boxes of k_stage elements along K.
  t.a =
      gpu.amap.allocate("A", rows(p.m), rows(p.k) * m.a_bits / 8, uint64_t{plan.tile.k_stage} * m.a_bits / 8);
  t.b =
      gpu.amap.allocate("B", rows(p.n), rows(p.k) * m.b_bits / 8, uint64_t{plan.tile.k_stage} * m.b_bits / 8);
  // Scale factors in the layouts the kernels read. Block-scaled MMAs: cuBLAS/CUTLASS's 128x4
  // tiles, so that the scales of a 128-row block for all of K are contiguous (one "row" here per
  // 128 rows of the operand). DeepGEMM block FP8: A's float scales M-major (a row of M per
  // 128-K block), B's one per 128x128 block.
  if (m.a_scale_block > 0) {
    // A stage reads a piece of one row of them: blocks shaped to that piece.
    t.sfa = m.block_fp8
                ? gpu.amap.allocate("SFA", rows(p.k) / 128, rows(p.m) * 4)
                : gpu.amap.allocate("SFA", ceil_div(rows(p.m), 128),
                                    rows(p.k) / m.a_scale_block * m.a_scale_bytes * 128,
                                    uint64_t{plan.tile.k_stage} / m.a_scale_block * m.a_scale_bytes * 128);
    t.has_sfa = true;
  }
  if (m.b_scale_block > 0) {
    t.sfb = m.block_fp8
                ? gpu.amap.allocate("SFB", ceil_div(rows(p.n), 128), rows(p.k) / 128 * 4)
                : gpu.amap.allocate("SFB", ceil_div(rows(p.n), 128),
                                    rows(p.k) / m.b_scale_block * m.b_scale_bytes * 128,
                                    uint64_t{plan.tile.k_stage} / m.b_scale_block * m.b_scale_bytes * 128);
    t.has_sfb = true;
  }
  t.d = gpu.amap.allocate("D", rows(p.m), rows(p.n) * gemm_out_bits(p.out) / 8);
  if (p.out == GemmOut::kNvfp4) {  // UE4M3 per 16 outputs, 128x4-tiled like the inputs' scales
    t.sfd = gpu.amap.allocate("SFD", ceil_div(rows(p.m), 128), rows(p.n) / 16 * 128);
    t.has_sfd = true;
  }
  if (plan.tile.split_k > 1) {
    t.workspace = gpu.amap.allocate("split-K partials", rows(p.m) * plan.tile.split_k, rows(p.n) * 4);
    t.has_workspace = true;
  }
  if (plan.sk_partials > 0) {  // one slot of M x N FP32 per partial an item takes
    t.workspace = gpu.amap.allocate("stream-K partials", rows(p.m) * plan.sk_partials, rows(p.n) * 4);
    t.has_workspace = true;
  }
  return t;
}

}  // namespace bwsim
