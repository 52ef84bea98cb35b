// Scalar number formats, bit-exact.
//
// Every minifloat is encoded from float32 by one routine: the float32 significand is rounded at
// the target's own quantum (2^(max(E, emin) - mantissa_bits)), so subnormal results round at
// subnormal spacing, and the code is assembled as ((max(E, emin) + bias - 1) << m) + rounded,
// which makes a rounding carry move into the exponent (and a subnormal carry become the
// smallest normal) without special cases. Decoding is a 256-entry table for 8-bit formats.
//
// Special values (see NUMERICS.md and README "Numerics"):
//  * Overflow saturates to +-max by default (cvt.satfinite). Without saturation E5M2, FP16 and
//    BF16 give +-inf, E4M3 gives NaN (it has no inf); FP4/FP6 have neither and always saturate.
//  * NaN in: E4M3 -> s.1111.111, E5M2/FP16/BF16 -> quiet NaN with the sign kept, UE4M3/UE8M0 ->
//    their NaN code. FP4/FP6 have no NaN: bwsim follows the hardware's satfinite rule and
//    gives +max (E2M1: +6), where ml_dtypes would give -0.
//  * UE4M3 is E4M3 with the sign bit unused (ignored when decoding).
//  * Unsigned formats (UE4M3, UE8M0): negative inputs clamp to the smallest code when
//    saturating and give NaN otherwise. UE8M0 has no zero: zero and underflow give 2^-127.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace bwsim {

enum class ScalarFormat : uint8_t { kE2M1, kE2M3, kE3M2, kE4M3, kE5M2, kUE8M0, kUE4M3, kBF16, kFP16, kINT8 };

inline constexpr std::array<std::pair<std::string_view, ScalarFormat>, 10> kScalarFormatNames{{
    {"e2m1", ScalarFormat::kE2M1},
    {"e2m3", ScalarFormat::kE2M3},
    {"e3m2", ScalarFormat::kE3M2},
    {"e4m3", ScalarFormat::kE4M3},
    {"e5m2", ScalarFormat::kE5M2},
    {"ue8m0", ScalarFormat::kUE8M0},
    {"ue4m3", ScalarFormat::kUE4M3},
    {"bf16", ScalarFormat::kBF16},
    {"fp16", ScalarFormat::kFP16},
    {"int8", ScalarFormat::kINT8},
}};

enum class Round : uint8_t {
  kNearestEven,     // cvt.rn
  kTowardZero,      // cvt.rz
  kTowardPositive,  // cvt.rp
  kStochastic,      // cvt.rs: 8 random bits are added below the kept bits, then truncated
};

/// Static description of a format.
struct FormatInfo {
  std::string_view name;
  int bits;
  int exp_bits;
  int man_bits;
  int bias;
  bool is_signed;
  bool has_inf;
  bool has_nan;
  uint32_t max_mag;  // magnitude code of the largest finite value
  double max;
  double min_normal;
  double min_subnormal;  // 0 when the format has no subnormals
};

const FormatInfo& format_info(ScalarFormat f);
std::string_view format_name(ScalarFormat f);
std::optional<ScalarFormat> parse_format_name(std::string_view name);

/// float32 -> code. `random8` is used only by Round::kStochastic.
uint32_t encode(ScalarFormat f, float x, bool saturate = true, Round round = Round::kNearestEven,
                uint32_t random8 = 0);
/// code -> value; exact (every value of these formats is a float32).
float decode(ScalarFormat f, uint32_t code);
/// Whether `code` fits the format's width.
bool code_fits(ScalarFormat f, uint32_t code);

// ------------------------------------------------------------------------------------------
// The generic minifloat rounding core, inline for the bulk quantizers.

struct MiniFloat {
  int man_bits;
  int bias;
  int bits;
  bool is_signed;
  uint32_t max_mag;
  uint32_t inf_mag;  // 0: no inf (overflow without saturation gives NaN, or saturates)
  uint32_t nan_mag;  // 0: no NaN (FP4/FP6)
};

