#include "sim/config.hpp"

#include <fmt/format.h>

#include <toml.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "sim/errors.hpp"
#include "sim/strings.hpp"

#ifndef BWSIM_SOURCE_CONFIG_DIR
#define BWSIM_SOURCE_CONFIG_DIR "configs"
#endif

namespace bwsim {

namespace fs = std::filesystem;
using Node = toml::basic_value<toml::discard_comments, std::map, std::vector>;
using Table = Node::table_type;

struct ConfigTree::Impl {
  Node root = Table{};
  std::string name;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Locations

constexpr std::string_view kUnknownFile = "unknown file";

std::string where(const Node& n, const std::string& fallback) {
  const toml::source_location loc = n.location();
  const std::string& file = loc.file_name();
  if (file.empty() || file == kUnknownFile) return fallback;
  if (file.starts_with("--")) return file;  // a command-line override names its flag
  return fmt::format("{}:{}", file, loc.line());
}

std::string join(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

// ---------------------------------------------------------------------------------------------
// Loading

// The first byte of `text` that does not begin a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points past U+10FFFF included), or npos. toml11 3.7 reads past the end of
// its buffer on some invalid sequences inside strings, so text is checked before it sees it.
size_t invalid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return i;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= text.size()) return i;
      const auto d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3Fu);
    }
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

Node parse_stream(std::istream& in, const std::string& name) {
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (const size_t bad = invalid_utf8(text); bad != std::string_view::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    throw InputError(fmt::format("{}:{}: invalid TOML: not UTF-8 (byte 0x{:02X})", name, line,
                                 static_cast<unsigned char>(text[bad])));
  }
  std::istringstream checked(text);
  try {
    return toml::parse<toml::discard_comments, std::map, std::vector>(checked, name);
  } catch (const toml::exception& e) {
    throw InputError(
        fmt::format("{}:{}: invalid TOML\n{}", e.location().file_name(), e.location().line(), e.what()));
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: invalid TOML: {}", name, e.what()));
  }
}

Node parse_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open config file", file.string()));
  return parse_stream(in, file.string());
}

void merge_into(Node& dst, const Node& src) {
  Table& dt = dst.as_table();
  for (const auto& [k, v] : src.as_table()) {
    auto it = dt.find(k);
    if (it != dt.end() && it->second.is_table() && v.is_table()) {
      merge_into(it->second, v);
    } else {
      dt[k] = v;
    }
  }
}

Node resolve_base(Node doc, const fs::path& dir, const std::string& name, std::vector<fs::path>& chain);

Node load_chain(const fs::path& file, std::vector<fs::path>& chain) {
  const fs::path canon = fs::weakly_canonical(file);
  if (std::find(chain.begin(), chain.end(), canon) != chain.end()) {
    std::string cycle;
    for (const auto& c : chain) cycle += c.filename().string() + " -> ";
    throw InputError(
        fmt::format("{}: 'base' inheritance cycle: {}{}", file.string(), cycle, canon.filename().string()));
  }
  chain.push_back(canon);
  Node doc = resolve_base(parse_file(file), file.parent_path(), file.string(), chain);
  chain.pop_back();
  return doc;
}

Node resolve_base(Node doc, const fs::path& dir, const std::string& name, std::vector<fs::path>& chain) {
  Table& t = doc.as_table();
  auto it = t.find("base");
  if (it == t.end()) return doc;
  if (!it->second.is_string()) {
    throw InputError(fmt::format("{}: 'base' must be a file name string", where(it->second, name)));
  }
  const fs::path base_file = (dir / it->second.as_string().str).lexically_normal();
  if (!fs::is_regular_file(base_file)) {
    throw InputError(
        fmt::format("{}: base file '{}' not found", where(it->second, name), base_file.string()));
  }
  Node merged = load_chain(base_file, chain);
  t.erase(it);
  merge_into(merged, doc);
  return merged;
}

