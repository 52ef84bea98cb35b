#include <gtest/gtest.h>

#include "sim/gap_timeline.hpp"
#include "sim/rng.hpp"
#include "tests/test_util.hpp"

namespace bwsim {
namespace {

TEST(GapTimeline, LaterReservationBackfillsAnEarlierGap) {
  GapTimeline t;
  // A miss reserves its return far in the future; a hit issued after it returns earlier.
  EXPECT_EQ(t.reserve(picoseconds(0), picoseconds(1000), picoseconds(100)), picoseconds(1100));
  EXPECT_EQ(t.reserve(picoseconds(0), picoseconds(300), picoseconds(100)), picoseconds(400));
  // Overlapping requests queue first come, first served.
  EXPECT_EQ(t.reserve(picoseconds(0), picoseconds(350), picoseconds(100)), picoseconds(500));
  // A request that does not fit before 1000 goes after the miss's slot.
  EXPECT_EQ(t.reserve(picoseconds(0), picoseconds(900), picoseconds(200)), picoseconds(1300));
  EXPECT_EQ(t.busy(), picoseconds(500));
}

TEST(GapTimeline, MergesAndPrunes) {
  GapTimeline t;
  for (int i = 0; i < 10; ++i) t.reserve(picoseconds(0), picoseconds(0), picoseconds(10));
  EXPECT_EQ(t.intervals(), 1u);  // back-to-back reservations merge
  EXPECT_EQ(t.reserve(picoseconds(0), picoseconds(0), picoseconds(5)), picoseconds(105));
  t.reserve(picoseconds(200), picoseconds(300), picoseconds(10));  // prunes everything before 200
  EXPECT_EQ(t.intervals(), 1u);
}

TEST(GapTimeline, SplitReservationFillsGapsInOrder) {
  GapTimeline t;
  t.reserve(picoseconds(0), picoseconds(100), picoseconds(50));  // [100,150)
  t.reserve(picoseconds(0), picoseconds(200), picoseconds(50));  // [200,250)
  // 120 ps of service from 60: 40 before 100, 50 between 150 and 200, 30 after 250.
  EXPECT_EQ(t.reserve_split(picoseconds(0), picoseconds(60), picoseconds(120)), picoseconds(280));
  EXPECT_EQ(t.intervals(), 1u);  // [60,280) all busy now, merged
  EXPECT_EQ(t.busy(), picoseconds(220));
  // Fits in the first gap: ends there and leaves the rest free.
  t.reserve(picoseconds(0), picoseconds(400), picoseconds(10));  // [400,410)
  EXPECT_EQ(t.reserve_split(picoseconds(0), picoseconds(300), picoseconds(20)), picoseconds(320));
  // Exactly fills a gap: ends where the next interval starts, nothing past it is claimed.
  EXPECT_EQ(t.reserve_split(picoseconds(0), picoseconds(320), picoseconds(80)), picoseconds(400));
  EXPECT_EQ(t.intervals(), 2u);  // [60,280) and [300,410): the 280..300 gap keeps them apart
  EXPECT_EQ(t.reserve(picoseconds(0), picoseconds(0), picoseconds(20)), picoseconds(20));
}

// A stream of pieces booked in one walk lands exactly where piece-by-piece reservations do, on
// timelines fragmented by random earlier bookings (hits and misses out of order).
TEST(GapTimeline, StreamOfPiecesEqualsOneReservationEach) {
  Rng rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    GapTimeline a;
    GapTimeline b;
    int64_t now = 0;
    for (int op = 0; op < 40; ++op) {
      now += static_cast<int64_t>(rng.below(50));
      const int64_t ready = now + static_cast<int64_t>(rng.below(2000));
      const int64_t piece = 1 + static_cast<int64_t>(rng.below(120));
      if (rng.below(3) == 0) {
        const uint64_t n = 1 + rng.below(5);
        Tick last{0};
        for (uint64_t k = 0; k < n; ++k)
          last =
              std::max(last, a.reserve(picoseconds(now), picoseconds(ready + piece * static_cast<int64_t>(k)),
                                       picoseconds(piece)));
        ASSERT_EQ(b.reserve_stream(picoseconds(now), picoseconds(ready), picoseconds(piece), n), last)
            << trial << " " << op;
      } else {
        ASSERT_EQ(a.reserve(picoseconds(now), picoseconds(ready), picoseconds(piece)),
                  b.reserve(picoseconds(now), picoseconds(ready), picoseconds(piece)));
      }
      ASSERT_EQ(a.intervals(), b.intervals());
      ASSERT_EQ(a.busy(), b.busy());
    }
  }
}

}  // namespace
}  // namespace bwsim
