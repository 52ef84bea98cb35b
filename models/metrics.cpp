#include "models/metrics.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace bwsim {

void KernelMetrics::derive_throughput() {
  const double s = time.seconds();
  tflops = s > 0 ? flops / s * 1e-12 : 0;
  pct_of_peak = peak_tflops > 0 ? 100 * tflops / peak_tflops : 0;
}

std::string classify_bound(const Utilization& u, double tail) {
  const std::array<std::pair<const char*, double>, 6> c{{{"tensor pipe", u.tensor},
                                                         {"SMEM", u.smem},
                                                         {"L2", u.l2},
                                                         {"HBM", u.hbm},
                                                         {"MUFU (exp2)", u.mufu},
                                                         {"FMA pipe", u.fma}}};
  const auto* best = &c[0];
  for (const auto& x : c) {
    if (x.second > best->second) best = &x;
  }
  if (best->second >= kBoundThreshold) {
    if (best != &c[0]) return best->first;
    // The tensor pipe is the busiest: by its math, or by waiting for its operands from SMEM.
    return u.tensor_math >= kBoundThreshold ? "tensor pipe" : "SMEM (MMA operand fetch)";
  }
  if (tail > 0.25) return "tail";
  return "latency/occupancy";
}

std::string utilization_text(const Utilization& u) {
  return fmt::format(
      "tensor {:.0f}% busy ({:.0f}% math), SMEM {:.0f}%, L2 {:.0f}%, HBM {:.0f}%, MUFU {:.0f}%, "
      "FMA {:.0f}% busy",
      100 * u.tensor, 100 * u.tensor_math, 100 * u.smem, 100 * u.l2, 100 * u.hbm, 100 * u.mufu, 100 * u.fma);
}

boost::json::object kernel_metrics_json(const KernelMetrics& m) {
  boost::json::object j;
  j["time"] = {{"us", m.time.seconds() * 1e6}, {"ps", m.time.ps()}, {"sm_cycles", m.sm_cycles}};
  j["throughput"] = {{"flops", m.flops},
                     {"tflops", m.tflops},
                     {"peak_tflops", m.peak_tflops},
                     {"pct_of_peak", m.pct_of_peak}};
  j["bytes"] = {
      {"hbm", {{"read", m.hbm_read}, {"write", m.hbm_write}, {"total", m.hbm_read + m.hbm_write}}},
      {"l2", {{"read", m.l2_read}, {"write", m.l2_write}, {"hit", m.l2_hit}, {"hit_rate", m.l2_hit_rate()}}},
      {"smem", m.smem}};
  j["util"] = {{"tensor", m.util.tensor}, {"tensor_math", m.util.tensor_math},
               {"smem", m.util.smem},     {"l2", m.util.l2},
               {"hbm", m.util.hbm},       {"mufu", m.util.mufu},
               {"fma", m.util.fma}};
  j["bound"] = m.bound;
  j["bound_detail"] = m.bound_detail;
  if (m.power.seconds > 0) j["power"] = power_json(m.power, m.flops);
  return j;
}

}  // namespace bwsim
