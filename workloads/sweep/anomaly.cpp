#include "workloads/sweep/anomaly.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <utility>

#include "sim/units.hpp"
#include "workloads/sweep/point.hpp"
#include "workloads/sweep/results.hpp"

namespace bwsim {
namespace {

// An axis value as a number in the key's own unit ("16 TB/s", "1.2 GHz", "148"), nullopt if it
// is not one. Different spellings of one quantity compare equal.
std::optional<double> amount(const std::string& text) {
  // A plain number (every metric, most axis values) without the quantity parsers' exceptions.
  double plain = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), plain);
  if (ec == std::errc{} && end == text.data() + text.size() && !text.empty()) return plain;
  const auto attempt = [&](auto parse) -> std::optional<double> {
    try {
      return parse(text);
    } catch (...) {  // a UnitError: not this kind of quantity
      return std::nullopt;
    }
  };
  if (auto v =
          attempt([](const std::string& t) { return static_cast<double>(parse_bandwidth(t).bytes_per_s); }))
    return v;
  if (auto v = attempt([](const std::string& t) { return static_cast<double>(parse_frequency(t).hz); }))
    return v;
  if (auto v = attempt([](const std::string& t) { return static_cast<double>(parse_byte_size(t).bytes); }))
    return v;
  if (auto v = attempt([](const std::string& t) { return parse_bytes_per_cycle(t).value; })) return v;
  if (auto v = attempt([](const std::string& t) { return static_cast<double>(parse_duration(t).tick.ps()); }))
    return v;
  return std::nullopt;
}

}  // namespace

std::optional<int> resource_direction(std::string_view key) {
  if (!key.starts_with("hw.")) return std::nullopt;
  const std::string_view k = key.substr(3);
  if (k.find("latency") != std::string_view::npos || k == "launch.gap" || k == "hbm.turnaround" ||
      k == "tma.issue" || k == "tensor.issue")
    return -1;
  static constexpr std::array<std::string_view, 20> kMore{"sm.count",
                                                          "sm.max_ctas",
                                                          "sm.max_warps",
                                                          "sm.registers",
                                                          "clock.sm",
                                                          "power.limit",
                                                          "clock.lock",
                                                          "clock.l2",
                                                          "smem.bandwidth",
                                                          "smem.capacity",
                                                          "smem.max_per_cta",
                                                          "tmem.columns",
                                                          "tmem.bandwidth",
                                                          "tma.max_inflight_boxes",
                                                          "l2.capacity",
                                                          "l2.slice_bandwidth",
                                                          "noc.sm_port_bandwidth",
                                                          "hbm.bandwidth",
                                                          "hbm.capacity",
                                                          "nvlink.bandwidth"};
  if (std::find(kMore.begin(), kMore.end(), k) != kMore.end()) return 1;
  if (k.starts_with("tensor.rate.") || k == "fma.fp32_per_clk" || k == "mufu.exp2_per_clk" ||
      k == "l2.cross_partition_bandwidth" || k == "hbm.bus_efficiency" || k == "launch.stream_efficiency")
    return 1;
  return std::nullopt;
}

std::optional<int> metric_direction(std::string_view m) {
  if (m == "time.us" || m.ends_with("_ms") || m == "e2e_s") return -1;
  // A served trace: latency percentiles down, throughput up with more of a resource.
  if (m.starts_with("serve.ttft_ms.") || m.starts_with("serve.tpot_ms.") || m.starts_with("serve.itl_ms.") ||
      m.starts_with("serve.e2e_s."))
    return -1;
  if (m == "serve.output_tokens_per_s" || m == "serve.total_tokens_per_s" || m == "serve.requests_per_s")
    return 1;
  if (m == "throughput.tflops" || m.starts_with("decode.tokens_per_s") || m.starts_with("mtp.tokens_per_s") ||
      m == "memory.max_concurrency")
    return 1;
  return std::nullopt;
}

std::vector<std::string> flag_anomalies(const std::string& header, std::map<uint64_t, std::string>& rows) {
  std::vector<std::string> h;
  (void)parse_csv_line(std::string_view(header).substr(0, header.size() - 1), h);
  // point, status, the axes, the metrics, error, anomaly: the axes end where a metric begins.
  std::vector<std::string> known = sweep_metric_names(SweepKind::kGemm);
  for (const SweepKind k : {SweepKind::kRun, SweepKind::kServe}) {
    for (const std::string& m : sweep_metric_names(k)) known.push_back(m);
  }
  size_t first_metric = 2;
  while (first_metric + 2 < h.size() && std::find(known.begin(), known.end(), h[first_metric]) == known.end())
    ++first_metric;
  const size_t anomaly_col = h.size() - 1;
  std::map<uint64_t, std::vector<std::string>> fields;
  for (auto& [i, line] : rows) {
    std::vector<std::string>& f = fields[i];
    (void)parse_csv_line(std::string_view(line).substr(0, line.size() - 1), f);
    f.resize(h.size());
    f[anomaly_col].clear();
  }
  std::map<uint64_t, std::vector<std::string>> notes;
  for (size_t axis = 2; axis < first_metric; ++axis) {
    const std::optional<int> dir = resource_direction(h[axis]);
    if (!dir) continue;
    // Points that differ only in this axis, ordered by how much of the resource they have.
    std::map<std::vector<std::string>, std::vector<std::pair<double, uint64_t>>> groups;
    for (const auto& [i, f] : fields) {
      if (f[1] != "ok") continue;
      const std::optional<double> v = amount(f[axis]);
      if (!v) continue;
      std::vector<std::string> others;
      for (size_t a = 2; a < first_metric; ++a) {
        if (a != axis) others.push_back(f[a]);
      }
      groups[others].emplace_back(*v * *dir, i);
    }
    for (auto& [others, pts] : groups) {
      std::sort(pts.begin(), pts.end());
      // Each metric against the best any point with less of the resource reached: a run of small
      // steps the wrong way adds up, and is flagged once it passes the tolerance.
      for (size_t m = first_metric; m + 2 < h.size(); ++m) {
        const std::optional<int> better = metric_direction(h[m]);
        if (!better) continue;
        std::optional<size_t> best;  // index into pts of the best so far
        double a = 0;                // its value
        for (size_t j = 0; j < pts.size(); ++j) {
          const std::vector<std::string>& hi = fields[pts[j].second];
          const std::optional<double> b = amount(hi[m]);
          if (!b) continue;
          if (best && pts[*best].first != pts[j].first) {
            const std::vector<std::string>& lo = fields[pts[*best].second];
            const double change = a == 0 ? 0 : (*b - a) / std::abs(a);
            if (change * *better < -kAnomalyTolerance) {
              notes[pts[j].second].push_back(fmt::format("{} {} -> {} makes {} {} -> {} ({:+.1f}%)",
                                                         *dir > 0 ? "more" : "less", lo[axis], hi[axis], h[m],
                                                         lo[m], hi[m], 100 * change));
            }
          }
          if (!best || (*b - a) * *better > 0) {
            best = j;
            a = *b;
          }
        }
      }
    }
  }
  std::vector<std::string> out;
  for (auto& [i, f] : fields) {
    if (auto it = notes.find(i); it != notes.end()) {
      std::string text;
      for (const std::string& n : it->second) text += (text.empty() ? "" : "; ") + n;
      f[anomaly_col] = text;
      out.push_back(fmt::format("point {}: {}", i, text));
    }
    rows[i] = csv_line(f);
  }
  return out;
}

}  // namespace bwsim
