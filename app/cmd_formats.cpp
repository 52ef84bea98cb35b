// bwsim formats: convert float32 bit patterns to a format's codes and back, bit-exactly, and
// list the formats. Reads whitespace-separated hex on stdin, writes one hex value per line.
#include <fmt/format.h>

#include <boost/json.hpp>

#include <iostream>
#include <iterator>
#include <sstream>

#include "app/commands.hpp"
#include "isa/scalar_format.hpp"
#include "sim/errors.hpp"
#include "sim/rng.hpp"
#include "sim/table.hpp"

namespace bwsim::app {
namespace {

ScalarFormat format_option(const cli::po::variables_map& vm, const char* flag) {
  if (vm.count(flag) == 0) throw InputError(fmt::format("--{} FMT is required", flag));
  const auto& name = vm[flag].as<std::string>();
  if (auto f = parse_format_name(name)) return *f;
  std::string all;
  for (const auto& entry : kScalarFormatNames) all.append(all.empty() ? "" : " ").append(entry.first);
  throw InputError(fmt::format("--{} {}: unknown format (one of: {})", flag, name, all));
}

// Parses every token before anything is written, so bad input leaves no partial output.
std::vector<uint32_t> read_hex_tokens(std::istream& in, const char* what) {
  std::vector<uint32_t> out;
  std::string tok;
  size_t n = 0;
  while (in >> tok) {
    ++n;
    std::string_view s = tok;
    if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
    uint64_t v = 0;
    bool ok = !s.empty() && s.size() <= 8;
    for (char c : s) {
      const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                    : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                                : -1;
      if (d < 0) ok = false;
      v = v * 16 + static_cast<uint64_t>(d < 0 ? 0 : d);
    }
    if (!ok)
      throw InputError(fmt::format("stdin token {} ('{}'): not {} in hex (like 0x3f800000)", n, tok, what));
    out.push_back(static_cast<uint32_t>(v));
  }
  return out;
}

Round round_option(const cli::po::variables_map& vm) {
  const auto& r = vm["round"].as<std::string>();
  if (r == "rne") return Round::kNearestEven;
  if (r == "rz") return Round::kTowardZero;
  if (r == "rp") return Round::kTowardPositive;
  if (r == "stochastic") return Round::kStochastic;
  throw InputError(fmt::format("--round {}: expected rne, rz, rp or stochastic", r));
}

int convert(const cli::po::variables_map& vm) {
  const ScalarFormat f = format_option(vm, "to");
  const Round round = round_option(vm);
  if (round == Round::kStochastic && vm.count("seed") == 0) {
    throw InputError(
        "--round stochastic needs --seed N (the random bits are a function of seed and position)");
  }
  const uint64_t seed = vm.count("seed") != 0 ? vm["seed"].as<uint64_t>() : 0;
  const bool saturate = vm.count("no-saturate") == 0;
  const auto inputs = read_hex_tokens(std::cin, "a float32 bit pattern");
  const int digits = (format_info(f).bits + 3) / 4;
  std::string out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const uint32_t r8 = static_cast<uint32_t>(random_at(seed, i) & 0xFF);
    out +=
        fmt::format("0x{:0{}x}\n", encode(f, std::bit_cast<float>(inputs[i]), saturate, round, r8), digits);
  }
  std::cout << out;
  return 0;
}

int decode_codes(const cli::po::variables_map& vm) {
  const ScalarFormat f = format_option(vm, "from");
  const auto codes = read_hex_tokens(std::cin, "a code");
  std::string out;
  for (size_t i = 0; i < codes.size(); ++i) {
    if (!code_fits(f, codes[i])) {
      throw InputError(fmt::format("stdin token {} (0x{:x}): does not fit {} ({} bits)", i + 1, codes[i],
                                   format_name(f), format_info(f).bits));
    }
    out += fmt::format("0x{:08x}\n", std::bit_cast<uint32_t>(decode(f, codes[i])));
  }
  std::cout << out;
  return 0;
}

int list(const cli::po::variables_map& vm) {
  if (vm.count("json") != 0) {
    boost::json::array formats;
    for (const auto& [name, f] : kScalarFormatNames) {
      const FormatInfo& i = format_info(f);
      formats.push_back(boost::json::object{{"name", name},
                                            {"bits", i.bits},
                                            {"exp_bits", i.exp_bits},
                                            {"man_bits", i.man_bits},
                                            {"bias", i.bias},
                                            {"max", i.max},
                                            {"min_normal", i.min_normal},
                                            {"min_subnormal", i.min_subnormal},
                                            {"inf", i.has_inf},
                                            {"nan", i.has_nan}});
    }
    cli::write_json_option(vm,
                           boost::json::object{{"command", "formats list"}, {"formats", std::move(formats)}});
  }
  TextTable t({"format", "bits", "exp", "man", "bias", "max", "min normal", "min subnormal", "inf", "NaN"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight});
  for (const auto& [name, f] : kScalarFormatNames) {
    const FormatInfo& i = format_info(f);
    t.add_row({std::string(name), std::to_string(i.bits), std::to_string(i.exp_bits),
               std::to_string(i.man_bits), std::to_string(i.bias), fmt::format("{:g}", i.max),
               fmt::format("{:g}", i.min_normal),
               i.min_subnormal > 0 ? fmt::format("{:g}", i.min_subnormal) : "-", i.has_inf ? "yes" : "no",
               i.has_nan ? "yes" : "no"});
  }
  cli::text_out(vm) << t.render();
  return 0;
}

int run_formats(const cli::po::variables_map& vm) {
  const std::string action = vm.count("action") != 0 ? vm["action"].as<std::string>() : "list";
  if (vm.count("json") != 0 && action != "list")
    throw InputError(
        fmt::format("--json applies to 'formats list'; 'formats {}' writes codes on stdout", action));
  if (action == "convert") return convert(vm);
  if (action == "decode") return decode_codes(vm);
  if (action == "list") return list(vm);
  throw InputError(fmt::format("unknown action '{}' (convert, decode or list)", action));
}

}  // namespace

cli::Command formats_command() {
  return cli::Command{
      "formats", "convert float32 bit patterns to format codes and back, bit-exactly; list the formats",
      "bwsim formats convert --to FMT [--no-saturate] [--round rne|rz|rp|stochastic --seed N] < hex\n"
      "       bwsim formats decode --from FMT < hex\n       bwsim formats list [--json FILE]",
      [](cli::po::options_description& desc, cli::po::positional_options_description& pos) {
        desc.add_options()("action", cli::po::value<std::string>(), "convert, decode or list")(
            "to", cli::po::value<std::string>(),
            "target format: e2m1 e2m3 e3m2 e4m3 e5m2 ue8m0 ue4m3 bf16 fp16 int8")(
            "from", cli::po::value<std::string>(), "source format of the codes")(
            "no-saturate", "overflow to inf (E5M2, FP16, BF16) or NaN (E4M3) instead of +-max")(
            "round", cli::po::value<std::string>()->default_value("rne"), "rne, rz, rp or stochastic")(
            "seed", cli::po::value<uint64_t>(), "seed of the stochastic-rounding bits");
        add_json_option(desc);
        pos.add("action", 1);
      },
      run_formats};
}

}  // namespace bwsim::app