bool valid_key_segment(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::vector<std::string> split_path(std::string_view dotted) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t dot = dotted.find('.', pos);
    parts.emplace_back(
        dotted.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return parts;
}

// Parses the right-hand side of an override as a TOML value; anything that is not one (e.g.
// 12 TB/s, unquoted) is taken as a string, which is what a shell user means.
Node parse_override_value(std::string_view text, const std::string& label) {
  // toml11 3.7 reads past its buffer on invalid UTF-8 in a '''...''' string (found by fuzzing
  // --set values): checked before it sees the text, as files are.
  if (const size_t bad = invalid_utf8(text); bad != std::string_view::npos) {
    throw InputError(fmt::format("{}: not UTF-8 (byte 0x{:02X} at offset {})", label,
                                 static_cast<unsigned char>(text[bad]), bad));
  }
  {
    std::istringstream in("v = " + std::string(text));
    try {
      Node doc = toml::parse<toml::discard_comments, std::map, std::vector>(in, label);
      if (doc.as_table().size() == 1 && doc.as_table().count("v") == 1) return doc.as_table().at("v");
    } catch (const std::exception&) {
      // not a TOML value: fall through to a string
    }
  }
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  std::istringstream in("v = \"" + escaped + "\"");
  return parse_stream(in, label).as_table().at("v");
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// ConfigTree

ConfigTree::ConfigTree() : impl_(std::make_unique<Impl>()) {}
ConfigTree::~ConfigTree() = default;
ConfigTree::ConfigTree(const ConfigTree& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
ConfigTree& ConfigTree::operator=(const ConfigTree& o) {
  impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
ConfigTree::ConfigTree(ConfigTree&&) noexcept = default;
ConfigTree& ConfigTree::operator=(ConfigTree&&) noexcept = default;

ConfigTree ConfigTree::load_file(const fs::path& file) {
  ConfigTree tree;
  std::vector<fs::path> chain;
  tree.impl_->root = load_chain(file, chain);
  tree.impl_->name = file.string();
  return tree;
}

ConfigTree ConfigTree::from_string(std::string_view text, const std::string& name, const fs::path& base_dir) {
  ConfigTree tree;
  std::istringstream in{std::string(text)};
  std::vector<fs::path> chain;
  tree.impl_->root = resolve_base(parse_stream(in, name), base_dir, name, chain);
  tree.impl_->name = name;
  return tree;
}

void ConfigTree::set(std::string_view assignment, std::string_view flag) {
  const std::string label = fmt::format("{} {}", flag, assignment);
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) throw InputError(label + ": expected KEY=VALUE");
  const std::string_view key = trim(assignment.substr(0, eq));
  const std::string_view value = trim(assignment.substr(eq + 1));
  const std::vector<std::string> parts = split_path(key);
  for (const auto& p : parts) {
    if (!valid_key_segment(p)) throw InputError(fmt::format("{}: '{}' is not a dotted key path", label, key));
  }
  if (value.empty()) throw InputError(label + ": empty value");
  Node* node = &impl_->root;
  std::string path;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    path = join(path, parts[i]);
    Table& t = node->as_table();
    auto it = t.find(parts[i]);
    if (it == t.end()) it = t.emplace(parts[i], Table{}).first;
    if (!it->second.is_table()) {
      throw InputError(fmt::format("{}: '{}' is a value, not a table", label, path));
    }
    node = &it->second;
  }
  Node v = parse_override_value(value, label);
  Table& t = node->as_table();
  auto it = t.find(parts.back());
  if (it != t.end() && it->second.is_table() && !v.is_table()) {
    throw InputError(fmt::format("{}: '{}' is a table; set one of its keys instead", label, key));
  }
  t[parts.back()] = std::move(v);
}

bool ConfigTree::contains(std::string_view dotted) const {
  const Node* node = &impl_->root;
  for (const auto& p : split_path(dotted)) {
    if (!node->is_table()) return false;
    const Table& t = node->as_table();
    auto it = t.find(p);
    if (it == t.end()) return false;
    node = &it->second;
  }
  return true;
}

const std::string& ConfigTree::name() const { return impl_->name; }

// -------------------------------------------------------------------------------------------------
// Typed conversion

namespace {

std::string type_phrase(const Node& n) {
  switch (n.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    default:
      return "a date/time";
  }
}

std::string got(const Node& n) { return " (got " + type_phrase(n) + ")"; }

template <class T>
struct Conv;

template <>
struct Conv<bool> {
  static constexpr std::string_view kType = "boolean";
  static bool from(const Node& n, std::string& err) {
    if (!n.is_boolean()) err = "must be true or false" + got(n);
    return n.is_boolean() && n.as_boolean();
  }
  static std::string text(bool v) { return v ? "true" : "false"; }
  static std::string json(bool v) { return text(v); }
};

template <class I>
struct IntConv {
  static constexpr std::string_view kType = "integer";
  static I from(const Node& n, std::string& err) {
    if (!n.is_integer()) {
      err = "must be an integer" + got(n);
      return 0;
    }
    const int64_t v = n.as_integer();
    if (v < static_cast<int64_t>(std::numeric_limits<I>::min()) || (std::is_unsigned_v<I> && v < 0) ||
        static_cast<uint64_t>(std::max<int64_t>(v, 0)) >
            static_cast<uint64_t>(std::numeric_limits<I>::max())) {
      err = std::is_unsigned_v<I> && v < 0 ? "must not be negative" : "is out of range";
      return 0;
    }
    return static_cast<I>(v);
  }
  static std::string text(I v) { return std::to_string(v); }
  static std::string json(I v) { return text(v); }
};
template <>
struct Conv<int> : IntConv<int> {};
template <>
struct Conv<int64_t> : IntConv<int64_t> {};
template <>
struct Conv<uint32_t> : IntConv<uint32_t> {};
template <>
struct Conv<uint64_t> : IntConv<uint64_t> {};

template <>
struct Conv<double> {
  static constexpr std::string_view kType = "number";
  static double from(const Node& n, std::string& err) {
    if (n.is_floating()) return n.as_floating();
    if (n.is_integer()) return static_cast<double>(n.as_integer());
    err = "must be a number" + got(n);
    return 0;
  }
  static std::string text(double v) { return format_number(v); }
  static std::string json(double v) { return std::isfinite(v) ? text(v) : "null"; }
};

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

template <>
struct Conv<std::string> {
  static constexpr std::string_view kType = "string";
  static std::string from(const Node& n, std::string& err) {
    if (!n.is_string()) {
      err = "must be a string" + got(n);
      return {};
    }
    return n.as_string().str;
  }
  static std::string text(const std::string& v) { return v; }
  static std::string json(const std::string& v) { return json_quote(v); }
};

template <class Q, Q (*Parse)(std::string_view), const char* Type, const char* Example>
struct QuantityConv {
  static constexpr std::string_view kType = Type;
  static Q from(const Node& n, std::string& err) {
    if (!n.is_string()) {
      err = fmt::format("needs a unit: write it as a string, e.g. \"{}\"{}", Example, got(n));
      return {};
    }
    try {
      return Parse(n.as_string().str);
    } catch (const UnitError& e) {
      err = "is wrong: " + e.message;
      return {};
    }
  }
  static std::string text(const Q& v) { return to_string(v); }
  static std::string json(const Q& v) { return json_quote(to_string(v)); }
};

constexpr char kFreqType[] = "frequency", kFreqEx[] = "1.965 GHz";
constexpr char kSizeType[] = "size", kSizeEx[] = "228 KiB";
constexpr char kBwType[] = "bandwidth", kBwEx[] = "8 TB/s";
constexpr char kBpcType[] = "bytes per cycle", kBpcEx[] = "128 B/clk";
constexpr char kDurType[] = "duration", kDurEx[] = "552 ns";
constexpr char kPowType[] = "power", kPowEx[] = "700 W";
constexpr char kVoltType[] = "voltage", kVoltEx[] = "0.9 V";
constexpr char kEnType[] = "energy", kEnEx[] = "0.25 pJ";
constexpr char kEpbType[] = "energy per byte", kEpbEx[] = "3.9 pJ/bit";

template <>
struct Conv<Frequency> : QuantityConv<Frequency, &parse_frequency, kFreqType, kFreqEx> {};
template <>
struct Conv<ByteSize> : QuantityConv<ByteSize, &parse_byte_size, kSizeType, kSizeEx> {};
template <>
struct Conv<Bandwidth> : QuantityConv<Bandwidth, &parse_bandwidth, kBwType, kBwEx> {};
template <>
struct Conv<BytesPerCycle> : QuantityConv<BytesPerCycle, &parse_bytes_per_cycle, kBpcType, kBpcEx> {};
template <>
struct Conv<Duration> : QuantityConv<Duration, &parse_duration, kDurType, kDurEx> {};

template <>
struct Conv<Power> : QuantityConv<Power, &parse_power, kPowType, kPowEx> {};
template <>
struct Conv<Voltage> : QuantityConv<Voltage, &parse_voltage, kVoltType, kVoltEx> {};
template <>
struct Conv<Energy> : QuantityConv<Energy, &parse_energy, kEnType, kEnEx> {};
template <>
struct Conv<EnergyPerByte> : QuantityConv<EnergyPerByte, &parse_energy_per_byte, kEpbType, kEpbEx> {};

template <>
struct Conv<Cycles> {
  static constexpr std::string_view kType = "cycles";
  static Cycles from(const Node& n, std::string& err) {
    if (n.is_integer()) {
      if (n.as_integer() < 0) err = "must not be negative";
      return Cycles{n.as_integer()};
    }
    if (n.is_string()) {
      try {
        return parse_cycles(n.as_string().str);
      } catch (const UnitError& e) {
        err = "is wrong: " + e.message;
        return {};
      }
    }
    err = "must be a cycle count (an integer, or a string like \"132 cycles\")" + got(n);
    return {};
  }
  static std::string text(Cycles c) { return to_string(c); }
  static std::string json(Cycles c) { return std::to_string(c.count()); }
};

template <class E>
struct Conv<std::vector<E>> {
  static constexpr std::string_view kType = "array";
  static std::vector<E> from(const Node& n, std::string& err) {
    if (!n.is_array()) {
      err = fmt::format("must be an array of {}{}", Conv<E>::kType, got(n));
      return {};
    }
    std::vector<E> out;
    for (const Node& e : n.as_array()) {
      std::string e_err;
      out.push_back(Conv<E>::from(e, e_err));
      if (!e_err.empty()) {
        err = fmt::format("element {} {}", out.size() - 1, e_err);
        return {};
      }
    }
    return out;
  }
  static std::string join_with(const std::vector<E>& v, auto fn) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fn(v[i]);
    return s + "]";
  }
  static std::string text(const std::vector<E>& v) {
    return join_with(v, [](const E& e) { return Conv<E>::text(e); });
  }
  static std::string json(const std::vector<E>& v) {
    return join_with(v, [](const E& e) { return Conv<E>::json(e); });
  }
};

}  // namespace

// -------------------------------------------------------------------------------------------------
// ConfigReader

struct ConfigReader::State {
  const ConfigTree* tree = nullptr;
  std::set<std::string, std::less<>> consumed;
  std::map<std::string, std::set<std::string>, std::less<>> declared;  // table path -> keys
  std::vector<ParamRecord> records;
};

namespace {
const Node* as_node(const void* p) { return static_cast<const Node*>(p); }
}  // namespace

ConfigReader::ConfigReader(const ConfigTree& tree)
    : state_(std::make_shared<State>()), table_(&tree.impl().root) {
  state_->tree = &tree;
}
ConfigReader::ConfigReader(std::shared_ptr<State> state, const void* table, std::string prefix)
    : state_(std::move(state)), table_(table), prefix_(std::move(prefix)) {}
ConfigReader::~ConfigReader() = default;
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;

std::string ConfigReader::path_of(std::string_view key) const { return join(prefix_, key); }

bool ConfigReader::has(std::string_view key) const {
  if (table_ == nullptr) return false;
  return as_node(table_)->as_table().count(std::string(key)) != 0;
}

std::string ConfigReader::where(std::string_view key) const {
  const std::string& fallback = state_->tree->name();
  if (table_ == nullptr) return fallback;
  const Table& t = as_node(table_)->as_table();
  auto it = t.find(std::string(key));
  if (it != t.end()) return bwsim::where(it->second, fallback);
  return bwsim::where(*as_node(table_), fallback);
}

void ConfigReader::fail(std::string_view key, std::string_view message) const {
  throw InputError(fmt::format("{}: '{}' {}", where(key), path_of(key), message));
}

template <class T>
void ConfigReader::req(std::string_view key, T& out, std::string_view doc) {
  state_->declared[prefix_].insert(std::string(key));
  if (!has(key)) {
    throw InputError(
        fmt::format("{}: missing required key '{}' ({}: {})", where(key), path_of(key), Conv<T>::kType, doc));
  }
  const Node& n = as_node(table_)->as_table().at(std::string(key));
  std::string err;
  T v = Conv<T>::from(n, err);
  if (!err.empty()) fail(key, err);
  out = std::move(v);
  state_->consumed.insert(path_of(key));
  state_->records.push_back(ParamRecord{path_of(key), std::string(Conv<T>::kType), Conv<T>::text(out),
                                        Conv<T>::json(out), "", std::string(doc), where(key), false, owner_,
                                        ""});
}

template <class T>
void ConfigReader::opt(std::string_view key, T& out, const T& dflt, std::string_view doc) {
  if (has(key)) {
    req(key, out, doc);
    state_->records.back().default_value = Conv<T>::text(dflt);
    return;
  }
  state_->declared[prefix_].insert(std::string(key));
  out = dflt;
  state_->records.push_back(ParamRecord{path_of(key), std::string(Conv<T>::kType), Conv<T>::text(out),
                                        Conv<T>::json(out), Conv<T>::text(dflt), std::string(doc), "default",
                                        false, owner_, ""});
}

template <class T>
void ConfigReader::range(std::string_view key, const T& value, const T& lo, const T& hi) {
  const std::string text = fmt::format("{} .. {}", Conv<T>::text(lo), Conv<T>::text(hi));
  const std::string path = path_of(key);
  for (auto it = state_->records.rbegin(); it != state_->records.rend(); ++it) {
    if (it->path == path) {
      it->range = text;
      break;
    }
  }
  if (!(lo <= value && value <= hi))
    fail(key, fmt::format("is {}, outside its physical range {}", Conv<T>::text(value), text));
}

// NOLINTBEGIN(bugprone-macro-parentheses): T is a type
#define BWSIM_CONFIG_RANGE(T) \
  template void ConfigReader::range<T>(std::string_view, const T&, const T&, const T&);
BWSIM_CONFIG_RANGE(int)
BWSIM_CONFIG_RANGE(int64_t)
BWSIM_CONFIG_RANGE(uint32_t)
BWSIM_CONFIG_RANGE(uint64_t)
BWSIM_CONFIG_RANGE(double)
BWSIM_CONFIG_RANGE(Frequency)
BWSIM_CONFIG_RANGE(ByteSize)
BWSIM_CONFIG_RANGE(Bandwidth)
BWSIM_CONFIG_RANGE(BytesPerCycle)
BWSIM_CONFIG_RANGE(Duration)
BWSIM_CONFIG_RANGE(Cycles)
BWSIM_CONFIG_RANGE(Power)
BWSIM_CONFIG_RANGE(Voltage)
BWSIM_CONFIG_RANGE(Energy)
BWSIM_CONFIG_RANGE(EnergyPerByte)
#undef BWSIM_CONFIG_RANGE
#define BWSIM_CONFIG_TYPE(T)                                                  \
  template void ConfigReader::req<T>(std::string_view, T&, std::string_view); \
  template void ConfigReader::opt<T>(std::string_view, T&, const T&, std::string_view);
BWSIM_CONFIG_TYPE(bool)
BWSIM_CONFIG_TYPE(int)
BWSIM_CONFIG_TYPE(int64_t)
BWSIM_CONFIG_TYPE(uint32_t)
BWSIM_CONFIG_TYPE(uint64_t)
BWSIM_CONFIG_TYPE(double)
BWSIM_CONFIG_TYPE(std::string)
BWSIM_CONFIG_TYPE(Frequency)
BWSIM_CONFIG_TYPE(ByteSize)
BWSIM_CONFIG_TYPE(Bandwidth)
BWSIM_CONFIG_TYPE(BytesPerCycle)
BWSIM_CONFIG_TYPE(Duration)
BWSIM_CONFIG_TYPE(Cycles)
BWSIM_CONFIG_TYPE(Power)
BWSIM_CONFIG_TYPE(Voltage)
BWSIM_CONFIG_TYPE(Energy)
BWSIM_CONFIG_TYPE(EnergyPerByte)
BWSIM_CONFIG_TYPE(std::vector<double>)
BWSIM_CONFIG_TYPE(std::vector<int64_t>)
BWSIM_CONFIG_TYPE(std::vector<std::string>)
#undef BWSIM_CONFIG_TYPE
// NOLINTEND(bugprone-macro-parentheses)

ConfigReader ConfigReader::section(std::string_view key, std::string_view doc) {
  if (!has(key)) {
    throw InputError(fmt::format("{}: missing required table [{}] ({})", where(key), path_of(key), doc));
  }
  return opt_section(key, doc);
}

ConfigReader ConfigReader::opt_section(std::string_view key, std::string_view doc) {
  state_->declared[prefix_].insert(std::string(key));
  const void* child = nullptr;
  std::string source = "default";
  if (has(key)) {
    const Node& n = as_node(table_)->as_table().at(std::string(key));
    if (!n.is_table()) fail(key, fmt::format("must be a table (got {})", type_phrase(n)));
    child = &n;
    source = where(key);
    state_->consumed.insert(path_of(key));
  }
  state_->records.push_back(
      ParamRecord{path_of(key), "table", "", "", "", std::string(doc), source, true, "", ""});
  ConfigReader sub(state_, child, path_of(key));
  sub.owner_ = owner_;
  return sub;
}

std::vector<ConfigReader> ConfigReader::table_array(std::string_view key, std::string_view doc) {
  state_->declared[prefix_].insert(std::string(key));
  std::vector<ConfigReader> out;
  if (!has(key)) return out;
  const Node& n = as_node(table_)->as_table().at(std::string(key));
  if (!n.is_array()) fail(key, fmt::format("must be an array of tables, [[{}]] ({})", key, type_phrase(n)));
  state_->consumed.insert(path_of(key));
  const auto& a = n.as_array();
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", path_of(key), i);
    if (!a[i].is_table()) {
      throw InputError(fmt::format("{}: '{}' must be a table ({}; got {})",
                                   bwsim::where(a[i], state_->tree->name()), path, doc, type_phrase(a[i])));
    }
    state_->consumed.insert(path);
    out.push_back(ConfigReader(state_, &a[i], path));
    out.back().owner_ = owner_;
  }
  return out;
}

