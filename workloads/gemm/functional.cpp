#include "workloads/gemm/functional.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "isa/mma.hpp"
#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "sim/progress.hpp"
#include "sim/rng.hpp"

namespace bwsim {

FunctionalSpec parse_functional(std::string_view text, const GemmProblem& p) {
  const double macs = static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);
  return parse_functional_spec(text, macs <= kAutoFullMacs);
}

namespace {

constexpr int64_t kPatch = 16;

struct Patch {
  int64_t i0, j0, h, w;
};

bool tensor_scaled(Scheme s) { return scheme_info(s).tensor_scale; }

// `count` distinct values from [0, n), sorted (Floyd's algorithm on a seeded stream).
std::vector<int64_t> choose(int64_t n, int64_t count, Rng& rng) {
  std::set<int64_t> chosen;
  for (int64_t j = n - count; j < n; ++j) {
    const auto t = static_cast<int64_t>(rng.below(static_cast<uint64_t>(j + 1)));
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  return {chosen.begin(), chosen.end()};
}

// Output patches (16 x 16, clipped at the edges). Sampling picks bands of rows and of columns
// and takes every patch where they cross: N patches then need only about 16 sqrt(N) rows of A
// and of B rather than 16 N, which is what quantizing and multiplying them costs.
std::vector<Patch> choose_patches(const GemmProblem& p, const FunctionalSpec& spec) {
  const int64_t pm = (p.m + kPatch - 1) / kPatch;
  const int64_t pn = (p.n + kPatch - 1) / kPatch;
  std::vector<int64_t> bands_m, bands_n;
  const bool all = spec.mode == FunctionalSpec::Mode::kFull || spec.samples >= static_cast<uint64_t>(pm * pn);
  if (all) {
    for (int64_t i = 0; i < pm; ++i) bands_m.push_back(i);
    for (int64_t j = 0; j < pn; ++j) bands_n.push_back(j);
  } else {
    const auto want = static_cast<int64_t>(spec.samples);
    auto rm = std::min(pm, static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(want)))));
    const int64_t rn = std::min(pn, (want + rm - 1) / rm);
    rm = std::min(pm, (want + rn - 1) / rn);  // a narrow N may leave more rows to sample
    Rng rng(random_at(spec.seed, 0x6A09E667));
    bands_m = choose(pm, rm, rng);
    bands_n = choose(pn, rn, rng);
  }
  std::vector<Patch> out;
  out.reserve(bands_m.size() * bands_n.size());
  for (int64_t bm : bands_m) {
    for (int64_t bn : bands_n) {
      const int64_t i0 = bm * kPatch;
      const int64_t j0 = bn * kPatch;
      out.push_back({i0, j0, std::min(kPatch, p.m - i0), std::min(kPatch, p.n - j0)});
    }
  }
  return out;
}

// The rows of an operand the patches touch, widened to whole scale-block row groups, sorted.
std::vector<int64_t> rows_needed(const std::vector<Patch>& patches, bool along_m, int64_t group,
                                 int64_t limit) {
  std::vector<int64_t> rows;
  std::vector<bool> seen(static_cast<size_t>((limit + group - 1) / group), false);
  for (const Patch& p : patches) {
    const int64_t r0 = along_m ? p.i0 : p.j0;
    const int64_t n = along_m ? p.h : p.w;
    for (int64_t g = r0 / group; g <= (r0 + n - 1) / group; ++g) seen[static_cast<size_t>(g)] = true;
  }
  for (size_t g = 0; g < seen.size(); ++g) {
    if (!seen[g]) continue;
    for (int64_t r = static_cast<int64_t>(g) * group;
         r < std::min(limit, static_cast<int64_t>(g + 1) * group); ++r)
      rows.push_back(r);
  }
  return rows;
}

// One operand, quantized and decoded for the MMAs.
struct Operand {
  std::vector<int64_t> rows;   // global row of each local row
  std::vector<int64_t> local;  // global row -> local row (-1: not present)
  Tensor input;                // the unquantized rows (reference)
  QuantizedTensor q;
  std::vector<double> values;      // local rows x kpad: what the MMA multiplies (zero padded)
  std::vector<float> block_scale;  // block FP8: float32 scale per (row block, 128-K block)
  int64_t kpad = 0;
};

QuantOptions options_for(Scheme s, const QuantOptions& base, bool is_b) {
  QuantOptions o;
  o.mx_scale = base.mx_scale;
  o.rht = base.rht;
  o.rht_seed = base.rht_seed;
  if (s == Scheme::kNvfp4) {
    o.nvfp4_recipe = base.nvfp4_recipe;
    o.four_over_six = base.four_over_six;
    o.nvfp4_2d = is_b && base.nvfp4_2d;
  }
  if (s == Scheme::kFp8Block) o.fp8_block = is_b ? Fp8BlockShape::k128x128 : Fp8BlockShape::k1x128;
  return o;
}

