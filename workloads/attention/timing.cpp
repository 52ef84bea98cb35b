#include "workloads/attention/timing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <queue>

#include "isa/mma.hpp"
#include "models/governor.hpp"
#include "sim/errors.hpp"
#include "sim/parallel.hpp"

namespace bwsim {
namespace {

// FMA-pipe operations per score element besides exp2: the row max, the scale-and-subtract FFMA,
// the row sum, and half a conversion (two P values pack per cvt).
constexpr double kSoftmaxFmaPerElement = 3.5;
// FMA-pipe operations of one exp2 by polynomial (FA4: Cody-Waite range reduction, a degree-3
// polynomial by Horner, the exponent added back).
constexpr double kPolyExp2Fma = 4;
// Dequantizing one KV element (packed conversion and scale multiply), rotating one rotary element
// (x cos - y sin: two FMAs and a pack), writing one quantized element (amax, scale, convert).
constexpr uint32_t kDequantFma = 1;  // packed cvt (2 per op) + packed scale multiply (2 per op)
constexpr uint32_t kRopeFma = 3;
constexpr uint32_t kQuantizeFma = 3;

uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

struct Dims {
  uint32_t dqk = 0, dv = 0;
  uint32_t shared = 0;  // the last `shared` of K's dqk dims: MLA's rope key, one per token for all heads
  int kv_bits = 16;     // element bits in the cache, scales apart
  int block = 0;        // elements per scale along head_dim (0: none)
  int rot = 0;          // rotary dims

  [[nodiscard]] uint32_t k_own() const { return dqk - shared; }  // K dims each KV head stores
  // Bytes per token of `dims` elements in the cache, and of their scales.
  [[nodiscard]] uint64_t bytes(uint32_t dims) const {
    return uint64_t{dims} * static_cast<uint64_t>(kv_bits) / 8;
  }
  [[nodiscard]] uint64_t scale_bytes(uint32_t dims) const {
    return block > 0 ? dims / static_cast<uint64_t>(block) : 0;
  }
};

Dims dims_of(const AttentionProblem& p) {
  Dims d;
  d.dqk = static_cast<uint32_t>(p.qk_dim());
  d.dv = static_cast<uint32_t>(p.v_dim());
  d.shared = static_cast<uint32_t>(p.rope_dim);
  switch (p.kv) {
    case KvFormat::kBf16:
      d.kv_bits = 16;
      break;
    case KvFormat::kFp8Tensor:
    case KvFormat::kFp8Head:
    case KvFormat::kMxfp8:
      d.kv_bits = 8;
      break;
    case KvFormat::kNvfp4:
    case KvFormat::kMxfp4:
      d.kv_bits = 4;
      break;
  }
  d.block = kv_block(p.kv);
  if (p.rope)
    d.rot = rope_table(*p.rope, static_cast<int>(p.rope_head_dim()), p.seq, p.rope_precision).rot_dim;
  return d;
}

// One CTA's work: query rows [q0, q0 + rows) of head `head` (prefill) or the packed rows of KV
// head `kvh` (decode), against KV blocks [block0, block0 + blocks).
struct Item {
  uint32_t b = 0;
  uint32_t head = 0;  // query head (prefill); first query head of the group (decode)
  uint32_t kvh = 0;
  int64_t q0 = 0;
  uint32_t rows = 0;
  uint32_t block0 = 0;
  uint32_t blocks = 0;
  uint32_t split = 0;
  int64_t mask_from = std::numeric_limits<int64_t>::max();  // blocks holding a key past this need the mask
  int64_t mask_below = 0;  // sliding window: blocks holding a key before this need the mask
};

// Bytes of K and V the prefill schedulers plan to keep in L2 (FA4: 50 MB on Blackwell; FA3:
// 32 MB on Hopper against twice a KV head's bytes, i.e. 16 MB).
constexpr uint64_t kL2BudgetTcgen05 = uint64_t{50} << 20;
constexpr uint64_t kL2BudgetHopper = uint64_t{16} << 20;

// KV blocks a decode CTA group walks: the whole cache, or from the first query's window start.
uint64_t decode_blocks(const AttentionProblem& p, const AttentionPlan& pl) {
  return cdiv(static_cast<uint64_t>(p.seq), pl.block_n) -
         static_cast<uint64_t>(p.key_begin(p.first_query())) / pl.block_n;
}

std::vector<Item> work_items(const AttentionProblem& p, const AttentionPlan& pl, const Dims& d) {
  std::vector<Item> items;
  const auto B = static_cast<uint32_t>(p.batch);
  const auto H = static_cast<uint32_t>(p.heads);
  const auto G = static_cast<uint32_t>(p.kv_heads);
  if (pl.decode) {
    // A sliding window: the blocks from the first query's window start.
    const uint64_t first = static_cast<uint64_t>(p.key_begin(p.first_query())) / pl.block_n;
    const uint64_t all_blocks = decode_blocks(p, pl);
    const uint64_t per = cdiv(all_blocks, pl.splits);
    for (uint32_t b = 0; b < B; ++b) {
      for (uint32_t g = 0; g < G; ++g) {
        for (uint32_t s = 0; s < pl.splits; ++s) {
          for (uint32_t rt = 0; rt < pl.row_tiles; ++rt) {
            Item it;
            it.b = b;
            it.kvh = g;
            it.head = g * static_cast<uint32_t>(p.group());
            it.q0 = int64_t{rt} * pl.rows;  // packed rows are head-major, so a slice is contiguous in Q and O
            it.rows = std::min(pl.rows, pl.packed - rt * pl.rows);
            it.block0 = static_cast<uint32_t>(first + s * per);
            it.blocks =
                static_cast<uint32_t>(std::min(all_blocks, (s + 1) * per) - std::min(all_blocks, s * per));
            it.split = s;
            if (p.causal) it.mask_from = p.first_query();
            it.mask_below = p.key_begin(p.seq - 1);
            if (it.blocks > 0) items.push_back(it);
          }
        }
      }
    }
    return items;
  }
  const uint64_t cta_rows = uint64_t{pl.tile_m} * pl.q_tiles;
  const uint64_t tiles = cdiv(static_cast<uint64_t>(p.q_len), cta_rows);
  // L2-aware order, as FA3's and FA4's tile schedulers: the heads are cut into sections of as
  // many KV heads as fit the L2 budget (a power of two, at least one), and a section's query
  // heads run innermost, so the CTAs resident together share their K and V in L2. Within a
  // section, causal layers take the longest query tiles (the last) first. Batches outermost.
  // (A sliding window's or a chunk's CTAs share at most a span and a tile of keys.)
  const uint64_t live_keys = p.span() < p.seq ? std::min<uint64_t>(static_cast<uint64_t>(p.seq),
                                                                   static_cast<uint64_t>(p.span()) + cta_rows)
                                              : static_cast<uint64_t>(p.seq);
  const uint64_t kv_head_bytes = live_keys * (uint64_t{d.dqk} + d.dv) * 2;
  const uint64_t budget = pl.tmem ? kL2BudgetTcgen05 : kL2BudgetHopper;
  uint64_t fit = 1;
  while (kv_head_bytes * fit * 2 <= budget) fit *= 2;
  const uint32_t section =
      static_cast<uint32_t>(std::min<uint64_t>(fit, G)) * static_cast<uint32_t>(p.group());
  for (uint32_t b = 0; b < B; ++b) {
    for (uint32_t h0 = 0; h0 < H; h0 += section) {
      for (uint64_t i = 0; i < tiles; ++i) {
        const uint64_t t = p.causal ? tiles - 1 - i : i;
        for (uint32_t h = h0; h < std::min(H, h0 + section); ++h) {
          Item it;
          it.b = b;
          it.head = h;
          it.kvh = h / static_cast<uint32_t>(p.group());
          it.q0 = static_cast<int64_t>(t * cta_rows);
          it.rows = static_cast<uint32_t>(
              std::min<uint64_t>(cta_rows, static_cast<uint64_t>(p.q_len) - t * cta_rows));
          const int64_t last_key = p.causal ? p.first_query() + it.q0 + it.rows : p.seq;
          // A sliding window: from the block of the first row's window start.
          it.block0 =
              static_cast<uint32_t>(static_cast<uint64_t>(p.key_begin(p.first_query() + it.q0)) / pl.block_n);
          it.blocks = static_cast<uint32_t>(cdiv(static_cast<uint64_t>(last_key), pl.block_n) - it.block0);
          if (p.causal) it.mask_from = p.first_query() + it.q0;
          it.mask_below = p.key_begin(p.first_query() + it.q0 + it.rows - 1);
          items.push_back(it);
        }
      }
    }
  }
  return items;
}

constexpr uint64_t kScaleChunk = 128;

// The scale rows of keys [key0, key0 + keys) of KV head `bg` (a flat batch x head index).
std::vector<Region> scale_regions(uint32_t tensor, const AttentionProblem& p, uint64_t bg, uint64_t key0,
                                  uint64_t keys, uint64_t per_key) {
  std::vector<Region> out;
  const uint64_t chunks = cdiv(static_cast<uint64_t>(p.seq), kScaleChunk);
  while (keys > 0) {
    const uint64_t within = key0 % kScaleChunk;
    const uint64_t run = std::min(keys, kScaleChunk - within);
    out.push_back(Region{tensor, bg * chunks + key0 / kScaleChunk, 1, within * per_key, run * per_key});
    key0 += run;
    keys -= run;
  }
  return out;
}

struct Tensors {
  uint32_t q = 0, k = 0, v = 0, ks = 0, vs = 0, o = 0, ws = 0, knew = 0;
  uint32_t k_rope = 0;  // MLA's shared rope key: a row per (batch, token), its scales inline
  bool scales = false, workspace = false, shared_rope = false;
};

Tensors allocate(Gpu& gpu, const AttentionProblem& p, const AttentionPlan& pl, const Dims& d) {
  Tensors t;
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const uint64_t qrows = u(p.batch) * u(p.heads) * u(p.q_len);
  const uint64_t caches = p.latent_kv ? 1 : u(p.kv_heads);  // KV caches per sequence
  const uint64_t kvrows = u(p.batch) * caches * u(p.seq);
  t.q = gpu.amap.allocate("Q", qrows, uint64_t{d.dqk} * 2);
  t.k = gpu.amap.allocate("K cache", kvrows, d.bytes(d.k_own()));
  // A latent cache is its own V: V blocks read K's rows (the latent dims), as FlashMLA does.
  t.v = p.latent_kv ? t.k : gpu.amap.allocate("V cache", kvrows, d.bytes(d.dv));
  if (d.shared > 0) {
    t.shared_rope = true;
    t.k_rope = gpu.amap.allocate("K rope (shared)", u(p.batch) * u(p.seq),
                                 d.bytes(d.shared) + d.scale_bytes(d.shared));
  }
  if (d.block > 0) {
    t.scales = true;
    // The scales of 128 consecutive keys of a head are one contiguous row (as the GEMM operands'
    // 128-row scale tiles), so a block's scales are one burst, not a sector per key.
    const uint64_t chunks = u(p.batch) * caches * cdiv(u(p.seq), kScaleChunk);
    t.ks = gpu.amap.allocate("K scales", chunks, kScaleChunk * d.scale_bytes(d.k_own()));
    t.vs = p.latent_kv ? t.ks : gpu.amap.allocate("V scales", chunks, kScaleChunk * d.scale_bytes(d.dv));
  }
  t.o = gpu.amap.allocate("O", qrows, uint64_t{d.dv} * 2);
  if (pl.decode && pl.splits > 1) {
    t.workspace = true;
    t.ws = gpu.amap.allocate("split-KV partials", u(p.batch) * u(p.kv_heads) * pl.splits * pl.packed,
                             uint64_t{d.dv} * 4 + 4);
  }
  if (pl.rope_kernel) {  // the new tokens' K before rotation: the shared rope key alone when decoupled
    t.knew = d.shared > 0
                 ? gpu.amap.allocate("K rope new", u(p.batch) * u(p.q_len), uint64_t{d.shared} * 2)
                 : gpu.amap.allocate("K new", u(p.batch) * u(p.kv_heads) * u(p.q_len), uint64_t{d.dqk} * 2);
  }
  return t;
}

// The KV blocks in the order the MMAs consume them: K0, K1, V0, K2, V1, ..., V(n-1) (S(j) is
// issued before P V(j-1)).
struct Entry {
  bool v = false;
  uint32_t j = 0;
};
std::vector<Entry> consumption_order(uint32_t n) {
  std::vector<Entry> e;
  e.reserve(2 * size_t{n});
  for (uint32_t j = 0; j < n; ++j) {
    e.push_back({false, j});
    if (j > 0) e.push_back({true, j - 1});
  }
  e.push_back({true, n - 1});
  return e;
}

// Whether O must be rescaled after KV block j: always, or (conditional, as FA4) when the
// running max moved by more than its threshold, which for iid scores happens O(log j) times:
// modelled at j = 1, 3, 7, 15, ...
bool rescale_at(uint32_t j, bool conditional) {
  if (j == 0) return false;
  if (!conditional) return true;
  return ((j + 1) & j) == 0;
}

struct Builder {
  const AttentionProblem& p;
  const AttentionPlan& pl;
  const HwSpec& hw;
  const Tensors& t;
  Dims d;
  uint32_t cap = 0;  // blocks per CTA cap (sampled runs); 0: none

