#include "workloads/transformer/model.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "sim/config.hpp"
#include "sim/errors.hpp"
#include "sim/provenance.hpp"
#include "workloads/transformer/hf_import.hpp"

namespace bwsim {

std::string_view weight_class_name(WeightClass c) {
  switch (c) {
    case WeightClass::kEmbedding:
      return "embedding";
    case WeightClass::kAttention:
      return "attention";
    case WeightClass::kMlp:
      return "mlp";
    case WeightClass::kExperts:
      return "experts";
    case WeightClass::kRouter:
      return "router";
    case WeightClass::kNorm:
      return "norm";
    case WeightClass::kLmHead:
      return "lm_head";
  }
  return "?";
}

double ParamCount::total() const { return std::accumulate(by_class.begin(), by_class.end(), 0.0); }

ParamCount& ParamCount::operator+=(const ParamCount& o) {
  for (size_t i = 0; i < kWeightClasses; ++i) by_class[i] += o.by_class[i];
  return *this;
}

bool ModelSpec::moe_layer(int64_t layer) const {
  return moe && layer >= moe->dense_layers && (layer + 1) % moe->layer_step == 0;
}

int64_t ModelSpec::window_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < layers; ++l) n += window_layer(l) ? 1 : 0;
  return n;
}

double ModelSpec::kv_layer_tokens(int64_t context) const {
  const int64_t w = window_layers();
  return static_cast<double>(layers - w) * static_cast<double>(context) +
         static_cast<double>(w) * static_cast<double>(std::min(context, window));
}

int64_t ModelSpec::qk_dim() const { return mla ? mla->nope_dim + mla->rope_dim : head_dim; }
int64_t ModelSpec::v_dim() const { return mla ? mla->v_dim : head_dim; }

int64_t ModelSpec::kv_elements_per_token() const {
  return mla ? mla->kv_lora_rank + mla->rope_dim : 2 * kv_heads * head_dim;
}

ParamCount ModelSpec::layer_params(int64_t layer) const {
  ParamCount p;
  const auto H = static_cast<double>(hidden);
  const auto n = static_cast<double>(heads);
  p[WeightClass::kNorm] += static_cast<double>(norms_per_layer) * H;  // input and post-attention (+ Gemma's)
  if (mla) {
    const auto qk = static_cast<double>(mla->nope_dim + mla->rope_dim);
    if (mla->q_lora_rank > 0) {
      const auto r = static_cast<double>(mla->q_lora_rank);
      p[WeightClass::kAttention] += H * r + r * n * qk;  // q_a_proj, q_b_proj
      p[WeightClass::kNorm] += r;                        // q_a_layernorm
    } else {
      p[WeightClass::kAttention] += H * n * qk;  // q_proj
    }
    const auto c = static_cast<double>(mla->kv_lora_rank);
    p[WeightClass::kAttention] += H * (c + static_cast<double>(mla->rope_dim));  // kv_a_proj_with_mqa
    p[WeightClass::kAttention] += c * n * static_cast<double>(mla->nope_dim + mla->v_dim);  // kv_b_proj
    p[WeightClass::kNorm] += c;                                                             // kv_a_layernorm
    p[WeightClass::kAttention] += n * static_cast<double>(mla->v_dim) * H;                  // o_proj
  } else {
    const auto d = static_cast<double>(head_dim);
    const double q = n * d;
    const double kv = static_cast<double>(kv_heads) * d;
    p[WeightClass::kAttention] += H * (q + 2 * kv) + q * H;
    if (qkv_bias) p[WeightClass::kAttention] += q + 2 * kv;
    if (o_bias) p[WeightClass::kAttention] += H;
    if (qk_norm) p[WeightClass::kNorm] += 2 * d;
  }
  if (attention_sinks) p[WeightClass::kAttention] += n;
  if (moe_layer(layer)) {
    const auto E = static_cast<double>(moe->experts);
    p[WeightClass::kRouter] += E * H + (moe->router_bias ? E : 0);
    p[WeightClass::kExperts] += E * moe->expert_params(hidden);
    p[WeightClass::kMlp] += 3 * H * static_cast<double>(moe->shared_ffn);
    if (moe->shared_gate) p[WeightClass::kRouter] += H;
  } else {
    p[WeightClass::kMlp] += 3 * H * static_cast<double>(ffn);
  }
  return p;
}

