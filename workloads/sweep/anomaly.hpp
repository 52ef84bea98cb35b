// Sweeps flag what physics would not do. Along an axis that is a resource (SMs, a clock, a
// bandwidth, a capacity; or a latency, where less is more), giving more of it never slows
// anything down on a real GPU. Between every two points of a sweep that differ only in such an
// axis, a metric that moves the wrong way by more than kAnomalyTolerance (time or latency up,
// throughput down) is an anomaly of the model, not a finding: it is written into the point's
// `anomaly` column and reported, so a user sees it instead of plotting it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bwsim {

/// Relative change a sampled metric may make the wrong way before it is flagged.
inline constexpr double kAnomalyTolerance = 0.005;

/// +1 when more of the axis key's value is more of a resource (hw.sm.count, hw.hbm.bandwidth),
/// -1 when less is more (a latency), nullopt when it is not a resource.
std::optional<int> resource_direction(std::string_view axis_key);
/// +1 when a larger value of the metric is better (throughput), -1 when smaller is (time),
/// nullopt when physics does not order it.
std::optional<int> metric_direction(std::string_view metric);

/// Fills the `anomaly` column (the last) of `rows` (CSV lines under `header`, by point) from
/// scratch, and returns one line per anomaly found, in point order.
std::vector<std::string> flag_anomalies(const std::string& header, std::map<uint64_t, std::string>& rows);

}  // namespace bwsim
