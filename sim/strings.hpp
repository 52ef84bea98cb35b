// Small text helpers shared by option parsers.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
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

/// `text` without leading and trailing white space (std::isspace).
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

/// Levenshtein distance: single-character insertions, deletions and substitutions.
inline size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// The name in `names` closest to `typed` that a typo could explain (within a third of its
/// length, at least 2 edits; or one `typed` begins), or "" when none is.
inline std::string closest(std::string_view typed, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::max<size_t>(2, typed.size() / 3) + 1;
  for (const std::string& n : names) {
    const size_t d = edit_distance(n, typed);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  if (best.empty() && !typed.empty()) {  // an abbreviation: the one name it begins
    std::vector<std::string> starts;
    for (const std::string& n : names)
      if (n.starts_with(typed)) starts.push_back(n);
    if (starts.size() == 1) best = starts.front();
  }
  return best;
}

}  // namespace bwsim
