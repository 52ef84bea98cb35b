#include "workloads/transformer/hf_import.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <span>
#include <sstream>

#include "sim/errors.hpp"
#include "sim/json_in.hpp"

namespace bwsim {
namespace {

namespace json = boost::json;

// Keys with no bearing on inference time or the numbers bwsim computes: token ids, dtypes,
// dropout and initialisation, training-only losses, and the routing rule's details (the model
// routes each token to top_k experts; which ones does not change time or bytes).
constexpr std::string_view kIgnored[] = {
    "_name_or_path",
    "architectures",
    "auto_map",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "torch_dtype",
    "dtype",
    "transformers_version",
    "use_cache",
    "initializer_range",
    "attention_dropout",
    "embd_pdrop",
    "resid_pdrop",
    "hidden_dropout",
    "pretraining_tp",
    "output_router_logits",
    "router_aux_loss_coef",
    "router_jitter_noise",
    "aux_loss_alpha",
    "seq_aux",
    "ep_size",
    "rms_norm_eps",
    "topk_method",
    "n_group",
    "topk_group",
    "scoring_func",
    "norm_topk_prob",
    "routed_scaling_factor",
    "is_decoder",
    "initial_context_length",  // gpt-oss: the OpenAI name of rope_scaling's original context
};

// Families whose attention has Q/K/V biases hard-wired (HF modeling code, not a config key).
bool qwen2_family(std::string_view t) { return t == "qwen2" || t == "qwen2_moe"; }
bool deepseek_family(std::string_view t) { return t == "deepseek_v2" || t == "deepseek_v3"; }
bool qwen3_family(std::string_view t) { return t == "qwen3" || t == "qwen3_moe"; }

constexpr std::string_view kKnownFamilies[] = {
    "llama",       "mistral",     "qwen2", "qwen2_moe", "qwen3",       "qwen3_moe",  "mixtral",
    "deepseek_v2", "deepseek_v3", "phi3",  "gpt_oss",   "gemma3_text", "llama4_text"};

// Multimodal wrappers whose text decoder is their `text_config` (Gemma3ForConditionalGeneration,
// Llama4ForConditionalGeneration): the decoder is imported, the vision tower noted. Their own keys
// that bear on neither (token indices of image markers, dtypes) are listed as ignored.
constexpr std::pair<std::string_view, std::string_view> kMultimodal[] = {{"gemma3", "gemma3_text"},
                                                                         {"llama4", "llama4_text"}};
constexpr std::string_view kMultimodalIgnored[] = {"boi_token_index", "eoi_token_index", "image_token_index",
                                                   "mm_tokens_per_image"};

// A family's class defaults for keys its configs leave out: transformers writes only the keys
// that differ from them (a Gemma 3 4B config.json names no head counts). Gemma3TextConfig and
// Llama4TextConfig (transformers 4.50-4.56), as tests/data/models/FAMILIES.md lists them.
struct FamilyDefaults {
  std::optional<int64_t> layers, hidden, vocab, heads, kv_heads, head_dim, ffn, max_positions, window;
  double rope_theta = 10000.0;
  bool tie = false;
};
FamilyDefaults family_defaults(std::string_view family) {
  FamilyDefaults d;
  if (family == "gemma3_text") {
    d.layers = 26;
    d.hidden = 2304;
    d.vocab = 262208;
    d.heads = 8;
    d.kv_heads = 4;
    d.head_dim = 256;
    d.ffn = 9216;
    d.max_positions = 131072;
    d.window = 4096;
    d.rope_theta = 1e6;
    d.tie = true;
  } else if (family == "llama4_text") {
    d.layers = 48;
    d.hidden = 5120;
    d.vocab = 202048;
    d.heads = 40;
    d.kv_heads = 8;
    d.head_dim = 128;
    d.ffn = 8192;
    d.max_positions = 4096 * 32;
    d.rope_theta = 500000.0;
  }
  return d;
}

// Reads a config object, remembering every key read.
class Reader {
 public:
  Reader(const json::object& o, std::string where) : o_(o), where_(std::move(where)) {}

