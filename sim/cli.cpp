#include "sim/cli.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <iostream>
#include <type_traits>

#include <unistd.h>

#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/provenance.hpp"
#include "sim/strings.hpp"

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

// The placeholder a value prints in help: the option's own where it has one, else its type's.
std::string placeholder(const std::string& option, const po::value_semantic* v) {
  static const std::vector<std::pair<std::vector<std::string_view>, std::string>> by_name{
      {{"hw", "model", "scenario"}, "NAME|FILE"},
      {{"json", "output", "trace", "d", "in"}, "FILE"},
      {{"a", "b"}, "SPEC"},
      {{"set", "hw-set", "model-set"}, "KEY=VALUE"},
      {{"format", "weights", "kv-format", "lm-head", "embedding", "activations", "formats"}, "FORMAT"},
      {{"tile"}, "TILE"},
      {{"l2-flush", "max-memory"}, "BYTES"},
  };
  for (const auto& [names, text] : by_name) {
    if (std::find(names.begin(), names.end(), option) != names.end()) return text;
  }
  if (dynamic_cast<const po::typed_value<double>*>(v) != nullptr) return "NUM";
  if (dynamic_cast<const po::typed_value<std::string>*>(v) != nullptr ||
      dynamic_cast<const po::typed_value<std::vector<std::string>>*>(v) != nullptr)
    return "TEXT";
  return "INT";
}

// Help that reads like the usage lines: `--m INT (=1)`, `--alpha NUM (=0.9)`, not `arg` and
// 0.90000000000000002. Boost keeps both in the option's value semantic, which the command built
// (it is not const; only the accessor is).
template <class T>
bool name_value(const po::option_description& o) {
  auto* v = const_cast<po::typed_value<T>*>(dynamic_cast<const po::typed_value<T>*>(o.semantic().get()));
  if (v == nullptr) return false;
  v->value_name(placeholder(o.long_name(), v));
  boost::any def;
  if constexpr (std::is_same_v<T, double>) {
    if (v->apply_default(def))
      v->default_value(boost::any_cast<double>(def), fmt::format("{}", boost::any_cast<double>(def)));
  }
  return true;
}

void name_values(const po::options_description& desc) {
  for (const auto& o : desc.options()) {
    name_value<std::string>(*o) || name_value<std::vector<std::string>>(*o) || name_value<double>(*o) ||
        name_value<int>(*o) || name_value<int64_t>(*o) || name_value<uint32_t>(*o) ||
        name_value<uint64_t>(*o) || name_value<std::vector<int64_t>>(*o) ||
        name_value<std::vector<uint64_t>>(*o);
  }
}

void print_help(std::ostream& os, const po::options_description& desc,
                const po::positional_options_description& pos) {
  os << desc;
  for (unsigned i = 0; i < pos.max_total_count() && i < 4; ++i) {
    const std::string& name = pos.name_for_position(i);
    if (i == 0 || name != pos.name_for_position(i - 1))
      os << fmt::format("  (--{} may also be given without its name{})\n", name,
                        pos.max_total_count() > 1 && i + 1 == pos.max_total_count() ? "" : ", in that place");
  }
  os << "\n";
}

// Every long option name of `desc`, as typed ("--json").
std::vector<std::string> option_names(const po::options_description& desc) {
  std::vector<std::string> names;
  for (const auto& o : desc.options()) names.push_back("--" + o->long_name());
  return names;
}

po::options_description command_options(const Command& cmd, po::positional_options_description& pos) {
  po::options_description desc(fmt::format("usage: {}\n\n{}\n\noptions", cmd.usage, cmd.summary), 100);
  desc.add_options()("help,h", "show this help");
  if (cmd.add_options) cmd.add_options(desc, pos);
  // Global: every command takes -q and -v (those with a progress bar declare --quiet themselves).
  if (desc.find_nothrow("quiet", false) == nullptr)
    desc.add_options()("quiet,q", "print nothing on stderr but errors");
  desc.add_options()("verbose,v",
                     "say on stderr which bwsim this is (version, commit) and where its configs are");
  name_values(desc);
  return desc;
}

