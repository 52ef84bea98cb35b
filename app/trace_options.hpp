// --trace FILE.json and its bounds, shared by gemm, attention and run.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "models/gpu_trace.hpp"
#include "models/power.hpp"
#include "sim/cli.hpp"
#include "sim/trace.hpp"

namespace bwsim::app {

struct TraceRequest {
  std::string path;
  TraceOptions options;
};

/// --trace, --trace-sms, --trace-max-events.
void add_trace_options(cli::po::options_description& desc);
/// The trace asked for, checked against the GPU (SMs that exist, a directory that does) before
/// anything runs; nullopt without --trace. Bounds without --trace are an error, not ignored.
std::optional<TraceRequest> trace_request(const cli::po::variables_map& vm, uint32_t sm_count);
/// The power and SM-clock counter tracks of one simulated workload recorded in `rec`: its average
/// power and clock from its first kernel's start, idle power after its last kernel.
void add_power_tracks(TraceDoc& doc, const GpuTrace& rec, const PowerReport& p, Power idle);
/// Adds the run's description to `doc`'s metadata, writes it (whole or not at all) and says so on `out`.
void write_trace(const TraceRequest& r, TraceDoc& doc, const std::string& command, const std::string& hw,
                 std::ostream& out);

}  // namespace bwsim::app
