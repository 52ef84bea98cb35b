#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>
#include <boost/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sim/errors.hpp"
#include "sim/json_in.hpp"
#include "sim/json_out.hpp"

namespace bwsim {
namespace {

TEST(JsonOut, PrettyPrintsDeterministically) {
  boost::json::object o;
  o["b"] = 1;
  o["a"] = boost::json::array{1.5, 2, "x"};
  o["c"] = boost::json::object{{"d", 0.1}, {"e", boost::json::object{}}};
  o["inf"] = std::numeric_limits<double>::infinity();
  const std::string want =
      "{\n  \"b\": 1,\n  \"a\": [1.5, 2, \"x\"],\n  \"c\": {\n    \"d\": 0.1,\n    \"e\": {}\n  },\n"
      "  \"inf\": null\n}\n";
  EXPECT_EQ(to_json_text(o), want);
  EXPECT_EQ(boost::json::parse(to_json_text(o)).at("c").at("d").as_double(), 0.1);
}

TEST(JsonOut, AtomicWriteReplacesWholeFileOrNothing) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("bwsim_json_out_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path f = dir / "out.json";
  write_file_atomic(f, "first", "--json");
  write_file_atomic(f, "second", "--json");
  std::ifstream in(f);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(s, "second");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);  // no temporary left behind
  EXPECT_THROW(write_file_atomic(dir / "missing" / "x.json", "x", "--json"), InputError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bwsim

namespace bwsim {
namespace {

TEST(JsonIn, ReadsEveryDecimalToTheNearestDouble) {
  // A LongRoPE factor Boost.JSON 1.81's own parser reads one ulp off.
  const JsonParse one =
      parse_json_exact(R"({"f": [30.420001983642578, 1e-05, 4, -2.5E3, 18446744073709551615]})");
  ASSERT_FALSE(one.error);
  const auto& f = one.value.at("f").as_array();
  EXPECT_EQ(f[0].as_double(), 30.420001983642578);
  EXPECT_EQ(f[1].as_double(), 1e-05);
  EXPECT_EQ(f[2].as_int64(), 4);
  EXPECT_EQ(f[3].as_double(), -2500.0);
  EXPECT_EQ(f[4].as_uint64(), 18446744073709551615ull);
  // Every float32 widened to double, printed with 17 significant digits, reads back exactly.
  uint32_t bits = 0x3f800001u;
  for (int i = 0; i < 20000; ++i) {
    bits = bits * 1664525u + 1013904223u;
    float x;
    std::memcpy(&x, &bits, 4);
    if (!std::isfinite(x)) continue;
    const std::string text = fmt::format("[{:.17g}]", static_cast<double>(x));
    const JsonParse p = parse_json_exact(text);
    ASSERT_FALSE(p.error) << text;
    const double got = p.value.as_array()[0].is_double() ? p.value.as_array()[0].as_double()
                                                         : p.value.as_array()[0].to_number<double>();
    ASSERT_EQ(got, static_cast<double>(x)) << text;
  }
}

TEST(JsonIn, SaysWhereTheTextStopsBeingJson) {
  const std::string text = "{\n  \"a\": 1,\n  \"b\": ]\n}";
  const JsonParse p = parse_json_exact(text);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(text.substr(0, p.consumed).find("\"b\""), 14u);  // stopped in line 3
  EXPECT_TRUE(parse_json_exact("{} x").error);               // data after the document
  EXPECT_FALSE(parse_json_exact("{}\n  ").error);            // whitespace after it is fine
  boost::json::parse_options o;
  o.allow_trailing_commas = true;
  EXPECT_FALSE(parse_json_exact("[1, 2,]", o).error);
}

}  // namespace
}  // namespace bwsim
