// A resource whose reservations arrive out of time order: an SM's ingress port receives hits
// (~300 cycles after issue) and misses (~1100 cycles) issued around the same time; a die-to-die
// link carries returns of both. ResourceTimeline keeps one next-free tick, so a miss reserving
// its far-future slot first would wrongly delay a hit that returns earlier. GapTimeline keeps
// the busy intervals and puts each reservation in the earliest gap that fits at or after its
// ready time (first come, first served for overlapping requests; earlier gaps back-filled).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/time.hpp"

namespace bwsim {

class GapTimeline {
 public:
  /// Reserves `service` starting no earlier than `ready`; returns the end of service. `now`
  /// lets the timeline forget intervals that ended in the past (no reservation can start
  /// before now).
  Tick reserve(Tick now, Tick ready, Tick service) {
    prune(now);
    busy_ += service;
    Tick start = ready;
    // Most reservations land after everything already booked: append (or extend the last).
    if (head_ == iv_.size() || iv_.back().end <= start) {
      if (head_ < iv_.size() && iv_.back().end == start) {
        iv_.back().end = start + service;
      } else {
        iv_.push_back(Interval{start, start + service});
      }
      return start + service;
    }
    // Live intervals are iv_[head_..], sorted and disjoint: binary-search the first that ends
    // after `start`, then walk forward to the first gap long enough.
    auto first = std::partition_point(iv_.begin() + static_cast<std::ptrdiff_t>(head_), iv_.end(),
                                      [&](const Interval& v) { return v.end <= start; });
    size_t i = static_cast<size_t>(first - iv_.begin());
    while (i < iv_.size() && iv_[i].start < start + service) {
      start = std::max(start, iv_[i].end);
      ++i;
    }
    const Tick end = start + service;
    // Insert [start, end) at position i, merging with touching neighbours.
    if (i > head_ && iv_[i - 1].end == start) {
      iv_[i - 1].end = end;
      if (i < iv_.size() && iv_[i].start == end) {
        iv_[i - 1].end = iv_[i].end;
        iv_.erase(iv_.begin() + static_cast<std::ptrdiff_t>(i));
      }
    } else if (i < iv_.size() && iv_[i].start == end) {
      iv_[i].start = start;
    } else {
      iv_.insert(iv_.begin() + static_cast<std::ptrdiff_t>(i), Interval{start, end});
    }
    return end;
  }

  [[nodiscard]] Tick busy() const { return busy_; }
  [[nodiscard]] size_t intervals() const { return iv_.size() - head_; }

 private:
  struct Interval {
    Tick start;
    Tick end;
  };
  // Intervals that ended by `now` can never matter again (nothing starts before now). They are
  // skipped by moving head_, and dropped in bulk once they are most of the vector, so pruning
  // costs amortized O(1) instead of shifting the vector on every reservation.
  void prune(Tick now) {
    while (head_ < iv_.size() && iv_[head_].end <= now) ++head_;
    if (head_ > 32 && head_ * 2 > iv_.size()) {
      iv_.erase(iv_.begin(), iv_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  std::vector<Interval> iv_;
  size_t head_ = 0;
  Tick busy_{0};
};

}  // namespace bwsim
