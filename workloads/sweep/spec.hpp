// A sweep: a base job (one GEMM, or a serving scenario) and axes over its config keys, expanded
// into points as a grid, a zip, or seeded random samples.
//
//   name = "hbm-x-format"
//   kind = "run"                       # run | serve | gemm
//   mode = "grid"                      # grid | zip | random (samples = N, seed = S)
//   [run]  scenario = "llama70b-nvfp4-b200"
//          set = ["serving.output=64"]  hw_set = ["hbm.bandwidth=\"8 TB/s\""]   (optional)
//   [serve] the same keys as [run]: each point runs bwsim serve on the scenario (an axis over
//          traffic.rate gives a throughput-latency curve)
//   [gemm] m = 64  n = 8192  k = 8192  format = "nvfp4"  hw = "b200"   (and out, tile, clock,
//          functional = "off" | "sample:N", seed, hw_set)
//   [[axis]] key = "hw.hbm.bandwidth"  values = ["4 TB/s", "8 TB/s"]
//   [[axis]] key = "hw.sm.count"  from = 100  to = 160  steps = 4  integer = true
//   [[axis]] key = "hw.hbm.bandwidth"  from = 4  to = 16  steps = 4  scale = "log"  unit = "TB/s"
//
// Key paths: "hw" (the GPU's name or file) and "hw.<key>" (any hardware key) for both kinds;
// "gemm.<key>" for a GEMM; for a scenario any of its keys ("serving.concurrency", "tp",
// "mtp.drafts", "model", ...), with "quant.<key>" short for "quantization.<key>" and
// "scenario.<key>" for "<key>".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sim/config.hpp"

namespace bwsim {

/// The most points a sweep may have: they are listed (and their rows held) before and while it
/// runs, and a larger study is better split into several sweeps.
inline constexpr uint64_t kMaxSweepPoints = 1000000;

enum class SweepKind { kGemm, kRun, kServe };
/// "gemm", "run" or "serve".
std::string_view sweep_kind_name(SweepKind k);
enum class SweepMode { kGrid, kZip, kRandom };

struct SweepAxis {
  std::string key;
  std::string where;                 // "spec.toml:12", for messages
  std::vector<ConfigScalar> values;  // explicit values, or a range's grid
  // A range: sampled continuously in random mode, `steps` points (ends included) otherwise.
  bool range = false;
  double from = 0;
  double to = 0;
  bool log = false;
  bool integer = false;
  std::string unit;  // appended to each value ("TB/s"), making it a quantity string
  [[nodiscard]] ConfigScalar value_at(double x) const;  // a range's value at x in [from, to]
};

/// A GEMM sweep's base job (the [gemm] table), as a point sees it after its overrides.
struct GemmJob {
  int64_t m = 0, n = 0, k = 0;
  std::string format = "nvfp4";
  std::string out = "bf16";
  std::string tile;  // "" = the planner's pick
  std::string clock = "sustained";
  std::string hw = "b200";
  std::string functional = "off";  // or "sample:N"
  uint64_t seed = 1;
};

struct SweepSpec {
  std::filesystem::path file;
  std::string name;
  SweepKind kind = SweepKind::kGemm;
  SweepMode mode = SweepMode::kGrid;
  uint64_t samples = 0;
  uint64_t seed = 1;
  std::vector<SweepAxis> axes;
  ConfigTree tree;                         // the whole spec: a GEMM point reads its [gemm] table from it
  std::string scenario;                    // run, serve: the base scenario's file
  GemmJob gemm;                            // gemm: the base job
  std::vector<std::string> base_sets;      // run: scenario overrides every point starts from
  std::vector<std::string> base_hw_sets;   // hardware overrides every point starts from
  [[nodiscard]] std::string text() const;  // one line: name, kind, mode, axes
};

struct SweepPoint {
  uint64_t index = 0;
  std::vector<ConfigScalar> values;  // one per axis
};

/// Reads and checks a spec (unknown keys, empty axes, mismatched zip lengths). Throws InputError.
SweepSpec load_sweep_spec(const std::filesystem::path& file);
/// The same from a tree (a spec with a point's overrides applied).
SweepSpec read_sweep_spec(const ConfigTree& tree, const std::filesystem::path& file);
/// Every point, in index order.
std::vector<SweepPoint> sweep_points(const SweepSpec& spec);

}  // namespace bwsim
