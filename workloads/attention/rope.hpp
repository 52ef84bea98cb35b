// Rotary position embeddings and their context-extension variants, computed the way Hugging
// Face transformers computes them (modeling_rope_utils.py; ../shared/NUMERICS.md): default,
// linear, NTK-aware, dynamic NTK, YaRN, LongRoPE and llama3, with partial rotary dims and the
// half-split or interleaved rotation.
//
// Precision: kFloat32 follows the reference stacks step by step in float32 (inverse frequencies,
// the position x frequency product, cos/sin times the attention factor), so the angle error at
// large positions is the one real models carry; kFloat64 computes everything in double, the
// reference the error is measured against.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bwsim {

enum class RopeType { kDefault, kLinear, kNtk, kDynamic, kYarn, kLongRope, kLlama3 };
enum class RopeStyle { kHalfSplit, kInterleaved };
enum class RopePrecision { kFloat32, kFloat64 };

[[nodiscard]] std::string_view rope_type_name(RopeType t);
/// "f32" / "float32" or "f64" / "float64"; nullopt otherwise.
[[nodiscard]] std::optional<RopePrecision> parse_rope_precision(std::string_view text);
[[nodiscard]] std::string_view rope_precision_name(RopePrecision p);  // "f32" or "f64"

struct RopeSpec {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;  // rope_theta (base)
  double partial = 1.0;    // partial_rotary_factor: rotary dims = int(head_dim * partial)
  RopeStyle style = RopeStyle::kHalfSplit;
  double factor = 1.0;                     // linear, ntk, dynamic, yarn, llama3, longrope (optional)
  int64_t original = 0;                    // original_max_position_embeddings (yarn, longrope, llama3)
  int64_t max_pos = 0;                     // max_position_embeddings (dynamic; longrope's factor)
  double beta_fast = 32.0;                 // yarn
  double beta_slow = 1.0;                  // yarn
  std::optional<double> mscale;            // yarn (DeepSeek)
  std::optional<double> mscale_all_dim;    // yarn (DeepSeek)
  std::optional<double> attention_factor;  // yarn, longrope: overrides the computed one
  bool truncate = true;                    // yarn: floor/ceil the correction range
  std::vector<double> short_factor;        // longrope, one per frequency
  std::vector<double> long_factor;         // longrope, one per frequency
  double low_freq_factor = 1.0;            // llama3
  double high_freq_factor = 4.0;           // llama3
  std::string text;                        // as given, for reports
};

/// Parses "TYPE[:key=value,...]" (lists as v1/v2/...). `flag` names the option in messages.
/// Throws InputError for unknown types or keys, bad numbers and invalid parameters.
[[nodiscard]] RopeSpec parse_rope(std::string_view text, std::string_view flag);

/// The frequencies of one rotary embedding at one sequence length (dynamic NTK and LongRoPE
/// depend on it).
struct RopeTable {
  RopeSpec spec;
  RopePrecision precision = RopePrecision::kFloat32;
  int head_dim = 0;
  int rot_dim = 0;                // rotated dims (even); the rest pass through
  std::vector<double> inv_freq;   // rot_dim / 2 values (float32-representable in kFloat32)
  double attention_factor = 1.0;  // multiplies cos and sin
  // YaRN's correction range (dims below low keep their frequency, above high are interpolated).
  std::optional<double> yarn_low, yarn_high;
  double effective_theta = 0;  // NTK and dynamic NTK: the rescaled base

  /// cos and sin of each frequency at `pos`, already multiplied by the attention factor.
  void cos_sin(int64_t pos, std::span<double> cos, std::span<double> sin) const;
  /// Rotates x (head_dim values) in place as position `pos`, in this table's precision.
  void apply(int64_t pos, std::span<double> x) const;
};

/// Builds the table; throws InputError (naming `flag`) where the parameters do not fit the
/// head dim (odd rotary dims, a LongRoPE list whose length is not rot_dim / 2).
[[nodiscard]] RopeTable rope_table(const RopeSpec& spec, int head_dim, int64_t seq_len,
                                   RopePrecision precision, std::string_view flag = "--rope");

/// DeepSeek's softmax-scale multiplier for YaRN: mscale(factor, mscale_all_dim)^2 when
/// mscale_all_dim is given, else 1.
[[nodiscard]] double yarn_softmax_multiplier(const RopeSpec& spec);

}  // namespace bwsim
