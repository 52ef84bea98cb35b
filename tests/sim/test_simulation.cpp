#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/test_util.hpp"

#include "sim/errors.hpp"
#include "sim/parallel.hpp"
#include "sim/simulation.hpp"

namespace bwsim {
namespace {

// Waits for a token that `Producer` may never send.
struct Consumer : Component {
  using Component::Component;
  bool waiting = false;
  int got = 0;
  void wait() { waiting = true; }
  void on_token() {
    waiting = false;
    ++got;
    sim().note_progress();
  }
  std::string pending_work() const override { return waiting ? "waiting for a token from gpu.producer" : ""; }
};

struct Producer : Component {
  Producer(Simulation& s, Consumer& c) : Component(s, "gpu.producer"), consumer(c) {}
  Consumer& consumer;
  void send_at(Tick t) { events().schedule(t, bind<&Producer::fire>(this)); }
  void fire() { consumer.on_token(); }
};

TEST(Simulation, RunsToCompletionWhenNothingIsPending) {
  Simulation sim;
  Consumer c(sim, "gpu.consumer");
  Producer p(sim, c);
  c.wait();
  p.send_at(nanoseconds(5));
  RunResult r = sim.run();
  EXPECT_EQ(r.end, nanoseconds(5));
  EXPECT_EQ(r.events, 1u);
  EXPECT_EQ(c.got, 1);
}

TEST(Simulation, WatchdogNamesTheStuckComponentOnDeadlock) {
  Simulation sim;
  Consumer c(sim, "gpu.consumer");
  Producer p(sim, c);
  c.wait();  // nobody will ever send
  try {
    sim.run();
    FAIL() << "expected a deadlock report";
  } catch (const DeadlockError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("deadlock"), std::string::npos) << msg;
    EXPECT_NE(msg.find("gpu.consumer: waiting for a token from gpu.producer"), std::string::npos) << msg;
  }
}

// Spins forever without progress: a livelock.
struct Spinner : Component {
  using Component::Component;
  void tick() { events().schedule_in(nanoseconds(1), bind<&Spinner::tick>(this)); }
  std::string pending_work() const override { return "polling a flag that never flips"; }
};

TEST(Simulation, WatchdogCatchesLivelock) {
  Simulation sim;
  Spinner s(sim, "gpu.sm0.spinner");
  s.tick();
  sim.set_stall_limit(microseconds(1));
  try {
    sim.run();
    FAIL() << "expected a stall report";
  } catch (const DeadlockError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no progress for 1000 ns"), std::string::npos) << msg;
    EXPECT_NE(msg.find("gpu.sm0.spinner: polling"), std::string::npos) << msg;
  }
}

TEST(Simulation, StallLimitDoesNotFireOnIdleGapsOrSlowProgress) {
  Simulation sim;
  Consumer c(sim, "gpu.consumer");
  Producer p(sim, c);
  sim.set_stall_limit(nanoseconds(100));
  c.wait();
  for (int i = 1; i <= 20; ++i) p.send_at(microseconds(i * 10));  // long idle gaps between tokens
  RunResult r = sim.run();
  EXPECT_EQ(c.got, 20);
  EXPECT_EQ(r.end, microseconds(200));
}

TEST(Simulation, ComponentsCarryPathAndStatGroup) {
  Simulation sim;
  Consumer c(sim, "gpu.sm3.consumer");
  StatId id = c.stat_group().counter("tokens", "tokens consumed");
  sim.stats().add(id, 2);
  EXPECT_EQ(sim.stats().value("gpu.sm3.consumer.tokens"), 2u);
}

TEST(RunJobs, RunsEveryItemOnceAtAnyJobCountAndStopsAtAFailure) {
  for (unsigned jobs : {1u, 3u}) {
    std::vector<std::atomic<int>> seen(50);
    run_jobs(seen.size(), jobs, [&](size_t i) { ++seen[i]; });
    for (const auto& s : seen) EXPECT_EQ(s.load(), 1) << jobs;
    std::atomic<size_t> ran{0};
    EXPECT_THROW(run_jobs(1000, jobs,
                          [&](size_t i) {
                            ++ran;
                            if (i == 5) throw std::runtime_error("item 5");
                            // Real items take time; trivial ones let the other threads claim
                            // all 1000 while the failing one is still unwinding (seen on CI).
                            std::this_thread::sleep_for(std::chrono::microseconds(200));
                          }),
                 std::runtime_error);
    EXPECT_LT(ran.load(), 1000u) << "claiming stops after a failure";
  }
}

}  // namespace
}  // namespace bwsim
