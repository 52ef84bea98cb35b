// Replays the committed fuzz corpus (tests/fuzz/corpus/TARGET/*: seeds from the shipped files
// and every input that ever found a bug) through the fuzz targets, one test per target, in the
// ordinary test suite: each input is accepted or refused with InputError, nothing else.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/targets.hpp"

namespace bwsim::fuzz {
namespace {

namespace fs = std::filesystem;

class FuzzReplay : public testing::TestWithParam<NamedTarget> {};

TEST_P(FuzzReplay, EveryCorpusInputIsAcceptedOrRefusedAsInput) {
  const NamedTarget& t = GetParam();
  const fs::path dir = fs::path(BWSIM_FUZZ_CORPUS) / t.name;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no corpus for " << t.name;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    SCOPED_TRACE(f.string());
    EXPECT_NO_THROW(run_one(t.run, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
}

std::vector<NamedTarget> all_targets() {
  size_t n = 0;
  const NamedTarget* t = targets(n);
  return {t, t + n};
}

INSTANTIATE_TEST_SUITE_P(Corpus, FuzzReplay, testing::ValuesIn(all_targets()),
                         [](const testing::TestParamInfo<NamedTarget>& i) {
                           return std::string(i.param.name);
                         });

}  // namespace
}  // namespace bwsim::fuzz
