#include "sim/progress.hpp"

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

namespace bwsim::progress {
namespace {

Listener* g_listener = nullptr;
std::thread::id g_owner;
double g_reported = 0;  // the bar never goes back
thread_local Scope* t_innermost = nullptr;

bool reporting() { return g_listener != nullptr && std::this_thread::get_id() == g_owner; }

}  // namespace

void listen(Listener* l) {
  g_listener = l;
  g_owner = std::this_thread::get_id();
  g_reported = 0;
}

bool active() { return reporting(); }

std::string clock_text(double seconds) {
  const auto t = std::llround(std::max(0.0, seconds));
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02}", t / 60, t % 60);
}

Scope::Scope(std::string what, double total)
    : what_(std::move(what)), total_(std::max(total, 1e-300)), parent_(nullptr), active_(reporting()) {
  if (!active_) return;
  parent_ = t_innermost;
  t_innermost = this;
  if (parent_ == nullptr) {
    g_reported = 0;
    g_listener->begin();
  }
}

Scope::~Scope() {
  if (!active_) return;
  t_innermost = parent_;
  if (parent_ == nullptr && reporting()) g_listener->done();
}

// The outermost scope's fraction, each open scope filling part of its parent's current unit.
double overall() {
  double f = 0;
  for (const Scope* s = t_innermost; s != nullptr; s = s->parent_)
    f = std::clamp((std::min(s->done_, s->total_) + (s == t_innermost ? 0 : f)) / s->total_, 0.0, 1.0);
  return f;
}

void Scope::set(double done) {
  if (!active_ || done <= done_) return;
  done_ = done;
  if (!reporting()) return;
  g_reported = std::max(g_reported, overall());
  // The outermost stage with its count, and the innermost one's name when it is another.
  const Scope* outer = t_innermost;
  while (outer->parent_ != nullptr) outer = outer->parent_;
  std::string what = outer->what_;
  if (outer != t_innermost) {
    what += fmt::format(" {:.0f}/{:.0f}: {}", std::min(outer->done_ + 1, outer->total_), outer->total_,
                        t_innermost->what_);
  }
  g_listener->update(what, g_reported);
}

StderrBar::StderrBar() : start_(std::chrono::steady_clock::now()), last_(start_), pass_start_(start_) {}

void StderrBar::begin() {
  pass_start_ = std::chrono::steady_clock::now();
  ++passes_;
}

StderrBar::~StderrBar() { done(); }

void StderrBar::done() {
  if (drawn_) std::fprintf(stderr, "\r%*s\r", static_cast<int>(width_), "");
  std::fflush(stderr);
  drawn_ = false;
}

bool StderrBar::wanted() { return isatty(fileno(stderr)) != 0; }

void StderrBar::update(std::string_view what, double fraction) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < 2 || now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  drawn_ = true;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  const double in_pass = std::chrono::duration<double>(now - pass_start_).count();
  const std::string eta = fraction > 0.01 ? clock_text(in_pass / fraction * (1 - fraction)) : "?";
  const std::string line =
      fmt::format("\r[{}{}] {:3.0f}% {}{}, {} elapsed, ETA {}", std::string(static_cast<size_t>(filled), '#'),
                  std::string(static_cast<size_t>(kWidth - filled), '.'), fraction * 100, what,
                  passes_ > 1 ? fmt::format(" (pass {})", passes_) : "", clock_text(elapsed), eta);
  // One line, however narrow the terminal: cut to its width (a wrapped line would not redraw).
  winsize ws{};
  const size_t width = ioctl(fileno(stderr), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : 99;
  width_ = std::min<size_t>(width, 200);
  std::fprintf(stderr, "\r%-*s", static_cast<int>(width_), line.substr(1, width_).c_str());
  std::fflush(stderr);
}

}  // namespace bwsim::progress
