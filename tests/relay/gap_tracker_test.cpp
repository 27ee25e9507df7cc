// GapTracker: the bookkeeping that lets the poll source never skip a row
// committed out of seq order, and forget rolled-back seq values only when a
// snapshot proves they can no longer appear.
#include "pg/gap_tracker.hpp"

#include <gtest/gtest.h>

namespace outbox::relay {
namespace {

constexpr int64_t kAll = GapTracker::kCoveredAll;

std::vector<int64_t> Published(GapTracker& t, const std::vector<int64_t>& seqs, int64_t covered = kAll,
                               uint64_t xmin = 1) {
  std::vector<int64_t> out;
  for (size_t i : t.Apply(seqs, covered, xmin)) out.push_back(seqs[i]);
  return out;
}

TEST(GapTracker, PublishesNewRowsInOrderAndAdvancesTheHighWaterMark) {
  GapTracker t;
  EXPECT_EQ(Published(t, {1, 2, 3}), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(t.high_water(), 3);
  EXPECT_EQ(t.gap_points(), 0u);
  auto q = t.NextQuery();
  EXPECT_EQ(q.after, 3);
  EXPECT_TRUE(q.lows.empty());
}

TEST(GapTracker, ASmallerSeqCommittedLaterIsStillPublished) {
  GapTracker t;
  // seq 2 belongs to a transaction still running when 1 and 3 are visible.
  EXPECT_EQ(Published(t, {1, 3}), (std::vector<int64_t>{1, 3}));
  ASSERT_TRUE(t.HasUnboundGaps());
  t.BindGaps(100);
  auto q = t.NextQuery();
  EXPECT_EQ(q.after, 3);
  EXPECT_EQ(q.lows, (std::vector<int64_t>{2}));
  EXPECT_EQ(q.highs, (std::vector<int64_t>{2}));
  // Its writer (xid < 100) is still running: xmin 90 proves nothing.
  EXPECT_TRUE(Published(t, {}, kAll, 90).empty());
  EXPECT_EQ(t.gap_points(), 1u);
  // Now it committed and is visible.
  EXPECT_EQ(Published(t, {2, 4}, kAll, 95), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(t.gap_points(), 0u);
}

TEST(GapTracker, ForgetsARolledBackSeqOnlyOnceXminPassesItsBound) {
  GapTracker t;
  Published(t, {1, 3});
  t.BindGaps(100);
  EXPECT_TRUE(Published(t, {}, kAll, 99).empty());
  EXPECT_EQ(t.gap_points(), 1u) << "a writer with xid < 100 may still commit seq 2";
  EXPECT_TRUE(Published(t, {}, kAll, 100).empty());
  EXPECT_EQ(t.gap_points(), 0u) << "every xid < 100 has ended and seq 2 is not visible";
}

TEST(GapTracker, NeverForgetsAnUnboundGap) {
  GapTracker t;
  Published(t, {1, 3});
  EXPECT_TRUE(Published(t, {}, kAll, 1000000).empty());
  EXPECT_EQ(t.gap_points(), 1u);
}

TEST(GapTracker, OnlyGapsTheQueryCoveredCanBeForgotten) {
  GapTracker t;
  Published(t, {1, 3, 5, 7});
  t.BindGaps(10);
  // A limited result that stopped at seq 4: gap 6 was not examined.
  Published(t, {8}, /*covered=*/4, /*xmin=*/20);
  EXPECT_EQ(t.NextQuery().lows, (std::vector<int64_t>{6}));
}

TEST(GapTracker, SplitsARangeWhenARowInsideItAppears) {
  GapTracker t;
  Published(t, {10});  // startup: 1..9 unknown
  t.BindGaps(50);
  EXPECT_EQ(t.gap_points(), 9u);
  EXPECT_EQ(Published(t, {5}, kAll, 40), (std::vector<int64_t>{5}));
  EXPECT_EQ(t.gap_points(), 8u);
  EXPECT_EQ(t.gap_ranges(), 2u);
  EXPECT_EQ(Published(t, {5}, kAll, 40), std::vector<int64_t>{}) << "already published";
}

TEST(GapTracker, AWideGapIsOneRangeAndRowsHandedOverAreNotReadAgain) {
  GapTracker t;
  // At start the lowest row is 1000000: a transaction still running may commit
  // any smaller seq later, so all of 1..999999 is one gap, read as one range.
  Published(t, {1000000, 1000001});
  t.BindGaps(7);
  auto q = t.NextQuery();
  EXPECT_EQ(q.after, 1000001);
  EXPECT_EQ(q.lows, (std::vector<int64_t>{1}));
  EXPECT_EQ(q.highs, (std::vector<int64_t>{999999}));
  EXPECT_EQ(Published(t, {42}, kAll, 6), (std::vector<int64_t>{42})) << "committed late, below the first row";
  q = t.NextQuery();
  EXPECT_EQ(q.lows, (std::vector<int64_t>{1, 43}));
  EXPECT_EQ(q.highs, (std::vector<int64_t>{41, 999999})) << "never 1000000: it was handed over";
  EXPECT_EQ(Published(t, {}, kAll, 7), std::vector<int64_t>{});
  EXPECT_EQ(t.gap_points(), 0u) << "the writers that could fill it have ended";
  EXPECT_TRUE(t.NextQuery().lows.empty());
}

TEST(GapTracker, ResetStartsOver) {
  GapTracker t;
  Published(t, {1, 2, 4});
  t.Reset();
  EXPECT_EQ(t.high_water(), 0);
  EXPECT_EQ(t.gap_points(), 0u);
  EXPECT_EQ(Published(t, {4}), (std::vector<int64_t>{4}));
}

}  // namespace
}  // namespace outbox::relay
