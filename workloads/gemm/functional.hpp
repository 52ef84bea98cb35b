// The numbers a GEMM computes on the modelled GPU: A and B quantized as the format says, multiplied
// instruction by instruction with the tensor core's accumulation semantics (isa/mma.hpp), split-K
// partials reduced in float32, the per-tensor scales applied in the epilogue, and the result
// converted to the output format; and its error against the float64 product of the unquantized
// inputs.
//
// What depends on the kernel plan is taken from it: the K range of each split-K piece (the
// reduction order), the instruction K (one float32 rounding per instruction), and for block FP8
// the 128-K promotion interval.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "isa/error_metrics.hpp"
#include "isa/matrix_source.hpp"
#include "isa/quantize.hpp"
#include "workloads/functional_spec.hpp"
#include "workloads/gemm/plan.hpp"

namespace bwsim {

/// Multiply-adds up to which "auto" computes the whole product.
inline constexpr double kAutoFullMacs = 1u << 28;

/// "off", "full", "sample:N" or "auto" (full up to kAutoFullMacs multiply-adds, else sample:64).
/// Throws InputError naming --functional.
FunctionalSpec parse_functional(std::string_view text, const GemmProblem& p);

/// A (M x K) and B (N x K, the layout of a PyTorch Linear weight).
struct GemmOperands {
  GemmOperands(MatrixSource a_in, MatrixSource b_in) : a(std::move(a_in)), b(std::move(b_in)) {}
  MatrixSource a;
  MatrixSource b;
  /// Static per-tensor amax (a calibrated scale, isa/calibration.hpp) for NVFP4 / per-tensor FP8
  /// operands; none: the operand's own amax (dynamic scaling).
  std::optional<float> a_amax;
  std::optional<float> b_amax;
};

struct GemmFunctional {
  std::string mode;               // "full", "sample:N"
  uint64_t patches = 0;           // output patches computed
  uint64_t outputs = 0;           // output elements computed
  ErrorMetrics error;             // D as stored (after output conversion) vs the float64 product
  ErrorMetrics error_fp32;        // the float32 result (after alpha, before conversion) vs the same
  ErrorMetrics a_error;           // quantized A (the rows used) vs A
  ErrorMetrics b_error;           // quantized B (the rows used) vs B
  double a_bits = 0, b_bits = 0;  // storage bits per element, scales included
  float a_amax = 0, b_amax = 0;
  float alpha = 1;    // per-tensor scales applied in the epilogue
  float d_scale = 1;  // FP8 / NVFP4 output: per-tensor dequantization scale
  // Full mode only, M x N row-major:
  std::vector<float> d;           // the output's values
  std::vector<float> d_fp32;      // the float32 result before the output conversion
  std::vector<uint32_t> d_codes;  // its codes (BF16, E4M3 or E2M1)
  std::vector<uint8_t> d_scales;  // NVFP4 output: UE4M3 block scales, M x N/16
};

/// `quant` carries the quantization options for both operands (MX scale rounding, NVFP4 recipe,
/// 4-over-6, RHT); `nvfp4_2d` applies to B only, and block FP8 uses 1x128 blocks for A and 128x128
/// for B, as DeepSeek's kernels do. Throws InputError when the operands do not match the problem.
GemmFunctional gemm_functional(const GemmPlan& plan, Arch arch, const GemmOperands& in,
                               const FunctionalSpec& spec, const QuantOptions& quant = {});

}  // namespace bwsim
