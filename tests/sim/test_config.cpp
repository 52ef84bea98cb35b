#include <gtest/gtest.h>

#include "tests/test_util.hpp"

#include <array>
#include <string>

#include "sim/config.hpp"
#include "sim/errors.hpp"

namespace bwsim {
namespace {

const std::string kData = std::string(BWSIM_TEST_DATA_DIR) + "/config/";

enum class Kind { kHbm3, kHbm3e };
constexpr std::array<std::pair<std::string_view, Kind>, 2> kKinds{
    {{"HBM3", Kind::kHbm3}, {"HBM3e", Kind::kHbm3e}}};

struct Gpu {
  std::string name;
  uint32_t sm_count = 0;
  Frequency clock;
  uint32_t max_ctas = 0;
  Bandwidth bw;
  ByteSize capacity;
  double efficiency = 0;
  Kind kind = Kind::kHbm3;
  Duration latency;
  std::vector<double> factors;

  static Gpu read(const ConfigTree& tree, std::vector<ParamRecord>* records = nullptr) {
    Gpu g;
    ConfigReader r(tree);
    r.req("name", g.name, "product name");
    {
      ConfigReader sm = r.section("sm", "SMs");
      sm.req("count", g.sm_count, "number of SMs");
      sm.req("clock", g.clock, "SM clock");
      sm.opt("max_ctas", g.max_ctas, 32u, "resident CTAs");
      sm.check(g.sm_count > 0, "count", "must be positive");
    }
    {
      ConfigReader hbm = r.section("hbm", "memory");
      hbm.req("bandwidth", g.bw, "peak bandwidth");
      hbm.req("capacity", g.capacity, "capacity");
      hbm.opt("efficiency", g.efficiency, 0.9, "bus efficiency");
      hbm.opt_enum("kind", g.kind, Kind::kHbm3e, kKinds, "technology");
      hbm.opt("latency", g.latency, Duration{nanoseconds(400)}, "latency");
      hbm.opt("factors", g.factors, std::vector<double>{}, "per-stack factors");
    }
    r.finish();
    if (records != nullptr) *records = r.records();
    return g;
  }
};

constexpr const char* kGood = R"(name = "test"
[sm]
count = 132
clock = "1.83 GHz"
[hbm]
bandwidth = "3.35 TB/s"
capacity = "80 GB"
kind = "HBM3"
factors = [1, 0.5]
)";

TEST(Config, ReadsTypedValuesWithUnitsAndDefaults) {
  ConfigTree t = ConfigTree::from_string(kGood, "gpu.toml");
  std::vector<ParamRecord> rec;
  Gpu g = Gpu::read(t, &rec);
  EXPECT_EQ(g.sm_count, 132u);
  EXPECT_EQ(g.clock.hz, 1830000000u);
  EXPECT_EQ(g.bw.bytes_per_s, 3350000000000u);
  EXPECT_EQ(g.capacity.bytes, 80000000000u);
  EXPECT_EQ(g.max_ctas, 32u);
  EXPECT_DOUBLE_EQ(g.efficiency, 0.9);
  EXPECT_EQ(g.kind, Kind::kHbm3);
  EXPECT_EQ(g.latency.tick, nanoseconds(400));
  EXPECT_EQ(g.factors, (std::vector<double>{1, 0.5}));
  // Every parameter is recorded with its resolved value and where it came from.
  auto find = [&](std::string_view path) {
    for (const auto& r : rec) {
      if (r.path == path) return r;
    }
    return ParamRecord{};
  };
  EXPECT_EQ(find("sm.clock").value, "1.83 GHz");
  EXPECT_EQ(find("sm.clock").source, "gpu.toml:4");
  EXPECT_EQ(find("sm.max_ctas").source, "default");
  EXPECT_EQ(find("sm.max_ctas").default_value, "32");
  EXPECT_EQ(find("hbm.bandwidth").value_json, "\"3.35 TB/s\"");
  EXPECT_EQ(find("hbm.factors").value_json, "[1, 0.5]");
  EXPECT_EQ(find("sm.count").doc, "number of SMs");
}

TEST(Config, UnknownKeyNamesFileLineAndSuggestsTheRightKey) {
  std::string text = kGood;
  text += "bandwith = \"1 TB/s\"\n";  // misspelt, and at the wrong level
  ConfigTree t = ConfigTree::from_string(text, "gpu.toml");
  std::string msg = input_error_of([&] { Gpu::read(t); });
  EXPECT_CONTAINS(msg, "gpu.toml:10: unknown key 'hbm.bandwith'");
  EXPECT_CONTAINS(msg, "did you mean 'hbm.bandwidth'?");

  ConfigTree t2 = ConfigTree::from_string(std::string(kGood) + "[sm.extra]\nx = 1\n", "gpu.toml");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(t2); }), "unknown key 'sm.extra'");

  ConfigTree t3 = ConfigTree::from_string(std::string("capacity = \"1 GB\"\n") + kGood, "g.toml");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(t3); }),
                  "g.toml:1: unknown key 'capacity' (did you mean 'hbm.capacity'?)");
}

