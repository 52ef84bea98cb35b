// The power governor around a workload's simulation: a header of its own because it needs the
// whole HwSpec, which models/power.hpp (included by hw_spec.hpp) cannot see.
#pragma once

#include <cstdint>
#include <map>
#include <utility>

#include "models/hw_spec.hpp"
#include "models/power.hpp"

namespace bwsim {

/// The governor around a workload's simulation: `at_cap` ran at clock_cap(hw) (a timing with
/// `time`, `activity` and `power`); `simulate(hw_at_f)` runs the same plan on the GPU at
/// another clock. Returns the run at the chosen clock, its `power` set.
template <class Timing, class Simulate>
Timing run_governed(const HwSpec& hw, MmaKind kind, Timing at_cap, const Simulate& simulate) {
  std::map<uint64_t, Timing> runs;
  const PowerReport pr = govern(hw, kind, {at_cap.time, at_cap.activity}, [&](Frequency f) {
    Timing r = simulate(at_clock(hw, f));
    const GovernedRun out{r.time, r.activity};
    runs.insert_or_assign(f.hz, std::move(r));
    return out;
  });
  Timing t = pr.clock != clock_cap(hw) ? std::move(runs.at(pr.clock.hz)) : std::move(at_cap);
  t.power = pr;
  return t;
}

}  // namespace bwsim