ParamCount ModelSpec::params() const {
  ParamCount p;
  const double table = static_cast<double>(vocab) * static_cast<double>(hidden);
  p[WeightClass::kEmbedding] += table;
  if (!tie_embeddings) p[WeightClass::kLmHead] += table;
  for (int64_t l = 0; l < layers; ++l) p += layer_params(l);
  p[WeightClass::kNorm] += static_cast<double>(hidden);  // final norm
  return p;
}

ParamCount ModelSpec::active_params() const {
  ParamCount p = params();
  if (moe) {
    double routed = 0;
    for (int64_t l = 0; l < layers; ++l) {
      if (moe_layer(l)) routed += static_cast<double>(moe->experts - moe->top_k) * moe->expert_params(hidden);
    }
    p[WeightClass::kExperts] -= routed;
  }
  return p;
}

ParamCount ModelSpec::mtp_params() const {
  ParamCount p;
  const auto H = static_cast<double>(hidden);
  for (int64_t k = 0; k < mtp_modules; ++k) {
    p[WeightClass::kNorm] += 3 * H;           // enorm, hnorm, the shared head's norm
    p[WeightClass::kAttention] += 2 * H * H;  // eh_proj: [h; emb] -> h
    p += layer_params(layers + k);            // one decoder layer, as the model's last ones
  }
  return p;
}

void check_model(const ModelSpec& m, std::string_view where) {
  const auto need = [&](bool ok, std::string_view what) {
    if (!ok) throw InputError(fmt::format("{}: {}", where, what));
  };
  const auto positive = [&](int64_t v, std::string_view key) {
    need(v > 0, fmt::format("{} = {}: must be >= 1", key, v));
  };
  positive(m.layers, "layers");
  positive(m.hidden, "hidden");
  positive(m.vocab, "vocab");
  positive(m.heads, "attention.heads");
  if (m.mla) {
    positive(m.mla->kv_lora_rank, "mla.kv_lora_rank");
    positive(m.mla->nope_dim, "mla.nope_dim");
    positive(m.mla->rope_dim, "mla.rope_dim");
    positive(m.mla->v_dim, "mla.v_dim");
    need(m.mla->q_lora_rank >= 0, "mla.q_lora_rank must be >= 0");
  } else {
    positive(m.kv_heads, "attention.kv_heads");
    positive(m.head_dim, "attention.head_dim");
    need(m.heads % m.kv_heads == 0,
         fmt::format("attention.heads = {} is not a multiple of attention.kv_heads = {}", m.heads,
                     m.kv_heads));
  }
  const bool dense_somewhere = !m.moe || m.moe->dense_layers > 0 || m.moe->layer_step > 1;
  if (dense_somewhere) positive(m.ffn, "mlp.ffn");
  if (m.moe) {
    positive(m.moe->experts, "moe.experts");
    positive(m.moe->top_k, "moe.top_k");
    positive(m.moe->expert_ffn, "moe.expert_ffn");
    positive(m.moe->layer_step, "moe.layer_step");
    need(m.moe->top_k <= m.moe->experts,
         fmt::format("moe.top_k = {} exceeds moe.experts = {}", m.moe->top_k, m.moe->experts));
    need(m.moe->shared_ffn >= 0 && m.moe->dense_layers >= 0,
         "moe.shared_ffn and moe.dense_layers must be >= 0");
  }
  need(m.mtp_modules >= 0, "mtp.modules must be >= 0");
  if (m.rope) {
    // The RoPE must fit the rotated dims (LongRoPE's lists, partial factors).
    const int64_t rd = m.mla ? m.mla->rope_dim : m.head_dim;
    (void)rope_table(*m.rope, static_cast<int>(rd), std::max<int64_t>(1, m.max_positions),
                     RopePrecision::kFloat64, fmt::format("{}: attention.rope", where));
  }
  if (m.window_rope)
    (void)rope_table(*m.window_rope, static_cast<int>(m.head_dim), 1, RopePrecision::kFloat64,
                     fmt::format("{}: attention.window_rope", where));
}