TEST(Config, WrongTypesAndUnitsNameTheKeyAndLine) {
  auto with = [](std::string from, std::string to) {
    std::string text = kGood;
    text.replace(text.find(from), from.size(), to);
    return ConfigTree::from_string(text, "gpu.toml");
  };
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(with("count = 132", "count = \"many\"")); }),
                  "gpu.toml:3: 'sm.count' must be an integer (got a string)");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(with("count = 132", "count = -1")); }),
                  "gpu.toml:3: 'sm.count' must not be negative");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(with("count = 132", "count = 0")); }),
                  "gpu.toml:3: 'sm.count' must be positive");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(with("\"1.83 GHz\"", "\"1.83 GB\"")); }),
                  "gpu.toml:4: 'sm.clock' is wrong: unknown unit \"GB\" for a frequency");
  EXPECT_CONTAINS(
      input_error_of([&] { Gpu::read(with("\"3.35 TB/s\"", "3.35")); }),
      "gpu.toml:6: 'hbm.bandwidth' needs a unit: write it as a string, e.g. \"8 TB/s\" (got a float)");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(with("\"80 GB\"", "\"-80 GB\"")); }),
                  "gpu.toml:7: 'hbm.capacity' is wrong: a size must not be negative");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(with("\"HBM3\"", "\"HBM4\"")); }),
                  "gpu.toml:8: 'hbm.kind' is \"HBM4\"; expected one of: HBM3, HBM3e");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(with("[1, 0.5]", "[1, \"x\"]")); }),
                  "gpu.toml:9: 'hbm.factors' element 1 must be a number (got a string)");
}

TEST(Config, MissingRequiredKeysAndTablesAreReported) {
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(ConfigTree::from_string("name = \"x\"\n", "m.toml")); }),
                  "missing required table [sm] (SMs)");
  std::string text = kGood;
  text.erase(text.find("clock = \"1.83 GHz\"\n"), 19);
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(ConfigTree::from_string(text, "m.toml")); }),
                  "missing required key 'sm.clock' (frequency: SM clock)");
}

TEST(Config, MalformedTomlIsAnInputErrorWithLine) {
  std::string msg =
      input_error_of([] { ConfigTree::from_string("name = \"x\"\n[sm\ncount = 1\n", "bad.toml"); });
  EXPECT_CONTAINS(msg, "bad.toml:2: invalid TOML");
  EXPECT_CONTAINS(input_error_of([] { ConfigTree::from_string("a = 1\na = 2\n", "dup.toml"); }), "dup.toml");
  EXPECT_CONTAINS(input_error_of([] { ConfigTree::load_file(kData + "no_such_file.toml"); }),
                  "cannot open config file");
  // Not UTF-8: refused before toml11 sees it (its 3.7 parser read past its buffer on the first).
  EXPECT_CONTAINS(input_error_of([] { ConfigTree::from_string("a = 1\n'\xda' = 1\n", "utf.toml"); }),
                  "utf.toml:2: invalid TOML: not UTF-8 (byte 0xDA)");
  EXPECT_CONTAINS(input_error_of([] { ConfigTree::from_string("s = \"\xc0\xaf\"\n", "overlong.toml"); }),
                  "overlong.toml:1: invalid TOML: not UTF-8 (byte 0xC0)");
  EXPECT_CONTAINS(input_error_of([] { ConfigTree::from_string("s = \"\xed\xa0\x80\"\n", "surrogate.toml"); }),
                  "not UTF-8 (byte 0xED)");
  EXPECT_NO_THROW(ConfigTree::from_string("s = \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n", "ok.toml"));
}

