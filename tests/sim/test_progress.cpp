// Progress scopes: nested fractions, never backwards within a pass, a pass per outermost scope,
// and nothing from threads other than the listener's.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sim/progress.hpp"

namespace bwsim {
namespace {

struct Recorder : progress::Listener {
  std::vector<std::pair<std::string, double>> updates;
  int begins = 0, dones = 0;
  void update(std::string_view what, double fraction) override { updates.emplace_back(what, fraction); }
  void begin() override { ++begins; }
  void done() override { ++dones; }
};

struct Listening {
  explicit Listening(Recorder& r) { progress::listen(&r); }
  ~Listening() { progress::listen(nullptr); }
};

TEST(Progress, NestedScopesFillTheirParentsUnit) {
  Recorder r;
  const Listening on(r);
  EXPECT_TRUE(progress::active());
  {
    progress::Scope run("run", 4);
    run.advance();  // 1 of 4
    ASSERT_EQ(r.updates.size(), 1u);
    EXPECT_DOUBLE_EQ(r.updates.back().second, 0.25);
    EXPECT_EQ(r.updates.back().first, "run");
    {
      progress::Scope gemm("gemm", 10);
      gemm.set(5);  // half of the second unit
      EXPECT_DOUBLE_EQ(r.updates.back().second, 0.375);
      EXPECT_EQ(r.updates.back().first, "run 2/4: gemm");
      gemm.set(4);  // backwards: ignored
      EXPECT_EQ(r.updates.size(), 2u);
    }
    {
      progress::Scope gemm("gemm", 10);
      gemm.set(1);  // the same unit again: the bar holds at 37.5%
      EXPECT_DOUBLE_EQ(r.updates.back().second, 0.375);
    }
    run.advance(3);
    EXPECT_DOUBLE_EQ(r.updates.back().second, 1.0);
  }
  EXPECT_EQ(r.begins, 1);
  EXPECT_EQ(r.dones, 1);
  {
    progress::Scope again("gemm", 2);  // a second pass starts from zero
    again.advance();
    EXPECT_DOUBLE_EQ(r.updates.back().second, 0.5);
  }
  EXPECT_EQ(r.begins, 2);
}

TEST(Progress, OtherThreadsAndNoListenerReportNothing) {
  Recorder r;
  {
    progress::Scope s("quiet", 2);
    s.advance();  // no listener yet
  }
  const Listening on(r);
  std::thread([] {
    EXPECT_FALSE(progress::active());
    progress::Scope s("worker", 2);
    s.advance();
  }).join();
  EXPECT_TRUE(r.updates.empty());
  EXPECT_EQ(r.begins, 0);
}

}  // namespace
}  // namespace bwsim
