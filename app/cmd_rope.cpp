// bwsim rope: the inverse frequencies, attention factor and cos/sin of one RoPE variant, for
// checking against other tools (Hugging Face, vLLM, a model's reference code).
#include <fmt/format.h>

#include <boost/json.hpp>

#include <charconv>
#include <iostream>

#include "app/commands.hpp"
#include "sim/errors.hpp"
#include "sim/table.hpp"
#include "workloads/attention/rope.hpp"

namespace bwsim::app {
namespace {

std::vector<int64_t> parse_positions(const std::string& text) {
  std::vector<int64_t> out;
  std::string_view r = text;
  while (true) {
    const size_t comma = r.find(',');
    const std::string_view tok = r.substr(0, comma);
    int64_t v = -1;
    const auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (ec != std::errc{} || p != tok.data() + tok.size() || v < 0) {
      throw InputError(
          fmt::format("--positions {}: '{}' is not a position (a whole number >= 0)", text, tok));
    }
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    r = r.substr(comma + 1);
  }
  return out;
}

int run_rope(const cli::po::variables_map& vm) {
  if (vm.count("type") == 0)
    throw InputError("--type TYPE[:key=value,...] is required (e.g. yarn:factor=4,original=32768)");
  if (vm.count("head-dim") == 0) throw InputError("--head-dim D is required");
  const RopeSpec spec = parse_rope(vm["type"].as<std::string>(), "--type");
  const int head_dim = vm["head-dim"].as<int>();
  if (head_dim < 2 || head_dim > 1024)
    throw InputError(fmt::format("--head-dim {}: expected 2..1024", head_dim));
  const std::vector<int64_t> positions = vm.count("positions") != 0
                                             ? parse_positions(vm["positions"].as<std::string>())
                                             : std::vector<int64_t>{};
  int64_t seq = 0;
  for (int64_t p : positions) seq = std::max(seq, p + 1);
  if (vm.count("seq") != 0) {
    seq = vm["seq"].as<int64_t>();
    if (seq < 1) throw InputError(fmt::format("--seq {}: expected >= 1", seq));
  }
  const auto& ptext = vm["precision"].as<std::string>();
  const auto parsed = parse_rope_precision(ptext);
  if (!parsed) throw InputError(fmt::format("--precision {}: expected f32 or f64", ptext));
  const RopePrecision prec = *parsed;
  const RopeTable t = rope_table(spec, head_dim, std::max<int64_t>(seq, 1), prec, "--type");

  const size_t half = t.inv_freq.size();
  std::vector<std::vector<double>> cos(positions.size(), std::vector<double>(half));
  std::vector<std::vector<double>> sin = cos;
  for (size_t j = 0; j < positions.size(); ++j) t.cos_sin(positions[j], cos[j], sin[j]);

  std::ostream& out = cli::text_out(vm);
  out << fmt::format("RoPE {}  head_dim {}  rotary dims {} ({})  {} math  sequence length {}\n", spec.text,
                     head_dim, t.rot_dim,
                     spec.style == RopeStyle::kInterleaved ? "interleaved" : "half-split",
                     prec == RopePrecision::kFloat32 ? "float32" : "float64", std::max<int64_t>(seq, 1));
  out << fmt::format("  attention factor {:.9g} (multiplies cos and sin)", t.attention_factor);
  if (const double m = yarn_softmax_multiplier(spec); m != 1.0)
    out << fmt::format("; softmax-scale multiplier {:.9g}", m);
  if (t.effective_theta > 0) out << fmt::format("; effective theta {:.9g}", t.effective_theta);
  if (t.yarn_low) out << fmt::format("; YaRN correction range dims [{:g}, {:g}]", *t.yarn_low, *t.yarn_high);
  out << "\n";
  std::vector<std::string> header = {"i", "inv_freq", "wavelength"};
  std::vector<TextTable::Align> align(3 + 2 * positions.size(), TextTable::Align::kRight);
  for (int64_t p : positions) {
    header.push_back(fmt::format("cos@{}", p));
    header.push_back(fmt::format("sin@{}", p));
  }
  TextTable tab(header, align);
  for (size_t i = 0; i < half; ++i) {
    std::vector<std::string> row = {std::to_string(i), fmt::format("{:.9g}", t.inv_freq[i]),
                                    fmt::format("{:.6g}", 2 * 3.141592653589793 / t.inv_freq[i])};
    for (size_t j = 0; j < positions.size(); ++j) {
      row.push_back(fmt::format("{:.9f}", cos[j][i]));
      row.push_back(fmt::format("{:.9f}", sin[j][i]));
    }
    tab.add_row(std::move(row));
  }
  out << tab.render();

  boost::json::object doc;
  doc["command"] = "rope";
  doc["type"] = std::string(rope_type_name(spec.type));
  doc["spec"] = spec.text;
  doc["head_dim"] = head_dim;
  doc["rotary_dims"] = t.rot_dim;
  doc["style"] = spec.style == RopeStyle::kInterleaved ? "interleaved" : "half-split";
  doc["precision"] = prec == RopePrecision::kFloat32 ? "float32" : "float64";
  doc["sequence_length"] = std::max<int64_t>(seq, 1);
  doc["attention_factor"] = t.attention_factor;
  doc["softmax_scale_multiplier"] = yarn_softmax_multiplier(spec);
  if (t.effective_theta > 0) doc["effective_theta"] = t.effective_theta;
  if (t.yarn_low) {
    doc["yarn_low"] = *t.yarn_low;
    doc["yarn_high"] = *t.yarn_high;
  }
  doc["inv_freq"] = boost::json::value_from(t.inv_freq);
  boost::json::array pos;
  for (size_t j = 0; j < positions.size(); ++j) {
    boost::json::object o;
    o["position"] = positions[j];
    o["cos"] = boost::json::value_from(cos[j]);
    o["sin"] = boost::json::value_from(sin[j]);
    pos.push_back(std::move(o));
  }
  doc["positions"] = std::move(pos);
  cli::write_json_option(vm, doc);
  return 0;
}

}  // namespace

cli::Command rope_command() {
  return cli::Command{
      "rope", "RoPE inverse frequencies, attention factor and cos/sin for one variant",
      "bwsim rope --type TYPE[:key=value,...] --head-dim D [--positions P1,P2,...] [--seq N] "
      "[--precision f32|f64] [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description&) {
        desc.add_options()("type", cli::po::value<std::string>(),
                           "default | linear | ntk | dynamic | yarn | longrope | llama3, with key=value "
                           "parameters: theta, partial, style=half|interleaved, factor, original, max_pos, "
                           "beta_fast, beta_slow, mscale, mscale_all_dim, truncate, attention_factor, "
                           "short=a/b/..., long=a/b/..., low_freq_factor, high_freq_factor")(
            "head-dim", cli::po::value<int>(), "head dimension D")(
            "positions", cli::po::value<std::string>(), "positions to print cos/sin for, comma-separated")(
            "seq", cli::po::value<int64_t>(),
            "sequence length for dynamic NTK and LongRoPE (default: largest position + 1)")(
            "precision", cli::po::value<std::string>()->default_value("f32"),
            "f32 (as the reference stacks compute) or f64");
        add_json_option(desc);
      },
      run_rope};
}

}  // namespace bwsim::app
