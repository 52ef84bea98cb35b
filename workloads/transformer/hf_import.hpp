// Hugging Face config.json -> ModelSpec, for the families bwsim models: Llama 3.x, Mistral,
// Qwen2 / Qwen2.5, Qwen3, Qwen2-MoE / Qwen3-MoE, Mixtral, Phi-3 (LongRoPE), DeepSeek-V2/V3 (MLA,
// shared experts, MTP modules). rope_scaling becomes a RopeSpec through the same parser as
// --rope. Every key of the file is accounted for: used, listed as having no bearing on
// inference time or numbers (ModelSpec::ignored), or reported (ModelSpec::notes) as unknown or
// unsupported. Malformed JSON or wrong types are InputErrors naming the file, line and key.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "workloads/transformer/model.hpp"

namespace bwsim {

struct HfImportOptions {
  /// A model_type bwsim does not know is read as a Llama-style decoder (with a note) instead of
  /// refused, and so are keys that would shape it (--allow-unknown-model).
  bool allow_unknown_model = false;
};

/// `text` is the config.json content; `name` names it in messages and becomes ModelSpec::source.
/// Strict: a model_type outside the known families, or an unread key whose name says it shapes
/// the parameters or the compute (experts, windows, layers, heads, sizes, ...), is an InputError
/// unless `o.allow_unknown_model`; other unread keys are notes.
[[nodiscard]] ModelSpec import_hf_config(std::string_view text, const std::string& name,
                                         const HfImportOptions& o = {});
[[nodiscard]] ModelSpec import_hf_config_file(const std::filesystem::path& file,
                                              const HfImportOptions& o = {});
/// The model_type values bwsim models, for messages: "llama, mistral, ...".
[[nodiscard]] std::string known_hf_families();

}  // namespace bwsim
