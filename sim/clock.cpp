#include "sim/clock.hpp"

#include "sim/wide_int.hpp"

#include <cstdint>
#include <stdexcept>

namespace bwsim {
namespace {
constexpr u128 kPsPerSecond = 1000000000000ull;
constexpr uint64_t kPs64 = 1000000000000ull;

int64_t ceil_div(u128 a, u128 b) { return static_cast<int64_t>((a + b - 1) / b); }

// a * b / c (rounded down or up), exactly: in 64 bits when a * b (+ c) cannot overflow (times
// within a simulation are small, and a 128-bit division is a library call), else in 128.
// (The overflow checks are the multiply's flags, not a division: these run on every event.)
uint64_t muldiv_floor(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t p = 0;
  if (!__builtin_mul_overflow(a, b, &p)) return p / c;
  return static_cast<uint64_t>(static_cast<u128>(a) * b / c);
}
uint64_t muldiv_ceil(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t p = 0;
  uint64_t q = 0;
  if (!__builtin_mul_overflow(a, b, &p) && !__builtin_add_overflow(p, c - 1, &q)) return q / c;
  return static_cast<uint64_t>(ceil_div(static_cast<u128>(a) * b, c));
}
}  // namespace

ClockDomain::ClockDomain(std::string name, Frequency f) : name_(std::move(name)), freq_(f) {
  // Periods below one picosecond would make two cycles share a tick.
  if (f.hz == 0 || f.hz > 1000000000000ull) {
    throw std::invalid_argument("clock domain '" + name_ + "' needs a frequency in (0, 1 THz]");
  }
}

Tick ClockDomain::to_tick(Cycles c) const {
  if (c.count() < 0) return Tick{ceil_div(static_cast<u128>(c.count()) * kPsPerSecond, freq_.hz)};
  return Tick{static_cast<int64_t>(muldiv_ceil(static_cast<uint64_t>(c.count()), kPs64, freq_.hz))};
}

Cycles ClockDomain::to_cycles(Tick t) const {
  if (t.ps() < 0) return Cycles{static_cast<int64_t>(static_cast<u128>(t.ps()) * freq_.hz / kPsPerSecond)};
  return Cycles{static_cast<int64_t>(muldiv_floor(static_cast<uint64_t>(t.ps()), freq_.hz, kPs64))};
}

Cycles ClockDomain::cycle_at_or_after(Tick t) const {
  Cycles c = to_cycles(t);
  return to_tick(c) == t ? c : c + Cycles{1};
}

Cycles ClockDomain::cycles_ceil(Tick d) const {
  if (d.ps() < 0) return Cycles{ceil_div(static_cast<u128>(d.ps()) * freq_.hz, kPsPerSecond)};
  return Cycles{static_cast<int64_t>(muldiv_ceil(static_cast<uint64_t>(d.ps()), freq_.hz, kPs64))};
}

}  // namespace bwsim
