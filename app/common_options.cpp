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
  desc.add_options()("quiet", "no progress bar on stderr (one is drawn on a terminal after 2 s)");
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
