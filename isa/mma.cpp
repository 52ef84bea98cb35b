#include "isa/mma.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

namespace bwsim {

int mma_k(MmaKind kind) {
  switch (kind) {
    case MmaKind::kF16:
      return 16;
    case MmaKind::kTf32:
      return 8;
    case MmaKind::kF8:
    case MmaKind::kF8F6F4:
    case MmaKind::kI8:
    case MmaKind::kMxF8F6F4:
      return 32;
    case MmaKind::kMxF4:
    case MmaKind::kMxF4NvF4:
      return 64;
  }
  return 0;
}

namespace {

bool is_fp8(ScalarFormat f) { return f == ScalarFormat::kE4M3 || f == ScalarFormat::kE5M2; }
bool is_f8f6f4(ScalarFormat f) {
  return is_fp8(f) || f == ScalarFormat::kE2M3 || f == ScalarFormat::kE3M2 || f == ScalarFormat::kE2M1;
}
bool block_scaled(MmaKind k) {
  return k == MmaKind::kMxF8F6F4 || k == MmaKind::kMxF4 || k == MmaKind::kMxF4NvF4;
}

std::optional<std::string> operand_error(const MmaSpec& s) {
  const auto both = [&](auto pred) { return pred(s.a) && pred(s.b); };
  switch (s.kind) {
    case MmaKind::kF16:
      if (!((s.a == ScalarFormat::kBF16 || s.a == ScalarFormat::kFP16) && s.a == s.b)) {
        return "kind::f16 takes two BF16 or two FP16 operands";
      }
      break;
    case MmaKind::kTf32:
      if (!s.tf32) return "kind::tf32 takes TF32 operands";
      break;
    case MmaKind::kF8:
      if (!both(is_fp8)) return "wgmma FP8 takes E4M3/E5M2 operands";
      break;
    case MmaKind::kF8F6F4:
    case MmaKind::kMxF8F6F4:
      if (!both(is_f8f6f4))
        return fmt::format("kind::{} takes E4M3, E5M2, E2M3, E3M2 or E2M1 operands", mma_kind_name(s.kind));
      break;
    case MmaKind::kI8:
      if (!(s.a == ScalarFormat::kINT8 && s.b == ScalarFormat::kINT8)) return "kind::i8 takes INT8 operands";
      break;
    case MmaKind::kMxF4:
    case MmaKind::kMxF4NvF4:
      if (!both([](ScalarFormat f) { return f == ScalarFormat::kE2M1; })) {
        return fmt::format("kind::{} takes E2M1 (FP4) operands", mma_kind_name(s.kind));
      }
      break;
  }
  if (!block_scaled(s.kind)) {
    if (s.scale) return fmt::format("kind::{} has no block scales", mma_kind_name(s.kind));
    return std::nullopt;
  }
  if (!s.scale) return fmt::format("kind::{} needs block scales", mma_kind_name(s.kind));
  const bool ue8 = *s.scale == ScalarFormat::kUE8M0;
  const bool ue4 = *s.scale == ScalarFormat::kUE4M3;
  switch (s.kind) {
    case MmaKind::kMxF8F6F4:
    case MmaKind::kMxF4:
      if (!(ue8 && s.scale_block == 32))
        return fmt::format("kind::{} scales are UE8M0 per 32 elements", mma_kind_name(s.kind));
      break;
    default:  // mxf4nvf4
      if (!((ue8 && (s.scale_block == 32 || s.scale_block == 16)) || (ue4 && s.scale_block == 16))) {
        return "kind::mxf4nvf4 scales are UE4M3 per 16 (NVFP4), or UE8M0 per 16 or 32";
      }
  }
  return std::nullopt;
}

std::optional<std::string> shape_error(const MmaSpec& s) {
  const bool i8 = s.kind == MmaKind::kI8;
  if (has_tcgen05(s.arch)) {
    if (s.cta_group != 1 && s.cta_group != 2) return "cta_group must be 1 or 2";
    if (s.cta_group == 1) {
      const bool m_ok = block_scaled(s.kind) ? s.m == 128 : (s.m == 64 || s.m == 128);
      if (!m_ok) {
        return block_scaled(s.kind)
                   ? fmt::format("block-scaled tcgen05.mma needs M=128 per CTA (got {})", s.m)
                   : fmt::format("tcgen05.mma M must be 64 or 128 (got {})", s.m);
      }
      const bool n_ok =
          i8 ? (s.n == 8 || s.n == 16 || s.n == 24 || (s.n >= 32 && s.n <= 256 && s.n % 16 == 0))
             : (s.n >= 8 && s.n <= 256 && s.n % 8 == 0);
      if (!n_ok) return fmt::format("tcgen05.mma N={} is not allowed for M={}", s.n, s.m);
    } else {
      if (s.m != 128 && s.m != 256)
        return fmt::format("a CTA-pair tcgen05.mma has M=128 or 256 (got {})", s.m);
      if (block_scaled(s.kind) && s.m != 256) return "a block-scaled CTA-pair tcgen05.mma needs M=256";
      const int step = i8 ? 32 : 16;
      if (!(s.n >= step && s.n <= 256 && s.n % step == 0))
        return fmt::format("CTA-pair tcgen05.mma N={} is not allowed", s.n);
    }
    return std::nullopt;
  }
  if (s.cta_group != 1) return fmt::format("{} has no CTA-pair MMA", arch_name(s.arch));
  if (has_wgmma(s.arch)) {
    if (s.m != 64) return fmt::format("wgmma has M=64 per warpgroup (got {})", s.m);
    if (!(s.n >= 8 && s.n <= 256 && s.n % 8 == 0)) return fmt::format("wgmma N={} is not allowed", s.n);
    return std::nullopt;
  }
  // sm_120: warp-level mma.sync m16n8kK.
  if (s.m != 16 || s.n != 8) return fmt::format("mma.sync on sm_120 is m16n8 (got m{} n{})", s.m, s.n);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> mma_invalid_reason(const MmaSpec& s) {
  if (!arch_has_kind(s.arch, s.kind)) {
    return fmt::format(
        "{} has no kind::{} tensor instructions{}", arch_name(s.arch), mma_kind_name(s.kind),
        s.arch == Arch::kSm90 && block_scaled(s.kind) ? " (no block-scaled MMA on Hopper)" : "");
  }
  if (auto e = operand_error(s)) return e;
  return shape_error(s);
}

float tf32_truncate(float x) { return std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0xFFFFE000u); }

float round_to_float(double hi, double lo) {
  const float f = static_cast<float>(hi);
  const double err = hi - static_cast<double>(f);          // exact
  if (!std::isfinite(f) || lo == 0 || err == 0) return f;  // |lo| alone never reaches half a float ulp
  // hi lies strictly between f and its neighbour g. Only when hi is exactly their midpoint can
  // lo change the answer: it decides which side of the tie the true value hi + lo is on.
  const float g = std::nextafter(f, err > 0 ? INFINITY : -INFINITY);
  const double half = std::fabs(static_cast<double>(g) - static_cast<double>(f)) / 2;
  if (std::fabs(err) == half && (lo > 0) == (err > 0)) return g;
  return f;
}

namespace {

// Error-free addition: s + e == a + b exactly.
inline void two_sum(double a, double b, double& s, double& e) {
  s = a + b;
  const double bb = s - a;
  e = (a - (s - bb)) + (b - bb);
}

}  // namespace

namespace {

struct TileView {
  const MmaTile& t;
  int nb, lda, ldb, ldsa, ldsb;
  explicit TileView(const MmaTile& tile)
      : t(tile),
        nb(tile.scale_block > 0 ? tile.k / tile.scale_block : 0),
        lda(tile.lda > 0 ? tile.lda : tile.k),
        ldb(tile.ldb > 0 ? tile.ldb : tile.k),
        ldsa(tile.lda_scale > 0 ? tile.lda_scale : nb),
        ldsb(tile.ldb_scale > 0 ? tile.ldb_scale : nb) {}
  [[nodiscard]] const double* a(int i) const { return t.a.data() + static_cast<size_t>(i) * lda; }
  [[nodiscard]] const double* b(int j) const { return t.b.data() + static_cast<size_t>(j) * ldb; }
  [[nodiscard]] double scale(int i, int j, int blk) const {
    return t.a_scale[static_cast<size_t>(i) * ldsa + blk] * t.b_scale[static_cast<size_t>(j) * ldsb + blk];
  }
};

// The exact path: every product exact, summed error-free into (hi, lo), rounded once.
float accumulate_exact(const TileView& v, int i, int j, float acc, AccumMode mode,
                       std::vector<double>& prod) {
  const MmaTile& t = v.t;
  const double* a = v.a(i);
  const double* b = v.b(j);
  double amax = 0;
  for (int kk = 0; kk < t.k; ++kk) {
    double p = a[kk] * b[kk];
    if (v.nb > 0) p = p * v.scale(i, j, kk / t.scale_block);
    prod[static_cast<size_t>(kk)] = p;
    amax = std::max(amax, std::fabs(p));
  }
  if (mode == AccumMode::kHopperFp8) {
    const double top = std::max(amax, std::fabs(static_cast<double>(acc)));
    if (top > 0 && std::isfinite(top)) {
      int e;
      std::frexp(top, &e);  // top in [2^(e-1), 2^e)
      const double quantum = std::ldexp(1.0, e - 1 - 13);
      for (double& p : prod) p = std::trunc(p / quantum) * quantum;
      acc = static_cast<float>(std::trunc(static_cast<double>(acc) / quantum) * quantum);
    }
  }
  double hi = acc;
  double lo = 0;
  for (double p : prod) {
    double s, e;
    two_sum(hi, p, s, e);
    hi = s;
    lo += e;  // |lo| stays tiny; a K-slice has at most 64 terms
  }
  double s, e;
  two_sum(hi, lo, s, e);
  return round_to_float(s, e);
}

// The fast path: the sum in double (any order) with |error| <= bound. When the double result
// is farther than `bound` from every float32 rounding boundary, rounding it gives the same
// float as rounding the exact sum. Returns false when it cannot tell.
bool accumulate_fast(const TileView& v, int i, int j, float& acc) {
  const MmaTile& t = v.t;
  const double* a = v.a(i);
  const double* b = v.b(j);
  const int block = v.nb > 0 ? t.scale_block : t.k;
  const int blocks = v.nb > 0 ? v.nb : 1;
  double sum = acc;
  double mag = std::fabs(static_cast<double>(acc));
  for (int blk = 0; blk < blocks; ++blk) {
    const double* pa = a + static_cast<std::ptrdiff_t>(blk) * block;
    const double* pb = b + static_cast<std::ptrdiff_t>(blk) * block;
    double s[4] = {0, 0, 0, 0};
    double m[4] = {0, 0, 0, 0};
    int kk = 0;
    for (; kk + 4 <= block; kk += 4) {
      for (int l = 0; l < 4; ++l) {
        const double p = pa[kk + l] * pb[kk + l];
        s[l] += p;
        m[l] += std::fabs(p);
      }
    }
    for (; kk < block; ++kk) {
      const double p = pa[kk] * pb[kk];
      s[0] += p;
      m[0] += std::fabs(p);
    }
    const double bs = (s[0] + s[1]) + (s[2] + s[3]);
    const double bm = (m[0] + m[1]) + (m[2] + m[3]);
    const double sc = v.nb > 0 ? v.scale(i, j, blk) : 1.0;
    sum += bs * sc;
    mag += bm * std::fabs(sc);
  }
  // Each of the k + blocks + 2 operations errs by at most 2^-53 of a partial sum bounded by
  // `mag` (itself computed with relative error below 2^-46); a factor of 4 covers both.
  const double bound = 4.0 * (t.k + 2 * blocks + 4) * 0x1p-53 * mag;
  if (!std::isfinite(sum) || !std::isfinite(bound)) return false;
  const float f = static_cast<float>(sum);
  if (!std::isfinite(f)) return false;
  const double fd = f;
  const double below = (fd + static_cast<double>(std::nextafter(f, -INFINITY))) / 2;  // exact midpoints
  const double above = (fd + static_cast<double>(std::nextafter(f, INFINITY))) / 2;
  if (sum - below <= bound || above - sum <= bound) return false;
  acc = f;
  return true;
}

}  // namespace

void mma_accumulate(const MmaTile& t, std::span<float> d, AccumMode mode) {
  const TileView v(t);
  std::vector<double> prod(static_cast<size_t>(t.k));
  for (int i = 0; i < t.m; ++i) {
    for (int j = 0; j < t.n; ++j) {
      float& acc = d[static_cast<size_t>(i) * t.n + j];
      if (mode == AccumMode::kFp32 && accumulate_fast(v, i, j, acc)) continue;
      acc = accumulate_exact(v, i, j, acc, mode, prod);
    }
  }
}

}  // namespace bwsim
