// A kernel's global flags: counters in memory that CTAs of different clusters release-add and
// acquire-poll (stream-K and split-K fix-ups). An arrival is seen by a poller one L2 round trip
// later (the release store reaches L2, the next poll returns it).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/time.hpp"

namespace bwsim {

class GlobalFlags {
 public:
  explicit GlobalFlags(Tick latency) : latency_(latency) {}

  /// `n` flags at zero, no waiters (a kernel launch).
  void reset(uint32_t n) { flags_.assign(n, Flag{}); }
  /// One arrival on `flag`; returns the waiters to wake, who see it `latency()` from now.
  std::vector<uint64_t> arrive(uint16_t flag) {
    Flag& f = at(flag);
    ++f.arrivals;
    std::vector<uint64_t> waiters;
    waiters.swap(f.waiters);
    return waiters;
  }
  /// Whether `flag` has had `arrivals`; if not, `waiter` is woken by a later arrival.
  bool passed_or_wait(uint16_t flag, uint32_t arrivals, uint64_t waiter) {
    Flag& f = at(flag);
    if (f.arrivals >= arrivals) return true;
    f.waiters.push_back(waiter);
    return false;
  }
  [[nodiscard]] Tick latency() const { return latency_; }

 private:
  struct Flag {
    uint32_t arrivals = 0;
    std::vector<uint64_t> waiters;
  };
  Flag& at(uint16_t flag) {
    if (flag >= flags_.size())
      throw std::logic_error("global flag " + std::to_string(flag) + " not declared");
    return flags_[flag];
  }
  Tick latency_;
  std::vector<Flag> flags_;
};

}  // namespace bwsim