ModelSpec load_model_toml(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  ConfigTree tree = ConfigTree::load_file(file);
  for (const auto& o : overrides) tree.set(o, "--model-set");
  ConfigReader r(tree);
  ModelSpec m;
  m.source = file.string();
  m.family = "custom";
  r.req("name", m.name, "model name, for reports");
  r.req("layers", m.layers, "decoder layers");
  r.req("hidden", m.hidden, "hidden size");
  r.req("vocab", m.vocab, "vocabulary size");
  r.opt("tie_embeddings", m.tie_embeddings, false, "lm_head shares the embedding table");
  r.opt("max_positions", m.max_positions, int64_t{0}, "max_position_embeddings (0: unknown)");
  r.opt("swiglu_limit", m.swiglu_limit, 0.0,
        "gpt-oss's clamped SwiGLU: gate clamped at this, up to +-this, (up + 1) x gate x sigmoid(1.702 gate) "
        "(0: plain SwiGLU)");
  r.check(m.swiglu_limit >= 0 && std::isfinite(m.swiglu_limit), "swiglu_limit", "must be >= 0");
  r.opt_enum("mlp_activation", m.gelu_mlp, false,
             std::array<std::pair<std::string_view, bool>, 2>{{{"silu", false}, {"gelu_tanh", true}}},
             "the gated MLP's gate: SwiGLU, or GeGLU (Gemma 3)");
  r.opt("window", m.window, int64_t{0},
        "sliding-window attention: windowed layers attend to and cache only the last N keys (0: none)");
  r.opt("window_every", m.window_every, int64_t{0},
        "with window: every N-th layer (l + 1 divisible by N) is global, the others windowed (0: all "
        "windowed)");
  r.opt_enum(
      "window_kind", m.window_chunked, false,
      std::array<std::pair<std::string_view, bool>, 2>{{{"sliding", false}, {"chunked", true}}},
      "with window: each query sees its last N keys (sliding), or the keys of its own N-token chunk up "
      "to itself (chunked, Llama 4)");
  r.opt("window_first", m.window_first, int64_t{0},
        "with window: the layers before this one attend globally (Qwen2's max_window_layers)");
  r.range("window_first", m.window_first, int64_t{0}, int64_t{1} << 20);
  r.range("window", m.window, int64_t{0}, int64_t{1} << 40);
  r.range("window_every", m.window_every, int64_t{0}, int64_t{1} << 20);
  r.opt("norms_per_layer", m.norms_per_layer, int64_t{2},
        "RMSNorms per decoder layer: 2, or 4 with post-attention and post-feedforward norms (Gemma 2/3)");
  r.range("norms_per_layer", m.norms_per_layer, int64_t{0}, int64_t{8});
  r.opt("scaled_embedding", m.scaled_embedding, false,
        "the embedding is multiplied by sqrt(hidden), the factor rounded to BF16 (Gemma)");
  {
    ConfigReader a = r.section("attention", "attention");
    a.req("heads", m.heads, "query heads");
    const bool mla = r.has("mla");
    a.opt("kv_heads", m.kv_heads, mla ? m.heads : int64_t{0}, "KV heads (GQA / MQA)");
    a.opt("head_dim", m.head_dim, int64_t{0}, "dims per head (default hidden / heads)");
    if (m.head_dim == 0 && m.heads > 0 && !mla) m.head_dim = m.hidden / m.heads;
    a.opt("qkv_bias", m.qkv_bias, false, "Q, K, V projections carry a bias (Qwen2)");
    a.opt("o_bias", m.o_bias, false, "the output projection carries a bias");
    a.opt("qk_norm", m.qk_norm, false, "RMSNorm over each head's Q and K (Qwen3, Gemma 3)");
    a.opt("qk_l2norm", m.qk_l2norm, false,
          "a weightless RMS norm over each head's Q and K in the RoPE layers (Llama 4's use_qk_norm)");
    a.opt("query_scalar", m.query_scalar, int64_t{0},
          "scores scale by 1/sqrt(this) instead of 1/sqrt(head_dim) (Gemma's query_pre_attn_scalar; 0: "
          "head_dim)");
    a.range("query_scalar", m.query_scalar, int64_t{0}, int64_t{1} << 20);
    a.opt("temperature_floor", m.temperature_floor, int64_t{0},
          "Llama 4's attention temperature tuning: NoPE layers scale the query at position p by "
          "log(floor((p + 1) / this) + 1) x temperature_scale + 1 (0: off)");
    a.range("temperature_floor", m.temperature_floor, int64_t{0}, int64_t{1} << 40);
    a.opt("temperature_scale", m.temperature_scale, 0.1, "with temperature_floor: attn_scale");
    a.range("temperature_scale", m.temperature_scale, 0.0, 100.0);
    a.opt("sinks", m.attention_sinks, false,
          "a learned logit per query head added to the softmax's denominator (gpt-oss attention sinks)");
    std::string rope;
    a.opt("rope", rope, std::string(), "RoPE as for bwsim rope --type (empty: none)");
    if (!rope.empty()) {
      try {
        m.rope = parse_rope(rope, "rope");
      } catch (const InputError& e) {
        a.fail("rope", e.what());
      }
    }
    std::string window_rope;
    a.opt("window_rope", window_rope, std::string(),
          "the windowed layers' own RoPE, as rope (Gemma 3's local base; empty: as rope)");
    if (!window_rope.empty()) {
      try {
        m.window_rope = parse_rope(window_rope, "window_rope");
      } catch (const InputError& e) {
        a.fail("window_rope", e.what());
      }
    }
    a.opt("nope_every", m.nope_every, int64_t{0},
          "every N-th layer (l + 1 divisible by N) uses no RoPE (Llama 4's NoPE layers; 0: none)");
    a.range("nope_every", m.nope_every, int64_t{0}, int64_t{1} << 20);
  }
  if (r.has("mla")) {
    ConfigReader c = r.section("mla", "multi-head latent attention (DeepSeek)");
    MlaSpec s;
    c.opt("q_lora_rank", s.q_lora_rank, int64_t{0}, "Q bottleneck rank (0: Q projected directly)");
    c.req("kv_lora_rank", s.kv_lora_rank, "KV latent rank: what the cache holds, with the rope key");
    c.req("nope_dim", s.nope_dim, "qk_nope_head_dim");
    c.req("rope_dim", s.rope_dim, "qk_rope_head_dim: the decoupled rotary dims, one shared key per token");
    c.req("v_dim", s.v_dim, "v_head_dim");
    m.mla = s;
  }
  {
    ConfigReader c = r.opt_section("mlp", "dense MLP (gated: gate, up, down)");
    c.opt("ffn", m.ffn, int64_t{0}, "intermediate size");
  }
  if (r.has("moe")) {
    ConfigReader c = r.section("moe", "mixture of experts");
    MoeSpec s;
    c.req("experts", s.experts, "routed experts");
    c.req("top_k", s.top_k, "routed experts per token");
    c.req("expert_ffn", s.expert_ffn, "intermediate size of one routed expert");
    c.opt("shared_ffn", s.shared_ffn, int64_t{0}, "intermediate size of the shared expert(s) (0: none)");
    c.opt("shared_gate", s.shared_gate, false, "a sigmoid gate scales the shared expert (Qwen2-MoE)");
    c.opt("dense_layers", s.dense_layers, int64_t{0}, "first layers with a dense MLP");
    c.opt("layer_step", s.layer_step, int64_t{1}, "MoE in every layer_step-th layer");
    c.opt("router_bias", s.router_bias, false,
          "a bias per expert on the router (DeepSeek-V3's score correction, gpt-oss's router bias)");
    c.opt("expert_bias", s.expert_bias, false, "each expert's projections carry biases (gpt-oss)");
    m.moe = s;
  }
  {
    ConfigReader c = r.opt_section("mtp", "multi-token prediction modules");
    c.opt("modules", m.mtp_modules, int64_t{0}, "sequential MTP modules (DeepSeek num_nextn_predict_layers)");
  }
  r.finish();
  check_model(m, m.source);
  return m;
}

ModelSpec load_model(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                     bool allow_unknown_model) {
  if (file.extension() == ".json") {
    if (!overrides.empty()) {
      throw InputError(fmt::format("--model-set {}: overrides apply to TOML models, not to {}",
                                   overrides.front(), file.string()));
    }
    ModelSpec m = import_hf_config_file(file, HfImportOptions{allow_unknown_model});
    provenance::note_config("model", file.string(), {}, provenance::hash_file(file));
    return m;
  }
  std::filesystem::path path;
  try {
    path = resolve_config_path(file.string(), "models");
  } catch (const InputError& e) {
    throw InputError(std::string("--model: ") + e.what());
  }
  ModelSpec m = load_model_toml(path, overrides);
  provenance::note_config("model", path.string(), overrides, provenance::hash_file(path));
  return m;
}

}  // namespace bwsim
