// Chrome trace-event JSON, the format Perfetto (ui.perfetto.dev) and chrome://tracing open:
// processes and threads named by metadata events, complete ("X") events for spans and counter
// ("C") events for values over time. Events are serialized as they are added, so a trace costs
// about its file size in memory; the file is written all at once through a rename.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/time.hpp"

namespace bwsim {

class TraceDoc {
 public:
  /// The process named `name`, created (with display order `sort`) on first use.
  uint32_t process(const std::string& name, int sort);
  /// The thread `name` of process `pid`, created (with display order `sort`) on first use.
  uint32_t thread(uint32_t pid, const std::string& name, int sort);
  /// A span on a thread; `args` is a JSON object's members ("\"bytes\":4096") or empty.
  void span(uint32_t pid, uint32_t tid, std::string_view name, Tick start, Tick end,
            std::string_view args = {});
  /// A counter's value from `at` on (Perfetto draws counters as step functions).
  void counter(uint32_t pid, std::string_view name, Tick at, double value);
  /// A member of the trace's top-level "metadata" object (value: JSON text).
  void metadata(const std::string& key, std::string value);

  /// Detail left out to keep the trace bounded; the file's metadata says how much.
  void add_dropped(uint64_t spans) { dropped_ += spans; }
  [[nodiscard]] uint64_t dropped() const { return dropped_; }

  [[nodiscard]] size_t bytes() const { return body_.size(); }
  [[nodiscard]] uint64_t events() const { return events_; }
  /// The whole document.
  [[nodiscard]] std::string text() const;
  /// Writes the document through a temporary file and a rename; errors name `flag`.
  void write(const std::filesystem::path& path, std::string_view flag) const;

 private:
  void begin_event();
  /// The document before the events (metadata, the array's opening); kTail closes it.
  [[nodiscard]] std::string head() const;
  static constexpr std::string_view kTail = "\n]}\n";
  std::string body_;
  uint64_t events_ = 0;
  uint64_t dropped_ = 0;
  std::map<std::string, uint32_t> processes_;
  std::map<std::pair<uint32_t, std::string>, uint32_t> threads_;
  std::map<uint32_t, uint32_t> next_tid_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

/// Lanes for spans that may overlap (several in flight at once): each span goes on the first lane
/// whose last span has ended, so every lane is a sequence of disjoint spans, as a trace viewer's
/// thread track must be.
class Lanes {
 public:
  uint32_t place(Tick start, Tick end);
  [[nodiscard]] size_t count() const { return ends_.size(); }

 private:
  std::vector<Tick> ends_;
};

/// A JSON string literal (quoted and escaped).
std::string json_quote(std::string_view s);

}  // namespace bwsim
