// JSON output: deterministic pretty-printing and all-or-nothing file writes.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <initializer_list>
#include <utility>

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bwsim {

/// Indented JSON. Objects keep insertion order; doubles print in the shortest form that reads
/// back exactly; non-finite doubles print as null. Same value, same bytes.
std::string to_json_text(const boost::json::value& v);

/// Sets `v` at the dotted `path` under `root` ("bytes.hbm" -> root.bytes.hbm), making objects
/// on the way: reports spell a metric by the same dotted name as sweep CSVs and stats.
void insert_dotted(boost::json::object& root, std::string_view path, boost::json::value v);
/// `flat` with each dotted key nested by insert_dotted, in order: dotted_object({{"bytes.hbm", 1}}).
boost::json::object dotted_object(const boost::json::object& flat);

/// Writes `content` to `path` through a temporary file in the same directory and a rename, so
/// readers never see half a file. Throws InputError naming `flag` if the path is not writable.
void write_file_atomic(const std::filesystem::path& path, std::string_view content, std::string_view flag);
/// The same for a file made of `parts` written one after the other (no joined copy of them).
void write_file_atomic(const std::filesystem::path& path, std::span<const std::string_view> parts,
                       std::string_view flag);

/// Several output files that appear together or not at all: each is written to a temporary
/// name as it is added; commit() renames them all; destruction without commit() removes them.
class StagedFiles {
 public:
  explicit StagedFiles(std::string flag) : flag_(std::move(flag)) {}
  ~StagedFiles();
  StagedFiles(const StagedFiles&) = delete;
  StagedFiles& operator=(const StagedFiles&) = delete;

  void add(const std::filesystem::path& path, std::string_view content);
  void commit();
  [[nodiscard]] const std::vector<std::filesystem::path>& paths() const { return finals_; }

 private:
  std::string flag_;
  std::vector<std::filesystem::path> temps_;
  std::vector<std::filesystem::path> finals_;
  bool committed_ = false;
};

}  // namespace bwsim
