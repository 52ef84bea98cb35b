// Timing of one attention layer on a modelled GPU: FlashAttention-style kernels as CTA programs.
//
// Prefill (more query rows per KV head than one tile holds):
//  - Blackwell (tcgen05), FA4-like: a CTA holds two 128-row Q tiles of one head and walks the KV
//    blocks once for both (ping-pong). S = Q K^T lands in TMEM; one softmax warpgroup per tile
//    loads it, computes exp2 on MUFU (a fraction on the FMA pipe as a polynomial, as FA4 does)
//    and stores P back into TMEM, where the P V MMA reads it as its A operand. A correction
//    warpgroup rescales O in TMEM when the running max moved (conditionally, as FA4) and runs
//    the epilogue. head_dim > 128 leaves TMEM for one tile only: no ping-pong.
//  - Hopper (wgmma) and sm_120 (mma.sync), FA3 / FA2-like: 128 query rows per CTA in 64-row
//    warpgroups with accumulators in registers; each issues S(j) and P V(j-1) back to back and
//    runs softmax(j) while P V(j-1) is on the tensor pipe; the two warpgroups share the pipes.
// Decode (a step or an MTP verify pass: the query rows of one KV head fit in one tile): split-KV
// flash-decoding. The rows of all query heads of a KV group are packed into one tile (GQA), the
// KV range is split over CTAs to fill the GPU, each writes FP32 partials and a log-sum-exp, and
// a reduction kernel combines them.
// KV stored narrower than BF16 is dequantized in SMEM by a converter role before the MMAs (the
// numbers of attention_functional: BF16 Q against dequantized K and V). RoPE runs as its own
// elementwise kernel over the new tokens, or fused: Q rotated once per CTA, every K block rotated
// as it lands (the cache then holds un-rotated K).
//
// Causal prefill skips the KV blocks wholly above the diagonal and masks the ones it crosses.
// Large layers are simulated on a sample: the first wave of CTAs, cut to two KV lengths, gives a
// per-CTA cost a + b * blocks under full-GPU contention; every CTA is then placed by list
// scheduling on the resident slots. Small layers run whole.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/gpu.hpp"
#include "models/metrics.hpp"
#include "workloads/attention/attention.hpp"