  [[nodiscard]] bool has(std::string_view k) const {
    const auto* v = o_.if_contains(k);
    return v != nullptr && !v->is_null();
  }
  const json::value* get(std::string_view k) {
    used_.insert(std::string(k));
    const auto* v = o_.if_contains(k);
    return v != nullptr && !v->is_null() ? v : nullptr;
  }
  [[noreturn]] void fail(std::string_view k, std::string_view what) const {
    throw InputError(fmt::format("{}: \"{}\": {}", where_, k, what));
  }
  std::optional<int64_t> int_opt(std::string_view k) {
    const auto* v = get(k);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    if (v->is_double() && std::floor(v->as_double()) == v->as_double()) {
      // 2^53: beyond it a double no longer holds every integer, and beyond 2^63 the conversion
      // would be undefined; no model dimension comes near.
      if (std::abs(v->as_double()) > 9007199254740992.0)
        fail(k, fmt::format("{} is out of range for an integer", json::serialize(*v)));
      return static_cast<int64_t>(v->as_double());
    }
    fail(k, fmt::format("expected an integer, got {}", json::serialize(*v)));
  }
  int64_t int_req(std::string_view k) {
    if (auto v = int_opt(k)) return *v;
    fail(k, "missing (required)");
  }
  std::optional<double> num_opt(std::string_view k) {
    const auto* v = get(k);
    if (v == nullptr) return std::nullopt;
    if (v->is_number()) return v->to_number<double>();
    fail(k, fmt::format("expected a number, got {}", json::serialize(*v)));
  }
  std::optional<bool> bool_opt(std::string_view k) {
    const auto* v = get(k);
    if (v == nullptr) return std::nullopt;
    if (v->is_bool()) return v->as_bool();
    fail(k, fmt::format("expected true or false, got {}", json::serialize(*v)));
  }
  std::optional<std::string> str_opt(std::string_view k) {
    const auto* v = get(k);
    if (v == nullptr) return std::nullopt;
    if (v->is_string()) return std::string(v->as_string());
    fail(k, fmt::format("expected a string, got {}", json::serialize(*v)));
  }
  std::vector<double> list(std::string_view k) {
    const auto* v = get(k);
    std::vector<double> out;
    if (v == nullptr) return out;
    if (!v->is_array()) fail(k, "expected a list of numbers");
    for (const auto& e : v->as_array()) {
      if (!e.is_number()) fail(k, "expected a list of numbers");
      out.push_back(e.to_number<double>());
    }
    return out;
  }
  /// Keys nobody read, in file order.
  [[nodiscard]] std::vector<std::string> unread() const {
    std::vector<std::string> out;
    for (const auto& kv : o_) {
      if (used_.count(std::string(kv.key())) == 0) out.emplace_back(kv.key());
    }
    return out;
  }
  [[nodiscard]] const std::string& where() const { return where_; }

