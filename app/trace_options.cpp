#include "app/trace_options.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "app/version.hpp"
#include "sim/errors.hpp"
#include "sim/units.hpp"

namespace bwsim::app {

void add_trace_options(cli::po::options_description& desc) {
  desc.add_options()(
      "trace", cli::po::value<std::string>(),
      "write a Chrome trace-event JSON timeline to FILE (open it in ui.perfetto.dev): kernels, "
      "CTAs per SM, TMA/MMA/epilogue phases, HBM and L2 bandwidth, power and SM clock")(
      "trace-sms", cli::po::value<std::string>()->default_value("all"),
      "SMs that get per-SM detail in the trace: all, or a list such as 0-7,64")(
      "trace-max-events", cli::po::value<uint64_t>()->default_value(800000),
      "per-SM detail spans kept in the trace (about 100 bytes each: the default keeps a trace near 80 MB); "
      "beyond it detail is dropped and counted");
}

std::optional<TraceRequest> trace_request(const cli::po::variables_map& vm, uint32_t sm_count) {
  if (vm.count("trace") == 0) {
    for (const char* flag : {"trace-sms", "trace-max-events"}) {
      if (vm.count(flag) != 0 && !vm[flag].defaulted())
        throw InputError(fmt::format("--{} bounds a trace: it needs --trace FILE.json", flag));
    }
    return std::nullopt;
  }
  TraceRequest r;
  r.path = vm["trace"].as<std::string>();
  if (r.path.empty() || r.path == "-") throw InputError("--trace: give a file name (the trace can be large)");
  const std::filesystem::path dir = std::filesystem::absolute(r.path).parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw InputError(fmt::format("--trace {}: directory {} does not exist", r.path, dir.string()));
  if (std::filesystem::is_directory(r.path, ec))
    throw InputError(fmt::format("--trace {}: is a directory; give a file name", r.path));
  r.options.sms = parse_sm_list(vm["trace-sms"].as<std::string>(), sm_count, "--trace-sms");
  r.options.max_events = vm["trace-max-events"].as<uint64_t>();
  if (r.options.max_events == 0) throw InputError("--trace-max-events 0: must be at least 1");
  return r;
}

void add_power_tracks(TraceDoc& doc, const GpuTrace& rec, const PowerReport& p, Power idle) {
  const auto& ks = rec.kernels();
  if (ks.empty()) return;
  const uint32_t gpu = doc.process("GPU", 0);
  trace_power(doc, gpu, p, ks.front().start);
  trace_idle_power(doc, gpu, idle, ks.back().end);
}

void write_trace(const TraceRequest& r, TraceDoc& doc, const std::string& command, const std::string& hw,
                 std::ostream& out) {
  doc.metadata("generator", json_quote(fmt::format("bwsim {}", BWSIM_VERSION)));
  doc.metadata("command", json_quote(command));
  doc.metadata("hw", json_quote(hw));
  doc.write(r.path, "--trace");
  out << fmt::format("\nwrote trace {} ({} events, {}{}); open it in ui.perfetto.dev\n", r.path, doc.events(),
                     format_si(static_cast<double>(doc.bytes()), "B", 3),
                     doc.dropped() > 0
                         ? fmt::format(", {} detail spans dropped past --trace-max-events", doc.dropped())
                         : "");
}

}  // namespace bwsim::app
