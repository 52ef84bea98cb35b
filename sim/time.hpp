// Simulated time. One integer base (picoseconds) for every domain, so no floating-point
// time ever decides the order of two events.
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>

namespace bwsim {

/// A point or span of simulated time, in integer picoseconds.
class Tick {
 public:
  constexpr Tick() = default;
  constexpr explicit Tick(int64_t ps) : ps_(ps) {}

  [[nodiscard]] constexpr int64_t ps() const { return ps_; }
  [[nodiscard]] constexpr double seconds() const { return static_cast<double>(ps_) * 1e-12; }
  [[nodiscard]] constexpr double ns() const { return static_cast<double>(ps_) * 1e-3; }

  static constexpr Tick zero() { return Tick{0}; }
  static constexpr Tick max() { return Tick{std::numeric_limits<int64_t>::max()}; }

  friend constexpr auto operator<=>(Tick, Tick) = default;
  constexpr Tick& operator+=(Tick o) {
    ps_ += o.ps_;
    return *this;
  }
  constexpr Tick& operator-=(Tick o) {
    ps_ -= o.ps_;
    return *this;
  }
  friend constexpr Tick operator+(Tick a, Tick b) { return Tick{a.ps_ + b.ps_}; }
  friend constexpr Tick operator-(Tick a, Tick b) { return Tick{a.ps_ - b.ps_}; }
  friend constexpr Tick operator*(Tick a, int64_t k) { return Tick{a.ps_ * k}; }
  friend constexpr Tick operator*(int64_t k, Tick a) { return Tick{a.ps_ * k}; }

 private:
  int64_t ps_ = 0;
};

constexpr Tick picoseconds(int64_t v) { return Tick{v}; }
constexpr Tick nanoseconds(int64_t v) { return Tick{v * 1000}; }
constexpr Tick microseconds(int64_t v) { return Tick{v * 1000 * 1000}; }
/// A duration computed in floating point (a bandwidth formula), rounded to the nearest ps.
inline Tick seconds_to_tick(double s) { return Tick{std::llround(s * 1e12)}; }

/// A count of clock cycles in some clock domain. Converting to time needs the domain
/// (ClockDomain), so there is deliberately no implicit conversion to Tick.
class Cycles {
 public:
  constexpr Cycles() = default;
  constexpr explicit Cycles(int64_t n) : n_(n) {}

  [[nodiscard]] constexpr int64_t count() const { return n_; }

  friend constexpr auto operator<=>(Cycles, Cycles) = default;
  constexpr Cycles& operator+=(Cycles o) {
    n_ += o.n_;
    return *this;
  }
  constexpr Cycles& operator-=(Cycles o) {
    n_ -= o.n_;
    return *this;
  }
  friend constexpr Cycles operator+(Cycles a, Cycles b) { return Cycles{a.n_ + b.n_}; }
  friend constexpr Cycles operator-(Cycles a, Cycles b) { return Cycles{a.n_ - b.n_}; }
  friend constexpr Cycles operator*(Cycles a, int64_t k) { return Cycles{a.n_ * k}; }
  friend constexpr Cycles operator*(int64_t k, Cycles a) { return Cycles{a.n_ * k}; }

 private:
  int64_t n_ = 0;
};

}  // namespace bwsim
