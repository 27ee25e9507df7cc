// LsnTracker: tail mode confirms only up to fully released transactions.
#include <gtest/gtest.h>

#include "pipeline/lsn_tracker.hpp"

namespace outbox::relay {
namespace {

TEST(LsnTracker, ConfirmsATransactionOnlyOnceAllItsEventsAreDone) {
  LsnTracker t;
  t.Reset(100);
  const uint64_t x = t.Begin();
  t.Add(x);
  t.Add(x);
  t.Commit(200);
  EXPECT_EQ(t.confirmed(), 100u);
  t.Done(x);
  EXPECT_EQ(t.confirmed(), 100u) << "one event of the transaction is still outstanding";
  t.Done(x);
  EXPECT_EQ(t.confirmed(), 200u);
}

TEST(LsnTracker, NeverPassesAnEarlierTransactionThatIsNotDone) {
  LsnTracker t;
  t.Reset(0);
  const uint64_t a = t.Begin();
  t.Add(a);
  t.Commit(10);
  const uint64_t b = t.Begin();
  t.Add(b);
  t.Commit(20);
  t.Done(b);
  EXPECT_EQ(t.confirmed(), 0u) << "b is done, but a before it is not";
  t.Done(a);
  EXPECT_EQ(t.confirmed(), 20u);
}

TEST(LsnTracker, EventsCountBeforeTheirCommitArrives) {
  LsnTracker t;
  t.Reset(0);
  const uint64_t a = t.Begin();
  t.Add(a);
  t.Done(a);  // published while the rest of the transaction is still being received
  EXPECT_EQ(t.confirmed(), 0u) << "not confirmable before its end is known";
  t.Add(a);
  t.Commit(50);
  EXPECT_EQ(t.confirmed(), 0u);
  t.Done(a);
  EXPECT_EQ(t.confirmed(), 50u);
}

TEST(LsnTracker, KeepalivesConfirmOnlyWhenNothingIsOutstanding) {
  LsnTracker t;
  t.Reset(5);
  t.Keepalive(40);
  EXPECT_EQ(t.confirmed(), 40u) << "an idle outbox does not pin WAL";
  const uint64_t a = t.Begin();
  t.Add(a);
  t.Keepalive(80);
  EXPECT_EQ(t.confirmed(), 40u) << "a transaction is open";
  t.Commit(90);
  t.Keepalive(100);
  EXPECT_EQ(t.confirmed(), 40u) << "its event is not done";
  t.Done(a);
  t.Keepalive(100);
  EXPECT_EQ(t.confirmed(), 100u);
}

TEST(LsnTracker, EmptyTransactionsAreConfirmableAtOnce) {
  LsnTracker t;
  t.Reset(0);
  t.Begin();
  t.Commit(30);
  EXPECT_EQ(t.confirmed(), 30u);
}

TEST(LsnTracker, IndexesFromBeforeAResetAndPolledRowsAreIgnored) {
  LsnTracker t;
  t.Reset(0);
  const uint64_t a = t.Begin();
  t.Add(a);
  t.Commit(10);
  t.Reset(0);  // the stream restarted
  const uint64_t b = t.Begin();
  t.Add(b);
  t.Commit(20);
  t.Done(a);
  t.Done(0);  // a polled row (catch-up) carries txn 0
  EXPECT_EQ(t.confirmed(), 0u);
  EXPECT_EQ(t.open_transactions(), 1u);
  t.Done(b);
  EXPECT_EQ(t.confirmed(), 20u);
}

}  // namespace
}  // namespace outbox::relay
