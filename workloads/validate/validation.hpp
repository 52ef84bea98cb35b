// Validation against measured hardware: published kernel measurements (one TOML file per source
// under validation/), each re-run through the model and compared with what the GPU did.
//
// A point names the configured GPU it ran on, what ran (a GEMM, an attention layer, a memory
// stream) and the measured value with its unit: a time, a FLOP rate or a bandwidth. The model's
// prediction is the same quantity (a GEMM's FLOP rate is 2MNK over its simulated time; an
// attention point must give a time, since benchmarks count causal FLOPs differently). A point
// the model cannot run yet carries `skip = "why"` and is listed, never silently dropped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/units.hpp"
#include "workloads/attention/attention.hpp"
#include "workloads/gemm/plan.hpp"

namespace bwsim {

/// What a point checks: a kernel's speed (gemm, attention, memory), the clock the power governor
/// holds or the power a kernel draws (power: a GEMM or an attention layer, `workload`, with a
/// measured clock or power), or a serving run's throughput (serving: a scenario's traffic through
/// bwsim serve, with a measured output token rate).
enum class ValidationGroup { kGemm, kAttention, kMemory, kPower, kServing };
std::string_view validation_group_name(ValidationGroup g);
/// "gemm", "attention", "memory", "power", "serving"; nullopt otherwise.
std::optional<ValidationGroup> parse_validation_group(std::string_view name);

/// A memory point: a streaming kernel over `bytes` (read; copy: read `bytes` and write as many,
/// the bandwidth counting both, as STREAM's copy and torch's copy_ report it).
enum class StreamPattern { kRead, kCopy };

struct ValidationSource {
  std::string name;  // the file's stem
  std::string file;  // path as found
  std::string title;
  std::string url;  // with the commit or date that pins it
  /// How the source timed: the kernel alone (a profiler, CUDA events around one launch), or a
  /// mean over launches back to back (one event pair around a loop: each iteration includes the
  /// GPU's launch-to-launch gap, launch.gap, which the prediction then adds).
  bool loop_timed = false;
  /// Bytes the benchmark writes right before each timed call to flush L2 (triton's do_bench and
  /// cudnn-frontend zero a 256 MiB buffer): the kernel starts with that buffer's dirty lines in
  /// L2 and pays for writing them back (L2Start). 0: no such flush.
  uint64_t l2_flush = 0;
};

struct ValidationPoint {
  std::string id;     // unique across the set
  std::string where;  // "validation/x.toml:12"
  size_t source = 0;  // index into ValidationSet::sources
  ValidationGroup group = ValidationGroup::kGemm;
  std::string hw;                   // configured GPU (configs/hw name)
  std::vector<std::string> hw_set;  // the GPU as it ran, where not stock ("power.limit=\"400 W\"")
  std::string gpu;                  // the GPU as the source names it
  std::string library;              // what ran, with its version where known
  std::string what;                 // a short label for reports ("fp8 4096x4096x4096")
  bool loop_timed = false;          // the source's timing (ValidationSource::loop_timed)
  uint64_t l2_flush = 0;            // bytes written to flush L2 before each call (ValidationSource)
  bool is_attention = false;        // attention points, and power points whose workload is attention
  GemmProblem gemm;
  AttentionProblem attention;
  StreamPattern pattern = StreamPattern::kCopy;
  uint64_t bytes = 0;
  // serving: a scenario (resolved path), the model replacing its own (empty: its own) and its
  // overrides ("traffic.prompt=1000"), as bwsim serve --model / --set take them.
  std::string scenario;
  std::string model;
  std::vector<std::string> sets;
  Measured measured;
  std::string measured_text;  // as written
  std::string skip;           // non-empty: not run, and why
  std::string locator, quote, conditions;
};

struct ValidationSet {
  std::vector<ValidationSource> sources;
  std::vector<ValidationPoint> points;
};

/// Reads every *.toml under `dir` (sorted by name), or one file. Throws InputError naming the
/// file and line for a malformed file, an unknown key, an unknown GPU, format or unit, a shape
/// the kernel cannot run, a duplicate id or a point without a source locator and quote.
ValidationSet load_validation_set(const std::filesystem::path& dir_or_file);

struct ValidationFilter {
  std::optional<ValidationGroup> only;
  std::vector<ValidationGroup> skip;  // groups left out
  std::string hw;                     // empty: all
  std::string source;                 // empty: all
  std::string format;  // GEMM points in this format only (bf16, fp8, nvfp4, ...); empty: all points
};
/// The points the filter keeps, in set order (skipped ones included).
std::vector<const ValidationPoint*> select_points(const ValidationSet& set, const ValidationFilter& f);

struct ValidationResult {
  const ValidationPoint* point = nullptr;
  bool ran = false;
  double predicted = 0;  // canonical unit of point->measured.kind
  double error = 0;      // predicted speed / measured speed - 1 (a time's speed is its inverse):
                         // + is faster than the hardware; a power point: predicted / measured - 1
                         // (+: a higher clock, more watts)
  std::string detail;    // the plan or kernel the model chose
  std::string failure;   // set when the model could not run it (never for a loaded point)
};

/// Runs the points on `jobs` threads; results in the order given (a skipped point comes back at
/// once, not run). `progress` (may be empty) is called with each result as it is done.
/// `overrides` ("key=value", as --set) apply to every point's hardware config.
ValidationResult run_validation_point(const ValidationPoint& p,
                                      const std::vector<std::string>& overrides = {});
std::vector<ValidationResult> run_validation(
    const std::vector<const ValidationPoint*>& points, unsigned jobs,
    const std::function<void(const ValidationResult&)>& progress = {},
    const std::vector<std::string>& overrides = {});

/// Error statistics of a group of results (those that ran).
struct ErrorSummary {
  std::string name;
  size_t points = 0;
  double mape = 0;   // mean |error|
  double bias = 0;   // mean error (positive: the model is faster than the hardware)
  double worst = 0;  // |error| of the worst point
  std::string worst_id;
};
ErrorSummary summarize(const std::string& name, const std::vector<const ValidationResult*>& results);

}  // namespace bwsim
