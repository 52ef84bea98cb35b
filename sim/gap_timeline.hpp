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
    size_t i = 0;
    return place(ready, service, i, true);
  }

  /// `n` reservations of `piece` each, the i-th ready at ready + i x piece (a transfer that
  /// streams in as its data arrives), each in the earliest gap that fits it; returns the end of
  /// the last. The same as n calls of reserve(), in one walk: a piece never lands before the
  /// previous one ends (any earlier gap that fits it would have taken the previous piece).
  Tick reserve_stream(Tick now, Tick ready, Tick piece, uint64_t n) {
    prune(now);
    busy_ += piece * static_cast<int64_t>(n);
    size_t i = 0;
    Tick end = ready;
    for (uint64_t k = 0; k < n; ++k)
      end = place(std::max(ready + piece * static_cast<int64_t>(k), end), piece, i, k == 0);
    return end;
  }

  /// Like reserve(), but the service may be split over several gaps: it fills every free
  /// stretch from `ready` on until `service` is used up, and returns the end of the last piece.
  /// Models a stream the port interleaves at fine grain with others (a tensor-core operand
  /// fetch between TMA fill bursts): it slows where the port is busy instead of waiting for
  /// one gap long enough to hold all of it.
  Tick reserve_split(Tick now, Tick ready, Tick service) {
    prune(now);
    if (head_ == iv_.size() || iv_.back().end <= ready) return reserve(now, ready, service);
    busy_ += service;
    auto first = std::partition_point(iv_.begin() + static_cast<std::ptrdiff_t>(head_), iv_.end(),
                                      [&](const Interval& v) { return v.end <= ready; });
    size_t i = static_cast<size_t>(first - iv_.begin());
    Tick at = ready;  // where the next piece may start
    Tick left = service;
    Tick done = ready;  // end of the last piece claimed
    // Walk the booked intervals, claiming the gap before each one.
    while (left > Tick{} && i < iv_.size()) {
      if (iv_[i].start > at) {
        const Tick take = std::min(left, iv_[i].start - at);
        left -= take;
        done = at + take;
        if (i > head_ && iv_[i - 1].end == at) {
          iv_[i - 1].end = done;
        } else {
          iv_.insert(iv_.begin() + static_cast<std::ptrdiff_t>(i), Interval{at, done});
          ++i;
        }
        if (iv_[i].start == done) {  // the gap is full: the piece joins the next interval
          iv_[i - 1].end = iv_[i].end;
          iv_.erase(iv_.begin() + static_cast<std::ptrdiff_t>(i));
          at = iv_[i - 1].end;
          continue;
        }
        return done;  // the gap had room for all that was left
      }
      at = std::max(at, iv_[i].end);
      ++i;
    }
    if (left == Tick{}) return done;
    // Past everything booked: the rest goes on the end.
    if (iv_.back().end == at) {
      iv_.back().end = at + left;
    } else {
      iv_.push_back(Interval{at, at + left});
    }
    return at + left;
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
  // Books [start, start + service) in the earliest gap at or after `ready` and returns its end.
  // `i` is where to look from: with `search`, found by binary search; otherwise the caller's
  // (every interval before iv_[i] ends by `ready`). On return, iv_[i] holds the reservation.
  Tick place(Tick ready, Tick service, size_t& i, bool search) {
    Tick start = ready;
    // Most reservations land after everything already booked: append (or extend the last).
    if (head_ == iv_.size() || iv_.back().end <= start) {
      if (head_ < iv_.size() && iv_.back().end == start) {
        iv_.back().end = start + service;
      } else {
        iv_.push_back(Interval{start, start + service});
      }
      i = iv_.size() - 1;
      return start + service;
    }
    // Live intervals are iv_[head_..], sorted and disjoint: find the first that ends after
    // `start`, then walk forward to the first gap long enough.
    if (search) {
      i = static_cast<size_t>(std::partition_point(iv_.begin() + static_cast<std::ptrdiff_t>(head_),
                                                   iv_.end(),
                                                   [&](const Interval& v) { return v.end <= start; }) -
                              iv_.begin());
    }
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
      --i;
    } else if (i < iv_.size() && iv_[i].start == end) {
      iv_[i].start = start;
    } else {
      iv_.insert(iv_.begin() + static_cast<std::ptrdiff_t>(i), Interval{start, end});
    }
    return end;
  }

  std::vector<Interval> iv_;
  size_t head_ = 0;
  Tick busy_{0};
};

}  // namespace bwsim
