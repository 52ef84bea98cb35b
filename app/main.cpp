#include <array>

#include "app/commands.hpp"
#include "app/version.hpp"

int main(int argc, char** argv) {
  bwsim::provenance::set_build(bwsim::app::build_info());
  bwsim::provenance::set_command_line(argc, argv);
  const std::array commands{
      bwsim::app::info_command(),      bwsim::app::formats_command(),  bwsim::app::quantize_command(),
      bwsim::app::calibrate_command(), bwsim::app::micro_command(),    bwsim::app::gemm_command(),
      bwsim::app::compare_command(),   bwsim::app::rope_command(),     bwsim::app::attention_command(),
      bwsim::app::model_command(),     bwsim::app::numerics_command(), bwsim::app::run_command(),
      bwsim::app::serve_command(),     bwsim::app::sweep_command(),    bwsim::app::sweep_merge_command(),
      bwsim::app::plot_command(),      bwsim::app::validate_command(), bwsim::app::list_command(),
      bwsim::app::version_command()};
  return bwsim::cli::main(argc, argv, commands, BWSIM_VERSION, bwsim::app::long_version());
}
