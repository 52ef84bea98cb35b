// Block-scaled and per-tensor quantization: NVFP4, MXFP4/6/8, FP8 per-tensor, DeepSeek block
// FP8, and BF16 as the unquantized baseline.
//
// A matrix is quantized along its last dimension (K, contiguous): A (M x K) and B stored as
// N x K (the TN layout block-scaled MMAs require) are both blocked along K. Every scheme keeps
// the element codes, the scale codes (plain, row-major [rows][K / block]) and any per-tensor
// scale, so dequantization, the GEMM functional model and the files `bwsim quantize` writes
// all read the same numbers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "isa/scalar_format.hpp"
#include "isa/tensor.hpp"

namespace bwsim {

enum class Scheme {
  kBf16,
  kNvfp4,
  kMxfp4,
  kMxfp6E2M3,
  kMxfp6E3M2,
  kMxfp8E4M3,
  kMxfp8E5M2,
  kFp8E4M3,
  kFp8E5M2,
  kFp8Block,
};

inline constexpr std::array<std::pair<std::string_view, Scheme>, 10> kSchemeNames{{
    {"bf16", Scheme::kBf16},
    {"nvfp4", Scheme::kNvfp4},
    {"mxfp4", Scheme::kMxfp4},
    {"mxfp6_e2m3", Scheme::kMxfp6E2M3},
    {"mxfp6_e3m2", Scheme::kMxfp6E3M2},
    {"mxfp8_e4m3", Scheme::kMxfp8E4M3},
    {"mxfp8_e5m2", Scheme::kMxfp8E5M2},
    {"fp8_e4m3", Scheme::kFp8E4M3},
    {"fp8_e5m2", Scheme::kFp8E5M2},
    {"fp8_block", Scheme::kFp8Block},
}};

std::string_view scheme_name(Scheme s);
std::optional<Scheme> parse_scheme(std::string_view name);

enum class MxScaleMode { kFloor, kRceil };  // OCP floor(log2 amax) - emax, or round-up of amax/max
enum class NvFp4Recipe { kTransformerEngine, kTorchAo };
enum class Fp8BlockShape { k1x128, k128x128 };  // DeepSeek: activations 1x128, weights 128x128

struct QuantOptions {
  MxScaleMode mx_scale = MxScaleMode::kFloor;
  NvFp4Recipe nvfp4_recipe = NvFp4Recipe::kTransformerEngine;
  bool nvfp4_2d = false;             // one scale per 16x16 tile (weights)
  bool four_over_six = false;        // per block, scale to 4 or to 6, whichever errs less
  bool rht = false;                  // 16x16 random Hadamard transform along K before quantizing
  std::optional<uint64_t> rht_seed;  // random signs from this seed; none: TransformerEngine's fixed signs
  Fp8BlockShape fp8_block = Fp8BlockShape::k1x128;
  // The tensor amax behind per-tensor scales (NVFP4, FP8), when the rows quantized are a slice
  // of a larger tensor whose amax this is; none: the amax of the data quantized.
  std::optional<float> tensor_amax;
};

/// How a scheme lays out its numbers.
struct SchemeInfo {
  ScalarFormat element;
  std::optional<ScalarFormat> scale;  // block scale code format (none: float32 or no block scale)
  int block_k;                        // elements along K per scale (0: per tensor)
  bool tensor_scale;                  // a float32 per-tensor scale exists
};
SchemeInfo scheme_info(Scheme s, const QuantOptions& o = {});
/// Storage per element of a large tensor in bits, block scales included (NVFP4 4.5, MXFP4 4.25,
/// MXFP8 8.25, 128 x 128 block FP8 8 + 32/16384); per-tensor scales are negligible and left out.
[[nodiscard]] double storage_bits(Scheme s);

struct QuantizedTensor {
  Scheme scheme = Scheme::kBf16;
  QuantOptions options;
  std::vector<int64_t> shape;
  int64_t rows = 0;
  int64_t cols = 0;
  int block_rows = 1;  // scale block: block_rows x block_cols elements
  int block_cols = 1;
  // Element codes, row-major, as the hardware stores them: FP4 two per byte (first element in
  // the low nibble), FP8 one per byte, BF16 two bytes little-endian. FP6 is kept one per byte
  // (packed_codes() packs it).
  std::vector<uint8_t> codes;
  std::vector<uint8_t> scales;      // block scale codes [rows][cols / block_cols] (UE4M3 / UE8M0)
  std::vector<float> float_scales;  // FP8 block: dequantization scale per block [rows/br][cols/bc]
  float tensor_scale = 1.0f;        // multiply to dequantize (NVFP4: S_dec; FP8: 1 / scale)
  float amax = 0.0f;                // of the (transformed) input

  [[nodiscard]] const SchemeInfo info() const { return scheme_info(scheme, options); }
  [[nodiscard]] int64_t scale_cols() const { return block_cols > 0 ? cols / block_cols : 0; }
  [[nodiscard]] size_t size() const { return static_cast<size_t>(rows * cols); }
  /// Code of element i (row-major).
  [[nodiscard]] uint32_t code(size_t i) const {
    switch (code_bits_) {
      case 4:
        return (codes[i / 2] >> (4 * (i % 2))) & 0xFu;
      case 16:
        return codes[2 * i] | (uint32_t{codes[2 * i + 1]} << 8);
      default:
        return codes[i];
    }
  }
  int code_bits_ = 8;  // storage width of one code in `codes` (4, 8 or 16)
  /// Dequantized values in the quantized domain (after RHT if it was applied), float32,
  /// computed the way the reference stacks do: q * block scale * tensor scale.
  [[nodiscard]] std::vector<float> dequantize() const;
  /// Dequantized values mapped back to the input's domain (undoes RHT).
  [[nodiscard]] std::vector<float> dequantize_original_domain() const;
  /// The exact value an MMA multiplies for element (r, c): element x block scale, in float64.
  /// The per-tensor scale is not included (it goes into the GEMM's alpha).
  [[nodiscard]] double mma_value(int64_t r, int64_t c) const;
  /// Storage per element in bits, scales included.
  [[nodiscard]] double bits_per_element() const;
  /// Element codes as stored: FP4 two per byte, FP6 four per three bytes, else one per byte
  /// (BF16: two bytes little-endian).
  [[nodiscard]] std::vector<uint8_t> packed_codes() const;
};

/// Quantizes `x`. Throws InputError when the shape does not fit the scheme's blocks.
QuantizedTensor quantize(const Tensor& x, Scheme s, const QuantOptions& o = {});

/// The 16x16 random Hadamard transform: diag(s) * H16 (Sylvester) / 4, orthonormal, row-major,
/// applied to a 16-element group as y = x * M. The signs s are TransformerEngine's fixed vector
/// unless `seed` asks for random ones.
std::array<float, 256> rht_matrix(std::optional<uint64_t> seed);
/// x <- x * M for every 16-element group of x (its size a multiple of 16), as quantize() applies it.
void rht_apply(std::span<float> x, const std::array<float, 256>& m);

}  // namespace bwsim
