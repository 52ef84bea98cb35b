#include "sim/json_out.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "sim/errors.hpp"

namespace bwsim {
namespace {

void write(std::string& out, const boost::json::value& v, int depth) {
  const std::string pad(static_cast<size_t>(depth + 1) * 2, ' ');
  const std::string close_pad(static_cast<size_t>(depth) * 2, ' ');
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      break;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case boost::json::kind::int64:
      out += std::to_string(v.get_int64());
      break;
    case boost::json::kind::uint64:
      out += std::to_string(v.get_uint64());
      break;
    case boost::json::kind::double_: {
      double d = v.get_double();
      out += std::isfinite(d) ? fmt::format("{}", d) : "null";
      break;
    }
    case boost::json::kind::string:
      out += boost::json::serialize(v);
      break;
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      if (a.empty()) {
        out += "[]";
        break;
      }
      // Arrays of scalars stay on one line: they are vectors, not records.
      const bool flat = std::none_of(a.begin(), a.end(), [](const auto& e) { return e.is_structured(); });
      out += "[";
      for (size_t i = 0; i < a.size(); ++i) {
        out += i ? "," : "";
        out += flat ? (i ? " " : "") : "\n" + pad;
        write(out, a[i], depth + 1);
      }
      out += flat ? "]" : "\n" + close_pad + "]";
      break;
    }
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        break;
      }
      out += "{";
      bool first = true;
      for (const auto& kv : o) {
        out += first ? "\n" : ",\n";
        first = false;
        out += pad + boost::json::serialize(boost::json::value(kv.key())) + ": ";
        write(out, kv.value(), depth + 1);
      }
      out += "\n" + close_pad + "}";
      break;
    }
  }
}

}  // namespace

std::string to_json_text(const boost::json::value& v) {
  std::string out;
  write(out, v, 0);
  out += "\n";
  return out;
}

namespace {

std::filesystem::path write_temp(const std::filesystem::path& path, std::span<const std::string_view> parts,
                                 std::string_view flag) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) {
    throw InputError(fmt::format("{} {}: directory '{}' does not exist", flag, path.string(), dir.string()));
  }
  fs::path tmp = dir / fmt::format(".{}.tmp{}", path.filename().string(), ::getpid());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(fmt::format("{} {}: cannot write in '{}'", flag, path.string(), dir.string()));
  for (std::string_view part : parts) out.write(part.data(), static_cast<std::streamsize>(part.size()));
  out.close();
  if (!out) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw InputError(fmt::format("{} {}: write failed", flag, path.string()));
  }
  return tmp;
}

}  // namespace

StagedFiles::~StagedFiles() {
  if (committed_) return;
  std::error_code ec;
  for (const auto& t : temps_) std::filesystem::remove(t, ec);
}

void StagedFiles::add(const std::filesystem::path& path, std::string_view content) {
  const std::string_view parts[] = {content};
  temps_.push_back(write_temp(path, parts, flag_));
  finals_.push_back(path);
}

void StagedFiles::commit() {
  for (size_t i = 0; i < temps_.size(); ++i) {
    std::error_code ec;
    std::filesystem::rename(temps_[i], finals_[i], ec);
    if (ec)
      throw InputError(fmt::format("{} {}: cannot write: {}", flag_, finals_[i].string(), ec.message()));
  }
  committed_ = true;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content, std::string_view flag) {
  const std::string_view parts[] = {content};
  write_file_atomic(path, parts, flag);
}

void write_file_atomic(const std::filesystem::path& path, std::span<const std::string_view> parts,
                       std::string_view flag) {
  const std::filesystem::path tmp = write_temp(path, parts, flag);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();  // read before remove() reuses ec
    std::filesystem::remove(tmp, ec);
    throw InputError(fmt::format("{} {}: cannot replace the file: {}", flag, path.string(), why));
  }
}

void insert_dotted(boost::json::object& root, std::string_view path, boost::json::value v) {
  boost::json::object* node = &root;
  size_t pos = 0;
  for (size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.', pos)) {
    auto& child = (*node)[path.substr(pos, dot - pos)];
    if (!child.is_object()) child = boost::json::object();
    node = &child.as_object();
    pos = dot + 1;
  }
  (*node)[path.substr(pos)] = std::move(v);
}

boost::json::object dotted_object(const boost::json::object& flat) {
  boost::json::object o;
  for (const auto& [path, v] : flat) insert_dotted(o, path, v);
  return o;
}

}  // namespace bwsim
