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

/// `text` is the config.json content; `name` names it in messages and becomes ModelSpec::source.
[[nodiscard]] ModelSpec import_hf_config(std::string_view text, const std::string& name);
[[nodiscard]] ModelSpec import_hf_config_file(const std::filesystem::path& file);

}  // namespace bwsim
