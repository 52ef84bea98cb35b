#include "sim/cli.hpp"

#include <fmt/format.h>

#include <exception>
#include <iostream>

#include "sim/errors.hpp"
#include "sim/json_out.hpp"

namespace bwsim::cli {
namespace {

void print_overview(std::ostream& os, std::span<const Command> commands, const std::string& version) {
  os << fmt::format("bwsim {} - cycle-approximate simulator of Blackwell-class GPUs\n\n", version);
  os << "usage: bwsim <command> [options]    (bwsim <command> --help for its options)\n\ncommands:\n";
  size_t w = 0;
  for (const auto& c : commands) w = std::max(w, c.name.size());
  for (const auto& c : commands) os << fmt::format("  {:<{}}  {}\n", c.name, w, c.summary);
}

const Command* find_command(std::span<const Command> commands, std::string_view name) {
  for (const auto& c : commands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Boost.Program_options reads "-1" into an unsigned option as 2^64 - 1 (lexical_cast wraps);
// a negative count or seed is a mistake to report, not a huge number to use.
void reject_negative_unsigned(const po::options_description& desc, const po::parsed_options& parsed) {
  for (const po::option& o : parsed.options) {
    const po::option_description* d = desc.find_nothrow(o.string_key, false);
    if (d == nullptr) continue;
    const po::value_semantic* v = d->semantic().get();
    const bool is_unsigned = dynamic_cast<const po::typed_value<uint64_t>*>(v) != nullptr ||
                             dynamic_cast<const po::typed_value<uint32_t>*>(v) != nullptr;
    if (!is_unsigned) continue;
    for (const std::string& token : o.value) {
      if (token.find('-') != std::string::npos)
        throw InputError(fmt::format("--{} {}: expected a non-negative integer", o.string_key, token));
    }
  }
}

int run_command(const Command& cmd, const std::vector<std::string>& args) {
  po::options_description desc(fmt::format("usage: {}\n\n{}\n\noptions", cmd.usage, cmd.summary), 100);
  desc.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  if (cmd.add_options) cmd.add_options(desc, pos);
  po::variables_map vm;
  try {
    const po::parsed_options parsed = po::command_line_parser(args).options(desc).positional(pos).run();
    reject_negative_unsigned(desc, parsed);
    po::store(parsed, vm);
    if (vm.count("help") != 0) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(fmt::format("{} (see bwsim {} --help)", e.what(), cmd.name));
  }
  return cmd.run(vm);
}

}  // namespace

int main(int argc, const char* const* argv, std::span<const Command> commands, const std::string& version) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_overview(std::cerr, commands, version);
    return 2;
  }
  const std::string name = args.front();
  if (name == "--help" || name == "-h" || name == "help") {
    print_overview(std::cout, commands, version);
    return 0;
  }
  const Command* cmd = find_command(commands, name == "--version" ? "version" : name);
  if (cmd == nullptr) {
    std::cerr << fmt::format("bwsim: error: unknown command '{}'\n\n", name);
    print_overview(std::cerr, commands, version);
    return 2;
  }
  args.erase(args.begin());
  try {
    return run_command(*cmd, args);
  } catch (const InputError& e) {
    std::cerr << fmt::format("bwsim {}: error: {}\n", cmd->name, e.what());
    return 2;
  } catch (const DeadlockError& e) {
    std::cerr << fmt::format("bwsim {}: simulation stuck: {}\n", cmd->name, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::cerr << fmt::format("bwsim {}: internal error: {}\n", cmd->name, e.what());
    return 1;
  }
}

std::ostream& text_out(const po::variables_map& vm) {
  static std::ostream null_stream(nullptr);  // a stream without a buffer discards everything
  if (vm.count("json") != 0 && vm["json"].as<std::string>() == "-") return null_stream;
  return std::cout;
}

void write_json_option(const po::variables_map& vm, const boost::json::value& doc) {
  if (vm.count("json") == 0) return;
  const auto& target = vm["json"].as<std::string>();
  const std::string text = to_json_text(doc);
  if (target == "-") {
    std::cout << text;
  } else {
    write_file_atomic(target, text, "--json");
  }
}

}  // namespace bwsim::cli