TEST(Config, BaseInheritanceMergesTablesAndKeepsProvenance) {
  ConfigTree t = ConfigTree::load_file(kData + "derived.toml");
  std::vector<ParamRecord> rec;
  Gpu g = Gpu::read(t, &rec);
  EXPECT_EQ(g.name, "derived gpu");
  EXPECT_EQ(g.sm_count, 148u);                   // from base
  EXPECT_EQ(g.bw.bytes_per_s, 12000000000000u);  // overridden
  EXPECT_EQ(g.capacity.bytes, 180000000000u);    // sibling of the override, kept
  for (const auto& r : rec) {
    if (r.path == "hbm.bandwidth") {
      EXPECT_CONTAINS(r.source, "derived.toml:5");
    }
    if (r.path == "hbm.capacity") {
      EXPECT_CONTAINS(r.source, "base.toml:10");
    }
  }
}

TEST(Config, BaseProblemsAreReported) {
  EXPECT_CONTAINS(input_error_of([] { ConfigTree::load_file(kData + "cycle_a.toml"); }),
                  "'base' inheritance cycle: cycle_a.toml -> cycle_b.toml -> cycle_a.toml");
  std::string msg = input_error_of([] { ConfigTree::load_file(kData + "missing_base.toml"); });
  EXPECT_CONTAINS(msg, "missing_base.toml:2: base file");
  EXPECT_CONTAINS(msg, "nowhere.toml' not found");
}

TEST(Config, CommandLineOverridesWinAndAreValidatedLikeFileValues) {
  ConfigTree t = ConfigTree::load_file(kData + "derived.toml");
  t.set("sm.count=160");
  t.set("hbm.bandwidth=16 TB/s");     // unquoted: taken as a string
  t.set("hbm.latency = \"500 ns\"");  // quoted TOML string
  t.set("hbm.factors=[2.0, 3.0]");
  std::vector<ParamRecord> rec;
  Gpu g = Gpu::read(t, &rec);
  EXPECT_EQ(g.sm_count, 160u);
  EXPECT_EQ(g.bw.bytes_per_s, 16000000000000u);
  EXPECT_EQ(g.latency.tick, nanoseconds(500));
  EXPECT_EQ(g.factors, (std::vector<double>{2, 3}));
  for (const auto& r : rec) {
    if (r.path == "sm.count") {
      EXPECT_EQ(r.source, "--set sm.count=160");
    }
  }

  ConfigTree bad = ConfigTree::load_file(kData + "derived.toml");
  bad.set("sm.cuont=1");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(bad); }),
                  "--set sm.cuont=1: unknown key 'sm.cuont' (did you mean 'sm.count'?)");
  ConfigTree bad2 = ConfigTree::load_file(kData + "derived.toml");
  bad2.set("sm.count=lots");
  EXPECT_CONTAINS(input_error_of([&] { Gpu::read(bad2); }),
                  "--set sm.count=lots: 'sm.count' must be an integer (got a string)");
  EXPECT_CONTAINS(input_error_of([&] { t.set("sm.count"); }), "--set sm.count: expected KEY=VALUE");
  EXPECT_CONTAINS(input_error_of([&] { t.set("sm..count=1"); }), "is not a dotted key path");
  EXPECT_CONTAINS(input_error_of([&] { t.set("sm.count.x=1"); }), "'sm.count' is a value, not a table");
  EXPECT_CONTAINS(input_error_of([&] { t.set("sm=1"); }), "'sm' is a table; set one of its keys instead");
  EXPECT_CONTAINS(input_error_of([&] { t.set("sm.count="); }), "empty value");
}

TEST(Config, ResolvesShortNamesInTheConfigDirectory) {
  setenv("BWSIM_CONFIG_DIR", BWSIM_CONFIG_DIR_FOR_TESTS, 1);
  EXPECT_EQ(resolve_config_path("b200", "hw").filename(), "b200.toml");
  EXPECT_CONTAINS(input_error_of([] { resolve_config_path("b2000", "hw"); }),
                  "no such file 'b2000' (known hw configs in ");
  EXPECT_CONTAINS(input_error_of([] { resolve_config_path("b2000", "hw"); }), "configs/hw: b200, b300, ");
  unsetenv("BWSIM_CONFIG_DIR");
}

}  // namespace
}  // namespace bwsim