 private:
  const json::object& o_;
  std::string where_;
  std::set<std::string> used_;
};

// Keys `r` did not read: ignored (listed in kIgnored or `also_ignored`) or reported as unknown.
// Words in a key's name that say it shapes the parameters or the compute: an unread key with one
// of them is refused under a strict import, never left as a note.
constexpr std::string_view kShapingWords[] = {
    "expert", "layer",  "window", "head",  "hidden",       "size",      "dim",  "moe",
    "rope",   "chunk",  "rank",   "vocab", "intermediate", "attention", "attn", "sparse",
    "dense",  "shared", "group",  "num_",  "mlp",          "ffn",       "nextn"};

// Unread keys: ignored (listed as having no bearing), refused (their name says they shape the
// model, unless the import allows the unknown), or notes.
void sort_unread(const Reader& r, ModelSpec& m, bool strict,
                 std::span<const std::string_view> also_ignored = {}) {
  const auto listed = [](std::span<const std::string_view> keys, const std::string& k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
  };
  for (const std::string& k : r.unread()) {
    if (listed(kIgnored, k) || listed(also_ignored, k)) {
      if (std::find(m.ignored.begin(), m.ignored.end(), k) == m.ignored.end()) m.ignored.push_back(k);
      continue;
    }
    std::string lower = k;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    const bool shaping = std::any_of(std::begin(kShapingWords), std::end(kShapingWords),
                                     [&](std::string_view w) { return lower.find(w) != std::string::npos; });
    if (shaping && strict) {
      r.fail(k,
             "a key that may change the parameters or the compute, which bwsim does not read: refused rather "
             "than ignored (--allow-unknown-model reads the file without it)");
    }
    m.notes.push_back(fmt::format("{}: unknown key, not modelled", k));
  }
}

std::string num_text(double v) { return fmt::format("{}", v); }

// The period P with layer l unmarked exactly when (l + 1) % P == 0 (Gemma's global layers among
// sliding ones, Llama 4's NoPE layers among RoPE ones): 0 when every layer is marked, 1 when none
// is; nullopt when no period fits.
std::optional<int64_t> layer_period(const std::vector<bool>& marked) {
  const auto n = static_cast<int64_t>(marked.size());
  for (int64_t p = 0; p <= n; ++p) {
    bool fits = true;
    for (int64_t l = 0; l < n && fits; ++l)
      fits = marked[static_cast<size_t>(l)] == (p == 0 || (l + 1) % p != 0);
    if (fits) return p;
  }
  return std::nullopt;
}

// "experts mxfp4, others bf16".
std::string checkpoint_text(const CheckpointFormat& c) {
  std::string out;
  for (const WeightClass k : kAllWeightClasses) {
    const std::string& s = c.weights[static_cast<size_t>(k)];
    if (k == WeightClass::kNorm || s == "bf16") continue;
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", weight_class_name(k), s);
  }
  out += out.empty() ? "every weight bf16" : ", the others bf16";
  if (!c.kv.empty()) out += fmt::format("; KV cache {}", c.kv);
  return out;
}

// quantization_config -> the formats the checkpoint's weights are stored in:
//   mxfp4 (gpt-oss, transformers' Mxfp4HfQuantizer): the MoE experts in MXFP4, the rest BF16;
//   fp8 (DeepSeek-V3 / R1, FineGrainedFP8): every linear layer but lm_head in FP8, in 128 x 128
//     blocks where weight_block_size says so, else per tensor;
//   modelopt (NVIDIA Model Optimizer): quant_algo NVFP4 or FP8 on the linear layers, lm_head
//     excluded, kv_cache_quant_algo FP8 for the KV cache.
// Other methods are recorded as unsupported (weights = "checkpoint" then says why).
CheckpointFormat import_checkpoint(Reader q) {
  CheckpointFormat c;
  c.weights.fill("bf16");
  c.method = q.str_opt("quant_method").value_or("");
  const auto linear = [&](const std::string& s) {
    for (const WeightClass k : {WeightClass::kAttention, WeightClass::kMlp, WeightClass::kExperts})
      c.weights[static_cast<size_t>(k)] = s;
  };
  if (c.method == "mxfp4") {
    c.weights[static_cast<size_t>(WeightClass::kExperts)] = "mxfp4";
    (void)q.get("modules_to_not_convert");
  } else if (c.method == "fp8") {
    const std::vector<double> block = q.list("weight_block_size");
    if (!block.empty() && block != std::vector<double>{128, 128})
      q.fail("weight_block_size", "bwsim's block FP8 has 128 x 128 weight blocks");
    if (const auto f = q.str_opt("fmt"); f && *f != "e4m3")
      q.fail("fmt", fmt::format("'{}': expected e4m3", *f));
    (void)q.get("activation_scheme");
    linear(block.empty() ? "fp8_e4m3" : "fp8_block");
  } else if (c.method == "modelopt") {
    const std::string algo = q.str_opt("quant_algo").value_or("");
    if (algo == "NVFP4") {
      linear("nvfp4");
    } else if (algo == "FP8") {
      linear("fp8_e4m3");
    } else {
      c.unsupported = fmt::format("modelopt quant_algo '{}': bwsim takes NVFP4 and FP8 checkpoints", algo);
    }
    const std::string kv = q.str_opt("kv_cache_quant_algo").value_or("");
    if (kv == "FP8") c.kv = "fp8_e4m3";
    (void)q.get("exclude_modules");
    (void)q.get("group_size");
  } else {
    c.unsupported = fmt::format(
        "quant_method '{}': bwsim takes mxfp4 (gpt-oss), fp8 (DeepSeek block FP8) and "
        "modelopt (NVFP4 / FP8) checkpoints",
        c.method);
  }
  return c;
}

// rope_theta, partial_rotary_factor and rope_scaling as a --rope text, parsed by parse_rope.
std::optional<RopeSpec> import_rope(Reader& r, const std::string& family, int64_t max_positions,
                                    double default_theta, std::vector<std::string>& notes) {
  double theta = r.num_opt("rope_theta").value_or(default_theta);
  double partial = r.num_opt("partial_rotary_factor").value_or(1.0);
  const std::optional<int64_t> top_original = r.int_opt("original_max_position_embeddings");
  bool interleaved = deepseek_family(family);
  if (auto v = r.bool_opt("rope_interleave")) interleaved = *v;
  std::string text = "default";
  std::vector<std::string> kv;
  // transformers 5 moved everything RoPE into one rope_parameters table (rope_theta included).
  const char* table = r.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  const json::value* scaling = r.get(table);
  if (scaling != nullptr) {
    if (!scaling->is_object()) r.fail(table, "expected an object");
    Reader s(scaling->as_object(), r.where() + ": " + table);
    if (auto t = s.num_opt("rope_theta")) theta = *t;
    if (auto f = s.num_opt("partial_rotary_factor")) partial = *f;
    std::string type = s.str_opt("rope_type").value_or("");
    if (auto t = s.str_opt("type"); t && type.empty()) type = *t;
    if (type == "su") type = "longrope";  // Phi-3's first name for it
    const auto original = [&] {
      const std::optional<int64_t> o = s.int_opt("original_max_position_embeddings");
      if (o) return *o;
      if (top_original) return *top_original;
      return max_positions;
    };
    const auto add = [&](std::string_view key, std::optional<double> v, std::string_view name) {
      if (v) kv.push_back(fmt::format("{}={}", name, num_text(*v)));
      (void)key;
    };
    if (type == "default" || type.empty()) {
      text = "default";
    } else if (type == "linear" || type == "dynamic") {
      text = type;
      add("factor", s.num_opt("factor"), "factor");
      if (type == "dynamic") kv.push_back(fmt::format("max_pos={}", original()));
    } else if (type == "yarn") {
      text = "yarn";
      add("factor", s.num_opt("factor"), "factor");
      kv.push_back(fmt::format("original={}", original()));
      add("beta_fast", s.num_opt("beta_fast"), "beta_fast");
      add("beta_slow", s.num_opt("beta_slow"), "beta_slow");
      add("mscale", s.num_opt("mscale"), "mscale");
      add("mscale_all_dim", s.num_opt("mscale_all_dim"), "mscale_all_dim");
      add("attention_factor", s.num_opt("attention_factor"), "attention_factor");
      if (auto t = s.bool_opt("truncate")) kv.push_back(fmt::format("truncate={}", *t ? "true" : "false"));
    } else if (type == "longrope") {
      text = "longrope";
      kv.push_back(fmt::format("original={}", original()));
      kv.push_back(fmt::format("max_pos={}", max_positions));
      add("factor", s.num_opt("factor"), "factor");
      add("attention_factor", s.num_opt("attention_factor"), "attention_factor");
      for (const char* which : {"short_factor", "long_factor"}) {
        const std::vector<double> l = s.list(which);
        std::string joined;
        for (double v : l) joined += (joined.empty() ? "" : "/") + num_text(v);
        if (!joined.empty()) kv.push_back(fmt::format("{}={}", which, joined));
      }
    } else if (type == "llama3") {
      text = "llama3";
      add("factor", s.num_opt("factor"), "factor");
      kv.push_back(fmt::format("original={}", original()));
      add("low_freq_factor", s.num_opt("low_freq_factor"), "low_freq_factor");
      add("high_freq_factor", s.num_opt("high_freq_factor"), "high_freq_factor");
    } else {
      s.fail(type.empty() ? "type" : "rope_type", fmt::format("RoPE type '{}' is not modelled", type));
    }
    for (const std::string& k : s.unread())
      notes.push_back(fmt::format("{}.{}: unknown key, not modelled", table, k));
  }
  kv.insert(kv.begin(), fmt::format("theta={}", num_text(theta)));
  if (partial != 1.0) kv.push_back(fmt::format("partial={}", num_text(partial)));
  if (interleaved) kv.push_back("style=interleaved");
  std::string joined;
  for (const std::string& e : kv) joined += (joined.empty() ? "" : ",") + e;
  return parse_rope(text + ":" + joined, r.where() + ": rope");
}

}  // namespace

std::string known_hf_families() {
  std::string out;
  for (const std::string_view f : kKnownFamilies) out += fmt::format("{}{}", out.empty() ? "" : ", ", f);
  return out;
}

ModelSpec import_hf_config(std::string_view text, const std::string& name, const HfImportOptions& o) {
  json::parse_options opt;
  opt.allow_trailing_commas = true;
  JsonParse parsed = parse_json_exact(text, opt);  // LongRoPE factors etc. to the nearest double
  if (parsed.error) {
    const size_t at = std::min(parsed.consumed, text.size());
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    throw InputError(fmt::format("{}:{}: not valid JSON ({})", name, line, parsed.error.message()));
  }
  const json::value doc = std::move(parsed.value);
  if (!doc.is_object())
    throw InputError(fmt::format("{}: expected a JSON object (a Hugging Face config.json)", name));
  ModelSpec m;
  m.source = name;
  const json::object* body = &doc.as_object();
  std::string where = name;
  std::string implied;  // the text config's model_type a wrapper implies
  {
    Reader w(doc.as_object(), name);
    const std::string outer = w.str_opt("model_type").value_or("");
    const auto* wrap = std::find_if(std::begin(kMultimodal), std::end(kMultimodal),
                                    [&](const auto& e) { return e.first == outer; });
    if (wrap != std::end(kMultimodal)) {
      const json::value* text_config = w.get("text_config");
      if (text_config == nullptr || !text_config->is_object())
        w.fail("text_config", fmt::format("a {} config holds its text decoder here: missing", outer));
      body = &text_config->as_object();
      where = name + ": text_config";
      implied = wrap->second;
      if (w.get("vision_config") != nullptr) {
        m.notes.push_back(
            fmt::format("vision_config: {}'s vision tower and projector are neither modelled nor counted; "
                        "the text decoder is",
                        outer));
      }
      sort_unread(w, m, !o.allow_unknown_model, kMultimodalIgnored);
      if (const auto* n = doc.as_object().if_contains("_name_or_path"); n != nullptr && n->is_string())
        m.name = std::string(n->as_string());
    }
  }
  Reader r(*body, where);
  m.family = r.str_opt("model_type").value_or(implied);
  if (m.family.empty()) r.fail("model_type", "missing: cannot tell which architecture this is");
  if (!implied.empty() && m.family != implied)
    r.fail("model_type", fmt::format("'{}' where its wrapper implies '{}'", m.family, implied));
  const FamilyDefaults dflt = family_defaults(m.family);
  const auto int_or = [&](std::string_view key, const std::optional<int64_t>& d) {
    if (const std::optional<int64_t> v = r.int_opt(key)) return *v;
    if (d) return *d;
    return r.int_req(key);
  };
  if (std::find(std::begin(kKnownFamilies), std::end(kKnownFamilies), m.family) == std::end(kKnownFamilies)) {
    if (!o.allow_unknown_model) {
      r.fail("model_type",
             fmt::format("'{}' is not a family bwsim knows ({}); --allow-unknown-model reads it as "
                         "a Llama-style decoder",
                         m.family, known_hf_families()));
    }
    m.notes.push_back(
        fmt::format("model_type '{}' is not a family bwsim knows: read as a Llama-style decoder", m.family));
  }
  if (m.name.empty()) m.name = std::filesystem::path(name).stem().string();
  if (const auto* v = r.get("_name_or_path"); v != nullptr && v->is_string() && !v->as_string().empty())
    m.name = std::string(v->as_string());
  m.layers = int_or("num_hidden_layers", dflt.layers);
  m.hidden = int_or("hidden_size", dflt.hidden);
  m.vocab = int_or("vocab_size", dflt.vocab);
  m.heads = int_or("num_attention_heads", dflt.heads);
  m.kv_heads = r.int_opt("num_key_value_heads").value_or(dflt.kv_heads.value_or(m.heads));
  m.head_dim = r.int_opt("head_dim").value_or(dflt.head_dim.value_or(m.heads > 0 ? m.hidden / m.heads : 0));
  m.max_positions = r.int_opt("max_position_embeddings").value_or(dflt.max_positions.value_or(0));
  m.tie_embeddings = r.bool_opt("tie_word_embeddings").value_or(dflt.tie);
  const bool attention_bias = r.bool_opt("attention_bias").value_or(false);
  m.qkv_bias = qwen2_family(m.family) || attention_bias;
  m.o_bias = !deepseek_family(m.family) && !qwen2_family(m.family) && attention_bias;
  m.qk_norm = qwen3_family(m.family);
  if (r.bool_opt("mlp_bias").value_or(false))
    m.notes.push_back("mlp_bias: the MLP's biases are not counted (a few parameters per layer)");
  const int64_t intermediate = r.int_opt("intermediate_size").value_or(dflt.ffn.value_or(0));
  m.ffn = intermediate;
  if (m.family != "gemma3_text") {
    // The gated MLP's activation (HF ACT2FN): SiLU, or GELU's tanh form (GeGLU); another would
    // change the numbers unseen.
    const std::string act = r.str_opt("hidden_act").value_or("silu");
    if (act == "gelu_pytorch_tanh" || act == "gelu_new") {
      m.gelu_mlp = true;
    } else if (act != "silu" && act != "swish") {
      r.fail("hidden_act",
             fmt::format("'{}': bwsim models silu, swish, gelu_pytorch_tanh and gelu_new", act));
    }
  }
  if (m.family == "gemma3_text") {
    // Gemma3DecoderLayer: input, post-attention, pre- and post-feedforward RMSNorms; q_norm and
    // k_norm over head_dim; GeGLU (gate, up, down like SwiGLU); the embedding scaled by
    // sqrt(hidden) (modeling_gemma3.py).
    m.norms_per_layer = 4;
    m.qk_norm = true;
    const std::string act = r.str_opt("hidden_activation").value_or("gelu_pytorch_tanh");
    if (act != "gelu_pytorch_tanh")
      r.fail("hidden_activation", fmt::format("'{}': bwsim models gelu_pytorch_tanh", act));
    m.gelu_mlp = true;
    m.notes.push_back(
        "hidden_activation gelu_pytorch_tanh: GeGLU in the numerics replica, timed as SwiGLU (the same "
        "GEMMs)");
    const int64_t scalar = r.int_opt("query_pre_attn_scalar").value_or(256);
    if (scalar <= 0) r.fail("query_pre_attn_scalar", "must be >= 1");
    if (scalar != m.head_dim) m.query_scalar = scalar;  // scores scale by 1/sqrt(scalar)
    m.scaled_embedding = true;
    // Gemma3Attention: the sliding layers rotate with rope_local_base_freq and no scaling.
    const double local = r.num_opt("rope_local_base_freq").value_or(10000.0);
    m.window_rope = parse_rope(fmt::format("default:theta={}", num_text(local)), "rope_local_base_freq");
    for (const char* cap : {"final_logit_softcapping", "attn_logit_softcapping"}) {
      if (const std::optional<double> c = r.num_opt(cap))
        m.notes.push_back(fmt::format("{} {}: soft-capping is not modelled", cap, num_text(*c)));
    }
    (void)r.get("cache_implementation");
  }

  // Sliding windows: which layers attend through one (layer_types, Gemma's sliding_window_pattern,
  // or every layer where use_sliding_window holds), as ModelSpec::window / window_every.
  std::optional<int64_t> window = r.int_opt("sliding_window");
  if (!window) window = dflt.window;
  // Families whose window, when set, applies to every layer.
  const bool every_layer = m.family == "mistral" || m.family == "phi3" || m.family == "mixtral";
  const bool use_window = r.bool_opt("use_sliding_window")
                              .value_or(every_layer || m.family == "gemma3_text" || m.family == "gpt_oss");
  std::optional<int64_t> every;  // window_every, once known
  bool types_given = false;
  if (const auto* lt = r.get("layer_types"); lt != nullptr) {
    if (!lt->is_array()) r.fail("layer_types", "expected a list of strings");
    types_given = true;
    std::vector<bool> sliding;
    std::string other;
    for (const auto& e : lt->as_array()) {
      if (!e.is_string()) r.fail("layer_types", "expected a list of strings");
      const std::string_view t = e.as_string();
      if (t != "full_attention" && t != "sliding_attention" && t != "chunked_attention" && other.empty())
        other = std::string(t);
      sliding.push_back(t == "sliding_attention" || t == "chunked_attention");
    }
    if (!other.empty() && !o.allow_unknown_model) {
      r.fail("layer_types",
             fmt::format("'{}' layers: bwsim models full_attention, sliding_attention and "
                         "chunked_attention (--allow-unknown-model reads them as full attention)",
                         other));
    }
    if (!other.empty()) {
      m.notes.push_back(fmt::format("layer_types: '{}' layers are modelled with full attention", other));
    } else if (static_cast<int64_t>(sliding.size()) != m.layers) {
      r.fail("layer_types", fmt::format("{} entries for {} layers", sliding.size(), m.layers));
    } else {
      if (const std::optional<int64_t> p = layer_period(sliding); p && *p != 1) every = *p;  // 1: no window
      const bool any = std::find(sliding.begin(), sliding.end(), true) != sliding.end();
      if (any && !every) {
        m.notes.push_back(
            "layer_types: the sliding layers follow no period bwsim models; every layer is modelled with "
            "full "
            "attention");
      }
    }
  } else if (m.family == "gemma3_text") {
    // Layer i is local (sliding) unless (i + 1) % pattern == 0 (Gemma3TextConfig).
    every = r.int_opt("sliding_window_pattern").value_or(r.int_opt("_sliding_window_pattern").value_or(6));
  } else if (use_window && every_layer) {
    every = 0;
  } else if (use_window && m.family.starts_with("qwen")) {
    // Qwen2Config: layer i slides when i >= max_window_layers (the first ones stay global).
    every = 0;
    m.window_first = r.int_opt("max_window_layers").value_or(0);
  }
  (void)r.get("sliding_window_pattern");
  (void)r.get("_sliding_window_pattern");
  if (window && *window > 0 && use_window && every && (m.max_positions == 0 || *window < m.max_positions)) {
    m.window = *window;
    m.window_every = *every;
    m.notes.push_back(fmt::format(
        "sliding_window {}: {} of {} layers attend to and cache only the last {} keys (numerics, timing and "
        "capacity)",
        *window, m.window_layers(), m.layers, *window));
  } else if (window && use_window && !types_given && (m.max_positions == 0 || *window < m.max_positions)) {
    m.notes.push_back(
        fmt::format("sliding_window {}: attention is modelled full-context (no window)", *window));
  }
  if (m.family == "llama4_text") {
    const int64_t chunk = r.int_opt("attention_chunk_size").value_or(8192);
    m.qk_l2norm = r.bool_opt("use_qk_norm").value_or(true);  // Llama4TextL2Norm: no parameters
    // no_rope_layers[i] = 1: layer i uses RoPE and chunked attention (the name misleads); empty
    // or absent: every no_rope_layer_interval-th layer (4) is NoPE and global (Llama4TextConfig).
    const std::vector<double> rope_layers = r.list("no_rope_layers");
    const int64_t interval = r.int_opt("no_rope_layer_interval").value_or(4);
    std::optional<int64_t> period;
    if (rope_layers.empty()) {
      period = interval;
    } else if (static_cast<int64_t>(rope_layers.size()) != m.layers) {
      r.fail("no_rope_layers", fmt::format("{} entries for {} layers", rope_layers.size(), m.layers));
    } else {
      std::vector<bool> rope(rope_layers.size());
      for (size_t l = 0; l < rope.size(); ++l) rope[l] = rope_layers[l] != 0;
      period = layer_period(rope);
      if (!period) r.fail("no_rope_layers", "the NoPE layers follow no period bwsim models");
    }
    const int64_t nope = *period == 0 ? 0 : m.layers / *period;  // 0: every layer has RoPE
    m.nope_every = *period;
    if (chunk > 0 && (m.max_positions == 0 || chunk < m.max_positions)) {
      m.window = chunk;
      m.window_every = *period;
      m.window_chunked = true;
      m.notes.push_back(fmt::format(
          "attention_chunk_size {}: {} of {} layers attend within {}-token chunks and cache at most a chunk "
          "(numerics, timing and capacity)",
          chunk, m.window_layers(), m.layers, chunk));
    }
    m.notes.push_back(fmt::format(
        "no_rope_layers: {} of {} layers use no RoPE (numerics; timed without their RoPE once the context "
        "passes the chunk)",
        nope, m.layers));
    // Llama4TextAttention scales a NoPE layer's queries by log(floor((p + 1) / floor_scale) + 1) *
    // attn_scale + 1: exactly 1 for the first floor_scale - 1 positions.
    if (r.bool_opt("attn_temperature_tuning").value_or(true)) {
      m.temperature_floor = r.int_opt("floor_scale").value_or(8192);
      m.temperature_scale = r.num_opt("attn_scale").value_or(0.1);
      if (m.temperature_floor <= 0) r.fail("floor_scale", "must be >= 1");
      if (!(m.temperature_scale >= 0) || !std::isfinite(m.temperature_scale))
        r.fail("attn_scale", "must be >= 0");
      m.notes.push_back(fmt::format(
          "attn_temperature_tuning (attn_scale {}): NoPE queries are scaled from position {} on (numerics; "
          "an elementwise scale, not timed)",
          num_text(m.temperature_scale), m.temperature_floor - 1));
    }
  }
  if (m.window == 0) m.window_first = 0;
  (void)r.get("max_window_layers");  // read above where the window applies; otherwise no bearing

  // MLA (DeepSeek).
  if (deepseek_family(m.family)) {
    MlaSpec s;
    s.q_lora_rank = r.int_opt("q_lora_rank").value_or(0);
    s.kv_lora_rank = r.int_req("kv_lora_rank");
    s.nope_dim = r.int_req("qk_nope_head_dim");
    s.rope_dim = r.int_req("qk_rope_head_dim");
    s.v_dim = r.int_req("v_head_dim");
    m.mla = s;
    m.kv_heads = m.heads;
    m.head_dim = 0;
  }

  // Mixture of experts.
  if (m.family == "gpt_oss") {
    // Every layer routes to experts with biased projections, through a biased router; each query
    // head has a learned sink logit (modeling_gpt_oss.py; openai/gpt-oss gpt_oss/torch/model.py).
    MoeSpec s;
    s.experts = r.int_req("num_local_experts");
    const std::optional<int64_t> openai_k = r.int_opt("experts_per_token");
    s.top_k = r.int_opt("num_experts_per_tok").value_or(openai_k.value_or(0));
    if (s.top_k == 0) r.fail("num_experts_per_tok", "missing (nor experts_per_token)");
    if (openai_k && *openai_k != s.top_k) {
      r.fail("experts_per_token",
             fmt::format("{} disagrees with num_experts_per_tok = {}", *openai_k, s.top_k));
    }
    s.expert_ffn = intermediate;
    s.router_bias = true;
    s.expert_bias = true;
    m.moe = s;
    m.ffn = 0;
    m.attention_sinks = true;
    m.notes.push_back(
        "attention sinks: counted as parameters and timed (an exp2 per query row joins each softmax "
        "denominator); the numerics replica draws their logits N(0, 1) per head (no trained values)");
    if (const std::optional<double> limit = r.num_opt("swiglu_limit")) {
      m.swiglu_limit = *limit;
      m.notes.push_back(
          fmt::format("swiglu_limit {}: the experts' clamped SwiGLU is computed in the numerics replica and "
                      "timed as a plain one",
                      *limit));
    }
  } else if (m.family == "llama4_text") {
    // Llama4TextMoe in every interleave_moe_layer_step-th layer (moe_layers = range(step - 1, L,
    // step)): routed experts of intermediate_size plus an always-on shared expert of the same
    // width, an unbiased router; the other layers are dense MLPs of intermediate_size_mlp.
    MoeSpec s;
    s.experts = r.int_opt("num_local_experts").value_or(16);
    s.top_k = r.int_opt("num_experts_per_tok").value_or(1);
    s.expert_ffn = intermediate;
    s.shared_ffn = intermediate;
    s.layer_step = r.int_opt("interleave_moe_layer_step").value_or(1);
    if (r.has("moe_layers")) r.fail("moe_layers", "an explicit MoE layer list is not modelled");
    m.moe = s;
    const int64_t dense_ffn = r.int_opt("intermediate_size_mlp").value_or(16384);
    m.ffn = s.layer_step > 1 ? dense_ffn : 0;  // no dense layer without interleaving
    (void)r.get("for_llm_compressor");
    (void)r.get("_attn_implementation_autoset");
  } else if (m.family == "mixtral") {
    MoeSpec s;
    s.experts = r.int_req("num_local_experts");
    s.top_k = r.int_req("num_experts_per_tok");
    s.expert_ffn = intermediate;
    m.moe = s;
    m.ffn = 0;
  } else if (m.family == "qwen2_moe" || m.family == "qwen3_moe") {
    MoeSpec s;
    s.experts = r.int_req("num_experts");
    s.top_k = r.int_req("num_experts_per_tok");
    s.expert_ffn = r.int_req("moe_intermediate_size");
    s.shared_ffn = r.int_opt("shared_expert_intermediate_size").value_or(0);
    s.shared_gate = s.shared_ffn > 0;
    s.layer_step = r.int_opt("decoder_sparse_step").value_or(1);
    const std::vector<double> dense = r.list("mlp_only_layers");
    if (!dense.empty()) {
      m.notes.push_back(
          fmt::format("mlp_only_layers ({} layers): modelled as MoE like the others", dense.size()));
    }
    m.moe = s;
  } else if (deepseek_family(m.family)) {
    MoeSpec s;
    s.experts = r.int_req("n_routed_experts");
    s.top_k = r.int_req("num_experts_per_tok");
    s.expert_ffn = r.int_req("moe_intermediate_size");
    s.shared_ffn = r.int_opt("n_shared_experts").value_or(0) * s.expert_ffn;
    s.dense_layers = r.int_opt("first_k_dense_replace").value_or(0);
    s.layer_step = r.int_opt("moe_layer_freq").value_or(1);
    s.router_bias = m.family == "deepseek_v3";  // e_score_correction_bias (noaux_tc routing)
    m.moe = s;
  }
  m.mtp_modules = r.int_opt("num_nextn_predict_layers").value_or(0);
  if (const json::value* qc = r.get("quantization_config"); qc != nullptr) {
    if (!qc->is_object()) r.fail("quantization_config", "expected an object");
    m.checkpoint = import_checkpoint(Reader(qc->as_object(), r.where() + ": quantization_config"));
    m.notes.push_back(
        m.checkpoint->unsupported.empty()
            ? fmt::format(
                  "quantization_config: {} checkpoint ({}); weights = \"checkpoint\" takes its formats, "
                  "otherwise the quantization plan decides",
                  m.checkpoint->method, checkpoint_text(*m.checkpoint))
            : fmt::format("quantization_config: {}", m.checkpoint->unsupported));
  }
  m.rope = import_rope(r, m.family, m.max_positions, dflt.rope_theta, m.notes);

  sort_unread(r, m, !o.allow_unknown_model);
  check_model(m, name);
  return m;
}

ModelSpec import_hf_config_file(const std::filesystem::path& file, const HfImportOptions& o) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("--model {}: cannot open the file", file.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return import_hf_config(ss.str(), file.string(), o);
}

}  // namespace bwsim