int row_group(Scheme s, const QuantOptions& o) {
  if (s == Scheme::kNvfp4 && o.nvfp4_2d) return 16;
  if (s == Scheme::kFp8Block && o.fp8_block == Fp8BlockShape::k128x128) return 128;
  return 1;
}

// Block scales go into the values (element x scale is exact in double; a weight-only B's values
// are exact in BF16, so its on-chip dequantization loses nothing) except block FP8's float32
// scales, which the kernel applies when it promotes each 128-K partial sum.
Operand prepare(const MatrixSource& src, Scheme s, const QuantOptions& base, bool is_b,
                const std::vector<Patch>& patches, int64_t k, std::optional<float> static_amax) {
  Operand op;
  QuantOptions o = options_for(s, base, is_b);
  op.rows = rows_needed(patches, !is_b, row_group(s, o), src.rows());
  op.local.assign(static_cast<size_t>(src.rows()), -1);
  for (size_t i = 0; i < op.rows.size(); ++i)
    op.local[static_cast<size_t>(op.rows[i])] = static_cast<int64_t>(i);
  op.input = src.gather(op.rows);
  if (tensor_scaled(s) && static_amax) {
    o.tensor_amax = *static_amax;
  } else if (tensor_scaled(s)) {
    if (o.rht) {
      const auto m = rht_matrix(o.rht_seed);
      o.tensor_amax = src.amax([&](std::span<float> row) { rht_apply(row, m); });
    } else {
      o.tensor_amax = src.amax();
    }
  }
  op.q = quantize(op.input, s, o);
  const auto n = static_cast<int64_t>(op.rows.size());
  op.kpad = (k + 127) / 128 * 128;
  op.values.assign(static_cast<size_t>(n * op.kpad), 0.0);
  const SchemeInfo info = op.q.info();
  parallel_for(n, [&](int64_t r) {
    double* out = op.values.data() + r * op.kpad;
    for (int64_t c = 0; c < k; ++c) {
      const auto idx = static_cast<size_t>(r * k + c);
      double v = decode(info.element, op.q.code(idx));
      if (info.scale)
        v *= decode(*info.scale,
                    op.q.scales[static_cast<size_t>(r * op.q.scale_cols() + c / op.q.block_cols)]);
      out[c] = v;
    }
  });
  if (s == Scheme::kFp8Block) op.block_scale = op.q.float_scales;
  return op;
}

// The per-tensor scale the epilogue applies.
float epilogue_alpha(const Operand& a, const Operand& b, Scheme sa, Scheme sb) {
  const bool ta = tensor_scaled(sa);
  const bool tb = tensor_scaled(sb);
  const auto te_nvfp4 = [](const Operand& o) {
    return o.q.scheme == Scheme::kNvfp4 && o.q.options.nvfp4_recipe == NvFp4Recipe::kTransformerEngine;
  };
  if (te_nvfp4(a) && te_nvfp4(b) && a.q.amax > 0 && b.q.amax > 0) {
    // NUMERICS.md: amax_A * amax_B / (6 * 6 * 448 * 448), float32, left to right (256 for the
    // 4-over-6 encode scale).
    const float da = 6.0f * (a.q.options.four_over_six ? 256.0f : 448.0f);
    const float db = 6.0f * (b.q.options.four_over_six ? 256.0f : 448.0f);
    return a.q.amax * b.q.amax / (da * db);
  }
  return (ta ? a.q.tensor_scale : 1.0f) * (tb ? b.q.tensor_scale : 1.0f);
}

struct PatchResult {
  std::vector<float> v;     // float32 result after alpha
  std::vector<double> ref;  // float64 reference
};

}  // namespace