  [[nodiscard]] uint32_t blocks(const Item& it) const {
    return cap > 0 ? std::min(cap, it.blocks) : it.blocks;
  }
  // The cache of (sequence, KV head): one per sequence when the cache is a shared latent.
  [[nodiscard]] uint64_t cache_of(const Item& it) const {
    return p.latent_kv ? it.b : uint64_t{it.b} * static_cast<uint64_t>(p.kv_heads) + it.kvh;
  }
  [[nodiscard]] uint64_t kv_row0(const Item& it) const { return cache_of(it) * static_cast<uint64_t>(p.seq); }
  [[nodiscard]] uint64_t q_row0(const Item& it) const {
    return (uint64_t{it.b} * static_cast<uint64_t>(p.heads) + it.head) * static_cast<uint64_t>(p.q_len) +
           static_cast<uint64_t>(it.q0);
  }
  // Scale loads per block: one per 128-key scale row it touches (padded with arrivals to this).
  [[nodiscard]] uint32_t scale_loads() const {
    if (!t.scales) return 0;
    return pl.block_n % kScaleChunk == 0 ? static_cast<uint32_t>(pl.block_n / kScaleChunk)
                                         : static_cast<uint32_t>(pl.block_n / kScaleChunk + 1);
  }
  // TMA loads (or padding arrivals) per block: the block, MLA's shared rope key, the scales.
  [[nodiscard]] uint32_t loads() const { return 1 + (t.shared_rope ? 1 : 0) + scale_loads(); }
  [[nodiscard]] uint32_t full_count() const { return transform() ? 1 : loads(); }
  [[nodiscard]] uint32_t narrow_count() const { return loads(); }
  [[nodiscard]] bool transform() const { return pl.dequant || pl.rope_fused; }

  // TMA loads of one KV block, onto `barrier`.
  void load_entry(std::vector<Op>& ops, const Item& it, const Entry& e, uint16_t barrier) const {
    const uint64_t key0 = uint64_t{it.block0 + e.j} * pl.block_n;
    const uint64_t keys = std::min<uint64_t>(pl.block_n, static_cast<uint64_t>(p.seq) - key0);
    const uint64_t row = kv_row0(it) + key0;
    const uint32_t dim = e.v ? d.dv : d.k_own();
    ops.push_back(Op::tma_load(Region{e.v ? t.v : t.k, row, keys, 0, d.bytes(dim)}, barrier));
    if (t.shared_rope) {  // K's rope dims from the one copy all heads read (L2 after the first)
      const uint64_t rrow = uint64_t{it.b} * static_cast<uint64_t>(p.seq) + key0;
      ops.push_back(
          e.v ? Op::arrive(barrier)
              : Op::tma_load(Region{t.k_rope, rrow, keys, 0, d.bytes(d.shared) + d.scale_bytes(d.shared)},
                             barrier));
    }
    if (t.scales) {
      const std::vector<Region> rs =
          scale_regions(e.v ? t.vs : t.ks, p, cache_of(it), key0, keys, d.scale_bytes(dim));
      for (const Region& r : rs) ops.push_back(Op::tma_load(r, barrier));
      for (size_t i = rs.size(); i < scale_loads(); ++i) ops.push_back(Op::arrive(barrier));
    }
  }

  // Where the converters put a converted block: SMEM for the prefill MMAs (MUFU and FMA work
  // issued one after the other), or the decode MMAs' A operand (the two pipes interleaved): TMEM,
  // or without TMEM the MMA warps' registers (no further traffic).
  enum class ConvertTo { kSmem, kTmem, kRegisters };

  // The converter warps' work on one landed KV block: read it as stored, dequantize, rotate K
  // (fused RoPE, sin and cos on MUFU), write BF16 to `to`.
  void convert_entry(std::vector<Op>& ops, const Entry& e, ConvertTo to) const {
    const uint32_t dim = e.v ? d.dv : d.dqk;
    const uint64_t elems = uint64_t{pl.block_n} * dim;
    ops.push_back(Op::smem_read(elems * static_cast<uint64_t>(d.kv_bits) / 8));
    uint64_t fma = pl.dequant ? kDequantFma * elems : 0;
    uint32_t mufu = 0;
    if (pl.rope_fused && !e.v) {
      fma += uint64_t{kRopeFma} * pl.block_n * static_cast<uint64_t>(d.rot);
      mufu = pl.block_n * static_cast<uint32_t>(d.rot);
    }
    if (to != ConvertTo::kSmem) {
      ops.push_back(Op::mufu_fma(mufu, fma));
      // Into TMEM, or handed to the MMA warps' registers (no traffic: a zero-cycle step).
      ops.push_back(to == ConvertTo::kTmem ? Op::tmem_store(elems * 2) : Op::delay(0));
      return;
    }
    if (mufu > 0) ops.push_back(Op::mufu(mufu));
    if (fma > 0) ops.push_back(Op::fma(static_cast<uint32_t>(fma)));
    ops.push_back(Op::smem_write(elems * 2));
  }
  [[nodiscard]] std::function<void(std::vector<Op>&, const Entry&)> converter(ConvertTo to) const {
    return [this, to](std::vector<Op>& ops, const Entry& e) { convert_entry(ops, e, to); };
  }

  // Softmax of one tile's scores for one block: `rows` real rows (whole warps) x block_n.
  void softmax(std::vector<Op>& ops, uint32_t rows, bool masked) const {
    softmax_elements(ops, uint64_t{(rows + 31) / 32} * 32 * pl.block_n, masked);
  }
  // Softmax over `e` score elements: exp2 on MUFU but for the share on the FMA pipe, and the
  // max, scale, sum, conversion (and causal mask) on the FMA pipe.
  void softmax_elements(std::vector<Op>& ops, uint64_t e, bool masked) const {
    const double fma =
        static_cast<double>(e) * (kSoftmaxFmaPerElement + kPolyExp2Fma * pl.exp_on_fma + (masked ? 1 : 0));
    const auto mufu = static_cast<uint32_t>(std::llround(static_cast<double>(e) * (1 - pl.exp_on_fma)));
    ops.push_back(Op::mufu_fma(mufu, static_cast<uint64_t>(std::llround(fma))));
  }

  // Rotating Q in SMEM once per CTA (fused RoPE).
  void rotate_q(std::vector<Op>& ops, uint32_t rows) const {
    const uint64_t bytes = uint64_t{rows} * d.dqk * 2;
    ops.push_back(Op::smem_read(bytes));
    ops.push_back(Op::mufu(rows * static_cast<uint32_t>(d.rot)));
    ops.push_back(Op::fma(rows * static_cast<uint32_t>(d.rot) * kRopeFma));
    ops.push_back(Op::smem_write(bytes));
  }

  [[nodiscard]] bool masked(const Item& it, uint32_t j) const {
    const int64_t first_key = static_cast<int64_t>(uint64_t{it.block0 + j} * pl.block_n);
    const int64_t last_key = first_key + static_cast<int64_t>(pl.block_n) - 1;
    return last_key > it.mask_from || first_key < it.mask_below;
  }

  // Output of a tile of `rows` query rows starting at CTA row `r0`: O (BF16), or FP32 partials
  // and the log-sum-exp for the reduction.
  void store_output(std::vector<Op>& ops, const Item& it, uint32_t r0, uint32_t rows) const {
    if (rows == 0) return;
    // Attention sinks: one exp2 per row joins the denominator before O is normalized (split-KV:
    // in the reduction, once).
    if (p.sinks && !t.workspace) ops.push_back(Op::mufu(rows));
    if (t.workspace) {
      const uint64_t row =
          (uint64_t{it.b} * static_cast<uint64_t>(p.kv_heads) + it.kvh) * pl.splits * pl.packed +
          uint64_t{it.split} * pl.packed + static_cast<uint64_t>(it.q0) + r0;
      ops.push_back(Op::smem_write(uint64_t{rows} * (d.dv * 4 + 4)));
      ops.push_back(Op::tma_store(Region{t.ws, row, rows, 0, uint64_t{d.dv} * 4 + 4}));
      return;
    }
    ops.push_back(Op::smem_write(uint64_t{rows} * d.dv * 2));
    ops.push_back(Op::tma_store(Region{t.o, q_row0(it) + r0, rows, 0, uint64_t{d.dv} * 2}));
  }