namespace {

// A scalar as text, or nullopt for a table or an array.
std::optional<ConfigScalar> scalar_of(const Node& e) {
  switch (e.type()) {
    case toml::value_t::string:
      return ConfigScalar{e.as_string().str, json_quote(e.as_string().str)};
    case toml::value_t::integer:
      return ConfigScalar{std::to_string(e.as_integer()), std::to_string(e.as_integer())};
    case toml::value_t::floating: {
      std::string t = fmt::format("{}", e.as_floating());
      if (t.find_first_of(".eEn") == std::string::npos) t += ".0";  // stays a TOML float
      return ConfigScalar{fmt::format("{}", e.as_floating()), t};
    }
    case toml::value_t::boolean:
      return ConfigScalar{e.as_boolean() ? "true" : "false", e.as_boolean() ? "true" : "false"};
    default:
      return std::nullopt;
  }
}

}  // namespace

std::vector<ConfigScalar> ConfigReader::scalar_list(std::string_view key, std::string_view doc) {
  state_->declared[prefix_].insert(std::string(key));
  if (!has(key)) {
    throw InputError(fmt::format("{}: missing required key '{}' (array: {})", where(key), path_of(key), doc));
  }
  const Node& n = as_node(table_)->as_table().at(std::string(key));
  if (!n.is_array()) fail(key, "must be an array" + got(n));
  std::vector<ConfigScalar> out;
  for (const Node& e : n.as_array()) {
    std::optional<ConfigScalar> v = scalar_of(e);
    if (!v) fail(key, fmt::format("element {} must be a string, number or boolean{}", out.size(), got(e)));
    out.push_back(std::move(*v));
  }
  state_->consumed.insert(path_of(key));
  return out;
}

