#include "workloads/gemm/format.hpp"

#include <fmt/format.h>

#include "sim/errors.hpp"

namespace bwsim {
namespace {

struct Alias {
  std::string_view name;
  Scheme a;
  Scheme b;
  bool weight_only;
};

constexpr Alias kAliases[] = {
    {"bf16", Scheme::kBf16, Scheme::kBf16, false},
    {"fp8", Scheme::kFp8E4M3, Scheme::kFp8E4M3, false},
    {"fp8_e4m3", Scheme::kFp8E4M3, Scheme::kFp8E4M3, false},
    {"fp8_e5m2", Scheme::kFp8E5M2, Scheme::kFp8E5M2, false},
    {"fp8_block", Scheme::kFp8Block, Scheme::kFp8Block, false},
    {"mxfp8", Scheme::kMxfp8E4M3, Scheme::kMxfp8E4M3, false},
    {"mxfp8_e4m3", Scheme::kMxfp8E4M3, Scheme::kMxfp8E4M3, false},
    {"mxfp8_e5m2", Scheme::kMxfp8E5M2, Scheme::kMxfp8E5M2, false},
    {"mxfp6", Scheme::kMxfp6E2M3, Scheme::kMxfp6E2M3, false},
    {"mxfp6_e2m3", Scheme::kMxfp6E2M3, Scheme::kMxfp6E2M3, false},
    {"mxfp6_e3m2", Scheme::kMxfp6E3M2, Scheme::kMxfp6E3M2, false},
    {"mxfp4", Scheme::kMxfp4, Scheme::kMxfp4, false},
    {"nvfp4", Scheme::kNvfp4, Scheme::kNvfp4, false},
    {"w4a16", Scheme::kBf16, Scheme::kNvfp4, true},
    {"w8a16", Scheme::kBf16, Scheme::kFp8E4M3, true},
    {"w4a16_mxfp4", Scheme::kBf16, Scheme::kMxfp4, true},
};

bool is_mx(Scheme s) {
  return s == Scheme::kMxfp4 || s == Scheme::kMxfp6E2M3 || s == Scheme::kMxfp6E3M2 ||
         s == Scheme::kMxfp8E4M3 || s == Scheme::kMxfp8E5M2;
}
bool is_fp8_tensor(Scheme s) { return s == Scheme::kFp8E4M3 || s == Scheme::kFp8E5M2; }

}  // namespace

std::vector<std::string> gemm_format_list() {
  std::vector<std::string> out;
  for (const Alias& a : kAliases) out.emplace_back(a.name);
  return out;
}

std::string gemm_format_names() {
  return fmt::format("{}, or A:B (e.g. mxfp8_e4m3:mxfp4)", fmt::join(gemm_format_list(), ", "));
}

GemmFormat parse_gemm_format(std::string_view name, std::string_view flag) {
  for (const Alias& a : kAliases) {
    if (a.name == name) return {a.a, a.b, a.weight_only, std::string(name)};
  }
  const size_t colon = name.find(':');
  if (colon != std::string_view::npos) {
    const auto a = parse_scheme(name.substr(0, colon));
    const auto b = parse_scheme(name.substr(colon + 1));
    if (a && b) return {*a, *b, false, std::string(name)};
  }
  throw InputError(fmt::format("{} {}: unknown GEMM format (one of: {})", flag, name, gemm_format_names()));
}

GemmOut parse_gemm_out(std::string_view name) {
  if (name == "bf16") return GemmOut::kBf16;
  if (name == "fp8" || name == "fp8_e4m3") return GemmOut::kFp8E4M3;
  if (name == "nvfp4") return GemmOut::kNvfp4;
  throw InputError(fmt::format("--out {}: unknown output format (bf16, fp8_e4m3, nvfp4)", name));
}

std::string_view gemm_out_name(GemmOut o) {
  switch (o) {
    case GemmOut::kBf16:
      return "bf16";
    case GemmOut::kFp8E4M3:
      return "fp8_e4m3";
    case GemmOut::kNvfp4:
      return "nvfp4";
  }
  return "?";
}

int gemm_out_bits(GemmOut o) { return o == GemmOut::kBf16 ? 16 : (o == GemmOut::kFp8E4M3 ? 8 : 4); }

GemmMath gemm_math(const GemmFormat& f, Arch arch, std::string_view gpu) {
  GemmMath m;
  const auto bits = [](Scheme s) { return format_info(scheme_info(s).element).bits; };
  m.a_bits = bits(f.a);
  m.b_bits = bits(f.b);
  const auto describe = [&](std::string_view why) {
    return InputError(fmt::format("format {} on {} ({}): {}", f.name, gpu, arch_name(arch), why));
  };
  if (f.weight_only) {
    if (f.a != Scheme::kBf16) throw describe("weight-only modes keep activations in BF16");
    m.kind = MmaKind::kF16;
    m.weight_only = true;
    const SchemeInfo bi = scheme_info(f.b);
    m.b_scale_block = bi.block_k;
    m.b_scale_bytes = bi.scale ? 1 : 0;
    m.k_block = std::max(16, bi.block_k);
    return m;
  }
  if (f.a == Scheme::kBf16 || f.b == Scheme::kBf16) {
    if (f.a != f.b) throw describe("BF16 pairs only with BF16 (or use w4a16 / w8a16 for narrow weights)");
    m.kind = MmaKind::kF16;
    m.k_block = 16;
    return m;
  }
  const bool hopper = arch == Arch::kSm90;
  const std::string weight_only_hint =
      "this GPU has no block-scaled or FP4/FP6 tensor math; use the weight-only mode (--format w4a16 or "
      "w8a16: "
      "narrow weights dequantized to BF16 on chip)";
  if (is_fp8_tensor(f.a) && is_fp8_tensor(f.b)) {
    m.kind = hopper ? MmaKind::kF8 : MmaKind::kF8F6F4;
    m.k_block = 32;
    return m;
  }
  if (f.a == Scheme::kFp8Block || f.b == Scheme::kFp8Block) {
    if (f.a != f.b) throw describe("block FP8 pairs only with block FP8");
    m.kind = hopper ? MmaKind::kF8 : MmaKind::kMxF8F6F4;
    m.block_fp8 = true;
    m.a_scale_block = 128;
    m.b_scale_block = 128;
    m.a_scale_bytes = 4;
    m.b_scale_bytes = 4;
    m.b_scale_rows = 128;
    m.k_block = 128;
    return m;
  }
  if (f.a == Scheme::kNvfp4 || f.b == Scheme::kNvfp4) {
    if (f.a != f.b)
      throw describe("NVFP4 pairs only with NVFP4 (kind::mxf4nvf4 has one scale type for A and B)");
    if (hopper) throw describe(weight_only_hint);
    m.kind = MmaKind::kMxF4NvF4;
    m.a_scale_block = m.b_scale_block = 16;
    m.a_scale_bytes = m.b_scale_bytes = 1;
    m.k_block = 64;
    return m;
  }
  if (is_mx(f.a) && is_mx(f.b)) {
    if (hopper) throw describe(weight_only_hint);
    m.kind = f.a == Scheme::kMxfp4 && f.b == Scheme::kMxfp4 ? MmaKind::kMxF4 : MmaKind::kMxF8F6F4;
    m.a_scale_block = m.b_scale_block = 32;
    m.a_scale_bytes = m.b_scale_bytes = 1;
    m.k_block = m.kind == MmaKind::kMxF4 ? 64 : 32;
    return m;
  }
  throw describe("A and B must both be per-tensor FP8, both MX, both NVFP4, or both block FP8");
}

}  // namespace bwsim
