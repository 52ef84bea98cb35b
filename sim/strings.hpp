// Small text helpers shared by option parsers.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

namespace bwsim {

/// The pieces of `text` between separators, empty ones included ("a,,b" -> a, "", b; "" -> "").
inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos <= text.size();) {
    const size_t end = std::min(text.find(sep, pos), text.size());
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace bwsim
