// Physical quantities read from configs. Each type has exactly one canonical unit in memory
// (Hz, bytes, bytes/s, ps, W, V, J) and prints back in a unit a person would write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sim/time.hpp"

namespace bwsim {

struct Frequency {
  uint64_t hz = 0;
  friend constexpr auto operator<=>(Frequency, Frequency) = default;
  [[nodiscard]] constexpr double ghz() const { return static_cast<double>(hz) * 1e-9; }
};

struct ByteSize {
  uint64_t bytes = 0;
  friend constexpr auto operator<=>(ByteSize, ByteSize) = default;
};

/// Bytes per second. Integer so that transfer times are exact rationals.
struct Bandwidth {
  uint64_t bytes_per_s = 0;
  friend constexpr auto operator<=>(Bandwidth, Bandwidth) = default;
  [[nodiscard]] constexpr double tb_per_s() const { return static_cast<double>(bytes_per_s) * 1e-12; }
};

/// Bytes per clock cycle of the owning component's clock (SMEM, L2 slices, NoC ports).
struct BytesPerCycle {
  double value = 0;
  friend constexpr auto operator<=>(BytesPerCycle, BytesPerCycle) = default;
};

/// A span of time written with a unit ("552 ns"); stored as Tick.
struct Duration {
  Tick tick;
  friend constexpr auto operator<=>(Duration, Duration) = default;
};

/// Watts (board power, power limits).
struct Power {
  double watts = 0;
  friend constexpr auto operator<=>(Power, Power) = default;
};

/// Volts (DVFS operating points).
struct Voltage {
  double volts = 0;
  friend constexpr auto operator<=>(Voltage, Voltage) = default;
};

/// Joules of one operation ("0.5 pJ" per FLOP, per exp2, per SM cycle).
struct Energy {
  double joules = 0;
  friend constexpr auto operator<=>(Energy, Energy) = default;
};

/// Joules per byte moved; written per byte or per bit as sources publish it ("3.9 pJ/bit").
struct EnergyPerByte {
  double joules = 0;
  friend constexpr auto operator<=>(EnergyPerByte, EnergyPerByte) = default;
};

/// Parsers: each accepts "<number> <unit>" and throws UnitError with a message that says what
/// was expected. Callers (the config reader) add the file, line and key.
struct UnitError {
  std::string message;
};

Frequency parse_frequency(std::string_view text);
ByteSize parse_byte_size(std::string_view text);
Bandwidth parse_bandwidth(std::string_view text);
BytesPerCycle parse_bytes_per_cycle(std::string_view text);
Duration parse_duration(std::string_view text);
Cycles parse_cycles(std::string_view text);
Power parse_power(std::string_view text);
Voltage parse_voltage(std::string_view text);
Energy parse_energy(std::string_view text);
EnergyPerByte parse_energy_per_byte(std::string_view text);

/// A measured value as a benchmark publishes it: a time, a FLOP rate, a bandwidth, a token rate,
/// an SM clock or a power, in its canonical unit (seconds, FLOP/s, bytes/s, tokens/s, Hz, W).
struct Measured {
  enum class Kind { kTime, kFlopRate, kBandwidth, kTokenRate, kClock, kPower };
  Kind kind = Kind::kTime;
  double value = 0;
};
/// Parses "335.4 us", "1216.9 TFLOP/s" (or "TFLOPS"), "2.90 TB/s", "7007 tokens/s", a clock
/// "1755 MHz" or a power "690 W"; the value must be positive.
Measured parse_measured(std::string_view text);
/// The unit a report prints a kind in: "us", "TFLOP/s", "GB/s", "tokens/s", "MHz", "W".
std::string_view measured_unit(Measured::Kind kind);
/// `value` (canonical) in measured_unit(kind).
double in_report_unit(Measured::Kind kind, double value);

std::string to_string(Frequency f);
std::string to_string(ByteSize b);
std::string to_string(Bandwidth b);
std::string to_string(BytesPerCycle b);
std::string to_string(Duration d);
std::string to_string(Cycles c);
std::string to_string(Power p);
std::string to_string(Voltage v);
std::string to_string(Energy e);
std::string to_string(EnergyPerByte e);

/// Shortest decimal text that reads back as the same double ("1.965", "7.7", "1e-05").
std::string format_number(double v);

/// A value with an SI prefix and `digits` significant digits, for reports: "2.25 PFLOP/s".
std::string format_si(double v, std::string_view unit, int digits = 4);

}  // namespace bwsim
