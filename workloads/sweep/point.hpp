// One point of a sweep: the base job with the point's axis values applied, run, and reduced to
// a fixed list of metrics with stable dotted names (the CSV's columns).
#pragma once

#include <string>
#include <vector>

#include "workloads/sweep/spec.hpp"

namespace bwsim {

/// The metric columns of a kind, in order.
const std::vector<std::string>& sweep_metric_names(SweepKind kind);

struct PointResult {
  bool ok = false;
  std::string error;                 // when !ok: why the point failed
  std::vector<std::string> metrics;  // one per sweep_metric_names (empty text: not applicable)
};

/// Checks every value of every axis, each applied alone to the base job, without running
/// anything: an unknown key path, a wrong type or unit throws InputError naming the axis.
void check_sweep_axes(const SweepSpec& spec);

/// Runs one point. Never throws: a failure (an input the point's combination makes invalid, a
/// shape the GPU cannot run) is recorded in the result.
PointResult run_sweep_point(const SweepSpec& spec, const SweepPoint& point);

}  // namespace bwsim
