#include "workloads/functional_spec.hpp"

#include <fmt/format.h>

#include <charconv>

#include "sim/errors.hpp"

namespace bwsim {

std::string FunctionalSpec::name() const {
  switch (mode) {
    case Mode::kOff:
      return "off";
    case Mode::kFull:
      return "full";
    case Mode::kSample:
      return fmt::format("sample:{}", samples);
  }
  return "?";
}

FunctionalSpec parse_functional_spec(std::string_view text, bool auto_full) {
  FunctionalSpec s;
  if (text == "off") {
    s.mode = FunctionalSpec::Mode::kOff;
  } else if (text == "full") {
    s.mode = FunctionalSpec::Mode::kFull;
  } else if (text == "auto") {
    s.mode = auto_full ? FunctionalSpec::Mode::kFull : FunctionalSpec::Mode::kSample;
  } else if (text.starts_with("sample:")) {
    const std::string_view n = text.substr(7);
    auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), s.samples);
    if (ec != std::errc{} || ptr != n.data() + n.size() || s.samples == 0) {
      throw InputError(
          fmt::format("--functional {}: the sample count must be a positive integer (e.g. sample:64)", text));
    }
  } else {
    throw InputError(fmt::format("--functional {}: expected full, sample:N, auto or off", text));
  }
  return s;
}

}  // namespace bwsim
