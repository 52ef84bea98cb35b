#include "isa/quantize.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>

#include "isa/packing.hpp"
#include "sim/errors.hpp"
#include "sim/rng.hpp"

namespace bwsim {

std::string_view scheme_name(Scheme s) {
  for (const auto& [n, v] : kSchemeNames) {
    if (v == s) return n;
  }
  return "?";
}

std::optional<Scheme> parse_scheme(std::string_view name) {
  for (const auto& [n, v] : kSchemeNames) {
    if (n == name) return v;
  }
  return std::nullopt;
}

SchemeInfo scheme_info(Scheme s, const QuantOptions& o) {
  switch (s) {
    case Scheme::kBf16:
      return {ScalarFormat::kBF16, std::nullopt, 0, false};
    case Scheme::kNvfp4:
      return {ScalarFormat::kE2M1, ScalarFormat::kUE4M3, 16, true};
    case Scheme::kMxfp4:
      return {ScalarFormat::kE2M1, ScalarFormat::kUE8M0, 32, false};
    case Scheme::kMxfp6E2M3:
      return {ScalarFormat::kE2M3, ScalarFormat::kUE8M0, 32, false};
    case Scheme::kMxfp6E3M2:
      return {ScalarFormat::kE3M2, ScalarFormat::kUE8M0, 32, false};
    case Scheme::kMxfp8E4M3:
      return {ScalarFormat::kE4M3, ScalarFormat::kUE8M0, 32, false};
    case Scheme::kMxfp8E5M2:
      return {ScalarFormat::kE5M2, ScalarFormat::kUE8M0, 32, false};
    case Scheme::kFp8E4M3:
      return {ScalarFormat::kE4M3, std::nullopt, 0, true};
    case Scheme::kFp8E5M2:
      return {ScalarFormat::kE5M2, std::nullopt, 0, true};
    case Scheme::kFp8Block:
      return {ScalarFormat::kE4M3, std::nullopt, 128, false};
  }
  (void)o;
  return {ScalarFormat::kBF16, std::nullopt, 0, false};
}

double storage_bits(Scheme s) {
  const SchemeInfo i = scheme_info(s);
  double bits = format_info(i.element).bits;
  if (i.scale) bits += 8.0 / i.block_k;
  if (s == Scheme::kFp8Block) bits += 32.0 / (128.0 * 128.0);
  return bits;
}

namespace {

// |x| as ordered integers: for non-NaN floats the integer order of the magnitude bits is the
// float order, and an integer max vectorizes where a float max (NaN rules) does not.
inline uint32_t abs_bits(float x) { return std::bit_cast<uint32_t>(x) & 0x7FFFFFFFu; }

// Largest magnitude in [p, p+n); NaNs are ignored, as fmaxf does: `a > m ? a : m` keeps m when
// a is NaN, and it is exactly the semantics of the SSE max instruction, so it vectorizes. Eight
// independent lanes let the compiler do so without reassociating a single reduction.
float block_amax(const float* p, int64_t n) {
  float m[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) {
      const float a = std::fabs(p[i + k]);
      m[k] = a > m[k] ? a : m[k];
    }
  }
  for (; i < n; ++i) {
    const float a = std::fabs(p[i]);
    m[0] = a > m[0] ? a : m[0];
  }
  for (int w = 4; w >= 1; w /= 2) {
    for (int k = 0; k < w; ++k) m[k] = m[k + w] > m[k] ? m[k + w] : m[k];
  }
  return m[0];
}

int emax_of(ScalarFormat f) {
  switch (f) {
    case ScalarFormat::kE2M1:
    case ScalarFormat::kE2M3:
      return 2;
    case ScalarFormat::kE3M2:
      return 4;
    case ScalarFormat::kE4M3:
      return 8;
    case ScalarFormat::kE5M2:
      return 15;
    default:
      return 0;
  }
}

// floor(log2(a)) for a finite a > 0, exactly, from the float's bits.
int floor_log2(float a) {
  const uint32_t b = abs_bits(a);
  if ((b >> 23) == 0) return std::bit_width(b) - 1 - 149;
  return static_cast<int>(b >> 23) - 127;
}

const MiniFloat& minifloat(ScalarFormat f) {
  switch (f) {
    case ScalarFormat::kE2M1:
      return kE2M1;
    case ScalarFormat::kE2M3:
      return kE2M3;
    case ScalarFormat::kE3M2:
      return kE3M2;
    case ScalarFormat::kE4M3:
      return kE4M3;
    case ScalarFormat::kE5M2:
      return kE5M2;
    default:
      return kBF16;
  }
}

void check_shape(const Tensor& x, Scheme s, int block_rows, int block_cols) {
  if (x.data.empty() || x.cols() == 0) {
    throw InputError(
        fmt::format("{}: cannot quantize an empty tensor (shape {})", scheme_name(s), x.shape_text()));
  }
  if (block_cols > 1 && x.cols() % block_cols != 0) {
    throw InputError(
        fmt::format("{}: K = {} (the last dimension of shape {}) is not a multiple of the block size {}",
                    scheme_name(s), x.cols(), x.shape_text(), block_cols));
  }
  if (block_rows > 1 && x.rows() % block_rows != 0) {
    throw InputError(fmt::format("{}: {} rows (shape {}) is not a multiple of the {}-row block",
                                 scheme_name(s), x.rows(), x.shape_text(), block_rows));
  }
}

// Applies y = x * M (M the 16x16 RHT matrix) to every 16-element group along each row.
std::vector<float> apply_rht(const std::vector<float>& x, int64_t cols, const std::array<float, 256>& m,
                             bool transpose) {
  std::vector<float> y(x.size());
  for (size_t g = 0; g < x.size(); g += 16) {
    for (int j = 0; j < 16; ++j) {
      double acc = 0;  // exact enough: the sum of 16 products in double, rounded once
      for (int i = 0; i < 16; ++i)
        acc += static_cast<double>(x[g + i]) * (transpose ? m[j * 16 + i] : m[i * 16 + j]);
      y[g + j] = static_cast<float>(acc);
    }
  }
  (void)cols;
  return y;
}

// ---------------------------------------------------------------------------------------------
// NVFP4

// TransformerEngine's global encode scale: S_enc = min(fp8_max*6 / amax, FLT_MAX), 1 when amax
// or the result is 0. fp8_max is 448, or 256 in 4-over-6 mode, so that a block scaled to 4
// still fits E4M3 (core_nvfp4.cuh, compute_global_encode_scaling_factor_FP4).
float nvfp4_global_encode_scale(float amax, bool four_over_six) {
  if (amax == 0.0f) return 1.0f;
  const float fp8_max = four_over_six ? 256.0f : 448.0f;
  const float s = std::min(fp8_max * 6.0f / amax, FLT_MAX);
  return s == 0.0f ? 1.0f : s;
}

struct Nvfp4Block {
  uint8_t sf;    // E4M3 code (positive)
  float enc;     // element encode factor
  float sf_val;  // decoded scale
};

inline Nvfp4Block nvfp4_block_scale(float bamax, float s_enc_over_max, float s_dec,
                                    const std::array<float, 256>& e4m3) {
  Nvfp4Block b{};
  b.sf = static_cast<uint8_t>(encode_minifloat(kE4M3, bamax * s_enc_over_max, true, Round::kNearestEven, 0));
  b.sf_val = e4m3[b.sf];
  // As the kernel computes it: a zero scale gives 1/0 = inf, clamped to FLT_MAX (elements of an
  // all-zero block stay 0; tiny non-zero elements of a block whose scale underflowed saturate
  // to +-6 and dequantize to 0 through the zero scale).
  b.enc = std::min(1.0f / (b.sf_val * s_dec), FLT_MAX);
  return b;
}

// Squared error of one block quantized with `b` (float32 dequantization as the reference does).
double nvfp4_block_error(const float* x, int64_t n, int64_t stride, const Nvfp4Block& b, float s_dec) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i * stride];
    const float q = kE2M1Values[encode_e2m1_rne_sat(v * b.enc)];
    const double d = static_cast<double>(q * b.sf_val * s_dec) - v;
    e += d * d;
  }
  return e;
}

