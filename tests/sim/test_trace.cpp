#include "sim/trace.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cmath>

namespace bwsim {
namespace {

TEST(TraceDoc, NamesProcessesAndThreadsOnceAndWritesValidJson) {
  TraceDoc doc;
  const uint32_t gpu = doc.process("GPU", 0);
  const uint32_t sm = doc.process("SM 0", 10);
  EXPECT_EQ(doc.process("GPU", 0), gpu);
  EXPECT_NE(gpu, sm);
  const uint32_t k = doc.thread(gpu, "kernels", 0);
  EXPECT_EQ(doc.thread(gpu, "kernels", 0), k);
  const uint32_t mma = doc.thread(sm, "MMA", 0);
  doc.span(gpu, k, "gemm \"a\"", Tick{0}, microseconds(2), R"("ctas":148)");
  doc.span(sm, mma, "MMA", nanoseconds(10), nanoseconds(20));
  doc.counter(gpu, "HBM read (GB/s)", Tick{0}, 7500.5);
  doc.metadata("hw", json_quote("B200"));
  doc.add_dropped(3);
  const boost::json::object root = boost::json::parse(doc.text()).as_object();
  EXPECT_EQ(root.at("metadata").at("hw"), "B200");
  EXPECT_EQ(root.at("metadata").at("dropped_detail_spans").to_number<int>(), 3);
  const boost::json::array& ev = root.at("traceEvents").as_array();
  ASSERT_EQ(ev.size(), doc.events());
  EXPECT_EQ(ev.size(), 4u + 4u + 3u);  // 2 processes, 2 threads (name + sort each), 2 spans, 1 counter
  int spans = 0;
  for (const auto& v : ev) {
    const auto& e = v.as_object();
    if (e.at("ph") != "X") continue;
    ++spans;
    if (e.at("pid").to_number<uint32_t>() == gpu) {
      EXPECT_EQ(e.at("name"), "gemm \"a\"");
      EXPECT_DOUBLE_EQ(e.at("dur").to_number<double>(), 2.0);
      EXPECT_EQ(e.at("args").at("ctas").to_number<int>(), 148);
    } else {
      EXPECT_DOUBLE_EQ(e.at("ts").to_number<double>(), 0.01);
      EXPECT_DOUBLE_EQ(e.at("dur").to_number<double>(), 0.01);
    }
  }
  EXPECT_EQ(spans, 2);
}

// Spans that touch in simulated time must not overlap in the file, or a viewer nests them wrongly.
TEST(TraceDoc, TouchingSpansRoundToTouchingSpans) {
  TraceDoc doc;
  const uint32_t p = doc.process("SM 0", 0);
  const uint32_t t = doc.thread(p, "MMA", 0);
  const Tick a{123'456'789}, b{123'456'839}, c{123'457'001};  // ps: not multiples of 0.1 ns
  doc.span(p, t, "x", a, b);
  doc.span(p, t, "y", b, c);
  const boost::json::array ev = boost::json::parse(doc.text()).at("traceEvents").as_array();
  std::vector<std::pair<int64_t, int64_t>> s;  // in units of 0.1 ns
  for (const auto& v : ev) {
    if (v.at("ph") != "X") continue;
    s.emplace_back(std::llround(v.at("ts").to_number<double>() * 1e4),
                   std::llround(v.at("dur").to_number<double>() * 1e4));
  }
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first + s[0].second, s[1].first);
}

TEST(Lanes, PutsOverlappingSpansOnSeparateLanesAndReusesFreedOnes) {
  Lanes l;
  EXPECT_EQ(l.place(Tick{0}, Tick{10}), 0u);
  EXPECT_EQ(l.place(Tick{5}, Tick{15}), 1u);
  EXPECT_EQ(l.place(Tick{10}, Tick{20}), 0u);  // lane 0 is free again at 10
  EXPECT_EQ(l.place(Tick{12}, Tick{13}), 2u);
  EXPECT_EQ(l.count(), 3u);
}

}  // namespace
}  // namespace bwsim
