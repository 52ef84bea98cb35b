#include "tests/fuzz/targets.hpp"

#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <unistd.h>

#include "isa/tensor_io.hpp"
#include "models/hw_spec.hpp"
#include "sim/errors.hpp"
#include "workloads/gemm/plan.hpp"
#include "workloads/sweep/results.hpp"
#include "workloads/sweep/spec.hpp"
#include "workloads/transformer/hf_import.hpp"
#include "workloads/transformer/model.hpp"
#include "workloads/transformer/scenario.hpp"

namespace bwsim::fuzz {
namespace {

namespace fs = std::filesystem;

// The file readers take paths: each input goes to a file of this process's own directory
// (removed at exit), named with the extension the reader expects.
class Scratch {
 public:
  Scratch() : dir_(fs::temp_directory_path() / fmt::format("bwsim-fuzz-{}", ::getpid())) {
    fs::create_directories(dir_);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  fs::path write(const uint8_t* data, size_t size, const char* name) const {
    const fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    return p;
  }

 private:
  fs::path dir_;
};

fs::path to_file(const uint8_t* data, size_t size, const char* name) {
  static const Scratch scratch;
  return scratch.write(data, size, name);
}

std::string text(const uint8_t* data, size_t size) { return {reinterpret_cast<const char*>(data), size}; }

void npy(const uint8_t* d, size_t n) { (void)read_npy(to_file(d, n, "input.npy")); }

void safetensors(const uint8_t* d, size_t n) {
  const fs::path f = to_file(d, n, "input.safetensors");
  for (const std::string& name : safetensors_names(f)) (void)read_safetensors(f, name);
}

void hf_config(const uint8_t* d, size_t n) { (void)import_hf_config(text(d, n), "fuzz"); }

void hw_toml(const uint8_t* d, size_t n) { (void)HwSpec::load(to_file(d, n, "hw.toml").string(), {}); }

void model_toml(const uint8_t* d, size_t n) { (void)load_model_toml(to_file(d, n, "model.toml")); }

void scenario_toml(const uint8_t* d, size_t n) {
  (void)load_scenario(to_file(d, n, "scenario.toml"), "", "", {}, {});
}

void sweep_toml(const uint8_t* d, size_t n) { (void)load_sweep_spec(to_file(d, n, "sweep.toml")); }

// `--set KEY=VALUE` on a hardware config.
void set_value(const uint8_t* d, size_t n) { (void)HwSpec::load("b200", {text(d, n)}); }

// `bwsim gemm --tile`.
void tile(const uint8_t* d, size_t n) { (void)parse_tile(text(d, n)); }

// A sweep's results CSV, as `sweep --resume`, `sweep-merge` and `plot` read it.
void sweep_csv(const uint8_t* d, size_t n) { (void)read_sweep_results(to_file(d, n, "results.csv")); }

constexpr std::array<NamedTarget, 10> kTargets{{
    {"npy", npy},
    {"safetensors", safetensors},
    {"hf_config", hf_config},
    {"hw_toml", hw_toml},
    {"model_toml", model_toml},
    {"scenario_toml", scenario_toml},
    {"sweep_toml", sweep_toml},
    {"set_value", set_value},
    {"tile", tile},
    {"sweep_csv", sweep_csv},
}};

}  // namespace

const NamedTarget* targets(size_t& count) {
  count = kTargets.size();
  return kTargets.data();
}

Target find_target(std::string_view name) {
  for (const NamedTarget& t : kTargets)
    if (t.name == name) return t.run;
  return nullptr;
}

void run_one(Target t, const uint8_t* data, size_t size) {
  try {
    t(data, size);
  } catch (const InputError&) {
    // Bad input, reported as such: what the reader must do.
  }
}

}  // namespace bwsim::fuzz
