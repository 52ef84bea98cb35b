#include "sim/units.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <span>
#include <utility>
#include <vector>

#include "sim/strings.hpp"

namespace bwsim {
namespace {

struct UnitDef {
  std::string_view name;
  double scale;  // multiplier into the canonical unit
};

struct Split {
  double number;
  std::string_view unit;
};

std::string expected_units(std::span<const UnitDef> units) {
  std::string out;
  for (const auto& u : units) {
    if (!out.empty()) out += ", ";
    out += u.name;
  }
  return out;
}

// Splits "1.965 GHz" into 1.965 and "GHz". The unit may follow the number without a space.
Split split_quantity(std::string_view text, std::string_view what, std::span<const UnitDef> units) {
  std::string_view s = trim(text);
  double value = 0;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (!s.empty() && s.front() == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr == first) {
    throw UnitError{fmt::format("expected {} as \"<number> <unit>\" (units: {}), got \"{}\"", what,
                                expected_units(units), text)};
  }
  if (!std::isfinite(value)) throw UnitError{fmt::format("{} \"{}\" is not finite", what, text)};
  if (value < 0) throw UnitError{fmt::format("{} must not be negative, got \"{}\"", what, text)};
  std::string_view unit = trim(std::string_view(ptr, static_cast<size_t>(last - ptr)));
  if (unit.empty()) {
    throw UnitError{fmt::format("{} \"{}\" has no unit (units: {})", what, text, expected_units(units))};
  }
  return {value, unit};
}

double scaled(std::string_view text, std::string_view what, std::span<const UnitDef> units) {
  Split q = split_quantity(text, what, units);
  for (const auto& u : units) {
    if (u.name == q.unit) return q.number * u.scale;
  }
  throw UnitError{fmt::format("unknown unit \"{}\" for {} in \"{}\" (units: {})", q.unit, what, text,
                              expected_units(units))};
}

uint64_t to_integer(double v, std::string_view what, std::string_view text) {
  if (v > 1.8e19) throw UnitError{fmt::format("{} \"{}\" is too large", what, text)};
  return static_cast<uint64_t>(std::llround(v));
}

constexpr std::array kFrequencyUnits{UnitDef{"Hz", 1}, UnitDef{"kHz", 1e3}, UnitDef{"MHz", 1e6},
                                     UnitDef{"GHz", 1e9}, UnitDef{"THz", 1e12}};
constexpr std::array kByteUnits{UnitDef{"B", 1},
                                UnitDef{"kB", 1e3},
                                UnitDef{"KiB", 1024.0},
                                UnitDef{"MB", 1e6},
                                UnitDef{"MiB", 1048576.0},
                                UnitDef{"GB", 1e9},
                                UnitDef{"GiB", 1073741824.0},
                                UnitDef{"TB", 1e12},
                                UnitDef{"TiB", 1099511627776.0}};
constexpr std::array kBandwidthUnits{UnitDef{"B/s", 1},
                                     UnitDef{"kB/s", 1e3},
                                     UnitDef{"KiB/s", 1024.0},
                                     UnitDef{"MB/s", 1e6},
                                     UnitDef{"MiB/s", 1048576.0},
                                     UnitDef{"GB/s", 1e9},
                                     UnitDef{"GiB/s", 1073741824.0},
                                     UnitDef{"TB/s", 1e12},
                                     UnitDef{"TiB/s", 1099511627776.0}};
constexpr std::array kPerCycleUnits{UnitDef{"B/clk", 1}, UnitDef{"B/cycle", 1}};
constexpr std::array kDurationUnits{UnitDef{"ps", 1},     UnitDef{"ns", 1e3},  UnitDef{"us", 1e6},
                                    UnitDef{"µs", 1e6},   UnitDef{"ms", 1e9},  UnitDef{"s", 1e12},
                                    UnitDef{"min", 6e13}, UnitDef{"h", 3.6e15}};
constexpr std::array kTimeUnits{UnitDef{"ns", 1e-9}, UnitDef{"us", 1e-6}, UnitDef{"µs", 1e-6},
                                UnitDef{"ms", 1e-3}, UnitDef{"s", 1}};
constexpr std::array kFlopRateUnits{UnitDef{"GFLOP/s", 1e9},  UnitDef{"TFLOP/s", 1e12},
                                    UnitDef{"PFLOP/s", 1e15}, UnitDef{"GFLOPS", 1e9},
                                    UnitDef{"TFLOPS", 1e12},  UnitDef{"PFLOPS", 1e15}};
constexpr std::array kTokenRateUnits{UnitDef{"tokens/s", 1}, UnitDef{"ktokens/s", 1e3}};
constexpr std::array kPowerUnits{UnitDef{"mW", 1e-3}, UnitDef{"W", 1}, UnitDef{"kW", 1e3}};
constexpr std::array kVoltageUnits{UnitDef{"mV", 1e-3}, UnitDef{"V", 1}};
constexpr std::array kEnergyUnits{UnitDef{"fJ", 1e-15}, UnitDef{"pJ", 1e-12}, UnitDef{"nJ", 1e-9},
                                  UnitDef{"uJ", 1e-6},  UnitDef{"mJ", 1e-3},  UnitDef{"J", 1}};
constexpr std::array kEnergyPerByteUnits{UnitDef{"fJ/bit", 8e-15}, UnitDef{"pJ/bit", 8e-12},
                                         UnitDef{"fJ/B", 1e-15}, UnitDef{"pJ/B", 1e-12},
                                         UnitDef{"nJ/B", 1e-9}};
constexpr std::array kCycleUnits{UnitDef{"cycles", 1}, UnitDef{"cycle", 1}, UnitDef{"clk", 1}};

// "KB" is written for both 1000 and 1024 bytes; refuse to guess.
void reject_ambiguous_kilo(std::string_view text) {
  std::string_view s = trim(text);
  if (s.ends_with("KB") || s.ends_with("KB/s")) {
    throw UnitError{fmt::format("\"{}\": \"KB\" is ambiguous, write kB (1000) or KiB (1024)", text)};
  }
}

// Picks the largest unit that keeps the printed number at or above 1.
std::string with_prefix(double v, std::span<const UnitDef> units) {
  const UnitDef* best = &units.front();
  for (const auto& u : units) {
    if (v >= u.scale) best = &u;
  }
  return fmt::format("{} {}", format_number(v / best->scale), best->name);
}

}  // namespace

std::string format_number(double v) { return fmt::format("{}", v); }

std::string format_si(double v, std::string_view unit, int digits) {
  static constexpr std::array<std::pair<double, std::string_view>, 10> kPrefixes{{{1e18, "E"},
                                                                                  {1e15, "P"},
                                                                                  {1e12, "T"},
                                                                                  {1e9, "G"},
                                                                                  {1e6, "M"},
                                                                                  {1e3, "k"},
                                                                                  {1, ""},
                                                                                  {1e-3, "m"},
                                                                                  {1e-6, "u"},
                                                                                  {1e-9, "n"}}};
  if (v == 0 || !std::isfinite(v)) return fmt::format("{} {}", v, unit);
  for (const auto& [scale, prefix] : kPrefixes) {
    if (std::abs(v) >= scale * 0.9995) {
      return fmt::format("{:.{}g} {}{}", v / scale, digits, prefix, unit);
    }
  }
  return fmt::format("{:.{}g} {}", v, digits, unit);
}

Frequency parse_frequency(std::string_view text) {
  return {to_integer(scaled(text, "a frequency", kFrequencyUnits), "frequency", text)};
}

ByteSize parse_byte_size(std::string_view text) {
  reject_ambiguous_kilo(text);
  double v = scaled(text, "a size", kByteUnits);
  double r = std::round(v);
  if (std::abs(v - r) > 1e-6 * std::max(1.0, v)) {
    throw UnitError{fmt::format("size \"{}\" is not a whole number of bytes", text)};
  }
  return {to_integer(r, "size", text)};
}

Bandwidth parse_bandwidth(std::string_view text) {
  reject_ambiguous_kilo(text);
  return {to_integer(scaled(text, "a bandwidth", kBandwidthUnits), "bandwidth", text)};
}

BytesPerCycle parse_bytes_per_cycle(std::string_view text) {
  return {scaled(text, "a per-cycle bandwidth", kPerCycleUnits)};
}

Duration parse_duration(std::string_view text) {
  return {
      Tick{static_cast<int64_t>(to_integer(scaled(text, "a duration", kDurationUnits), "duration", text))}};
}

Cycles parse_cycles(std::string_view text) {
  double v = scaled(text, "a cycle count", kCycleUnits);
  if (v != std::floor(v)) throw UnitError{fmt::format("cycle count \"{}\" is not whole", text)};
  return Cycles{static_cast<int64_t>(v)};
}

Power parse_power(std::string_view text) { return {scaled(text, "a power", kPowerUnits)}; }
Voltage parse_voltage(std::string_view text) { return {scaled(text, "a voltage", kVoltageUnits)}; }
Energy parse_energy(std::string_view text) { return {scaled(text, "an energy", kEnergyUnits)}; }
EnergyPerByte parse_energy_per_byte(std::string_view text) {
  return {scaled(text, "an energy per byte", kEnergyPerByteUnits)};
}

Measured parse_measured(std::string_view text) {
  static constexpr std::array<std::pair<Measured::Kind, std::span<const UnitDef>>, 6> kKinds{
      {{Measured::Kind::kTime, kTimeUnits},
       {Measured::Kind::kFlopRate, kFlopRateUnits},
       {Measured::Kind::kBandwidth, kBandwidthUnits},
       {Measured::Kind::kTokenRate, kTokenRateUnits},
       {Measured::Kind::kClock, kFrequencyUnits},
       {Measured::Kind::kPower, kPowerUnits}}};
  std::vector<UnitDef> all;
  for (const auto& [kind, units] : kKinds) all.insert(all.end(), units.begin(), units.end());
  reject_ambiguous_kilo(text);
  const Split q = split_quantity(text, "a measured value", all);
  for (const auto& [kind, units] : kKinds) {
    for (const auto& u : units) {
      if (u.name != q.unit) continue;
      if (q.number <= 0) throw UnitError{fmt::format("a measured value must be positive, got \"{}\"", text)};
      return {kind, q.number * u.scale};
    }
  }
  throw UnitError{
      fmt::format("unknown unit \"{}\" in \"{}\" (units: {})", q.unit, text, expected_units(all))};
}

std::string_view measured_unit(Measured::Kind kind) {
  switch (kind) {
    case Measured::Kind::kTime:
      return "us";
    case Measured::Kind::kFlopRate:
      return "TFLOP/s";
    case Measured::Kind::kBandwidth:
      return "GB/s";
    case Measured::Kind::kTokenRate:
      return "tokens/s";
    case Measured::Kind::kClock:
      return "MHz";
    case Measured::Kind::kPower:
      return "W";
  }
  return "";
}

double in_report_unit(Measured::Kind kind, double value) {
  switch (kind) {
    case Measured::Kind::kTime:
      return value * 1e6;
    case Measured::Kind::kFlopRate:
      return value * 1e-12;
    case Measured::Kind::kBandwidth:
      return value * 1e-9;
    case Measured::Kind::kTokenRate:
      return value;
    case Measured::Kind::kClock:
      return value * 1e-6;
    case Measured::Kind::kPower:
      return value;
  }
  return value;
}

std::string to_string(Frequency f) { return with_prefix(static_cast<double>(f.hz), kFrequencyUnits); }

std::string to_string(ByteSize b) {
  // Of the units that print an exact value of at least 1, the shortest text wins, binary first
  // on ties: 228 KiB, 126 MiB, 2 kB, 1000 B.
  static constexpr std::array kPrint{UnitDef{"TiB", 1099511627776.0},
                                     UnitDef{"GiB", 1073741824.0},
                                     UnitDef{"MiB", 1048576.0},
                                     UnitDef{"KiB", 1024.0},
                                     UnitDef{"TB", 1e12},
                                     UnitDef{"GB", 1e9},
                                     UnitDef{"MB", 1e6},
                                     UnitDef{"kB", 1e3}};
  std::string best = fmt::format("{} B", b.bytes);
  const auto bytes = static_cast<double>(b.bytes);
  for (const auto& u : kPrint) {
    if (bytes < u.scale) continue;
    std::string text = fmt::format("{} {}", format_number(bytes / u.scale), u.name);
    if (text.size() < best.size() && parse_byte_size(text).bytes == b.bytes) best = std::move(text);
  }
  return best;
}

std::string to_string(Bandwidth b) {
  static constexpr std::array kPrint{UnitDef{"B/s", 1}, UnitDef{"kB/s", 1e3}, UnitDef{"MB/s", 1e6},
                                     UnitDef{"GB/s", 1e9}, UnitDef{"TB/s", 1e12}};
  return with_prefix(static_cast<double>(b.bytes_per_s), kPrint);
}

std::string to_string(BytesPerCycle b) { return fmt::format("{} B/clk", format_number(b.value)); }

std::string to_string(Duration d) {
  static constexpr std::array kPrint{UnitDef{"ps", 1}, UnitDef{"ns", 1e3}, UnitDef{"us", 1e6},
                                     UnitDef{"ms", 1e9}, UnitDef{"s", 1e12}};
  return with_prefix(static_cast<double>(d.tick.ps()), kPrint);
}

std::string to_string(Cycles c) { return fmt::format("{} cycles", c.count()); }

std::string to_string(Power p) { return fmt::format("{} W", format_number(p.watts)); }
std::string to_string(Voltage v) { return fmt::format("{} V", format_number(v.volts)); }
std::string to_string(Energy e) {
  // Shortest exact text over the prefixes that keep the number at or above 1.
  return with_prefix(e.joules, kEnergyUnits);
}
std::string to_string(EnergyPerByte e) {
  static constexpr std::array kPrint{UnitDef{"fJ/B", 1e-15}, UnitDef{"pJ/B", 1e-12}, UnitDef{"nJ/B", 1e-9}};
  return with_prefix(e.joules, kPrint);
}

}  // namespace bwsim