// Writes 16 E2M1 codes, two per byte, first element in the low nibble.
inline void encode_e2m1_block16(const float* in, float enc, uint8_t* out) {
  uint8_t c[16];
  for (int i = 0; i < 16; ++i) c[i] = static_cast<uint8_t>(encode_e2m1_rne_sat(in[i] * enc));
  for (size_t j = 0; j < 8; ++j) out[j] = static_cast<uint8_t>(c[2 * j] | (c[2 * j + 1] << 4));
}

void quantize_nvfp4(const std::vector<float>& x, QuantizedTensor& q) {
  const int64_t rows = q.rows;
  const int64_t cols = q.cols;
  const int64_t sc = cols / 16;
  const float amax = q.options.tensor_amax.value_or(block_amax(x.data(), static_cast<int64_t>(x.size())));
  const auto& e4m3 = decode_table(ScalarFormat::kE4M3);
  q.amax = amax;
  q.code_bits_ = 4;
  q.codes.resize(x.size() / 2);
  q.scales.resize(static_cast<size_t>(rows * sc));

  if (q.options.nvfp4_recipe == NvFp4Recipe::kTorchAo) {
    // pytorch/ao (nvfp4_tensor.py, nvfp4_quantize): per_tensor_scale = amax / (448 * 6); block
    // scale = (block_amax / 6) / per_tensor_scale clamped to [2^-6, 448] (so zero blocks get
    // 2^-6) and cast to E4M3; elements x * ((1 / per_tensor_scale) / scale), clamped to +-6.
    // An all-zero tensor, where ao would divide by zero, uses per_tensor_scale 1.
    const float pts = amax == 0.0f ? 1.0f : amax / (448.0f * 6.0f);
    q.tensor_scale = pts;
    const float tiny = 0x1p-6f;  // finfo(float8_e4m3fn).tiny
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t b = 0; b < sc; ++b) {
        const float* p = x.data() + r * cols + b * 16;
        const float bamax = block_amax(p, 16);
        const float scale = std::clamp(bamax / 6.0f / pts, tiny, 448.0f);
        const auto sf = static_cast<uint8_t>(encode_minifloat(kE4M3, scale, true, Round::kNearestEven, 0));
        q.scales[static_cast<size_t>(r * sc + b)] = sf;
        const float recip = (1.0f / pts) / e4m3[sf];
        float v[16];
        for (int i = 0; i < 16; ++i) v[i] = std::clamp(p[i] * recip, -6.0f, 6.0f);
        encode_e2m1_block16(v, 1.0f, q.codes.data() + (r * cols + b * 16) / 2);
      }
    }
    return;
  }

  const float s_enc = nvfp4_global_encode_scale(amax, q.options.four_over_six);
  const float s_dec = 1.0f / s_enc;
  q.tensor_scale = s_dec;
  const float over6 = s_enc * (1.0f / 6.0f);
  const float over4 = s_enc * (1.0f / 4.0f);
  const int tile_rows = q.options.nvfp4_2d ? 16 : 1;

  if (tile_rows == 1 && !q.options.four_over_six) {
    // The common case, in three passes per row so that consecutive blocks' work is independent
    // (one block's amax -> scale -> elements is a long dependency chain; a row of them is not).
    std::vector<float> bamax(static_cast<size_t>(sc));
    std::vector<float> enc(static_cast<size_t>(sc));
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x.data() + r * cols;
      for (int64_t b = 0; b < sc; ++b) bamax[static_cast<size_t>(b)] = block_amax(row + b * 16, 16);
      uint8_t* srow = q.scales.data() + r * sc;
      for (int64_t b = 0; b < sc; ++b) {
        const Nvfp4Block blk = nvfp4_block_scale(bamax[static_cast<size_t>(b)], over6, s_dec, e4m3);
        srow[b] = blk.sf;
        enc[static_cast<size_t>(b)] = blk.enc;
      }
      uint8_t* out = q.codes.data() + r * cols / 2;
      for (int64_t b = 0; b < sc; ++b)
        encode_e2m1_block16(row + b * 16, enc[static_cast<size_t>(b)], out + b * 8);
    }
    return;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += tile_rows) {
    for (int64_t b = 0; b < sc; ++b) {
      const float* p = x.data() + r0 * cols + b * 16;
      float bamax = 0;
      for (int t = 0; t < tile_rows; ++t) bamax = std::max(bamax, block_amax(p + t * cols, 16));
      Nvfp4Block blk = nvfp4_block_scale(bamax, over6, s_dec, e4m3);
      if (q.options.four_over_six) {
        const Nvfp4Block alt = nvfp4_block_scale(bamax, over4, s_dec, e4m3);
        double e6 = 0;
        double e4 = 0;
        for (int t = 0; t < tile_rows; ++t) {
          e6 += nvfp4_block_error(p + t * cols, 16, 1, blk, s_dec);
          e4 += nvfp4_block_error(p + t * cols, 16, 1, alt, s_dec);
        }
        if (e4 < e6) blk = alt;
      }
      for (int t = 0; t < tile_rows; ++t) {
        const int64_t r = r0 + t;
        q.scales[static_cast<size_t>(r * sc + b)] = blk.sf;
        encode_e2m1_block16(p + t * cols, blk.enc, q.codes.data() + (r * cols + b * 16) / 2);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MX

void quantize_mx(const std::vector<float>& x, QuantizedTensor& q, ScalarFormat elem) {
  const int64_t cols = q.cols;
  const int64_t sc = cols / 32;
  const MiniFloat& mf = minifloat(elem);
  const float max_elem = static_cast<float>(format_info(elem).max);
  const int emax = emax_of(elem);
  const bool fp4 = elem == ScalarFormat::kE2M1;
  q.code_bits_ = fp4 ? 4 : 8;
  q.codes.resize(fp4 ? x.size() / 2 : x.size());
  q.scales.resize(static_cast<size_t>(q.rows * sc));
  q.amax = block_amax(x.data(), static_cast<int64_t>(x.size()));
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t b = 0; b < sc; ++b) {
      const float* p = x.data() + r * cols + b * 32;
      uint8_t* out = q.codes.data() + (fp4 ? (r * cols + b * 32) / 2 : r * cols + b * 32);
      bool has_nan = false;
      for (int i = 0; i < 32; ++i) has_nan |= p[i] != p[i];
      const float bamax = block_amax(p, 32);
      uint32_t code;
      if (has_nan || std::isinf(bamax)) {
        code = 0xFF;  // NaN scale: the whole block decodes to NaN
      } else if (bamax == 0.0f) {
        code = 0;
      } else if (q.options.mx_scale == MxScaleMode::kFloor) {
        code = static_cast<uint32_t>(std::clamp(floor_log2(bamax) - emax, -127, 127) + 127);
      } else {
        code = encode_ue8m0(bamax * (1.0f / max_elem), true, Round::kTowardPositive);  // TE / torchao order
      }
      q.scales[static_cast<size_t>(r * sc + b)] = static_cast<uint8_t>(code);
      // 2^(127 - code): exponent field 254 - code; code 254 gives the subnormal 2^-127.
      const float inv = code == 0xFF   ? 0.0f
                        : code == 0xFE ? std::bit_cast<float>(0x00400000u)
                                       : std::bit_cast<float>((254u - code) << 23);
      if (fp4) {
        encode_e2m1_block16(p, inv, out);
        encode_e2m1_block16(p + 16, inv, out + 8);
        continue;
      }
      for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(encode_minifloat_rne_sat(mf, p[i] * inv));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// FP8

void quantize_fp8_tensor(const std::vector<float>& x, QuantizedTensor& q, ScalarFormat elem) {
  const MiniFloat& mf = minifloat(elem);
  q.amax = q.options.tensor_amax.value_or(block_amax(x.data(), static_cast<int64_t>(x.size())));
  float scale = static_cast<float>(format_info(elem).max) / q.amax;
  if (!std::isfinite(scale) || scale == 0.0f) scale = 1.0f;
  q.tensor_scale = 1.0f / scale;
  q.codes.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    q.codes[i] = static_cast<uint8_t>(encode_minifloat_rne_sat(mf, x[i] * scale));
  }
}

// DeepSeek-V3 / DeepGEMM: per block amax clamped at 1e-4, elements x * (448 / amax), dequant
// scale amax / 448, all float32.
void quantize_fp8_block(const std::vector<float>& x, QuantizedTensor& q) {
  const int64_t cols = q.cols;
  const int br = q.block_rows;
  const int bc = q.block_cols;
  const int64_t bcols = cols / bc;
  q.amax = block_amax(x.data(), static_cast<int64_t>(x.size()));
  q.codes.resize(x.size());
  q.float_scales.resize(static_cast<size_t>((q.rows / br) * bcols));
  for (int64_t r0 = 0; r0 < q.rows; r0 += br) {
    for (int64_t b = 0; b < bcols; ++b) {
      float bamax = 0;
      for (int t = 0; t < br; ++t)
        bamax = std::max(bamax, block_amax(x.data() + (r0 + t) * cols + b * bc, bc));
      bamax = std::max(bamax, 1e-4f);
      const float mul = 448.0f / bamax;
      q.float_scales[static_cast<size_t>((r0 / br) * bcols + b)] = bamax / 448.0f;
      for (int t = 0; t < br; ++t) {
        const size_t base = static_cast<size_t>((r0 + t) * cols + b * bc);
        for (int i = 0; i < bc; ++i) {
          q.codes[base + i] = static_cast<uint8_t>(encode_minifloat_rne_sat(kE4M3, x[base + i] * mul));
        }
      }
    }
  }
}

}  // namespace

std::array<float, 256> rht_matrix(std::optional<uint64_t> seed) {
  // TransformerEngine's fixed signs (nvfp4_tensor.py; kernel bitmask 0xD7E8).
  static constexpr std::array<int, 16> kTeSigns{1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1};
  std::array<float, 256> m{};
  for (int i = 0; i < 16; ++i) {
    const int s = seed ? ((random_at(*seed, static_cast<uint64_t>(i)) & 1) != 0 ? -1 : 1)
                       : kTeSigns[static_cast<size_t>(i)];
    for (int j = 0; j < 16; ++j) {
      const int h = (std::popcount(static_cast<unsigned>(i & j)) & 1) != 0 ? -1 : 1;  // Sylvester H16
      m[static_cast<size_t>(i) * 16 + static_cast<size_t>(j)] =
          static_cast<float>(s * h) * 0.25f;  // diag(s) * H * 1/4
    }
  }
  return m;
}

void rht_apply(std::span<float> x, const std::array<float, 256>& m) {
  const std::vector<float> in(x.begin(), x.end());
  const std::vector<float> y = apply_rht(in, 16, m, false);
  std::copy(y.begin(), y.end(), x.begin());
}

QuantizedTensor quantize(const Tensor& x, Scheme s, const QuantOptions& o) {
  QuantizedTensor q;
  q.scheme = s;
  q.options = o;
  q.shape = x.shape;
  const SchemeInfo info = scheme_info(s, o);
  q.block_cols = info.block_k > 0 ? info.block_k : 1;
  q.block_rows = 1;
  if (s == Scheme::kNvfp4 && o.nvfp4_2d) q.block_rows = 16;
  if (s == Scheme::kFp8Block && o.fp8_block == Fp8BlockShape::k128x128) q.block_rows = 128;
  if (s != Scheme::kNvfp4 &&
      (o.nvfp4_2d || o.four_over_six || o.nvfp4_recipe != NvFp4Recipe::kTransformerEngine)) {
    throw InputError(
        fmt::format("{}: --2d, 4-over-6 and the recipe switch apply to nvfp4 only", scheme_name(s)));
  }
  if (o.nvfp4_recipe == NvFp4Recipe::kTorchAo && (o.nvfp4_2d || o.four_over_six)) {
    throw InputError("nvfp4: the torchao recipe has no 2D or 4-over-6 variant");
  }
  check_shape(x, s, q.block_rows, o.rht ? std::max(q.block_cols, 16) : q.block_cols);
  q.rows = x.rows();
  q.cols = x.cols();
  const std::vector<float> transformed =
      o.rht ? apply_rht(x.data, q.cols, rht_matrix(o.rht_seed), false) : std::vector<float>{};
  const std::vector<float>& in = o.rht ? transformed : x.data;
  switch (s) {
    case Scheme::kBf16:
      q.code_bits_ = 16;
      q.codes.resize(2 * in.size());
      q.amax = block_amax(in.data(), static_cast<int64_t>(in.size()));
      for (size_t i = 0; i < in.size(); ++i) {
        const uint32_t c = encode(ScalarFormat::kBF16, in[i], false);
        q.codes[2 * i] = static_cast<uint8_t>(c & 0xFF);
        q.codes[2 * i + 1] = static_cast<uint8_t>(c >> 8);
      }
      break;
    case Scheme::kNvfp4:
      quantize_nvfp4(in, q);
      break;
    case Scheme::kMxfp4:
    case Scheme::kMxfp6E2M3:
    case Scheme::kMxfp6E3M2:
    case Scheme::kMxfp8E4M3:
    case Scheme::kMxfp8E5M2:
      quantize_mx(in, q, info.element);
      break;
    case Scheme::kFp8E4M3:
    case Scheme::kFp8E5M2:
      quantize_fp8_tensor(in, q, info.element);
      break;
    case Scheme::kFp8Block:
      quantize_fp8_block(in, q);
      break;
  }
  return q;
}

double QuantizedTensor::mma_value(int64_t r, int64_t c) const {
  const SchemeInfo i = info();
  const size_t idx = static_cast<size_t>(r * cols + c);
  const double e = decode(i.element, code(idx));
  if (scheme == Scheme::kFp8Block) {
    return e * float_scales[static_cast<size_t>((r / block_rows) * (cols / block_cols) + c / block_cols)];
  }
  if (!i.scale) return e;
  return e * decode(*i.scale, scales[static_cast<size_t>(r * scale_cols() + c / block_cols)]);
}

std::vector<float> QuantizedTensor::dequantize() const {
  const SchemeInfo i = info();
  std::vector<float> out(size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const size_t idx = static_cast<size_t>(r * cols + c);
      const float e = decode(i.element, code(idx));
      float v = e;
      if (scheme == Scheme::kFp8Block) {
        v = e * float_scales[static_cast<size_t>((r / block_rows) * (cols / block_cols) + c / block_cols)];
      } else if (i.scale) {
        v = e * decode(*i.scale, scales[static_cast<size_t>(r * scale_cols() + c / block_cols)]);
      }
      if (i.tensor_scale) v = v * tensor_scale;
      out[idx] = v;
    }
  }
  return out;
}

std::vector<float> QuantizedTensor::dequantize_original_domain() const {
  std::vector<float> d = dequantize();
  if (!options.rht) return d;
  return apply_rht(d, cols, rht_matrix(options.rht_seed), true);
}

double QuantizedTensor::bits_per_element() const {
  const SchemeInfo i = info();
  const double n = static_cast<double>(size());
  double bits = format_info(i.element).bits;
  if (i.scale) bits += 8.0 / block_cols;
  if (scheme == Scheme::kFp8Block) bits += 32.0 / (static_cast<double>(block_rows) * block_cols);
  if (i.tensor_scale) bits += 32.0 / n;
  return bits;
}

std::vector<uint8_t> QuantizedTensor::packed_codes() const {
  if (format_info(info().element).bits == 6) return pack_fp6(codes);
  return codes;  // FP4, FP8 and BF16 are stored packed already
}

}  // namespace bwsim