inline constexpr MiniFloat kE2M1{1, 1, 4, true, 0x7, 0, 0};
inline constexpr MiniFloat kE2M3{3, 1, 6, true, 0x1F, 0, 0};
inline constexpr MiniFloat kE3M2{2, 3, 6, true, 0x1F, 0, 0};
inline constexpr MiniFloat kE4M3{3, 7, 8, true, 0x7E, 0, 0x7F};
inline constexpr MiniFloat kE5M2{2, 15, 8, true, 0x7B, 0x7C, 0x7E};
inline constexpr MiniFloat kUE4M3{3, 7, 8, false, 0x7E, 0, 0x7F};
inline constexpr MiniFloat kFP16{10, 15, 16, true, 0x7BFF, 0x7C00, 0x7E00};
inline constexpr MiniFloat kBF16{7, 127, 16, true, 0x7F7F, 0x7F80, 0x7FC0};

/// Rounds float32 `x` into minifloat `F`. See the file comment for the special-value rules.
inline uint32_t encode_minifloat(const MiniFloat& F, float x, bool saturate, Round round, uint32_t random8) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t sign = bits >> 31;
  const uint32_t abs = bits & 0x7FFFFFFFu;
  const uint32_t sign_bit = F.is_signed ? sign << (F.bits - 1) : 0;
  const bool no_overflow_code = F.inf_mag == 0 && F.nan_mag == 0;  // FP4/FP6
  if (abs >= 0x7F800000u) {
    if (abs > 0x7F800000u) {  // NaN
      if (F.nan_mag == 0) return F.max_mag;
      return (F.is_signed ? sign_bit : 0) | F.nan_mag;
    }
    if (!F.is_signed && sign) return saturate ? 0 : F.nan_mag;
    if (saturate || no_overflow_code) return sign_bit | F.max_mag;
    return sign_bit | (F.inf_mag != 0 ? F.inf_mag : F.nan_mag);
  }
  if (!F.is_signed && sign) return (abs == 0 || saturate) ? 0 : F.nan_mag;
  if (abs == 0) return sign_bit;
  uint32_t sig;
  int e;
  if ((abs >> 23) == 0) {  // float32 subnormal: no implicit bit
    sig = abs;
    e = -126;
  } else {
    sig = (abs & 0x7FFFFFu) | 0x800000u;
    e = static_cast<int>(abs >> 23) - 127;
  }
  const int emin = 1 - F.bias;
  const int eeff = e > emin ? e : emin;
  const int shift = 23 - F.man_bits + (eeff - e);
  uint64_t rounded = 0;
  if (shift < 32) {
    const uint64_t s = sig;
    rounded = s >> shift;
    const uint64_t rem = s & ((uint64_t{1} << shift) - 1);
    switch (round) {
      case Round::kNearestEven: {
        const uint64_t half = uint64_t{1} << (shift - 1);
        rounded += static_cast<uint64_t>(rem > half || (rem == half && (rounded & 1) != 0));
        break;
      }
      case Round::kTowardZero:
        break;
      case Round::kTowardPositive:
        rounded += static_cast<uint64_t>(rem != 0 && sign == 0);
        break;
      case Round::kStochastic: {
        const uint64_t top8 = shift >= 8 ? rem >> (shift - 8) : rem << (8 - shift);
        rounded += (top8 + (random8 & 0xFF)) >> 8;
        break;
      }
    }
  } else if (round == Round::kTowardPositive && sign == 0) {
    rounded = 1;  // far below the smallest subnormal, rounded up to it
  }
  const uint64_t mag = (static_cast<uint64_t>(eeff + F.bias - 1) << F.man_bits) + rounded;
  if (mag > F.max_mag) {
    if (saturate || no_overflow_code || round == Round::kTowardZero) return sign_bit | F.max_mag;
    return sign_bit | (F.inf_mag != 0 ? F.inf_mag : F.nan_mag);
  }
  return sign_bit | static_cast<uint32_t>(mag);
}

