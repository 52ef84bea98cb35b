#include "app/step_report.hpp"

#include <fmt/format.h>

#include "sim/json_out.hpp"
#include "sim/table.hpp"

namespace bwsim::app {

void print_step(std::ostream& out, const StepTiming& t) {
  TextTable tab(
      {"kernel", "shape", "launches", "us each", "us total", "share", "GHz", "W", "mJ total", "bound"},
      {TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
       TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
       TextTable::Align::kRight, TextTable::Align::kLeft});
  for (const StepKernel& k : t.kernels) {
    tab.add_row(
        {k.name, k.shape, std::to_string(k.launches), fmt::format("{:.2f}", k.us_each()),
         fmt::format("{:.1f}", k.us()), fmt::format("{:.1f}%", 100 * k.us() * 1e-6 / t.time.seconds()),
         fmt::format("{:.3f}", k.power_each.clock.ghz()), fmt::format("{:.0f}", k.power_each.watts()),
         fmt::format("{:.3f}", k.power_each.joules() * static_cast<double>(k.launches) * 1e3), k.bound});
  }
  out << tab.render();
  out << fmt::format("  energy {}\n", energy_text(t.power, t.flops));
}

boost::json::object step_json(const StepTiming& t) {
  boost::json::array ks;
  for (const StepKernel& k : t.kernels) {
    ks.push_back(dotted_object({{"name", k.name},
                                {"kind", k.kind},
                                {"shape", k.shape},
                                {"launches", k.launches},
                                {"us_each", k.us_each()},
                                {"us", k.us()},
                                {"bytes.hbm_each", k.hbm_bytes_each},
                                {"flops_each", k.flops_each},
                                {"power.clock_ghz", k.power_each.clock.ghz()},
                                {"power.limited_by", std::string(clock_limit_name(k.power_each.limit))},
                                {"power.energy_j_each", k.power_each.joules()},
                                {"power.avg_power_w", k.power_each.watts()},
                                {"bound", k.bound}}));
  }
  return dotted_object({{"batch", t.shape.batch},
                        {"q_len", t.shape.q_len},
                        {"context", t.shape.context},
                        {"time.us", t.time.seconds() * 1e6},
                        {"bytes.hbm", t.hbm_bytes},
                        {"flops", t.flops},
                        {"power", power_json(t.power, t.flops)},
                        {"kernels", std::move(ks)}});
}

}  // namespace bwsim::app
