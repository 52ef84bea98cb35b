#include <gtest/gtest.h>

#include "sim/units.hpp"

namespace bwsim {
namespace {

TEST(Units, ParsesFrequencies) {
  EXPECT_EQ(parse_frequency("1.965 GHz").hz, 1965000000u);
  EXPECT_EQ(parse_frequency("2407MHz").hz, 2407000000u);
  EXPECT_EQ(parse_frequency("  500 kHz ").hz, 500000u);
  EXPECT_EQ(parse_frequency("1.8558 GHz").hz, 1855800000u);
}

TEST(Units, ParsesSizesWithBinaryAndSiPrefixes) {
  EXPECT_EQ(parse_byte_size("228 KiB").bytes, 228u * 1024);
  EXPECT_EQ(parse_byte_size("126 MiB").bytes, 126u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("180 GB").bytes, 180000000000u);
  EXPECT_EQ(parse_byte_size("1.5 KiB").bytes, 1536u);
  EXPECT_EQ(parse_byte_size("32 B").bytes, 32u);
  EXPECT_EQ(parse_byte_size("2 kB").bytes, 2000u);
}

TEST(Units, ParsesBandwidthsDurationsAndCycles) {
  EXPECT_EQ(parse_bandwidth("7.7 TB/s").bytes_per_s, 7700000000000u);
  EXPECT_EQ(parse_bandwidth("900 GB/s").bytes_per_s, 900000000000u);
  EXPECT_EQ(parse_bandwidth("1 GiB/s").bytes_per_s, 1073741824u);
  EXPECT_EQ(parse_duration("552 ns").tick, nanoseconds(552));
  EXPECT_EQ(parse_duration("1.5 us").tick, picoseconds(1500000));
  EXPECT_EQ(parse_duration("19.6 ns").tick, picoseconds(19600));
  EXPECT_EQ(parse_duration("2 min").tick.seconds(), 120.0);  // traffic durations
  EXPECT_EQ(parse_duration("1 h").tick.seconds(), 3600.0);
  EXPECT_EQ(parse_bytes_per_cycle("128 B/clk").value, 128.0);
  EXPECT_EQ(parse_cycles("132 cycles"), Cycles{132});
}

void expect_error(auto parse, const char* text, const char* fragment) {
  try {
    parse(text);
    ADD_FAILURE() << "no error for \"" << text << "\"";
  } catch (const UnitError& e) {
    EXPECT_NE(e.message.find(fragment), std::string::npos) << e.message;
  }
}

TEST(Units, RejectsBadQuantitiesWithAUsefulMessage) {
  expect_error(parse_bandwidth, "7.7 GHz", "unknown unit \"GHz\" for a bandwidth");
  expect_error(parse_bandwidth, "7.7", "has no unit");
  expect_error(parse_byte_size, "-4 KiB", "must not be negative");
  expect_error(parse_byte_size, "228 KB", "ambiguous");
  expect_error(parse_byte_size, "0.1 KiB", "not a whole number of bytes");
  expect_error(parse_frequency, "fast", "expected a frequency");
  expect_error(parse_frequency, "1.9 Ghz", "unknown unit \"Ghz\"");
  expect_error(parse_duration, "5 parsecs", "unknown unit");
  expect_error(parse_cycles, "1.5 cycles", "not whole");
  expect_error(parse_frequency, "inf GHz", "not finite");
}

TEST(Units, PrintsCanonicalTextThatParsesBack) {
  EXPECT_EQ(to_string(Frequency{1965000000}), "1.965 GHz");
  EXPECT_EQ(to_string(ByteSize{228 * 1024}), "228 KiB");
  EXPECT_EQ(to_string(ByteSize{126ull << 20}), "126 MiB");
  EXPECT_EQ(to_string(ByteSize{180000000000ull}), "180 GB");
  EXPECT_EQ(to_string(ByteSize{2000}), "2 kB");
  EXPECT_EQ(to_string(ByteSize{1000}), "1 kB");
  EXPECT_EQ(to_string(ByteSize{100}), "100 B");
  EXPECT_EQ(to_string(Bandwidth{7700000000000ull}), "7.7 TB/s");
  EXPECT_EQ(to_string(Duration{nanoseconds(552)}), "552 ns");
  for (uint64_t b : {1ull, 1536ull, 1000ull, 1025ull, 126ull << 20, 3000000007ull}) {
    EXPECT_EQ(parse_byte_size(to_string(ByteSize{b})).bytes, b) << b;
  }
}

TEST(Units, FormatsSiForReports) {
  EXPECT_EQ(format_si(2.25e15, "FLOP/s"), "2.25 PFLOP/s");
  EXPECT_EQ(format_si(7.26e12, "B/s"), "7.26 TB/s");
  EXPECT_EQ(format_si(0.5, "s"), "500 ms");
}

TEST(Units, ParsesMeasuredValuesByKind) {
  const Measured t = parse_measured("335.4 us");
  EXPECT_EQ(t.kind, Measured::Kind::kTime);
  EXPECT_DOUBLE_EQ(t.value, 335.4e-6);
  EXPECT_DOUBLE_EQ(parse_measured("1.397 ms").value, 1.397e-3);
  const Measured f = parse_measured("1216.9 TFLOP/s");
  EXPECT_EQ(f.kind, Measured::Kind::kFlopRate);
  EXPECT_DOUBLE_EQ(f.value, 1216.9e12);
  EXPECT_DOUBLE_EQ(parse_measured("1216.9 TFLOPS").value, 1216.9e12);
  const Measured b = parse_measured("2.90 TB/s");
  EXPECT_EQ(b.kind, Measured::Kind::kBandwidth);
  EXPECT_DOUBLE_EQ(b.value, 2.9e12);
  EXPECT_EQ(parse_measured("7007 tokens/s").kind, Measured::Kind::kTokenRate);
  const Measured clock = parse_measured("1755 MHz");  // a governor's clock, measured
  EXPECT_EQ(clock.kind, Measured::Kind::kClock);
  EXPECT_DOUBLE_EQ(clock.value, 1.755e9);
  EXPECT_DOUBLE_EQ(in_report_unit(Measured::Kind::kClock, clock.value), 1755);
  const Measured watts = parse_measured("0.69 kW");
  EXPECT_EQ(watts.kind, Measured::Kind::kPower);
  EXPECT_DOUBLE_EQ(watts.value, 690);
  EXPECT_DOUBLE_EQ(in_report_unit(Measured::Kind::kTime, 335.4e-6), 335.4);
  EXPECT_DOUBLE_EQ(in_report_unit(Measured::Kind::kBandwidth, 2.9e12), 2900);
  const auto message = [](const char* text) {
    try {
      parse_measured(text);
    } catch (const UnitError& e) {
      return e.message;
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("12 furlongs").find("unknown unit \"furlongs\""), std::string::npos);
  EXPECT_NE(message("0 us").find("must be positive"), std::string::npos);
  EXPECT_NE(message("3 KB/s").find("ambiguous"), std::string::npos);
  EXPECT_NE(message("fast").find("<number> <unit>"), std::string::npos);
}

}  // namespace
}  // namespace bwsim