/// Round-to-nearest-even with saturation for bulk loops: the same results as
/// encode_minifloat(F, x, true, kNearestEven) for every input of the element formats (E2M1, E2M3,
/// E3M2, E4M3, E5M2; tested exhaustively around every code) and every non-negative input of
/// UE4M3, but branch-free so the quantizers' inner loops vectorize. Normal results round on the
/// float32 bit pattern; subnormal results are scaled to integer units of the smallest subnormal
/// and rounded with the 2^23 trick (exact: the default FP environment rounds to nearest even).
/// Not for BF16: the scale to subnormal units, 2^(127 + man_bits + bias - 1), is not a float
/// there.
inline uint32_t encode_minifloat_rne_sat(const MiniFloat& F, float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint32_t a = u & 0x7FFFFFFFu;
  const int shift = 23 - F.man_bits;
  // Normal: RNE on the bits, then re-bias the exponent.
  const uint32_t r = a + ((1u << (shift - 1)) - 1u) + ((a >> shift) & 1u);
  const auto normal = static_cast<int32_t>(r >> shift) - static_cast<int32_t>((127 - F.bias) << F.man_bits);
  // Subnormal: |x| / 2^(emin - m), rounded to an integer number of smallest subnormals.
  const float scaled = std::bit_cast<float>(a) *
                       std::bit_cast<float>(static_cast<uint32_t>(127 + F.man_bits - (1 - F.bias)) << 23);
  // Only a subnormal result uses `sub`, and then 0 <= scaled < 2^23. Anything else (a larger
  // value, an infinity, a NaN, for which the comparison is false) is clamped first, so the
  // conversion to int32 is always in range: converting an out-of-range float is undefined.
  const float below = scaled < 8388608.0f ? scaled : 8388608.0f;
  const float bounded = below > 0.0f ? below : 0.0f;
  const auto sub = static_cast<int32_t>((bounded + 8388608.0f) - 8388608.0f);
  const uint32_t min_normal_bits = static_cast<uint32_t>(127 + 1 - F.bias) << 23;
  int32_t mag = a < min_normal_bits ? sub : normal;
  mag = mag > static_cast<int32_t>(F.max_mag) ? static_cast<int32_t>(F.max_mag) : mag;
  const bool nan = a > 0x7F800000u;
  const uint32_t nan_code = F.nan_mag != 0 ? F.nan_mag : F.max_mag;
  const uint32_t sign = F.is_signed ? (u >> 31) << (F.bits - 1) : 0;
  const uint32_t keep_sign = nan && F.nan_mag == 0 ? 0 : sign;  // FP4/FP6 NaN -> +max
  return keep_sign | (nan ? nan_code : static_cast<uint32_t>(mag));
}

/// The decode table of an 8-bit-or-narrower format (256 entries), for hot loops that want to
/// skip the dispatch in decode().
const std::array<float, 256>& decode_table(ScalarFormat f);

/// UE8M0 (scale) encoding: a power of two 2^(code-127), codes 0..254, 0xFF = NaN.
uint32_t encode_ue8m0(float x, bool saturate, Round round);

/// E2M1 round-to-nearest-even with saturation, the NVFP4/MXFP4 hot path. For non-negative
/// floats the order of the bit patterns is the order of the values, so the code is a count of
/// integer comparisons against the midpoints (ties go to the even code): no branches, and it
/// vectorizes with plain SSE2. A NaN's bits exceed every threshold, giving +6 as satfinite does.
inline uint32_t encode_e2m1_rne_sat(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const auto a = static_cast<int32_t>(u & 0x7FFFFFFFu);
  // Midpoints 0.25 0.75 1.25 1.75 2.5 3.5 5: the upper code wins a tie when it is even.
  const uint32_t mag = static_cast<uint32_t>(a > 0x3E800000) + static_cast<uint32_t>(a >= 0x3F400000) +
                       static_cast<uint32_t>(a > 0x3FA00000) + static_cast<uint32_t>(a >= 0x3FE00000) +
                       static_cast<uint32_t>(a > 0x40200000) + static_cast<uint32_t>(a >= 0x40600000) +
                       static_cast<uint32_t>(a > 0x40A00000);
  const uint32_t sign = (u >> 31) & static_cast<uint32_t>(a <= 0x7F800000);  // NaN -> +
  return (sign << 3) | mag;
}

/// A finite float rounded to the nearest BF16 value (ties to even): what
/// decode(kBF16, encode(kBF16, x, false)) gives for finite x, without the generic minifloat path,
/// for inner loops that keep values in BF16 (attention's Q, K, P and O).
inline float round_bf16_finite(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return std::bit_cast<float>(u & 0xFFFF0000u);
}

inline constexpr std::array<float, 16> kE2M1Values{0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                                   -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

}  // namespace bwsim