std::string ConfigReader::opt_text(std::string_view key, std::string_view dflt, std::string_view doc) {
  state_->declared[prefix_].insert(std::string(key));
  if (!has(key)) return std::string(dflt);
  (void)doc;
  const Node& n = as_node(table_)->as_table().at(std::string(key));
  std::optional<ConfigScalar> v = scalar_of(n);
  if (!v) fail(key, "must be a string or a number" + got(n));
  state_->consumed.insert(path_of(key));
  return v->text;
}

const std::vector<ParamRecord>& ConfigReader::records() const { return state_->records; }

namespace {

std::string suggestion(const ConfigReader::State& st, const std::string& table, std::string_view key) {
  std::string best;
  size_t best_d = std::max<size_t>(2, key.size() / 3) + 1;
  if (auto it = st.declared.find(table); it != st.declared.end()) {
    for (const auto& k : it->second) {
      size_t d = edit_distance(k, key);
      if (d < best_d) {
        best_d = d;
        best = join(table, k);
      }
    }
  }
  if (!best.empty()) return best;
  // Same name in another table: the key was put at the wrong level.
  for (const auto& [t, keys] : st.declared) {
    if (keys.count(std::string(key)) != 0) return join(t, key);
  }
  return {};
}

void collect_unknown(const ConfigReader::State& st, const Node& table, const std::string& prefix,
                     std::vector<std::string>& out) {
  for (const auto& [k, v] : table.as_table()) {
    const std::string path = join(prefix, k);
    if (!st.consumed.contains(path)) {
      std::string line = fmt::format("{}: unknown key '{}'", where(v, st.tree->name()), path);
      if (std::string s = suggestion(st, prefix, k); !s.empty())
        line += fmt::format(" (did you mean '{}'?)", s);
      out.push_back(std::move(line));
    } else if (v.is_table()) {
      collect_unknown(st, v, path, out);
    } else if (v.is_array()) {  // arrays of tables read element by element
      const auto& a = v.as_array();
      for (size_t i = 0; i < a.size(); ++i) {
        const std::string element = fmt::format("{}[{}]", path, i);
        if (a[i].is_table() && st.consumed.contains(element)) collect_unknown(st, a[i], element, out);
      }
    }
  }
}

}  // namespace

