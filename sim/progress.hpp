// Progress of a long simulation, for a bar with an ETA on stderr.
//
// Work reports itself in nested scopes: a serving run counts its steps, a GEMM the chosen
// plan's work items. A scope's fraction fills the current unit of the scope that encloses it
// (which advances its own units), and the fraction reported never goes back within an outermost
// scope; the next outermost scope (a GEMM's second whole run) starts again from zero. Only
// the thread that installed the listener reports (the planner's parallel finalists do not), and
// nothing is drawn unless a command installed one (cli::Command::progress).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bwsim::progress {

class Listener {
 public:
  virtual ~Listener() = default;
  /// The innermost open scope's label and the overall fraction done, in [0, 1].
  virtual void update(std::string_view what, double fraction) = 0;
  /// An outermost scope opened (a GEMM may simulate its plan whole more than once: a second
  /// candidate, or the governed clock).
  virtual void begin() {}
  /// The outermost scope closed: whatever was drawn goes away before the command reports.
  virtual void done() {}
};

/// Installs `l` for scopes on the calling thread (null removes it).
void listen(Listener* l);
/// Whether a listener takes this thread's progress (work that reports at a cost checks first).
bool active();
/// A duration for a progress line: "M:SS", or "H:MM:SS" from an hour.
std::string clock_text(double seconds);

/// A stage of `total` units, inside the current unit of the enclosing scope.
class Scope {
 public:
  Scope(std::string what, double total);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  /// Units done so far (absolute; a smaller value than before is ignored).
  void set(double done);
  void advance(double units = 1) { set(done_ + units); }

 private:
  friend double overall();
  std::string what_;
  double total_;
  double done_ = 0;
  Scope* parent_;
  bool active_;
};

/// A bar redrawn in place on stderr, a terminal only: nothing for the first 2 s (most commands
/// finish before), then at most ten redraws a second with the elapsed time and the ETA of the
/// current pass (numbered from the second); the line is cleared when a pass ends.
class StderrBar final : public Listener {
 public:
  StderrBar();
  ~StderrBar() override;
  StderrBar(const StderrBar&) = delete;
  StderrBar& operator=(const StderrBar&) = delete;
  void update(std::string_view what, double fraction) override;
  void begin() override;
  void done() override;
  /// Whether stderr is a terminal (where a bar is drawn at all).
  static bool wanted();

 private:
  std::chrono::steady_clock::time_point start_, last_, pass_start_;
  int passes_ = 0;
  size_t width_ = 99;  // of the last line drawn
  bool drawn_ = false;
};

}  // namespace bwsim::progress