namespace bwsim {

enum class RopeMode { kSeparate, kFused };

struct AttentionTimingOptions {
  ClockMode clock = ClockMode::kGoverned;
  RopeMode rope = RopeMode::kSeparate;  // with a RoPE: its own kernel, or fused into the attention kernel
  /// Fraction of exp2 computed by a polynomial on the FMA pipe instead of MUFU; unset: balance
  /// the two pipes (tcgen05 kernels, as FA4), 0 elsewhere.
  std::optional<double> exp_on_fma;
  uint32_t splits = 0;              // decode: KV splits per (sequence, KV head); 0: enough to fill the GPU
  uint32_t sms = 0;                 // decode: SMs the attention kernel runs on (0: all)
  uint32_t block_n = 0;             // keys per KV block; 0: 128 (64 for head_dim > 128 on register kernels)
  bool conditional_rescale = true;  // FA4: rescale O only when the row max moved; false: every block
  /// Bytes of another buffer's dirty lines in L2 when the layer starts, as a benchmark that
  /// flushes L2 by writing a buffer leaves it (L2Start); 0: a clean L2. A sampled layer (see
  /// whole_run_blocks) pays the write-back as a share of every byte it fills.
  uint64_t l2_dirty = 0;
  /// Simulate whole up to this many CTA x KV-block iterations; above it, sample (0: default).
  uint64_t whole_run_blocks = 0;
  /// Record the kernels for a trace (AttentionTiming::trace); null: no recording.
  const TraceOptions* trace = nullptr;
};

/// Throws InputError naming the flag: --exp-on-fma outside [0, 1], --block-n not a multiple of 16.
void check_attention_options(const AttentionTimingOptions& o);
/// The simulator memory timing `p` takes, estimated before it runs (per L2 tracking block of
/// Q, K, V and O).
uint64_t attention_simulation_bytes(const AttentionProblem& p, const HwSpec& hw);
/// The above, a simulation above half of this machine's memory, and what the kernels cannot run: --head-dim
/// not a multiple of 16, SMEM or TMEM too small, ...
void check_attention_timing(const AttentionProblem& p, const HwSpec& hw, const AttentionTimingOptions& o);

struct AttentionPlan {
  std::string kernel;    // "fa4 (tcgen05, 2 x 128-row Q tiles)", ...
  bool decode = false;   // split-KV flash-decoding
  bool tmem = false;     // tcgen05 with S, P and O in TMEM
  uint32_t tile_m = 0;   // query rows per tile (per MMA)
  uint32_t q_tiles = 1;  // tiles per CTA (ping-pong)
  /// tcgen05 prefill with one Q tile: S regions in TMEM. With two, QK^T of the next KV block
  /// runs while the softmax reads this one's (FA3's intra-warpgroup pipelining).
  uint32_t s_buffers = 1;
  uint32_t rows = 0;       // decode: the packed GQA rows (heads x queries) of a CTA
  uint32_t packed = 0;     // decode: the packed rows of a KV head's group (row_tiles CTAs share them)
  uint32_t row_tiles = 1;  // decode: CTAs per group and split, each with `rows` of the packed rows
  uint32_t block_n = 0;    // keys per KV block
  uint32_t stages = 0;     // KV SMEM ring depth (K and V blocks)
  uint32_t splits = 1;     // decode KV splits
  uint32_t sms = 0;        // SMs the main kernel runs on (0: all of them)
  double exp_on_fma = 0;   // fraction of exp2 on the FMA pipe
  bool dequant = false;    // KV narrower than BF16: converted in SMEM
  /// tcgen05 decode: TMEM buffers for converted K / V blocks (1 where two do not fit; the reuse of
  /// a single buffer is not a modelled dependency).
  uint32_t convert_buffers = 2;
  bool rope_fused = false;
  bool rope_kernel = false;
  bool conditional_rescale = true;
  uint64_t ctas = 0;           // main kernel grid
  uint32_t ctas_per_sm = 0;    // occupancy
  uint64_t kv_iterations = 0;  // sum over CTAs of KV blocks walked
  CtaResources resources;
};

struct AttentionKernelTime {
  std::string name;
  Tick time{0};
  bool sampled = false;  // extrapolated from a sampled run
  [[nodiscard]] double us() const { return time.seconds() * 1e6; }
};

/// The layer's metrics (flops: the useful MACs x 2, causal: visible keys only; peak: BF16
/// dense at the run's clock; bytes: every kernel; utilizations: the main kernel's, its steady
/// state when sampled) and how it was planned.
struct AttentionTiming : KernelMetrics {
  AttentionPlan plan;
  std::vector<AttentionKernelTime> kernels;
  double hbm_tb_s = 0;       // achieved DRAM bandwidth
  double pct_of_hbm = 0;     // of the datasheet bandwidth
  double exp2 = 0, fma = 0;  // operations issued
  bool sampled = false;
  uint64_t simulated_iterations = 0;      // CTA x KV-block iterations simulated
  std::shared_ptr<const GpuTrace> trace;  // with AttentionTimingOptions::trace
  std::string trace_note;                 // what the trace shows, when not the whole layer
  /// Decode with the split count left to the planner: each candidate split and its time in us.
  std::vector<std::pair<std::string, double>> candidates;
};

AttentionPlan plan_attention(const AttentionProblem& p, const HwSpec& hw, const AttentionTimingOptions& o);
/// Decode: the split counts the planner simulates (1, and those filling 1-6 whole waves).
/// SMs the main kernel of `pl` runs on.
uint32_t attention_sms(const AttentionPlan& pl, const HwSpec& hw);
std::vector<uint32_t> decode_split_candidates(const AttentionProblem& p, const HwSpec& hw,
                                              const AttentionPlan& pl);
AttentionTiming simulate_attention(const AttentionProblem& p, const HwSpec& hw,
                                   const AttentionTimingOptions& o = {});

}  // namespace bwsim