void ConfigReader::finish() const {
  std::vector<std::string> unknown;
  collect_unknown(*state_, state_->tree->impl().root, "", unknown);
  if (unknown.empty()) return;
  std::string msg = unknown.front();
  for (size_t i = 1; i < unknown.size(); ++i) msg += "\n" + unknown[i];
  throw InputError(msg);
}

// -------------------------------------------------------------------------------------------------

std::vector<std::pair<fs::path, std::string>> config_dir_candidates() {
  // An explicit BWSIM_CONFIG_DIR is the only place looked: a user who sets it means it.
  if (const char* env = std::getenv("BWSIM_CONFIG_DIR"); env != nullptr && *env != '\0')
    return {{fs::path(env), "$BWSIM_CONFIG_DIR"}};
  std::vector<std::pair<fs::path, std::string>> out;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // Installed: PREFIX/bin/bwsim finds PREFIX/share/bwsim/configs (GNUInstallDirs).
    out.emplace_back((exe.parent_path() / BWSIM_DATA_FROM_BIN / "configs").lexically_normal(),
                     "beside the binary");
  }
  out.emplace_back(fs::path(BWSIM_SOURCE_CONFIG_DIR), "the source tree it was built from");
  out.emplace_back(fs::current_path(ec) / "configs", "the working directory");
  return out;
}

