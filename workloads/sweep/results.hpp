// A sweep's results file: CSV, one header line, one line per point:
//   point,status,<axis keys...>,<metric names...>,error
// Lines are appended and flushed as points finish (in any order), and the finished file is
// rewritten sorted by point, so its bytes do not depend on -j, on ranks, or on interruptions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/sweep/point.hpp"
#include "workloads/sweep/spec.hpp"

namespace bwsim {

/// One CSV line (newline included); fields quoted where they need it, line breaks flattened.
std::string csv_line(const std::vector<std::string>& fields);
/// Splits one CSV line (no newline). Returns false on unbalanced quotes.
bool parse_csv_line(std::string_view line, std::vector<std::string>& fields);

/// The header line of a spec's results.
std::string sweep_header(const SweepSpec& spec);
/// The line of a finished point.
std::string sweep_row(const SweepPoint& point, const PointResult& r);

/// A results file as read back: its header line and its rows by point index (lines, newline
/// included). A last line cut off by an interruption is dropped (torn_tail).
struct SweepResults {
  std::string header;
  std::map<uint64_t, std::string> rows;
  bool torn_tail = false;
};
/// Throws InputError naming the file and line for anything but a well-formed results file
/// (a duplicate point with different contents included).
SweepResults read_sweep_results(const std::filesystem::path& file);
/// Checks that `r` was written by this sweep: the same header, and every row's axis values
/// those of the same point in `points` (else InputError: the spec changed).
void check_sweep_results(const SweepResults& r, const std::filesystem::path& file, const std::string& header,
                         const std::vector<SweepPoint>& points);

/// Writes header + rows (in index order) to `file` through a temporary file and a rename, so
/// the file is never half-written.
void write_sweep_results(const std::filesystem::path& file, const std::string& header,
                         const std::map<uint64_t, std::string>& rows);

}  // namespace bwsim