int run_command(const Command& cmd, const std::vector<std::string>& args, const std::string& version) {
  po::positional_options_description pos;
  const po::options_description desc = command_options(cmd, pos);
  po::variables_map vm;
  try {
    // No prefix guessing: `--form bf16` is refused, not silently read as `--format bf16`.
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    const po::parsed_options parsed =
        po::command_line_parser(args).options(desc).positional(pos).style(style).run();
    reject_negative_unsigned(desc, parsed);
    po::store(parsed, vm);
    if (vm.count("help") != 0) {
      print_help(std::cout, desc, pos);
      return 0;
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    const std::string typed = e.get_option_name();
    const std::string near = closest(typed, option_names(desc));
    throw InputError(fmt::format("unrecognised option '{}'{} (see bwsim {} --help)", typed,
                                 near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), cmd.name));
  } catch (const po::error& e) {
    throw InputError(fmt::format("{} (see bwsim {} --help)", e.what(), cmd.name));
  }
  if (vm.count("verbose") != 0) std::cerr << fmt::format("bwsim {}: {}\n", cmd.name, version);
  // Every output path is checked before anything runs: a long simulation must not end in
  // "cannot write".
  for (const char* flag : {"json", "trace", "output", "d"}) {
    if (vm.count(flag) == 0) continue;
    const auto* path = boost::any_cast<std::string>(&vm[flag].value());
    if (path != nullptr && *path != "-") check_output_path(*path, std::string("--") + flag);
  }
  return cmd.run(vm);
}

std::vector<std::string> command_names(std::span<const Command> commands) {
  std::vector<std::string> names;
  for (const auto& c : commands) names.push_back(c.name);
  return names;
}

int unknown_command(std::span<const Command> commands, const std::string& name) {
  const std::string near = closest(name, command_names(commands));
  std::cerr << fmt::format("bwsim: error: unknown command '{}'{}\n\n", name,
                           near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near));
  return 2;
}

// The command's --seed, if it has one, in the provenance record.
void note_seed_option(const po::variables_map& vm) {
  if (vm.count("seed") == 0) return;
  const boost::any& v = vm["seed"].value();
  if (const auto* u = boost::any_cast<uint64_t>(&v)) provenance::note_seed("--seed", *u);
  if (const auto* u = boost::any_cast<uint32_t>(&v)) provenance::note_seed("--seed", *u);
  if (const auto* i = boost::any_cast<int64_t>(&v))
    provenance::note_seed("--seed", static_cast<uint64_t>(*i));
  if (const auto* i = boost::any_cast<int>(&v)) provenance::note_seed("--seed", static_cast<uint64_t>(*i));
}

}  // namespace

int main(int argc, const char* const* argv, std::span<const Command> commands, const std::string& version,
         const std::string& long_version) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_overview(std::cerr, commands, version);
    return 2;
  }
  const std::string name = args.front();
  if (name == "--help" || name == "-h" || (name == "help" && args.size() == 1)) {
    print_overview(std::cout, commands, version);
    return 0;
  }
  if (name == "help") {  // bwsim help CMD: that command's options
    const Command* cmd = find_command(commands, args[1]);
    if (cmd == nullptr) return unknown_command(commands, args[1]);
    po::positional_options_description pos;
    print_help(std::cout, command_options(*cmd, pos), pos);
    return 0;
  }
  const Command* cmd = find_command(commands, name == "--version" ? "version" : name);
  if (cmd == nullptr) {
    const int rc = unknown_command(commands, name);
    print_overview(std::cerr, commands, version);
    return rc;
  }
  args.erase(args.begin());
  try {
    return run_command(*cmd, args, long_version);
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

void check_output_path(const std::filesystem::path& path, std::string_view flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(fmt::format("{} {}: is a directory", flag, path.string()));
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw InputError(fmt::format("{} {}: no such directory '{}'", flag, path.string(), dir.string()));
  if (::access(dir.c_str(), W_OK) != 0)
    throw InputError(fmt::format("{} {}: cannot write in '{}'", flag, path.string(), dir.string()));
  if (fs::exists(path, ec) && ::access(path.c_str(), W_OK) != 0)
    throw InputError(fmt::format("{} {}: exists and is not writable", flag, path.string()));
}

void write_provenance_sidecar(const std::filesystem::path& file) {
  std::filesystem::path side = file;
  side += ".provenance.json";
  boost::json::object o = provenance::to_json();
  o["describes"] = file.filename().string();
  write_file_atomic(side, to_json_text(o), "provenance");
}

std::ostream& text_out(const po::variables_map& vm) {
  static std::ostream null_stream(nullptr);  // a stream without a buffer discards everything
  if (vm.count("json") != 0 && vm["json"].as<std::string>() == "-") return null_stream;
  return std::cout;
}

void write_json_option(const po::variables_map& vm, const boost::json::value& doc) {
  if (vm.count("json") == 0) return;
  const auto& target = vm["json"].as<std::string>();
  note_seed_option(vm);
  std::string text;
  if (doc.is_object() && !doc.as_object().contains("provenance")) {
    boost::json::object o = doc.as_object();
    o["provenance"] = provenance::to_json();
    text = to_json_text(o);
  } else {
    text = to_json_text(doc);
  }
  if (target == "-") {
    std::cout << text;
  } else {
    write_file_atomic(target, text, "--json");
  }
}

}  // namespace bwsim::cli
