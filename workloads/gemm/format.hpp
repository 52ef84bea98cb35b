// GEMM operand formats: what A and B are stored in, which tensor instruction multiplies them on
// a given architecture, and what that costs in bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "isa/arch.hpp"
#include "isa/mma_kind.hpp"
#include "isa/quantize.hpp"

namespace bwsim {

struct GemmFormat {
  Scheme a = Scheme::kBf16;
  Scheme b = Scheme::kBf16;
  bool weight_only = false;  // B stored narrow, dequantized on chip to BF16; BF16 tensor math
  std::string name;
};

/// "nvfp4", "mxfp8", "fp8", "w4a16", "mxfp8_e4m3:mxfp4" (A:B), ... Throws InputError naming
/// `flag` for an unknown name.
GemmFormat parse_gemm_format(std::string_view name, std::string_view flag = "--format");
std::string gemm_format_names();
/// The named formats (not the A:B combinations).
std::vector<std::string> gemm_format_list();

enum class GemmOut { kBf16, kFp8E4M3, kNvfp4 };
GemmOut parse_gemm_out(std::string_view name);
std::string_view gemm_out_name(GemmOut o);
int gemm_out_bits(GemmOut o);

/// How a format runs on an architecture.
struct GemmMath {
  MmaKind kind = MmaKind::kF16;
  int a_bits = 16;        // bits per element of A in global memory
  int b_bits = 16;        // ... of B (narrow for weight-only)
  int a_scale_block = 0;  // elements per A scale along K (0: none)
  int b_scale_block = 0;
  int a_scale_bytes = 0;  // bytes per A scale
  int b_scale_bytes = 0;
  int b_scale_rows = 1;      // rows sharing one B scale (128 for 128x128 block FP8)
  bool block_fp8 = false;    // DeepSeek block FP8: scales applied per 128-K block
  bool weight_only = false;  // B dequantized to BF16 on chip before BF16 MMAs
  int k_block = 0;           // K granularity the format needs (block size; 0: none)
};

/// The math for `f` on `arch`, or an InputError that says why not and what would work (e.g.
/// NVFP4 on Hopper -> weight-only w4a16).
GemmMath gemm_math(const GemmFormat& f, Arch arch, std::string_view gpu_name);

}  // namespace bwsim
