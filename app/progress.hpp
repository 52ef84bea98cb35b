// Progress of a long command on stderr (sweep points, validation points); sim/progress.hpp
// draws the bar of a single simulation.
#pragma once

#include <fmt/format.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>

#include "sim/progress.hpp"

namespace bwsim::app {

// Progress on stderr: a bar redrawn in place on a terminal, a line per tenth (and at most one
// per 30 s otherwise) when stderr is a file or pipe.
class Progress {
 public:
  Progress(std::string label, uint64_t total, uint64_t skipped, bool quiet)
      : label_(std::move(label)),
        total_(total),
        skipped_(skipped),
        quiet_(quiet),
        tty_(isatty(fileno(stderr)) != 0),
        start_(std::chrono::steady_clock::now()),
        last_(start_) {}

  void point_done(bool ok) {
    ++done_;
    if (!ok) ++failed_;
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const uint64_t todo = total_ - skipped_;
    const double eta = elapsed / static_cast<double>(done_) * static_cast<double>(todo - done_);
    const uint64_t finished = skipped_ + done_;
    const double frac = static_cast<double>(finished) / static_cast<double>(std::max<uint64_t>(1, total_));
    const std::string tail = fmt::format("{}/{} points{}, {:.0f}s elapsed, ETA {}", finished, total_,
                                         failed_ > 0 ? fmt::format(" ({} failed)", failed_) : "", elapsed,
                                         progress::clock_text(eta));
    if (tty_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(frac * kWidth);
      std::cerr << fmt::format("\r[{}{}] {:3.0f}% {}   ", std::string(static_cast<size_t>(filled), '#'),
                               std::string(static_cast<size_t>(kWidth - filled), '.'), frac * 100, tail)
                << std::flush;
      if (done_ == todo) std::cerr << "\n";
      return;
    }
    const uint64_t tenth = done_ * 10 / std::max<uint64_t>(1, todo);
    if (tenth != last_tenth_ || now - last_ > std::chrono::seconds(30) || done_ == todo) {
      last_tenth_ = tenth;
      last_ = now;
      std::cerr << fmt::format("{}: {:.0f}% {}\n", label_, frac * 100, tail) << std::flush;
    }
  }
  [[nodiscard]] uint64_t failed() const { return failed_; }

 private:
  std::string label_;
  uint64_t total_, skipped_;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_, last_;
  uint64_t done_ = 0, failed_ = 0, last_tenth_ = 0;
};

}  // namespace bwsim::app
