#include "workloads/sweep/results.hpp"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "sim/errors.hpp"

namespace bwsim {

std::string csv_line(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    std::string f = fields[i];
    for (char& c : f) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    if (f.find_first_of(",\"") == std::string::npos) {
      out += f;
      continue;
    }
    out += '"';
    for (char c : f) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  out += '\n';
  return out;
}

bool parse_csv_line(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  fields.push_back(std::move(cur));
  return !quoted;
}

std::string sweep_header(const SweepSpec& spec) {
  std::vector<std::string> h{"point", "status"};
  for (const SweepAxis& a : spec.axes) h.push_back(a.key);
  for (const std::string& m : sweep_metric_names(spec.kind)) h.push_back(m);
  h.emplace_back("error");
  h.emplace_back("anomaly");  // filled when the sweep ends (flag_anomalies)
  return csv_line(h);
}

std::string sweep_row(const SweepPoint& point, const PointResult& r) {
  std::vector<std::string> f{fmt::format("{}", point.index), r.ok ? "ok" : "error"};
  for (const ConfigScalar& v : point.values) f.push_back(v.text);
  for (const std::string& m : r.metrics) f.push_back(m);
  f.push_back(r.error);
  f.emplace_back();  // anomaly
  return csv_line(f);
}

SweepResults read_sweep_results(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read", file.string()));
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  SweepResults r;
  if (text.empty()) return r;
  size_t nl = text.find('\n');
  if (nl == std::string::npos) {  // not even the header survived
    r.torn_tail = true;
    return r;
  }
  r.header = text.substr(0, nl + 1);
  std::vector<std::string> f;
  if (!parse_csv_line(std::string_view(r.header).substr(0, nl), f) || f.size() < 5 || f[0] != "point" ||
      f[1] != "status" || f[f.size() - 2] != "error" || f.back() != "anomaly") {
    throw InputError(fmt::format(
        "{}:1: not a bwsim sweep results file (header: point,status,...,error,anomaly)", file.string()));
  }
  const size_t columns = f.size();
  size_t pos = nl + 1;
  uint64_t line_no = 1;
  while (pos < text.size()) {
    nl = text.find('\n', pos);
    ++line_no;
    if (nl == std::string::npos) {  // cut off mid-line by an interruption: dropped
      r.torn_tail = true;
      break;
    }
    const std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    const auto bad = [&](std::string_view why) {
      return InputError(fmt::format("{}:{}: {}", file.string(), line_no, why));
    };
    if (!parse_csv_line(line, f) || f.size() != columns) {
      throw bad(fmt::format("expected {} columns, as the header has", columns));
    }
    uint64_t index = 0;
    const auto [p, ec] = std::from_chars(f[0].data(), f[0].data() + f[0].size(), index);
    if (ec != std::errc{} || p != f[0].data() + f[0].size()) throw bad("the point index is not a number");
    const std::string row = std::string(line) + "\n";
    const auto [it, added] = r.rows.emplace(index, row);
    if (!added && it->second != row)
      throw bad(fmt::format("point {} appears twice, with different results", index));
  }
  return r;
}

void check_sweep_results(const SweepResults& r, const std::filesystem::path& file, const std::string& header,
                         const std::vector<SweepPoint>& points) {
  if (r.header.empty()) return;
  if (r.header != header) {
    throw InputError(fmt::format(
        "{}: its header is not this sweep's (different axes or kind): resume only the sweep that wrote it, "
        "or write to another file",
        file.string()));
  }
  std::vector<std::string> f;
  for (const auto& [index, line] : r.rows) {
    if (index >= points.size()) {
      throw InputError(fmt::format("{}: point {} is not in this sweep ({} points): the spec changed",
                                   file.string(), index, points.size()));
    }
    (void)parse_csv_line(std::string_view(line).substr(0, line.size() - 1), f);
    for (size_t d = 0; d < points[index].values.size(); ++d) {
      if (f[2 + d] != points[index].values[d].text) {
        throw InputError(
            fmt::format("{}: point {} has {} where this sweep has {}: the spec changed since the file "
                        "was written",
                        file.string(), index, f[2 + d], points[index].values[d].text));
      }
    }
  }
}

void write_sweep_results(const std::filesystem::path& file, const std::string& header,
                         const std::map<uint64_t, std::string>& rows) {
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(fmt::format("{}: cannot write", tmp.string()));
    out << header;
    for (const auto& [i, line] : rows) out << line;
    out.flush();
    if (!out) throw InputError(fmt::format("{}: write failed", tmp.string()));
  }
  std::filesystem::rename(tmp, file);
}

}  // namespace bwsim
