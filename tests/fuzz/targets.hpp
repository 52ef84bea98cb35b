// Fuzz targets: one per reader of user input. Each takes arbitrary bytes and must either accept
// them or throw InputError (what the CLI turns into a message and exit 2); anything else
// escaping (another exception, a crash, a sanitizer report, a hang) is a bug.
//
// Built two ways: as libFuzzer programs (clang, -DBWSIM_FUZZ=ON, scripts/fuzz), and always as
// tests/fuzz/replay.cpp, which runs every committed corpus input through the same functions in
// the ordinary test suite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bwsim::fuzz {

using Target = void (*)(const uint8_t* data, size_t size);

struct NamedTarget {
  std::string_view name;  // also the corpus directory under tests/fuzz/corpus/
  Target run;
};

/// Every target, in a fixed order.
const NamedTarget* targets(size_t& count);
/// The target called `name`, or null.
Target find_target(std::string_view name);
/// Runs `t` on the input: returns normally when the reader accepted it or threw InputError;
/// anything else propagates.
void run_one(Target t, const uint8_t* data, size_t size);

}  // namespace bwsim::fuzz