fs::path config_dir() {
  const auto candidates = config_dir_candidates();
  for (const auto& [dir, why] : candidates) {
    std::error_code ec;
    if (fs::is_directory(dir / "hw", ec)) return dir;
  }
  std::string looked;
  for (const auto& [dir, why] : candidates) looked += fmt::format("\n  {} ({})", dir.string(), why);
  throw InputError(
      fmt::format("no bwsim configs found (a directory with hw/, models/, scenarios/); looked in:{}\nset "
                  "BWSIM_CONFIG_DIR "
                  "to the configs/ directory of a bwsim checkout or installation",
                  looked));
}

namespace {
// Messages read better with paths relative to where the user stands, when that is shorter.
fs::path display_path(const fs::path& p) {
  std::error_code ec;
  fs::path rel = fs::proximate(p, ec);
  if (ec || rel.empty() || rel.native().starts_with("..")) return p;
  return rel;
}
}  // namespace

fs::path resolve_config_path(std::string_view name_or_path, std::string_view kind) {
  fs::path given{std::string(name_or_path)};
  if (fs::is_regular_file(given)) return given;
  // A bare name ("b200", "llama-3.1-70b": dots allowed) names configs/KIND/NAME.toml.
  const bool short_name = !given.has_parent_path() && given.extension() != ".toml";
  const fs::path dir = config_dir() / std::string(kind);
  if (short_name) {
    fs::path candidate = dir / (std::string(name_or_path) + ".toml");
    if (fs::is_regular_file(candidate)) return display_path(candidate);
  }
  std::vector<std::string> known;
  if (fs::is_directory(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".toml") known.push_back(e.path().stem().string());
    }
  }
  std::sort(known.begin(), known.end());
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  throw InputError(fmt::format(
      "no such file '{}'{}", name_or_path,
      list.empty() ? fmt::format(" (and no {} configs in {})", kind, dir.string())
                   : fmt::format(" (known {} configs in {}: {})", kind, display_path(dir).string(), list)));
}

}  // namespace bwsim
