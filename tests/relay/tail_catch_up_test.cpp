// TailCatchUp: the hand-over from the table to the slot, and the replay check.
#include <gtest/gtest.h>

#include "pipeline/tail_catch_up.hpp"

namespace outbox::relay {
namespace {

TEST(TailCatchUp, StreamsOnlyAfterTheTableWasReadAndAcknowledged) {
  TailCatchUp c;
  EXPECT_TRUE(c.polling());
  EXPECT_FALSE(c.ReadyToStream(true)) << "the table was not read yet";
  c.CoveredAll();
  EXPECT_FALSE(c.polling()) << "polling stops once the table was read up to a moment";
  EXPECT_FALSE(c.ReadyToStream(false)) << "what the catch-up read is not acknowledged yet";
  EXPECT_TRUE(c.ReadyToStream(true));
  c.Streaming();
  EXPECT_TRUE(c.streaming());
  c.CoveredAll();
  EXPECT_TRUE(c.streaming());
  c.Restart();
  EXPECT_TRUE(c.polling()) << "a resync catches up again";
}

OutboxRow Row(int64_t seq, bool replayed, uint64_t txn, bool in_table = true) {
  OutboxRow r;
  r.seq = in_table ? seq : 0;
  r.in_table = in_table;
  r.replayed = replayed;
  r.txn = txn;
  return r;
}

TEST(TailCatchUp, ReplayedRowsThatAreGoneAreSkippedAndTheirTransactionsDone) {
  std::vector<OutboxRow> rows = {Row(1, true, 7), Row(2, true, 7), Row(0, true, 8, false), Row(3, false, 9),
                                 Row(4, true, 10)};
  std::vector<int64_t> looked_up;
  for (const RowRef& r : ReplayedRows(rows)) looked_up.push_back(r.seq);
  EXPECT_EQ(looked_up, (std::vector<int64_t>{1, 2, 4})) << "WAL messages and fresh rows need no lookup";
  const auto done = DropAcknowledged(rows, {2});  // only 2 is still unacknowledged
  EXPECT_EQ(done, (std::vector<uint64_t>{7, 10}));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].seq, 2);
  EXPECT_FALSE(rows[1].in_table) << "a WAL-message event is published again";
  EXPECT_EQ(rows[2].seq, 3) << "committed after the stream began: never checked";
}

}  // namespace
}  // namespace outbox::relay