  [[nodiscard]] uint32_t tile_rows(const Item& it, uint32_t tile) const {
    const uint32_t r0 = tile * pl.tile_m;
    return it.rows > r0 ? std::min(pl.tile_m, it.rows - r0) : 0;
  }

  ClusterProgram tmem_cta(const Item& it) const;
  ClusterProgram regs_cta(const Item& it) const;
  ClusterProgram decode_cta(const Item& it) const;
};

// Barriers every attention kernel has: the KV ring of S stages (full, empty, and narrow: a
// block landed for the converters) and Q landed; each kernel's own barriers follow from `mine`.
struct RingBarriers {
  uint16_t S;
  [[nodiscard]] uint16_t full(uint32_t s) const { return static_cast<uint16_t>(s); }
  [[nodiscard]] uint16_t empty(uint32_t s) const { return static_cast<uint16_t>(S + s); }
  [[nodiscard]] uint16_t narrow(uint32_t s) const { return static_cast<uint16_t>(2 * S + s); }
  [[nodiscard]] uint16_t q_full() const { return static_cast<uint16_t>(3 * S); }
  [[nodiscard]] uint16_t mine(uint32_t k) const { return static_cast<uint16_t>(3 * S + 1 + k); }
};

// Barriers of the tcgen05 kernel.
struct TmemBarriers : RingBarriers {
  [[nodiscard]] uint16_t q_ready() const { return mine(0); }
  [[nodiscard]] uint16_t s_full(uint32_t t) const { return mine(1 + t); }
  [[nodiscard]] uint16_t p_full(uint32_t t) const { return mine(3 + t); }
  [[nodiscard]] uint16_t pv_done(uint32_t t) const { return mine(5 + t); }
  [[nodiscard]] uint16_t corr_done(uint32_t t) const { return mine(7 + t); }
  [[nodiscard]] uint32_t count() const { return 3u * S + 10; }
};

// Converter warpgroups: two, taking alternate blocks, so conversion of one block overlaps the
// SMEM read and TMEM / SMEM write of the other.
constexpr uint32_t kConverters = 2;

using ConvertBody = std::function<void(std::vector<Op>&, const Entry&)>;

// The load role's KV ring in consumption order. Without `convert` each block lands on its full
// barrier; with it, on `narrow`, and the converter warpgroups (alternate blocks) run `convert`
// on it and arrive at full.
void produce(std::vector<Op>& ops, std::array<Role, kConverters>& conv, const Builder& bd, const Item& it,
             uint32_t n, const RingBarriers& L, const ConvertBody& convert) {
  const uint32_t S = L.S;
  const std::vector<Entry> order = consumption_order(n);
  for (size_t e = 0; e < order.size(); ++e) {
    const auto s = static_cast<uint32_t>(e % S);
    const auto ph = static_cast<uint32_t>(e / S);
    if (e >= S) ops.push_back(Op::wait(L.empty(s), ph - 1));
    if (!convert) {
      bd.load_entry(ops, it, order[e], L.full(s));
      continue;
    }
    bd.load_entry(ops, it, order[e], L.narrow(s));
    std::vector<Op>& c = conv[e % kConverters].ops;
    c.push_back(Op::wait(L.narrow(s), ph));
    convert(c, order[e]);
    c.push_back(Op::arrive(L.full(s)));
  }
}

// One CTA of `roles` (the converters when the kernel converts) with the ring's arrival counts
// set: `empty_count` releases per stage, and every other barrier of `count` expecting one.
ClusterProgram one_cta(std::vector<Role> roles, std::array<Role, kConverters>& conv, const Builder& bd,
                       const RingBarriers& L, uint32_t count, uint32_t empty_count) {
  CtaProgram cta;
  cta.roles = std::move(roles);
  if (bd.transform()) {
    for (Role& r : conv) cta.roles.push_back(std::move(r));
  }
  cta.barrier_counts.assign(count, 1);
  for (uint32_t s = 0; s < L.S; ++s) {
    cta.barrier_counts[L.full(s)] = bd.full_count();
    cta.barrier_counts[L.empty(s)] = empty_count;
    cta.barrier_counts[L.narrow(s)] = bd.narrow_count();
  }
  ClusterProgram prog;
  prog.ctas.push_back(std::move(cta));
  return prog;
}

// Stage index and phase of KV block j's K (or V) in the consumption order.
std::pair<uint32_t, uint32_t> stage_of(uint32_t j, bool v, uint32_t n, uint32_t S) {
  // K0 is entry 0; for j >= 1 K_j is entry 2j - 1 and V_{j-1} entry 2j; V_{n-1} is last.
  uint64_t e;
  if (!v) {
    e = j == 0 ? 0 : 2ull * j - 1;
  } else {
    e = j + 1 < n ? 2ull * (j + 1) : 2ull * n - 1;
  }
  return {static_cast<uint32_t>(e % S), static_cast<uint32_t>(e / S)};
}

ClusterProgram Builder::tmem_cta(const Item& it) const {
  const uint32_t S = pl.stages;
  const TmemBarriers L{{static_cast<uint16_t>(S)}};
  const uint32_t n = blocks(it);
  const uint32_t T = pl.q_tiles;
  Role load{"load", {}};
  Role mma{"mma", {}};
  Role corr{"correction", {}};
  std::array<Role, kConverters> conv{Role{"convert0", {}}, Role{"convert1", {}}};
  std::vector<Role> sm(T);
  for (uint32_t q = 0; q < T; ++q) sm[q].name = fmt::format("softmax{}", q);

  for (uint32_t q = 0; q < T; ++q) {
    const uint32_t rows = tile_rows(it, q);
    if (rows == 0) {
      load.ops.push_back(Op::arrive(L.q_full()));
    } else {
      load.ops.push_back(Op::tma_load(
          Region{t.q, q_row0(it) + uint64_t{q} * pl.tile_m, rows, 0, uint64_t{d.dqk} * 2}, L.q_full()));
    }
  }
  produce(load.ops, conv, *this, it, n, L, transform() ? converter(ConvertTo::kSmem) : ConvertBody{});

  MmaShape qk;
  qk.kind = MmaKind::kF16;
  qk.m = static_cast<uint16_t>(pl.tile_m);
  qk.n = static_cast<uint16_t>(pl.block_n);
  MmaShape pv = qk;
  pv.n = static_cast<uint16_t>(d.dv);
  pv.a_in_tmem = true;
  const uint32_t qk_instr = d.dqk / 16;
  const uint32_t pv_instr = pl.block_n / 16;
  const auto issue_pv = [&](uint32_t q, uint32_t j) {
    mma.ops.push_back(Op::wait(L.p_full(q), j));
    if (j >= 1) mma.ops.push_back(Op::wait(L.corr_done(q), j - 1));
    mma.ops.push_back(Op::mma_op(pv, pv_instr, kNoBarrier));
    mma.ops.push_back(Op::mma_commit(L.pv_done(q)));
  };
  mma.ops.push_back(Op::wait(L.q_ready(), 0));
  // With S double-buffered, QK^T(j) goes ahead of P V(j - 1), which waits for the softmax of
  // block j - 1: the tensor pipe computes the next scores while the softmax runs.
  const bool ahead = T == 1 && pl.s_buffers == 2;
  for (uint32_t j = 0; j < n; ++j) {
    const auto [ks, kph] = stage_of(j, false, n, S);
    mma.ops.push_back(Op::wait(L.full(ks), kph));
    if (ahead) {
      mma.ops.push_back(Op::mma_op(qk, qk_instr, kNoBarrier));
      mma.ops.push_back(Op::mma_commit(L.s_full(0)));
    }
    std::pair<uint32_t, uint32_t> vs{0, 0};
    if (j >= 1) {
      vs = stage_of(j - 1, true, n, S);
      mma.ops.push_back(Op::wait(L.full(vs.first), vs.second));
    }
    for (uint32_t q = 0; q < T; ++q) {
      if (j >= 1) issue_pv(q, j - 1);
      if (ahead) continue;
      mma.ops.push_back(Op::mma_op(qk, qk_instr, kNoBarrier));
      mma.ops.push_back(Op::mma_commit(L.s_full(q)));
    }
    mma.ops.push_back(Op::mma_commit(L.empty(ks)));
    if (j >= 1) mma.ops.push_back(Op::mma_commit(L.empty(vs.first)));
  }
  {
    const auto [vs, vph] = stage_of(n - 1, true, n, S);
    mma.ops.push_back(Op::wait(L.full(vs), vph));
    for (uint32_t q = 0; q < T; ++q) issue_pv(q, n - 1);
    mma.ops.push_back(Op::mma_commit(L.empty(vs)));
  }

  for (uint32_t q = 0; q < T; ++q) {
    std::vector<Op>& ops = sm[q].ops;
    const uint32_t rows = std::max(1u, tile_rows(it, q));
    ops.push_back(Op::wait(L.q_full(), 0));
    if (pl.rope_fused && tile_rows(it, q) > 0) rotate_q(ops, rows);
    ops.push_back(Op::arrive(L.q_ready()));
    for (uint32_t j = 0; j < n; ++j) {
      ops.push_back(Op::wait(L.s_full(q), j));
      ops.push_back(Op::tmem_load(uint64_t{pl.tile_m} * pl.block_n * 4));
      softmax(ops, rows, masked(it, j));
      ops.push_back(Op::tmem_store(uint64_t{pl.tile_m} * pl.block_n * 2));
      ops.push_back(Op::arrive(L.p_full(q)));
    }
  }

  // Correction: rescale each tile's O after the softmax of block j moved its max, before P V(j).
  for (uint32_t j = 1; j < n; ++j) {
    for (uint32_t q = 0; q < T; ++q) {
      corr.ops.push_back(Op::wait(L.p_full(q), j));
      corr.ops.push_back(Op::wait(L.pv_done(q), j - 1));
      if (rescale_at(j, pl.conditional_rescale)) {
        const uint64_t bytes = uint64_t{pl.tile_m} * d.dv * 4;
        corr.ops.push_back(Op::tmem_load(bytes));
        corr.ops.push_back(Op::fma(std::max(1u, tile_rows(it, q)) * d.dv));
        corr.ops.push_back(Op::tmem_store(bytes));
      }
      corr.ops.push_back(Op::arrive(L.corr_done(q)));
    }
  }
  for (uint32_t q = 0; q < T; ++q) {
    const uint32_t rows = tile_rows(it, q);
    corr.ops.push_back(Op::wait(L.pv_done(q), n - 1));
    corr.ops.push_back(Op::tmem_load(uint64_t{pl.tile_m} * d.dv * 4));
    corr.ops.push_back(Op::fma(std::max(1u, rows) * d.dv));
    store_output(corr.ops, it, q * pl.tile_m, rows);
  }
  corr.ops.push_back(Op::tma_store_wait());
  corr.ops.push_back(Op::mark(0));

  std::vector<Role> roles{load, mma, corr};
  for (Role& r : sm) roles.push_back(std::move(r));
  ClusterProgram prog = one_cta(std::move(roles), conv, *this, L, L.count(), 1);
  prog.ctas[0].barrier_counts[L.q_full()] = T;
  prog.ctas[0].barrier_counts[L.q_ready()] = T;
  return prog;
}

struct RegBarriers : RingBarriers {
  [[nodiscard]] uint16_t s_done(uint32_t w) const { return mine(w); }
  [[nodiscard]] uint16_t pv_done(uint32_t w) const { return mine(2 + w); }
  [[nodiscard]] uint32_t count() const { return 3u * S + 5; }
};

ClusterProgram Builder::regs_cta(const Item& it) const {
  const uint32_t S = pl.stages;
  const RegBarriers L{{static_cast<uint16_t>(S)}};
  const uint32_t n = blocks(it);
  const uint32_t W = pl.q_tiles;  // 64-row warpgroups
  const bool warp_level = !has_wgmma(hw.arch);
  Role load{"load", {}};
  std::array<Role, kConverters> conv{Role{"convert0", {}}, Role{"convert1", {}}};
  if (it.rows > 0) {
    load.ops.push_back(Op::tma_load(Region{t.q, q_row0(it), it.rows, 0, uint64_t{d.dqk} * 2}, L.q_full()));
  } else {
    load.ops.push_back(Op::arrive(L.q_full()));
  }
  produce(load.ops, conv, *this, it, n, L, transform() ? converter(ConvertTo::kSmem) : ConvertBody{});
  MmaShape qk;
  qk.kind = MmaKind::kF16;
  qk.m = static_cast<uint16_t>(pl.tile_m);
  qk.n = static_cast<uint16_t>(pl.block_n);
  MmaShape pv = qk;
  pv.n = static_cast<uint16_t>(d.dv);
  pv.a_in_tmem = true;  // P from registers
  // mma.sync: every warp (16 rows) reads the whole K or V block through ldmatrix.
  const uint64_t k_ldm = warp_level ? uint64_t{pl.tile_m / 16} * pl.block_n * d.dqk * 2 : 0;
  const uint64_t v_ldm = warp_level ? uint64_t{pl.tile_m / 16} * pl.block_n * d.dv * 2 : 0;
  std::vector<Role> wg(W);
  for (uint32_t w = 0; w < W; ++w) {
    wg[w].name = fmt::format("consumer{}", w);
    std::vector<Op>& ops = wg[w].ops;
    const uint32_t rows = std::max(1u, tile_rows(it, w));
    const auto qk_mma = [&](uint32_t j) {
      const auto [ks, kph] = stage_of(j, false, n, S);
      ops.push_back(Op::wait(L.full(ks), kph));
      if (k_ldm > 0) ops.push_back(Op::smem_read(k_ldm));
      ops.push_back(Op::mma_op(qk, d.dqk / 16, L.s_done(w)));
    };
    const auto pv_mma = [&](uint32_t j) {
      const auto [vs, vph] = stage_of(j, true, n, S);
      ops.push_back(Op::wait(L.full(vs), vph));
      if (v_ldm > 0) ops.push_back(Op::smem_read(v_ldm));
      ops.push_back(Op::mma_op(pv, pl.block_n / 16, L.pv_done(w)));
    };
    const auto s_ready = [&](uint32_t j) {
      ops.push_back(Op::wait(L.s_done(w), j));
      ops.push_back(Op::arrive(L.empty(stage_of(j, false, n, S).first)));
      softmax(ops, rows, masked(it, j));
    };
    const auto pv_drained = [&](uint32_t j) {
      ops.push_back(Op::wait(L.pv_done(w), j));
      ops.push_back(Op::arrive(L.empty(stage_of(j, true, n, S).first)));
    };
    ops.push_back(Op::wait(L.q_full(), 0));
    if (pl.rope_fused && tile_rows(it, w) > 0) rotate_q(ops, rows);
    qk_mma(0);
    s_ready(0);
    for (uint32_t j = 1; j < n; ++j) {
      qk_mma(j);
      pv_mma(j - 1);
      s_ready(j);  // softmax(j) runs while P V(j-1) is on the tensor pipe
      pv_drained(j - 1);
      if (rescale_at(j, false)) ops.push_back(Op::fma(rows * d.dv));
    }
    pv_mma(n - 1);
    pv_drained(n - 1);
    ops.push_back(Op::fma(rows * d.dv));
    store_output(ops, it, w * pl.tile_m, tile_rows(it, w));
    ops.push_back(Op::tma_store_wait());
    ops.push_back(Op::mark(0));
  }
  std::vector<Role> roles{load};
  for (Role& r : wg) roles.push_back(std::move(r));
  return one_cta(std::move(roles), conv, *this, L, L.count(), W);
}

// Barriers of the decode kernel.
struct DecodeBarriers : RingBarriers {
  [[nodiscard]] uint16_t s_full() const { return mine(0); }
  [[nodiscard]] uint16_t p_full() const { return mine(1); }
  [[nodiscard]] uint16_t pv_done() const { return mine(2); }
  [[nodiscard]] uint32_t count() const { return 3u * S + 4; }
};

// Decode with A and B swapped, as decode GEMMs run: the keys of a block fill the MMA's M side
// and the few packed query rows its N side, S^T = K Q^T and O^T += V^T P^T, so a step of a few
// tokens does not pad its rows up to 64 or 128. KV stored narrower than BF16 is converted by
// the converter warps into the A operand (TMEM on tcgen05, registers for wgmma / mma.sync):
// SMEM then carries only the narrow bytes.
ClusterProgram Builder::decode_cta(const Item& it) const {
  const uint32_t S = pl.stages;
  const DecodeBarriers L{{static_cast<uint16_t>(S)}};
  const uint32_t n = blocks(it);
  const uint32_t npad = pl.tile_m;  // N of the swapped MMAs
  const bool tc = pl.tmem;
  Role load{"load", {}};
  Role mma{"mma", {}};
  Role sm{"softmax", {}};
  std::array<Role, kConverters> conv{Role{"convert0", {}}, Role{"convert1", {}}};
  load.ops.push_back(Op::tma_load(Region{t.q, q_row0(it), it.rows, 0, uint64_t{d.dqk} * 2}, L.q_full()));
  produce(load.ops, conv, *this, it, n, L,
          transform() ? converter(tc ? ConvertTo::kTmem : ConvertTo::kRegisters) : ConvertBody{});
  MmaShape qk;
  qk.kind = MmaKind::kF16;
  qk.m = static_cast<uint16_t>(std::min<uint32_t>(pl.block_n, tc ? 128 : 64));
  qk.n = static_cast<uint16_t>(npad);
  qk.a_in_tmem = transform() || !tc;  // converted K in TMEM; wgmma / mma.sync A from registers
  MmaShape pv = qk;
  pv.m = static_cast<uint16_t>(std::min<uint32_t>(d.dv, tc ? 128 : 64));
  const uint32_t qk_instr = d.dqk / 16 * (pl.block_n / qk.m);
  const uint32_t pv_instr = pl.block_n / 16 * static_cast<uint32_t>(cdiv(d.dv, pv.m));
  const bool warp_level = !tc && !has_wgmma(hw.arch);
  // Without TMEM, A comes from registers: bf16 K and V are read from SMEM by the MMA warps first.
  const uint64_t k_regs = !tc && !transform() ? uint64_t{pl.block_n} * d.dqk * 2 : 0;
  const uint64_t v_regs = !tc && !transform() ? uint64_t{pl.block_n} * d.dv * 2 : 0;
  const uint64_t b_ldm = warp_level ? uint64_t{pl.block_n / 16} * npad * std::max(d.dqk, d.dv) * 2 : 0;
  mma.ops.push_back(Op::wait(L.q_full(), 0));
  const auto issue_pv = [&](uint32_t j) {
    const auto [vs, vph] = stage_of(j, true, n, S);
    mma.ops.push_back(Op::wait(L.full(vs), vph));
    mma.ops.push_back(Op::wait(L.p_full(), j));
    if (v_regs + b_ldm > 0) mma.ops.push_back(Op::smem_read(v_regs + b_ldm));
    mma.ops.push_back(Op::mma_op(pv, pv_instr, kNoBarrier));
    mma.ops.push_back(Op::mma_commit(L.pv_done()));
    mma.ops.push_back(Op::mma_commit(L.empty(vs)));
  };
  for (uint32_t j = 0; j < n; ++j) {
    const auto [ks, kph] = stage_of(j, false, n, S);
    mma.ops.push_back(Op::wait(L.full(ks), kph));
    if (k_regs + b_ldm > 0) mma.ops.push_back(Op::smem_read(k_regs + b_ldm));
    mma.ops.push_back(Op::mma_op(qk, qk_instr, kNoBarrier));
    mma.ops.push_back(Op::mma_commit(L.s_full()));
    mma.ops.push_back(Op::mma_commit(L.empty(ks)));
    if (j >= 1) issue_pv(j - 1);
  }
  issue_pv(n - 1);

  const uint64_t o_bytes = uint64_t{d.dv} * npad * 4;
  for (uint32_t j = 0; j < n; ++j) {
    sm.ops.push_back(Op::wait(L.s_full(), j));
    if (tc) sm.ops.push_back(Op::tmem_load(uint64_t{pl.block_n} * npad * 4));
    softmax_elements(sm.ops, uint64_t{it.rows} * pl.block_n, masked(it, j));  // the swapped warps: no padding
    if (j >= 1) {  // O^T must hold block j-1 before it is rescaled for block j
      sm.ops.push_back(Op::wait(L.pv_done(), j - 1));
      if (rescale_at(j, pl.conditional_rescale || !tc)) {
        if (tc) sm.ops.push_back(Op::tmem_load(o_bytes));
        sm.ops.push_back(Op::fma(it.rows * d.dv));
        if (tc) sm.ops.push_back(Op::tmem_store(o_bytes));
      }
    }
    sm.ops.push_back(Op::smem_write(uint64_t{pl.block_n} * npad * 2));  // P^T, the B operand
    sm.ops.push_back(Op::arrive(L.p_full()));
  }
  sm.ops.push_back(Op::wait(L.pv_done(), n - 1));
  if (tc) sm.ops.push_back(Op::tmem_load(o_bytes));
  sm.ops.push_back(Op::fma(it.rows * d.dv));
  store_output(sm.ops, it, 0, it.rows);
  sm.ops.push_back(Op::tma_store_wait());
  sm.ops.push_back(Op::mark(0));

  return one_cta({load, mma, sm}, conv, *this, L, L.count(), 1);
}

Kernel main_kernel(const AttentionProblem& p, const AttentionPlan& pl, const HwSpec& hw, const Tensors& t,
                   const std::vector<Item>& items, size_t count, uint32_t cap) {
  Kernel k;
  k.name = fmt::format("attention {}{}", pl.decode ? "split-KV decode" : "prefill",
                       cap > 0 ? fmt::format(" (first {} CTAs, {} KV blocks each)", count, cap) : "");
  k.clusters = static_cast<uint32_t>(count);
  k.sms = pl.sms;
  k.resources = pl.resources;
  const Dims d = dims_of(p);
  k.program = [p, pl, hw, t, d, cap, &items](uint32_t i) {
    const Builder bd{p, pl, hw, t, d, cap};
    if (pl.decode) return bd.decode_cta(items[i]);
    return pl.tmem ? bd.tmem_cta(items[i]) : bd.regs_cta(items[i]);
  };
  return k;
}

// Combines the split-KV partials: one CTA per (sequence, KV head) reads every split's FP32 O and
// log-sum-exp for its packed rows and writes O in BF16.
// Its SMEM stages two splits' partials, up to 96 KiB or what a CTA may have.
Kernel reduce_kernel(const AttentionProblem& p, const AttentionPlan& pl, const Tensors& t, const Dims& d,
                     const HwSpec& hw) {
  Kernel k;
  k.name = fmt::format("split-KV reduce x{}", pl.splits);
  k.clusters = static_cast<uint32_t>(p.batch * p.kv_heads);
  k.resources.smem_bytes =
      std::min({uint64_t{pl.packed} * (d.dv * 4 + 4) * 2, uint64_t{96} * 1024, hw.smem.max_per_cta.bytes});
  k.resources.threads = 256;
  const auto H = static_cast<uint64_t>(p.heads);
  const auto q_len = static_cast<uint64_t>(p.q_len);
  const auto group = static_cast<uint64_t>(p.group());
  const auto G = static_cast<uint64_t>(p.kv_heads);
  k.program = [=](uint32_t index) {
    Role r{"reduce", {}};
    for (uint32_t s = 0; s < pl.splits; ++s) {
      r.ops.push_back(Op::tma_load(
          Region{t.ws, (uint64_t{index} * pl.splits + s) * pl.packed, pl.packed, 0, uint64_t{d.dv} * 4 + 4},
          0));
    }
    r.ops.push_back(Op::wait(0, 0));
    r.ops.push_back(Op::mufu(pl.packed * pl.splits + (p.sinks ? pl.packed : 0)));
    r.ops.push_back(Op::fma(pl.packed * pl.splits * d.dv * 2));
    const uint64_t b = index / G;
    const uint64_t g = index % G;
    r.ops.push_back(
        Op::tma_store(Region{t.o, (b * H + g * group) * q_len, pl.packed, 0, uint64_t{d.dv} * 2}));
    r.ops.push_back(Op::tma_store_wait());
    ClusterProgram prog;
    prog.ctas.push_back(CtaProgram{{r}, {pl.splits}});
    return prog;
  };
  return k;
}

// RoPE as its own kernel over the new tokens: Q rotated in place, the new K rotated and written
// into the cache in its format. Persistent CTAs stride over 128-row chunks.
Kernel rope_kernel(const AttentionProblem& p, const AttentionPlan& pl, const HwSpec& hw, const Tensors& t,
                   const Dims& d) {
  Kernel k;
  k.name = "rope";
  const uint64_t q_rows = static_cast<uint64_t>(p.batch * p.heads * p.q_len);
  // K: a row per (batch, KV head, new token), or with MLA's shared rope key one per (batch, token).
  const uint64_t k_heads = d.shared > 0 ? 1 : static_cast<uint64_t>(p.kv_heads);
  const uint64_t k_rows = static_cast<uint64_t>(p.batch * p.q_len) * k_heads;
  const uint64_t k_dims = d.shared > 0 ? d.shared : d.dqk;
  const uint64_t kChunk = d.dqk > 256 ? 64 : 128;  // rows per chunk: two chunks of Q in SMEM
  const uint64_t q_chunks = cdiv(q_rows, kChunk);
  const uint64_t chunks = q_chunks + cdiv(k_rows, kChunk);
  k.clusters = static_cast<uint32_t>(std::min<uint64_t>(chunks, uint64_t{hw.sm.count} * 4));
  k.resources.smem_bytes = 2 * kChunk * d.dqk * 2;
  k.resources.threads = 256;
  const uint32_t grid = k.clusters;
  const auto seq = static_cast<uint64_t>(p.seq);
  const auto q_len = static_cast<uint64_t>(p.q_len);
  const bool quantize = pl.dequant;
  k.program = [=](uint32_t index) {
    Role r{"rope", {}};
    uint32_t phase = 0;
    for (uint64_t c = index; c < chunks; c += grid, ++phase) {
      const bool is_q = c < q_chunks;
      const uint64_t row0 = (is_q ? c : c - q_chunks) * kChunk;
      const uint64_t rows = std::min(kChunk, (is_q ? q_rows : k_rows) - row0);
      const uint64_t dims = is_q ? d.dqk : k_dims;
      r.ops.push_back(Op::tma_load(Region{is_q ? t.q : t.knew, row0, rows, 0, dims * 2}, 0));
      r.ops.push_back(Op::wait(0, phase));
      r.ops.push_back(Op::mufu(static_cast<uint32_t>(rows) * static_cast<uint32_t>(d.rot)));
      const uint64_t fma = rows * static_cast<uint64_t>(d.rot) * kRopeFma +
                           (!is_q && quantize ? rows * dims * kQuantizeFma : 0);
      r.ops.push_back(Op::fma(static_cast<uint32_t>(fma)));
      r.ops.push_back(Op::smem_write(rows * dims * 2));
      if (is_q) {
        r.ops.push_back(Op::tma_store(Region{t.q, row0, rows, 0, uint64_t{d.dqk} * 2}));
      } else {
        // New token (b, g, i) goes to cache row (b, g, seq - q_len + i); a chunk may span heads.
        // (MLA: token (b, i) to the shared rope key's row (b, seq - q_len + i), scales inline.)
        uint64_t left = rows;
        uint64_t src = row0;
        while (left > 0) {
          const uint64_t bg = src / q_len;
          const uint64_t i = src % q_len;
          const uint64_t run = std::min(left, q_len - i);
          const uint64_t dst = bg * seq + (seq - q_len) + i;
          if (t.shared_rope) {
            r.ops.push_back(
                Op::tma_store(Region{t.k_rope, dst, run, 0, d.bytes(d.shared) + d.scale_bytes(d.shared)}));
          } else {
            r.ops.push_back(Op::tma_store(Region{t.k, dst, run, 0, d.bytes(d.dqk)}));
            if (t.scales) {
              for (const Region& sr : scale_regions(t.ks, p, bg, seq - q_len + i, run, d.scale_bytes(d.dqk)))
                r.ops.push_back(Op::tma_store(sr));
            }
          }
          left -= run;
          src += run;
        }
      }
      r.ops.push_back(Op::tma_store_wait());
    }
    ClusterProgram prog;
    prog.ctas.push_back(CtaProgram{{r}, {1}});
    return prog;
  };
  return k;
}

uint32_t occupancy(const HwSpec& hw, const CtaResources& r) {
  Occupancy probe(hw);
  if (probe.never_fits(r)) return 0;
  uint32_t n = 0;
  while (probe.fits(r) && n < hw.sm.max_ctas) {
    probe.admit(r);
    ++n;
  }
  return n;
}

}  // namespace

void check_attention_options(const AttentionTimingOptions& o) {
  if (o.exp_on_fma && !(*o.exp_on_fma >= 0 && *o.exp_on_fma <= 1)) {
    throw InputError(fmt::format("--exp-on-fma {}: expected a fraction in [0, 1]", *o.exp_on_fma));
  }
  if (o.block_n != 0 && (o.block_n % 16 != 0 || o.block_n > 256)) {
    throw InputError(fmt::format("--block-n {}: expected a multiple of 16 up to 256", o.block_n));
  }
}

uint64_t attention_simulation_bytes(const AttentionProblem& p, const HwSpec& hw) {
  // Q, O and the K and V caches (a latent cache is one), as stored, plus the FP32 partials of
  // a split; the L2 model tracks every block of them.
  const Dims d = dims_of(p);
  const double tokens = static_cast<double>(p.batch) * static_cast<double>(p.seq);
  const double queries = static_cast<double>(p.batch) * static_cast<double>(p.q_len);
  const double kv = tokens * static_cast<double>(p.kv_heads) * (d.dqk + d.dv) * 2;
  const double q_o = queries * static_cast<double>(p.heads) * (d.dqk + d.dv) * (2 + 4);
  const double blocks = (kv + q_o) / static_cast<double>(hw.l2.block.bytes) + 1;
  // A large layer is sampled: its blocks cost their place in the route memo and the address map,
  // not tags (measured peak RSS, b200 decode over 8.4 M and 33.5 M blocks: 41-43 B per block,
  // 2026-12-07; rounded up). A layer small enough to run whole is far below any budget.
  constexpr double kSampledBlockBytes = 64;
  const double total = blocks * kSampledBlockBytes + kSimulationBaseBytes;
  return total >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(total);
}

namespace {
void check_attention_memory(const AttentionProblem& p, const HwSpec& hw) {
  check_attention(p);
  const uint64_t budget = default_memory_budget();
  if (const uint64_t need = attention_simulation_bytes(p, hw); need > budget) {
    throw InputError(fmt::format(
        "--batch {} --seq {} --heads {} --kv-heads {}: timing this attention layer would hold about {:.1f} "
        "GiB of "
        "simulator memory (the L2 model maps every {}-byte block of Q, K, V and O), above half of this "
        "machine's memory ({:.1f} GiB); time fewer sequences or a shorter context (per-token cost is "
        "linear in both)",
        p.batch, p.seq, p.heads, p.kv_heads, static_cast<double>(need) / 0x1p30, hw.l2.block.bytes,
        static_cast<double>(budget) / 0x1p30));
  }
}
}  // namespace

void check_attention_timing(const AttentionProblem& p, const HwSpec& hw, const AttentionTimingOptions& o) {
  check_attention_memory(p, hw);
  (void)plan_attention(p, hw, o);
}

AttentionPlan plan_attention(const AttentionProblem& p, const HwSpec& hw, const AttentionTimingOptions& o) {
  check_attention(p);
  check_attention_options(o);
  // Q/K dims: up to 256, or 576 for decode over a latent cache (FlashMLA's 512 + 64).
  const bool decode_shape = p.group() * p.q_len <= 128;
  const int64_t qk_limit = p.latent_kv && decode_shape ? 576 : 256;
  if (p.qk_dim() > qk_limit) {
    throw InputError(fmt::format("--head-dim {}{}: the attention kernels take Q/K dims up to {}{}",
                                 p.head_dim,
                                 p.rope_dim > 0 ? fmt::format(" + --rope-dim {}", p.rope_dim) : "", qk_limit,
                                 p.latent_kv ? " (a latent cache decodes up to 576)" : ""));
  }
  if (hw.tensor.rate(MmaKind::kF16) == 0) {
    throw InputError(fmt::format("{} has no BF16 tensor instructions for attention", hw.name));
  }
  const Dims d = dims_of(p);
  AttentionPlan pl;
  pl.tmem = has_tcgen05(hw.arch);
  const bool wgmma = has_wgmma(hw.arch);
  const uint64_t packed = static_cast<uint64_t>(p.group() * p.q_len);
  pl.decode = packed <= 128;
  pl.dequant = p.kv != KvFormat::kBf16;
  pl.rope_fused = p.rope.has_value() && o.rope == RopeMode::kFused;
  pl.rope_kernel = p.rope.has_value() && o.rope == RopeMode::kSeparate;
  pl.exp_on_fma = o.exp_on_fma.value_or(0);
  pl.conditional_rescale = o.conditional_rescale;
  if (!o.exp_on_fma && pl.tmem) {
    // Balance MUFU and FMA time per score element: (1 - f) / mufu = (c + k f) / fma.
    const double mu = hw.pipes.mufu_exp2_per_clk;
    const double fm = hw.pipes.fma_fp32_per_clk;
    pl.exp_on_fma = std::clamp((fm / mu - kSoftmaxFmaPerElement) / (fm / mu + kPolyExp2Fma), 0.0, 1.0);
  }
  const uint32_t bn0 = o.block_n != 0 ? o.block_n : (!pl.tmem && d.dqk > 128 ? 64 : 128);
  pl.block_n = bn0;
  pl.packed = static_cast<uint32_t>(packed);
  // The CTA shapes to try, largest first: prefill's default Q tiles, then one tile, then (tcgen05)
  // 64-row tiles; decode's packed rows, then 64-, 32- and 16-row slices of them (FlashMLA runs
  // 64-row slices of a group's heads). Each is set up by `level(i)`; false past the last.
  const auto round_rows = [&](uint64_t rows) {
    const uint64_t q = pl.tmem ? 16 : 8;
    return static_cast<uint32_t>(cdiv(rows, q) * q);
  };
  const auto level = [&](int i) {
    pl.s_buffers = 1;
    if (pl.decode) {  // swapped: tile_m is the N of the MMAs, the CTA's rows rounded up
      uint64_t rows = packed;
      for (int k = 0; k < i; ++k) {
        const uint64_t next = rows > 64 ? 64 : rows / 2;
        if (next < (pl.tmem ? 16u : 8u) || next >= rows) return false;
        rows = next;
      }
      pl.rows = static_cast<uint32_t>(rows);
      pl.tile_m = round_rows(rows);
      pl.q_tiles = 1;
      pl.row_tiles = static_cast<uint32_t>(cdiv(packed, rows));
      return true;
    }
    if (pl.tmem) {
      // Two tiles need two S and two O regions in TMEM. One tile pipelines its own MMAs with its
      // softmax where O and two S regions fit (FlashAttention-3, Shah et al. 2024, section 3.2:
      // "intra-warpgroup overlapping of GEMMs and softmax", its second S in registers there): the
      // next block's QK^T is issued before this block's P V.
      const bool two = 2 * (d.dv + bn0) <= hw.tmem.columns;
      const int first = two ? 0 : 1;
      if (i + first > 2) return false;
      pl.tile_m = i + first == 2 ? 64 : 128;  // tcgen05.mma takes M = 64 on one CTA
      pl.q_tiles = i + first == 0 ? 2 : 1;
      if (pl.q_tiles == 1 && d.dv + 2 * bn0 <= hw.tmem.columns) pl.s_buffers = 2;
      return true;
    }
    if (i > 1) return false;
    pl.tile_m = 64;  // one warpgroup (wgmma) or four warps (mma.sync) per tile
    pl.q_tiles = i == 0 ? 2 : 1;
    return true;
  };
  const uint32_t dmax = std::max(d.dqk, d.dv);
  const bool converts = pl.dequant || pl.rope_fused;
  const uint64_t budget = hw.smem.max_per_cta.bytes - 1024;
  // SMEM: Q tiles, then as many KV stages as fit (2..4); narrow KV adds its landing buffer.
  // Decode also holds P^T, the B operand of O^T += V^T P^T.
  // A stage holds a K or V block as it lands, and the converted BF16 block where the MMA reads
  // it from SMEM (prefill); decode converts into TMEM or registers. K and V blocks alternate in
  // the ring, so with unequal dims (MLA's 192 / 128) a stage costs their mean, as FA4's uneven
  // K / V buffers.
  const uint32_t dstage = (d.dqk + d.dv + 1) / 2;
  const auto q_bytes_for = [&](uint32_t bn) {
    return uint64_t{pl.tile_m} * pl.q_tiles * d.dqk * 2 + (pl.decode ? uint64_t{bn} * pl.tile_m * 2 : 0);
  };
  const auto stage_for = [&](uint32_t bn) {
    const uint64_t narrow = uint64_t{bn} * dstage * static_cast<uint64_t>(d.kv_bits) / 8 +
                            (d.block > 0 ? uint64_t{bn} * dstage / static_cast<uint64_t>(d.block) : 0);
    return pl.decode ? narrow : (converts ? narrow : 0) + uint64_t{bn} * dstage * 2;
  };
  const auto need = [&] { return q_bytes_for(pl.block_n) + 2 * stage_for(pl.block_n); };
  // TMEM columns: decode's S^T, O^T and the converted K or V blocks (BF16, two to a 32-bit
  // column); prefill's O and S regions.
  const auto tmem_need = [&]() -> uint32_t {
    if (!pl.tmem) return 0;
    if (pl.decode)
      return pl.tile_m * (1 + static_cast<uint32_t>(cdiv(d.dv, 128))) +
             (pl.dequant || pl.rope_fused ? pl.convert_buffers * ((dmax + 1) / 2) : 0);
    return pl.q_tiles * (d.dv + pl.s_buffers * pl.block_n);
  };
  // A kernel never refuses a shape a smaller tile could run: where the preferred CTA does not
  // fit the SMEM per CTA (sm_120's 99 KiB, or a config shrunk with --set), the KV block halves
  // down to 32 keys (unless --block-n fixed it), then the CTA takes fewer query rows, then the
  // block halves down to 16. FlashAttention-2 makes the same trade on consumer parts
  // (flash_fwd_launch_template.h, run_mha_fwd_hdim128 on sm86 / sm89: 128 x 32 tiles
  // non-causal, 64 x 64 causal, 48 KB of SMEM each), FlashMLA takes 64-key blocks for its
  // 576-dim latent.
  bool fits = false;
  for (const uint32_t floor : {32u, 16u}) {
    for (int i = 0; !fits && level(i); ++i) {
      pl.block_n = bn0;
      while (need() > budget && o.block_n == 0 && pl.block_n > floor) pl.block_n /= 2;
      // A converted block too wide for two TMEM buffers (FP8 over a 576-dim latent) takes one.
      pl.convert_buffers = 2;
      if (pl.decode && tmem_need() > hw.tmem.columns) pl.convert_buffers = 1;
      fits = need() <= budget && tmem_need() <= hw.tmem.columns;
    }
    if (fits) break;
  }
  if (!fits && need() <= budget) {  // pl holds the smallest CTA tried
    throw InputError(fmt::format("--head-dim {}: O and S of a Q tile need {} TMEM columns; {} has {}",
                                 p.head_dim, tmem_need(), hw.name, hw.tmem.columns));
  }
  if (!fits) {
    throw InputError(fmt::format(
        "--head-dim {}: even a {}-row Q tile and two {}-key KV stages need {} B of SMEM; {} has {} per CTA",
        p.head_dim, uint64_t{pl.tile_m} * pl.q_tiles, pl.block_n, need(), hw.name,
        to_string(hw.smem.max_per_cta)));
  }
  const uint64_t q_bytes = q_bytes_for(pl.block_n);
  const uint64_t stage = stage_for(pl.block_n);
  // Decode keeps more blocks in flight: it streams from HBM with little to overlap.
  pl.stages = static_cast<uint32_t>(std::min<uint64_t>(pl.decode ? 8 : 4, (budget - q_bytes) / stage));
  pl.resources.smem_bytes = q_bytes + pl.stages * stage + 1024;
  if (pl.decode) {
    if (pl.tmem) {  // S^T, O^T, and the converted K or V blocks
      pl.resources.tmem_columns = tmem_need();
    }
    pl.resources.threads = 128 * 3;  // load + MMA warps, softmax WG, epilogue
  } else if (pl.tmem) {
    pl.resources.tmem_columns = tmem_need();
    pl.resources.threads =
        128 * (pl.q_tiles + 1) + 96;  // softmax WGs, correction WG, load/MMA/epilogue warps
  } else {
    pl.resources.threads = 128 * (pl.q_tiles + 1);  // producer WG + consumer WGs
  }
  if (converts) pl.resources.threads += 128 * kConverters;
  // Registers: what the SM has for one CTA (FA4 and FA3 run one per SM), at most 168 a thread.
  pl.resources.registers_per_thread =
      std::min<uint32_t>(168, hw.sm.registers / ((pl.resources.threads + 127) / 128 * 128) / 8 * 8);
  if (pl.tmem && pl.resources.tmem_columns > hw.tmem.columns) {
    throw InputError(fmt::format("--head-dim {}: O and S of a Q tile need {} TMEM columns; {} has {}",
                                 p.head_dim, pl.resources.tmem_columns, hw.name, hw.tmem.columns));
  }
  pl.ctas_per_sm = occupancy(hw, pl.resources);
  if (pl.ctas_per_sm == 0) {
    Occupancy probe(hw);
    throw InputError(fmt::format("attention kernel on {}: {}", hw.name,
                                 probe.never_fits(pl.resources).value_or("does not fit")));
  }
  if (pl.decode && o.sms != 0) {
    if (o.sms > hw.sm.count || o.sms < hw.sm.dies) {
      throw InputError(fmt::format("--sms {}: {} has {} SMs (at least one per die, {} dies)", o.sms, hw.name,
                                   hw.sm.count, hw.sm.dies));
    }
    pl.sms = o.sms / hw.sm.dies * hw.sm.dies;
  }
  if (pl.decode) {
    const uint64_t blocks = decode_blocks(p, pl);
    uint64_t splits = o.splits;
    if (splits == 0) {  // fill every resident slot once, keeping at least 4 blocks per split
      const uint64_t groups = static_cast<uint64_t>(p.batch * p.kv_heads) * pl.row_tiles;
      const uint64_t slots = uint64_t{attention_sms(pl, hw)} * pl.ctas_per_sm;
      splits = std::max<uint64_t>(1, std::min(slots / std::max<uint64_t>(1, groups), blocks / 4));
    }
    pl.splits = static_cast<uint32_t>(std::clamp<uint64_t>(splits, 1, blocks));
  }
  const char* family = pl.tmem ? "fa4-like tcgen05" : (wgmma ? "fa3-like wgmma" : "fa2-like mma.sync");
  // A CTA the SMEM made smaller than the preferred one says so.
  const std::string shrunk =
      pl.block_n < bn0 ? fmt::format(", {}-key KV blocks to fit SMEM", pl.block_n) : "";
  if (pl.decode) {
    const std::string rows = pl.row_tiles > 1
                                 ? fmt::format("{} packed query rows in slices of {}", pl.packed, pl.rows)
                                 : fmt::format("{} packed query rows", pl.rows);
    pl.kernel = fmt::format("split-KV decode, {}, A/B swapped ({} as MMA N = {}, {} splits{}{})", family,
                            rows, pl.tile_m, pl.splits,
                            pl.sms != 0 ? fmt::format(", on {} of {} SMs", pl.sms, hw.sm.count) : "", shrunk);
  } else {
    pl.kernel = fmt::format(
        "{} prefill ({} x {}-row Q tiles per CTA{}{})", family, pl.q_tiles, pl.tile_m,
        !pl.tmem            ? ""
        : pl.q_tiles == 2   ? ", ping-pong"
        : pl.s_buffers == 2 ? ", no ping-pong: TMEM holds one; S double-buffered, next QK^T during softmax"
                            : ", no ping-pong: TMEM holds one",
        shrunk);
  }
  for (const Item& it : work_items(p, pl, dims_of(p))) {
    ++pl.ctas;
    pl.kv_iterations += it.blocks;
  }
  return pl;
}

namespace {

struct Counters {
  double hbm_read = 0, hbm_write = 0, l2_read = 0, l2_write = 0, l2_hit = 0;
  double tensor = 0, tensor_math = 0, smem = 0, dram = 0;  // busy seconds
  double seconds = 0;
  double iterations = 0;  // CTA x KV-block iterations run
  Activity act;           // every operation count (exp2, FMA, MACs, bytes), for utilizations and energy
};

Counters counters(const KernelResult& k, const std::vector<StatInfo>& info) {
  Counters c;
  for (size_t i = 0; i < info.size(); ++i) {
    const auto v = static_cast<double>(k.stats[i]);
    const std::string& n = info[i].name;
    if (n == "gpu.bytes.hbm.read") c.hbm_read = v;
    if (n == "gpu.bytes.hbm.write") c.hbm_write = v;
    if (n == "gpu.bytes.l2.read") c.l2_read = v;
    if (n == "gpu.bytes.l2.hit") c.l2_hit = v;
    if (n == "gpu.bytes.l2.write") c.l2_write = v;
  }
  c.act = Activity::from_stats({}, k.stats, info);
  c.act.active_sms = k.sms_used;
  c.tensor = k.busy.tensor.seconds();
  c.tensor_math = k.busy.tensor_math.seconds();
  c.smem = k.busy.smem.seconds();
  c.dram = k.busy.dram.seconds();
  c.seconds = k.duration().seconds();
  return c;
}

// a + f * b, field by field.
Counters axpy(const Counters& a, double f, const Counters& b) {
  Counters c;
  c.hbm_read = a.hbm_read + f * b.hbm_read;
  c.hbm_write = a.hbm_write + f * b.hbm_write;
  c.l2_read = a.l2_read + f * b.l2_read;
  c.l2_hit = a.l2_hit + f * b.l2_hit;
  c.l2_write = a.l2_write + f * b.l2_write;
  c.tensor = a.tensor + f * b.tensor;
  c.tensor_math = a.tensor_math + f * b.tensor_math;
  c.smem = a.smem + f * b.smem;
  c.dram = a.dram + f * b.dram;
  c.seconds = a.seconds + f * b.seconds;
  c.iterations = a.iterations + f * b.iterations;
  c.act = Activity::axpy(a.act, f, b.act);
  return c;
}
Counters minus(const Counters& a, const Counters& b) { return axpy(a, -1, b); }
Counters plus(const Counters& a, const Counters& b) { return axpy(a, 1, b); }
Counters scaled(const Counters& a, double f) { return axpy(Counters{}, f, a); }

struct MainRun {
  Counters total;   // whole kernel (extrapolated when sampled)
  Counters steady;  // what the utilizations are read from
  uint64_t simulated = 0;
};

// Runs the first `count` items with at most `cap` blocks each (0: whole), on a fresh GPU.
struct Run {
  Counters main;    // the attention kernel
  Counters others;  // the RoPE and reduction kernels together
  std::optional<AttentionKernelTime> rope, attention, reduce;
  std::shared_ptr<GpuTrace> trace;
};

AttentionKernelTime time_of(const KernelResult& k) { return {k.name, k.duration(), false}; }

// Runs, on a fresh GPU whose L2 starts as `start` says and in launch order, the RoPE kernel
// (`rope`), the attention kernel over the first `count` items with at most `cap` blocks each (0:
// whole; `count` 0: not at all), and the split-KV reduction (`reduce`).
Run run_kernels(const AttentionProblem& p, const AttentionPlan& pl, const HwSpec& hw, ClockMode clock,
                const std::vector<Item>& items, size_t count, uint32_t cap, bool rope, bool reduce,
                const L2Start& start, const TraceOptions* trace = nullptr) {
  Simulation sim;
  Gpu gpu(sim, hw, clock);
  gpu.mem.set_start(start);
  const Dims d = dims_of(p);
  const Tensors t = allocate(gpu, p, pl, d);
  Run r;
  if (trace != nullptr) {
    r.trace = std::make_shared<GpuTrace>(*trace, hw.sm.count);
    gpu.set_trace(r.trace.get());
  }
  const auto other = [&](const KernelResult& k) {
    r.others = plus(r.others, counters(k, sim.stats().info()));
    return time_of(k);
  };
  if (rope) r.rope = other(gpu.run(rope_kernel(p, pl, hw, t, d)));
  if (count > 0) {
    const KernelResult k = gpu.run(main_kernel(p, pl, hw, t, items, count, cap));
    r.main = counters(k, sim.stats().info());
    r.attention = time_of(k);
    for (size_t i = 0; i < count; ++i)
      r.main.iterations += cap > 0 ? std::min(cap, items[i].blocks) : items[i].blocks;
  }
  if (reduce && t.workspace) r.reduce = other(gpu.run(reduce_kernel(p, pl, t, d, hw)));
  return r;
}

}  // namespace

namespace {

AttentionTiming simulate_plan(const AttentionProblem& p, const HwSpec& hw, const AttentionTimingOptions& o,
                              const AttentionPlan& plan) {
  AttentionTiming r;
  r.plan = plan;
  const AttentionPlan& pl = r.plan;
  const std::vector<Item> items = work_items(p, pl, dims_of(p));
  const uint64_t whole = o.whole_run_blocks != 0 ? o.whole_run_blocks : hw.simulation.attention_whole_run;
  // Sampled runs: two cuts of the first wave, in KV blocks per CTA.
  const uint32_t sample_short = hw.simulation.attention_sample_short;
  const uint32_t sample_long = hw.simulation.attention_sample_long;
  const uint64_t slots = uint64_t{attention_sms(pl, hw)} * pl.ctas_per_sm;
  uint32_t longest = 0;
  for (const Item& it : items) longest = std::max(longest, it.blocks);
  r.sampled = pl.kv_iterations > whole && longest > sample_long;

  Counters main;
  Counters steady;
  Run whole_run;  // the RoPE and reduction kernels (whole runs: the attention kernel too)
  double main_s = 0;
  const L2Start dirty{o.l2_dirty, 0};
  if (!r.sampled) {
    whole_run = run_kernels(p, pl, hw, o.clock, items, items.size(), 0, pl.rope_kernel, true, dirty, o.trace);
    r.trace = whole_run.trace;
    main = plus(whole_run.main, whole_run.others);
    steady = whole_run.main;
    main_s = whole_run.main.seconds;
    r.simulated_iterations = static_cast<uint64_t>(whole_run.main.iterations);
  } else {
    const size_t wave = static_cast<size_t>(std::min<uint64_t>(items.size(), slots));
    Counters c1;
    Counters c2;
    // The two cuts from an L2 that starts as `start`, extrapolated to the whole kernel.
    const auto sample = [&](const L2Start& start) {
      c1 = run_kernels(p, pl, hw, o.clock, items, wave, sample_short, false, false, start).main;
      Run long_cut = run_kernels(p, pl, hw, o.clock, items, wave, sample_long, false, false, start, o.trace);
      c2 = long_cut.main;
      if (o.trace != nullptr) {
        r.trace = long_cut.trace;
        r.trace_note = fmt::format(
            "the attention kernel is sampled: the trace shows its first wave of {} CTAs cut to {} KV blocks "
            "each, not the whole kernel",
            wave, sample_long);
      }
      steady = minus(c2, c1);
      // Per CTA: a + b * blocks, b from the difference of the two cuts (every slot busy), a from the short
      // cut.
      const double b = steady.seconds / (sample_long - sample_short);
      const double a = std::max(0.0, c1.seconds - b * sample_short);
      std::priority_queue<double, std::vector<double>, std::greater<>> free_at;
      for (uint64_t s = 0; s < slots; ++s) free_at.push(0.0);
      double end = 0;
      for (const Item& it : items) {
        const double start_at = free_at.top();
        free_at.pop();
        const double fin = start_at + a + b * it.blocks;
        end = std::max(end, fin);
        free_at.push(fin);
      }
      main_s = end;
      const double per_iter = 1.0 / steady.iterations;
      const Counters fixed =
          scaled(minus(c1, scaled(steady, sample_short * static_cast<double>(wave) * per_iter)),
                 1.0 / static_cast<double>(wave));
      main = plus(scaled(fixed, static_cast<double>(items.size())),
                  scaled(steady, static_cast<double>(pl.kv_iterations) * per_iter));
    };
    sample(L2Start{});
    if (o.l2_dirty != 0) {
      // A dirty L2 is a one-off cost the cuts cannot extrapolate: the whole kernel writes back
      // the dirty lines its fills evict, the bytes it fills beyond the free ways up to all of
      // them. The cuts are run again paying that write-back as a share of every byte they fill.
      const double filled = main.hbm_read + main.l2_write;
      const double cap = static_cast<double>(hw.l2.capacity.bytes);
      const double d = std::min(static_cast<double>(o.l2_dirty), cap);
      const double written = std::clamp(filled - (cap - d), 0.0, d);
      if (written > 0 && filled > 0) sample(L2Start{0, written / filled});
    }
    r.simulated_iterations = static_cast<uint64_t>(c1.iterations + c2.iterations);
    // RoPE and the reduction run whole, on their own.
    if (pl.rope_kernel || pl.splits > 1) {
      whole_run = run_kernels(p, pl, hw, o.clock, items, 0, 0, pl.rope_kernel, true, L2Start{});
      main = plus(main, whole_run.others);
    }
    whole_run.attention =
        AttentionKernelTime{fmt::format("attention {}", pl.decode ? "split-KV decode" : "prefill"),
                            Tick{std::llround(main_s * 1e12)}, true};
  }
  const Frequency f = hw.clock.run;  // simulate_attention sets it for boost and governed runs alike
  r.activity = main.act;
  for (const auto* k : {&whole_run.rope, &whole_run.attention, &whole_run.reduce}) {
    if (*k) r.kernels.push_back(**k);
  }
  for (const AttentionKernelTime& k : r.kernels) r.time += k.time;
  r.sm_cycles = r.time.seconds() * static_cast<double>(f.hz);
  r.flops = 2 * p.macs();
  r.activity.mma_macs = p.macs();  // the useful MACs (GQA row padding and masked keys are zeros)
  r.peak_tflops = hw.peak_flops(MmaKind::kF16, f) * 1e-12;
  r.derive_throughput();
  const auto bytes = [](double b) { return static_cast<uint64_t>(std::llround(b)); };
  r.hbm_read = bytes(main.hbm_read);
  r.hbm_write = bytes(main.hbm_write);
  r.l2_read = bytes(main.l2_read);
  r.l2_write = bytes(main.l2_write);
  r.l2_hit = bytes(main.l2_hit);
  r.exp2 = main.act.exp2;
  r.fma = main.act.fma;
  const double secs = r.time.seconds();
  r.hbm_tb_s = (main.hbm_read + main.hbm_write) / secs * 1e-12;
  r.pct_of_hbm =
      100 * (main.hbm_read + main.hbm_write) / secs / static_cast<double>(hw.dram.bandwidth.bytes_per_s);
  const double span = steady.seconds;
  const double sms = hw.sm.count;
  const double cyc = span * static_cast<double>(f.hz) * sms;
  r.util.tensor = steady.tensor / (span * sms);
  r.util.tensor_math = steady.tensor_math / (span * sms);
  r.util.smem = steady.smem / (span * sms);
  r.util.hbm = steady.dram / (span * hw.dram.channels());
  r.util.l2 = (steady.l2_read + steady.l2_write) / span /
              (hw.l2.slice_bandwidth.value * hw.l2.slices * static_cast<double>(hw.clock.l2.hz));
  r.util.mufu = steady.act.exp2 / (cyc * hw.pipes.mufu_exp2_per_clk);
  r.util.fma = steady.act.fma / (cyc * hw.pipes.fma_fp32_per_clk);
  r.bound = classify_bound(r.util, 0);
  r.bound_detail = utilization_text(r.util) + (r.sampled ? " (steady state of the sampled wave)" : "");
  return r;
}

}  // namespace

uint32_t attention_sms(const AttentionPlan& pl, const HwSpec& hw) {
  return pl.sms != 0 ? pl.sms : hw.sm.count;
}

std::vector<uint32_t> decode_split_candidates(const AttentionProblem& p, const HwSpec& hw,
                                              const AttentionPlan& pl) {
  // Split counts that fill whole waves of the resident slots: for w = 1..6 waves, the most
  // splits per (sequence, KV head) whose CTAs fit in w waves; and 1 (no split). Between two of
  // these a split only adds a partial wave and reduction work, so they are the frontier; and a
  // GPU with more slots keeps a candidate at least as good (its w-wave split is at least as
  // large), where one formula (slots / groups, rounded down) jumped from a full wave to a
  // nearly empty second one (256 CTAs on 200 SMs ran 6% slower than on 148).
  const uint64_t blocks = decode_blocks(p, pl);
  const uint64_t most = std::max<uint64_t>(1, blocks / 4);  // at least 4 KV blocks per split
  const uint64_t groups = std::max<uint64_t>(1, static_cast<uint64_t>(p.batch * p.kv_heads) * pl.row_tiles);
  const uint64_t slots = uint64_t{attention_sms(pl, hw)} * std::max(1u, pl.ctas_per_sm);
  std::vector<uint32_t> out{1};
  for (uint64_t w = 1; w <= 6; ++w) {
    // Balanced: the fewest splits with the same KV blocks per split, as FlashAttention's
    // num_splits_heuristic skips a split count that does not lower ceil(blocks / splits)
    // (csrc/flash_attn/flash_api.cpp, is_split_eligible): 40 blocks in 9 splits are 5 per split
    // at most, as in 8, with one more partial to reduce.
    const uint64_t fit = std::clamp<uint64_t>(w * slots / groups, 1, most);
    const uint64_t s = cdiv(blocks, cdiv(blocks, fit));
    // and the next balanced split count below it: what a GPU with somewhat fewer slots fills
    // its w waves with, so that more SMs keep the smaller GPU's pick in reach.
    const uint64_t below = s > 1 ? cdiv(blocks, cdiv(blocks, s - 1)) : 1;
    for (const uint64_t c : {s, below}) {
      if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(static_cast<uint32_t>(c));
    }
  }
  return out;
}

namespace {

// The layer at the SM clock in hw.clock.run.
AttentionTiming simulate_at(const AttentionProblem& p, const HwSpec& hw, const AttentionTimingOptions& o) {
  AttentionPlan plan = plan_attention(p, hw, o);
  if (!plan.decode && plan.tmem && plan.q_tiles == 1 && o.block_n == 0 && plan.block_n > 64) {
    // A tcgen05 prefill whose TMEM holds one Q tile (a head dim above 128) also tries KV blocks
    // of 64 keys, which leave SMEM room for twice the stages (FlashAttention-3 narrows its KV
    // block for large head dims too: 80 keys at 256 on Hopper), and keeps the faster.
    AttentionTimingOptions narrow = o;
    narrow.block_n = 64;
    AttentionTiming wide = simulate_plan(p, hw, o, plan);
    AttentionTiming alt = simulate_plan(p, hw, narrow, plan_attention(p, hw, narrow));
    std::vector<std::pair<std::string, double>> candidates{
        {fmt::format("block_n={}", wide.plan.block_n), wide.time.seconds() * 1e6},
        {fmt::format("block_n={}", alt.plan.block_n), alt.time.seconds() * 1e6}};
    AttentionTiming r = alt.time < wide.time ? std::move(alt) : std::move(wide);
    r.candidates = std::move(candidates);
    return r;
  }
  if (!plan.decode || o.splits != 0) return simulate_plan(p, hw, o, plan);
  // Decode picks its split count by simulating each candidate (see decode_split_candidates).
  // Unsplit, it may also run on fewer SMs (FlashInfer-style persistent CTAs): those on which its
  // CTAs fill 2 or 3 whole waves, and 7/8 and 3/4 of the GPU, which a larger GPU would otherwise
  // leave with a nearly empty last wave or pay for with a split's extra reduction launch.
  std::vector<std::pair<uint32_t, uint32_t>> configs;  // (splits, SMs; 0 = all)
  for (const uint32_t s : decode_split_candidates(p, hw, plan)) configs.emplace_back(s, o.sms);
  if (o.sms == 0) {
    const uint64_t ctas = static_cast<uint64_t>(p.batch * p.kv_heads) * plan.row_tiles;
    const uint64_t per_sm = std::max(1u, plan.ctas_per_sm);
    const uint32_t dies = std::max(1u, hw.sm.dies);
    std::vector<uint64_t> budgets;
    for (uint64_t w = 2; w <= 3; ++w) budgets.push_back(cdiv(cdiv(ctas, w * per_sm), dies) * dies);
    // and 7/8 and 3/4 of the SMs, where a partial last wave on fewer SMs still beats both.
    if (ctas > hw.sm.count * per_sm) {
      for (uint64_t eighths = 7; eighths >= 6; --eighths)
        budgets.push_back(hw.sm.count * eighths / 8 / dies * dies);
    }
    for (const uint64_t b : budgets) {
      const bool seen =
          std::find(configs.begin(), configs.end(), std::pair<uint32_t, uint32_t>(1, b)) != configs.end();
      if (b < hw.sm.count && b >= dies && !seen) configs.emplace_back(1, static_cast<uint32_t>(b));
    }
  }
  std::vector<AttentionTiming> runs(configs.size());
  const auto options = [&](size_t i) {
    AttentionTimingOptions oi = o;
    oi.splits = configs[i].first;
    oi.sms = configs[i].second;
    return oi;
  };
  parallel_for(static_cast<int64_t>(configs.size()), [&](int64_t i) {
    AttentionTimingOptions oi = options(static_cast<size_t>(i));
    oi.trace = nullptr;
    runs[static_cast<size_t>(i)] = simulate_plan(p, hw, oi, plan_attention(p, hw, oi));
  });
  // Compared as a step runs them: each kernel (RoPE, attention, the split's reduction) is a launch.
  const auto cost = [&](const AttentionTiming& t) { return t.time + hw.launch.gaps(t.kernels.size()); };
  size_t best = 0;
  for (size_t i = 1; i < runs.size(); ++i) {
    if (cost(runs[i]) < cost(runs[best])) best = i;
  }
  std::vector<std::pair<std::string, double>> candidates;
  for (const AttentionTiming& t : runs) {
    candidates.emplace_back(
        fmt::format("splits={}{}", t.plan.splits, t.plan.sms != 0 ? fmt::format(":sms={}", t.plan.sms) : ""),
        t.time.seconds() * 1e6);
  }
  AttentionTiming r;
  if (o.trace != nullptr) {  // the winner again, recorded
    const AttentionTimingOptions oi = options(best);
    r = simulate_plan(p, hw, oi, plan_attention(p, hw, oi));
  } else {
    r = std::move(runs[best]);
  }
  if (runs.size() > 1) r.candidates = std::move(candidates);
  return r;
}

}  // namespace

AttentionTiming simulate_attention(const AttentionProblem& p, const HwSpec& hw,
                                   const AttentionTimingOptions& o) {
  check_attention_memory(p, hw);
  // Attention's tensor work is BF16 (narrower KV is dequantized to BF16 on chip).
  constexpr MmaKind kKind = MmaKind::kF16;
  if (o.clock == ClockMode::kBoost) {
    AttentionTiming t = simulate_at(p, at_clock(hw, hw.clock.sm), o);
    t.power = power_at(hw, kKind, {t.time, t.activity}, hw.clock.sm, ClockLimit::kUngoverned);
    return t;
  }
  // Planned at the governor's ceiling, then run with the plan fixed at the clocks it tries.
  AttentionTiming planned = simulate_at(p, at_clock(hw, clock_cap(hw)), o);
  AttentionTimingOptions fixed = o;
  fixed.splits = planned.plan.splits;
  fixed.sms = planned.plan.sms;
  fixed.block_n = planned.plan.block_n;
  std::vector<std::pair<std::string, double>> candidates = std::move(planned.candidates);
  AttentionTiming t = run_governed(hw, kKind, std::move(planned),
                                   [&](const HwSpec& at_f) { return simulate_at(p, at_f, fixed); });
  t.candidates = std::move(candidates);  // the planner's, at the ceiling
  return t;
}

}  // namespace bwsim
