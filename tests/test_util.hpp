// Helpers shared by the test programs.
#pragma once

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <ostream>
#include <string>

#include "sim/errors.hpp"
#include "sim/time.hpp"

namespace bwsim {

inline void PrintTo(Tick t, std::ostream* os) { *os << t.ps() << " ps"; }
inline void PrintTo(Cycles c, std::ostream* os) { *os << c.count() << " cycles"; }

/// The message of the InputError `fn` throws, or "(no error)".
template <class Fn>
std::string input_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

/// A directory of this test's own under the system's temporary directory: named by `prefix`,
/// the test and the process, so two runs of the suite at once never share one.
inline std::filesystem::path test_temp_dir(const std::string& prefix) {
  return std::filesystem::temp_directory_path() /
         (prefix + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
          std::to_string(::getpid()));
}

/// A fixture with a fresh temporary directory of its own (test_temp_dir), removed afterwards, and
/// a helper that writes a text file into it.
class TempDirTest : public ::testing::Test {
 protected:
  explicit TempDirTest(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override {
    dir_ = test_temp_dir(prefix_);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    const std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }
  std::filesystem::path dir_;

 private:
  std::string prefix_;
};

/// Golden values: `got` (case -> value text) against tests/data/golden/`file`, lines of
/// "case value text". With BWSIM_REFRESH_GOLDEN set, rewrites the file (`header` names the
/// columns) and skips: run that after an intended model change and commit the file with it.
inline void check_golden(const std::string& file, const std::string& header,
                         const std::map<std::string, std::string>& got) {
  const std::string path = std::string(BWSIM_TEST_DATA_DIR) + "/golden/" + file;
  if (std::getenv("BWSIM_REFRESH_GOLDEN") != nullptr) {
    std::ofstream out(path);
    out << "# " << header << "   (BWSIM_REFRESH_GOLDEN=1 rewrites this file)\n";
    for (const auto& [name, v] : got) out << name << " " << v << "\n";
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << path << " is missing: run with BWSIM_REFRESH_GOLDEN=1";
  std::map<std::string, std::string> want;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find(' ');
    want[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  for (const auto& [name, v] : got) {
    ASSERT_TRUE(want.count(name) != 0) << name << " has no golden value: run with BWSIM_REFRESH_GOLDEN=1";
    EXPECT_EQ(v, want[name]) << name;
  }
}

}  // namespace bwsim

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "text: " << (haystack)
