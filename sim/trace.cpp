#include "sim/trace.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <array>
#include <cmath>
#include <span>
#include <stdexcept>
#include <vector>

#include <zlib.h>

#include "sim/errors.hpp"
#include "sim/json_out.hpp"
#include "sim/provenance.hpp"

namespace bwsim {
namespace {

// Trace timestamps are microseconds with four decimals (0.1 ns, finer than any clock's cycle),
// computed in integers: a span's end rounds exactly as the next span's start, so spans that
// touch in simulated time never overlap in the file.
int64_t units(Tick t) { return t.ps() / 100; }
std::string micros(int64_t u) { return fmt::format("{}.{:04}", u / 10000, u % 10000); }

}  // namespace

std::string json_quote(std::string_view s) { return boost::json::serialize(boost::json::string(s)); }

void TraceDoc::begin_event() {
  body_ += events_ == 0 ? "\n" : ",\n";
  ++events_;
}

uint32_t TraceDoc::process(const std::string& name, int sort) {
  auto it = processes_.find(name);
  if (it != processes_.end()) return it->second;
  const auto pid = static_cast<uint32_t>(processes_.size() + 1);
  processes_.emplace(name, pid);
  begin_event();
  body_ += fmt::format(R"({{"ph":"M","pid":{},"name":"process_name","args":{{"name":{}}}}})", pid,
                       json_quote(name));
  begin_event();
  body_ += fmt::format(R"({{"ph":"M","pid":{},"name":"process_sort_index","args":{{"sort_index":{}}}}})", pid,
                       sort);
  return pid;
}

uint32_t TraceDoc::thread(uint32_t pid, const std::string& name, int sort) {
  auto key = std::make_pair(pid, name);
  auto it = threads_.find(key);
  if (it != threads_.end()) return it->second;
  const uint32_t tid = ++next_tid_[pid];
  threads_.emplace(std::move(key), tid);
  begin_event();
  body_ += fmt::format(R"({{"ph":"M","pid":{},"tid":{},"name":"thread_name","args":{{"name":{}}}}})", pid,
                       tid, json_quote(name));
  begin_event();
  body_ +=
      fmt::format(R"({{"ph":"M","pid":{},"tid":{},"name":"thread_sort_index","args":{{"sort_index":{}}}}})",
                  pid, tid, sort);
  return tid;
}

void TraceDoc::span(uint32_t pid, uint32_t tid, std::string_view name, Tick start, Tick end,
                    std::string_view args) {
  begin_event();
  body_ += fmt::format(R"({{"ph":"X","pid":{},"tid":{},"ts":{},"dur":{},"name":{})", pid, tid,
                       micros(units(start)), micros(end > start ? units(end) - units(start) : 0),
                       json_quote(name));
  if (!args.empty()) body_ += fmt::format(R"(,"args":{{{}}})", args);
  body_ += '}';
}

void TraceDoc::counter(uint32_t pid, std::string_view name, Tick at, double value) {
  begin_event();
  body_ +=
      fmt::format(R"({{"ph":"C","pid":{},"ts":{},"name":{},"args":{{"value":{}}}}})", pid, micros(units(at)),
                  json_quote(name), std::isfinite(value) ? fmt::format("{:.6g}", value) : "0");
}

void TraceDoc::metadata(const std::string& key, std::string value) {
  metadata_.emplace_back(key, std::move(value));
}

std::string TraceDoc::head() const {
  std::string out = R"({"displayTimeUnit":"ns","metadata":{)";
  for (const auto& [key, value] : metadata_) out += fmt::format("{}:{},", json_quote(key), value);
  out += fmt::format(R"("dropped_detail_spans":{},"provenance":{})", dropped_,
                     boost::json::serialize(provenance::to_json()));
  out += R"(},"traceEvents":[)";
  return out;
}

std::string TraceDoc::text() const {
  std::string out = head();
  out.append(body_).append(kTail);
  return out;
}

namespace {

// gzip (RFC 1952) of the parts, one after another, with zlib's deflate.
std::string gzip(std::span<const std::string_view> parts, std::string_view flag,
                 const std::filesystem::path& path) {
  z_stream z{};
  // 15 window bits + 16: a gzip header and trailer rather than zlib's.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib: deflateInit2 failed");
  std::string out;
  std::array<char, 1 << 16> buf{};
  // Fed in pieces of at most 1 GiB (zlib counts in 32 bits).
  std::vector<std::string_view> pieces;
  for (std::string_view p : parts) {
    for (size_t at = 0; at < p.size(); at += size_t{1} << 30) pieces.push_back(p.substr(at, size_t{1} << 30));
  }
  if (pieces.empty()) pieces.emplace_back();
  for (size_t i = 0; i < pieces.size(); ++i) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(pieces[i].data()));
    z.avail_in = static_cast<uInt>(pieces[i].size());
    const int flush = i + 1 == pieces.size() ? Z_FINISH : Z_NO_FLUSH;
    int rc = Z_OK;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf.data());
      z.avail_out = static_cast<uInt>(buf.size());
      rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) {
        deflateEnd(&z);
        throw InputError(fmt::format("{} {}: compression failed", flag, path.string()));
      }
      out.append(buf.data(), buf.size() - z.avail_out);
    } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }
  deflateEnd(&z);
  return out;
}

}  // namespace

void TraceDoc::write(const std::filesystem::path& path, std::string_view flag) const {
  // The events go out as they are held: a trace can be ~100 MB, not worth a joined copy.
  const std::string h = head();
  const std::string_view parts[] = {h, body_, kTail};
  if (path.extension() == ".gz") {  // gzip it (a 52 MB GEMM trace is ~4 MB); Perfetto opens it as is
    write_file_atomic(path, gzip(parts, flag, path), flag);
    return;
  }
  write_file_atomic(path, parts, flag);
}

uint32_t Lanes::place(Tick start, Tick end) {
  for (size_t i = 0; i < ends_.size(); ++i) {
    if (ends_[i] <= start) {
      ends_[i] = end;
      return static_cast<uint32_t>(i);
    }
  }
  ends_.push_back(end);
  return static_cast<uint32_t>(ends_.size() - 1);
}

}  // namespace bwsim
