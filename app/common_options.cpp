#include "app/commands.hpp"

namespace bwsim::app {

void add_hw_options(cli::po::options_description& desc) {
  desc.add_options()("hw", cli::po::value<std::string>()->default_value("b200"),
                     "hardware config: a TOML file, or a name from configs/hw (b200, h100, ...)")(
      "set", cli::po::value<std::vector<std::string>>()->composing(),
      "override a config key, e.g. --set hbm.bandwidth=\"12 TB/s\" (repeatable)");
}

void add_json_option(cli::po::options_description& desc) {
  desc.add_options()("json", cli::po::value<std::string>(),
                     "also write machine-readable results to FILE (- for stdout)");
}

void add_progress_option(cli::po::options_description& desc) {
  desc.add_options()("quiet,q", "no progress bar on stderr (one is drawn on a terminal after 2 s)");
}

void add_l2_flush_option(cli::po::options_description& desc) {
  desc.add_options()("l2-flush", cli::po::value<std::string>(),
                     "time the kernel after a write of this many bytes, as a benchmark that flushes L2 "
                     "by writing a buffer does (triton's do_bench: \"256 MiB\"): it starts with those "
                     "dirty lines in L2 and writes them back");
}

uint64_t l2_flush(const cli::po::variables_map& vm) {
  if (vm.count("l2-flush") == 0) return 0;
  const std::string& text = vm["l2-flush"].as<std::string>();
  return parse_flag("--l2-flush", text, [&] { return parse_byte_size(text); }).bytes;
}

void add_sampling_options(cli::po::options_description& desc, const std::string& doc) {
  desc.add_options()("sampling", cli::po::value<std::string>()->default_value("auto"), doc.c_str())(
      "exact", "the same as --sampling off: simulate everything, extrapolate nothing");
}

bool sampling_flag(const cli::po::variables_map& vm) {
  const auto& sampling = vm["sampling"].as<std::string>();
  if (sampling != "auto" && sampling != "off")
    throw InputError(fmt::format("--sampling {}: expected auto or off", sampling));
  if (vm.count("exact") != 0 && !vm["sampling"].defaulted() && sampling == "auto")
    throw InputError("--exact and --sampling auto contradict each other: give one");
  return sampling == "auto" && vm.count("exact") == 0;
}

ProgressBar::ProgressBar(const cli::po::variables_map& vm) {
  if (vm.count("quiet") != 0 || !progress::StderrBar::wanted()) return;
  bar_ = std::make_unique<progress::StderrBar>();
  progress::listen(bar_.get());
}

ProgressBar::~ProgressBar() {
  if (bar_) progress::listen(nullptr);
}

}  // namespace bwsim::app