GemmFunctional gemm_functional(const GemmPlan& plan, Arch arch, const GemmOperands& in,
                               const FunctionalSpec& spec, const QuantOptions& quant) {
  // The numbers do not depend on a swap of A and B (each output is the same dot product).
  const GemmProblem p = plan.user_problem();
  const GemmMath m = gemm_math(p.format, arch, std::string(arch_name(arch)));
  GemmFunctional f;
  f.mode = spec.name();
  if (spec.mode == FunctionalSpec::Mode::kOff) return f;
  const auto mismatch = [&](const char* which, const MatrixSource& s, int64_t rows, const char* rname) {
    return InputError(fmt::format("{} ({}) is {} x {}; the GEMM needs {} x {} ({} x K)", which,
                                  s.description(), s.rows(), s.cols(), rows, p.k, rname));
  };
  if (in.a.rows() != p.m || in.a.cols() != p.k) throw mismatch("A", in.a, p.m, "M");
  if (in.b.rows() != p.n || in.b.cols() != p.k) throw mismatch("B", in.b, p.n, "N");
  if (quant.nvfp4_2d && p.format.b == Scheme::kNvfp4 && p.n % 16 != 0)
    throw InputError(fmt::format("N = {}: 2D NVFP4 weights need N a multiple of 16", p.n));
  if (quant.rht && p.k % 16 != 0)
    throw InputError(fmt::format("K = {}: the RHT needs K a multiple of 16", p.k));

  const std::vector<Patch> patches = choose_patches(p, spec);
  f.patches = patches.size();
  for (const auto& [amax, name] : {std::pair{in.a_amax, "A"}, std::pair{in.b_amax, "B"}}) {
    if (amax && (!(*amax > 0) || !std::isfinite(*amax)))
      throw InputError(fmt::format("{}'s static amax {}: must be finite and > 0", name, *amax));
  }
  const Operand a = prepare(in.a, p.format.a, quant, false, patches, p.k, in.a_amax);
  const Operand b = prepare(in.b, p.format.b, quant, true, patches, p.k, in.b_amax);
  f.a_error = compare(a.q.dequantize_original_domain(), a.input.data);
  f.b_error = compare(b.q.dequantize_original_domain(), b.input.data);
  f.a_bits = a.q.bits_per_element();
  f.b_bits = b.q.bits_per_element();
  f.a_amax = a.q.amax;
  f.b_amax = b.q.amax;
  f.alpha = epilogue_alpha(a, b, p.format.a, p.format.b);

  const int kin = mma_k(m.kind);
  const AccumMode mode =
      arch == Arch::kSm90 && m.kind == MmaKind::kF8 ? AccumMode::kHopperFp8 : AccumMode::kFp32;
  const int64_t kpad = a.kpad;
  const int64_t kblocks = p.k / 128;
  std::vector<PatchResult> results(patches.size());
  // In chunks, so that a long full run reports progress from this thread between them.
  const auto count = static_cast<int64_t>(patches.size());
  const int64_t chunk = std::max<int64_t>(256, (count + 199) / 200);
  progress::Scope bar("bit-exact GEMM (16x16 output patches)", static_cast<double>(count));
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t n = std::min(chunk, count - first);
    parallel_for(n, [&](int64_t local) {
      const int64_t pi = first + local;
      const Patch& pt = patches[static_cast<size_t>(pi)];
      const auto hw = static_cast<size_t>(pt.h * pt.w);
      const int64_t la = a.local[static_cast<size_t>(pt.i0)];
      const int64_t lb = b.local[static_cast<size_t>(pt.j0)];
      std::vector<float> total(hw, 0.0f), acc(hw), part(hw);
      const auto tile_at = [&](uint64_t kk) {
        MmaTile t{static_cast<int>(pt.h),
                  static_cast<int>(pt.w),
                  kin,
                  std::span<const double>(a.values).subspan(static_cast<size_t>(la * kpad) + kk),
                  std::span<const double>(b.values).subspan(static_cast<size_t>(lb * kpad) + kk),
                  {},
                  {},
                  0};
        t.lda = t.ldb = static_cast<int>(kpad);
        return t;
      };
      // The K ranges summed separately and then added in order: split-K slices, or a stream-K
      // tile's pieces (patches are 16-aligned, so a patch lies in one tile). Kernel view: swapped.
      const auto pieces = plan.tile.swap_ab ? plan.k_pieces(pt.j0, pt.i0) : plan.k_pieces(pt.i0, pt.j0);
      for (size_t s = 0; s < pieces.size(); ++s) {
        const auto [k0, k1] = pieces[s];
        std::fill(acc.begin(), acc.end(), 0.0f);
        if (m.block_fp8) {
          // DeepGEMM: each 128-K block's MMAs accumulate afresh; the partial is then scaled by
          // scale_a * scale_b (float32) and added to the running sum with one fused multiply-add.
          for (uint64_t kb = k0; kb < k1; kb += 128) {
            std::fill(part.begin(), part.end(), 0.0f);
            for (uint64_t kk = kb; kk < kb + 128; kk += static_cast<uint64_t>(kin))
              mma_accumulate(tile_at(kk), part, mode);
            const auto blk = static_cast<int64_t>(kb / 128);
            for (int64_t i = 0; i < pt.h; ++i) {
              const float sa = a.block_scale[static_cast<size_t>((la + i) * kblocks + blk)];
              for (int64_t j = 0; j < pt.w; ++j) {
                // B's rows are gathered in whole 128-row groups: local row / 128 is its scale row.
                const float sb = b.block_scale[static_cast<size_t>((lb + j) / 128 * kblocks + blk)];
                const auto idx = static_cast<size_t>(i * pt.w + j);
                acc[idx] = std::fma(sa * sb, part[idx], acc[idx]);
              }
            }
          }
        } else {
          for (uint64_t kk = k0; kk < k1; kk += static_cast<uint64_t>(kin))
            mma_accumulate(tile_at(kk), acc, mode);
        }
        // Split-K partials are reduced in float32, in split order.
        for (size_t i = 0; i < hw; ++i) total[i] = s == 0 ? acc[i] : total[i] + acc[i];
      }
      PatchResult& r = results[static_cast<size_t>(pi)];
      r.v.resize(hw);
      r.ref.resize(hw);
      for (int64_t i = 0; i < pt.h; ++i) {
        const float* xa = a.input.data.data() + (la + i) * p.k;
        for (int64_t j = 0; j < pt.w; ++j) {
          const float* xb = b.input.data.data() + (lb + j) * p.k;
          double s4[4] = {0, 0, 0, 0};
          int64_t c = 0;
          for (; c + 4 <= p.k; c += 4) {
            for (int l = 0; l < 4; ++l)
              s4[l] += static_cast<double>(xa[c + l]) * static_cast<double>(xb[c + l]);
          }
          for (; c < p.k; ++c) s4[0] += static_cast<double>(xa[c]) * static_cast<double>(xb[c]);
          const auto idx = static_cast<size_t>(i * pt.w + j);
          r.ref[idx] = (s4[0] + s4[1]) + (s4[2] + s4[3]);
          r.v[idx] = f.alpha * total[idx];
        }
      }
    });
    bar.set(static_cast<double>(first + n));
  }

  // Output conversion. FP8 and NVFP4 outputs take their per-tensor scale from the amax of the
  // outputs computed (all of D in full mode), as current scaling would.
  std::vector<float> flat;
  for (const PatchResult& r : results) flat.insert(flat.end(), r.v.begin(), r.v.end());
  f.outputs = flat.size();
  std::vector<float> stored(flat.size());
  std::vector<uint32_t> codes(flat.size());
  std::vector<uint8_t> scales;
  if (p.out == GemmOut::kBf16) {
    for (size_t i = 0; i < flat.size(); ++i) {
      codes[i] = encode(ScalarFormat::kBF16, flat[i], false);
      stored[i] = decode(ScalarFormat::kBF16, codes[i]);
    }
  } else {
    const bool nv = p.out == GemmOut::kNvfp4;
    const int64_t cols = nv ? 16 : static_cast<int64_t>(flat.size());
    Tensor t{{static_cast<int64_t>(flat.size()) / cols, cols}, flat};
    const QuantizedTensor q = quantize(t, nv ? Scheme::kNvfp4 : Scheme::kFp8E4M3);
    stored = q.dequantize();
    for (size_t i = 0; i < flat.size(); ++i) codes[i] = q.code(i);
    scales = q.scales;
    f.d_scale = q.tensor_scale;
  }

  ErrorAccumulator out_err, fp32_err;
  size_t at = 0;
  for (const PatchResult& r : results) {
    for (size_t i = 0; i < r.v.size(); ++i, ++at) {
      out_err.add(stored[at], r.ref[i]);
      fp32_err.add(r.v[i], r.ref[i]);
    }
  }
  f.error = out_err.result();
  f.error_fp32 = fp32_err.result();

  if (spec.mode == FunctionalSpec::Mode::kFull) {
    const auto mn = static_cast<size_t>(p.m * p.n);
    f.d.resize(mn);
    f.d_fp32.resize(mn);
    f.d_codes.resize(mn);
    if (p.out == GemmOut::kNvfp4) f.d_scales.resize(mn / 16);
    at = 0;
    for (const Patch& pt : patches) {
      for (int64_t i = 0; i < pt.h; ++i) {
        for (int64_t j = 0; j < pt.w; ++j, ++at) {
          const auto idx = static_cast<size_t>((pt.i0 + i) * p.n + pt.j0 + j);
          f.d[idx] = stored[at];
          f.d_fp32[idx] = flat[at];
          f.d_codes[idx] = codes[at];
        }
        if (p.out == GemmOut::kNvfp4)
          f.d_scales[static_cast<size_t>(((pt.i0 + i) * p.n + pt.j0) / 16)] = scales[at / 16 - 1];
      }
    }
  }
  return f;
}

}  // namespace bwsim
