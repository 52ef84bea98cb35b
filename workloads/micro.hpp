// Microbenchmarks: the published GPU microbenchmarks, written as small CTA programs and run
// through the full model, so a calibration test exercises the same code a workload does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "isa/mma_kind.hpp"
#include "models/hw_spec.hpp"

namespace bwsim {

struct MicroOptions {
  MmaKind kind = MmaKind::kF16;
  int m = 128;
  int n = 128;
  bool a_in_tmem = false;
  bool pair = false;
  uint32_t count = 256;            // MMAs (throughput), dependent loads (latency), reps
  bool copy = false;               // tma-bandwidth: copy (read + write) instead of read
  std::vector<uint64_t> inflight;  // tma-bandwidth: bytes in flight per SM (a sweep)
  uint64_t box_bytes = 16384;      // tma-bandwidth / l2-bandwidth box size
  uint64_t buffer_bytes = 0;       // 0: a size that suits the benchmark
  uint32_t cluster = 1;            // cta-occupancy: CTAs per cluster
  /// tma-bandwidth: runs of the stream back to back on one GPU, the last one timed (a benchmark's
  /// timing loop: each run pays the write-back of the dirty lines the one before left in L2)
  uint32_t repeat = 1;
};

/// One measurement: named values (stable metric names) in a row.
struct MicroRow {
  std::vector<std::pair<std::string, double>> values;
  [[nodiscard]] double at(const std::string& name) const;
};

struct MicroResult {
  std::string name;
  std::string description;
  std::vector<MicroRow> rows;
};

/// Names of the microbenchmarks, with one-line descriptions.
std::vector<std::pair<std::string, std::string>> micro_list();

/// Runs microbenchmark `name` on `hw` at its boost clock. Throws InputError for an unknown
/// name or options the GPU cannot run (e.g. a block-scaled kind on Hopper).
MicroResult run_micro(const std::string& name, const HwSpec& hw, const MicroOptions& o);

}  // namespace bwsim
