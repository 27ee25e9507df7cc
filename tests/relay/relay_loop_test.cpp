// The relay's loop on fake stages: each rule of the delivery promise, driven
// step by step without servers (tests/relay/fake_stages.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "fake_stages.hpp"
#include "util/clock.hpp"

namespace outbox::relay::fake {
namespace {

bool Ascending(const std::vector<int64_t>& v) { return std::is_sorted(v.begin(), v.end()); }

// Per key, the seqs in the order their rows were acknowledged.
std::map<std::string, std::vector<int64_t>> AckOrderByKey(const Table& t, const std::map<int64_t, std::string>& keys) {
  std::map<std::string, std::vector<int64_t>> out;
  for (int64_t s : t.acked) out[keys.at(s)].push_back(s);
  return out;
}

// Per key, the values in the order of their first write.
std::vector<std::string> FirstWrites(const Harness& h, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& v : h.Written(key)) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

// One event of `key` delivered and acknowledged first: until the producer has
// delivered an event of a key, only one of its events is in flight (KeyFlights).
void Warm(Harness& h, const std::string& key) {
  h.table.Insert(key, key + "0");
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
}

TEST(RelayLoop, ARowIsAcknowledgedOnlyAfterItsReportSucceeded) {
  Harness h;
  Warm(h, "A");
  h.publisher->auto_deliver = false;
  h.table.Insert("A", "a1");
  h.table.Insert("A", "a2");
  h.StepUntil([&] { return h.publisher->outstanding.size() >= 2; });
  EXPECT_EQ(h.publisher->outstanding.size(), 2u) << "both handed to the producer";
  EXPECT_EQ(h.table.acked, (std::vector<int64_t>{1})) << "no report yet: nothing more acknowledged";
  h.publisher->Deliver(1);
  h.Steps(20);
  EXPECT_EQ(h.table.acked, (std::vector<int64_t>{1, 2}));
  h.publisher->Settle("a2", DeliveryStatus::kRetriable);
  h.Steps(5);
  EXPECT_EQ(h.table.acked, (std::vector<int64_t>{1, 2})) << "a failed report acknowledges nothing";
  EXPECT_EQ(h.table.rows.count(3), 1u);
}

TEST(RelayLoop, TheWindowBoundHolds) {
  Config c = Harness::DefaultConfig();
  c.source.max_in_flight = 30;
  c.source.batch_size = 10;
  Harness h(c);
  h.publisher->auto_deliver = false;
  for (int i = 0; i < 200; ++i) h.table.Insert("K" + std::to_string(i % 7), "v" + std::to_string(i));
  for (int round = 0; round < 40; ++round) {
    h.Steps(3);
    EXPECT_LE(h.relay->window().size(), 30u);
    EXPECT_LE(h.publisher->outstanding.size(), 30u);
    h.publisher->Deliver(7);
  }
  EXPECT_LE(h.source->max_outstanding_seen, 30u - 10u) << "a read happens only with room for a whole batch";
  h.publisher->auto_deliver = true;
  EXPECT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
}

TEST(RelayLoop, AnyFailedDeliveryLeadsToAResyncThatPublishesItAgain) {
  Harness h;
  int failures = 1;
  h.publisher->decide = [&](const KafkaRecord& r) {
    return r.value == "b2" && failures-- > 0 ? DeliveryStatus::kRetriable : DeliveryStatus::kOk;
  };
  for (int i = 1; i <= 3; ++i) h.table.Insert("B", "b" + std::to_string(i));
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  EXPECT_EQ(h.relay->stats().resyncs.load(), 1u);
  EXPECT_EQ(h.relay->stats().failed_retriable.load(), 1u);
  const auto w = h.Written("B");
  EXPECT_NE(std::find(w.begin(), w.end(), "b2"), w.end()) << "the failed event was published again";
  EXPECT_GE(h.source->reads, 2) << "the source was read again after the resync";
}

TEST(RelayLoop, EachKeysOrderHoldsAcrossAFailure) {
  Harness h;
  h.publisher->gapless = true;
  int failures = 1;
  h.publisher->decide = [&](const KafkaRecord& r) {
    return r.value == "k2" && failures-- > 0 ? DeliveryStatus::kRetriable : DeliveryStatus::kOk;
  };
  std::map<int64_t, std::string> keys;
  for (int i = 1; i <= 6; ++i) {
    keys[h.table.Insert("K", "k" + std::to_string(i))] = "K";
    keys[h.table.Insert("L", "l" + std::to_string(i))] = "L";
  }
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  EXPECT_EQ(FirstWrites(h, "K"), (std::vector<std::string>{"k1", "k2", "k3", "k4", "k5", "k6"}));
  for (const auto& [key, seqs] : AckOrderByKey(h.table, keys)) EXPECT_TRUE(Ascending(seqs)) << key;
}

TEST(RelayLoop, AHoldCoversEventsAlreadyInFlight) {
  Harness h;
  Warm(h, "Q");  // seq 1
  h.publisher->auto_deliver = false;
  std::map<int64_t, std::string> keys;
  for (const char* v : {"q1", "q2", "q3", "q4"}) keys[h.table.Insert("Q", v)] = "Q";
  keys[h.table.Insert("R", "r1")] = "R";
  h.StepUntil([&] { return h.publisher->outstanding.size() >= 5; });
  ASSERT_EQ(h.publisher->outstanding.size(), 5u) << "all of Q handed over before any report";
  h.publisher->Settle("q1", DeliveryStatus::kOk);
  h.publisher->Settle("q2", DeliveryStatus::kPermanent);  // rejected for good
  h.publisher->Settle("q3", DeliveryStatus::kOk);         // another partition: it went through
  h.publisher->Settle("q4", DeliveryStatus::kOk);
  h.publisher->Settle("r1", DeliveryStatus::kOk);
  h.publisher->auto_deliver = true;
  h.publisher->decide = [](const KafkaRecord& r) {
    return r.value == "q2" ? DeliveryStatus::kPermanent : DeliveryStatus::kOk;
  };
  ASSERT_TRUE(h.StepUntil([&] { return h.table.dead_letters.count(3) == 1; })) << "q2 dead-lettered (2 attempts)";
  h.Steps(50);
  EXPECT_EQ(h.table.rows.count(4), 1u) << "q3 went through behind q2 but is not acknowledged: it stays, held";
  EXPECT_EQ(h.table.rows.count(5), 1u);
  EXPECT_EQ(h.table.rows.count(6), 0u) << "other keys flow";
  for (int64_t s : h.table.acked) EXPECT_TRUE(s == 1 || s == 2 || s == 6) << "acknowledged " << s;
  const auto q = h.Written("Q");
  EXPECT_EQ(std::count(q.begin(), q.end(), "q3"), 1) << "held: not sent again while q2 is dead-lettered";

  // The operator requeues q2 after fixing its topic: it goes first, then q3 and q4 again.
  h.table.rows[3] = h.table.dead_letters[3];
  h.table.dead_letters.clear();
  h.publisher->decide = [](const KafkaRecord&) { return DeliveryStatus::kOk; };
  h.publisher->written.clear();
  // The NOTIFY that `dlq requeue` sends reaches the relay as a resync; here a
  // reconnect does the same (it reloads the dead-letter table).
  h.acks->Disconnect();
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  EXPECT_EQ(h.Written("Q"), (std::vector<std::string>{"q2", "q3", "q4"}));
}

TEST(RelayLoop, TheConfirmedLsnNeverPassesAnUnacknowledgedEvent) {
  Harness h;
  h.source->stream = true;  // one transaction per event, LSN = seq
  Warm(h, "S");             // s0: LSN 1
  h.publisher->auto_deliver = false;
  for (int i = 1; i <= 5; ++i) h.table.Insert("S", "s" + std::to_string(i));
  h.StepUntil([&] { return h.publisher->outstanding.size() >= 5; });
  h.publisher->Settle("s1", DeliveryStatus::kOk);
  h.publisher->Settle("s2", DeliveryStatus::kOk);
  h.publisher->Settle("s4", DeliveryStatus::kOk);  // overtakes s3, e.g. another partition
  h.Steps(10);
  EXPECT_EQ(h.source->confirmed_lsn(), 3u) << "s3 has no report yet";
  h.publisher->Settle("s3", DeliveryStatus::kRetriable);
  h.Steps(3);
  EXPECT_LT(h.source->confirmed_lsn(), 4u) << "s3 failed: never confirmed past it";
  h.publisher->auto_deliver = true;
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  h.Steps(5);
  EXPECT_EQ(h.source->confirmed_lsn(), 6u);
}

TEST(RelayLoop, AStreamedRowNotVisibleYetIsAcknowledgedOnceItIs) {
  Harness h;
  h.source->stream = true;
  h.table.Insert("V", "v1");
  h.table.Insert("V", "v2");
  h.acks->invisible = {1};  // its commit waits, e.g. for a synchronous standby
  h.Steps(100);
  EXPECT_EQ(h.table.acked, (std::vector<int64_t>{2}));
  EXPECT_EQ(h.table.rows.count(1), 1u) << "not forgotten: the acknowledgement is tried again";
  EXPECT_LT(h.source->confirmed_lsn(), 1u) << "its transaction is not confirmed meanwhile";
  h.acks->invisible.clear();
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  h.Steps(5);
  EXPECT_EQ(h.source->confirmed_lsn(), 2u);
  EXPECT_EQ(h.Written("V"), (std::vector<std::string>{"v1", "v2"})) << "published once";
}

TEST(RelayLoop, APolledRowRemovedBySomeoneElseIsCountedAndReleased) {
  Harness h;
  h.publisher->auto_deliver = false;
  h.table.Insert("G", "g1");
  h.Steps(5);
  h.table.rows.clear();  // an operator deleted it while it was in flight
  h.publisher->Deliver();
  ASSERT_TRUE(h.StepUntil([&] { return h.relay->window().empty(); }));
  EXPECT_EQ(h.relay->stats().ack_missing_rows.load(), 1u);
}

TEST(RelayLoop, AFatalProducerErrorRebuildsAndLosesNothing) {
  Harness h;
  h.publisher->auto_deliver = false;
  for (int i = 1; i <= 8; ++i) h.table.Insert("F" + std::to_string(i % 3), "f" + std::to_string(i));
  h.Steps(5);
  h.publisher->Deliver(3);
  h.publisher->rebuild_next_poll = true;  // the other five vanish with the old instance
  h.Steps(2);
  EXPECT_EQ(h.relay->stats().producer_rebuilds.load(), 1u);
  EXPECT_TRUE(h.relay->resyncing());
  h.publisher->auto_deliver = true;
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  EXPECT_EQ(h.table.acked.size(), 8u);
}

TEST(RelayLoop, ASynchronousRefusalHoldsOnlyItsKey) {
  Harness h;
  h.publisher->refuse = [](const KafkaRecord& r) {
    return r.value == "bad" ? DeliveryStatus::kPermanent : DeliveryStatus::kOk;
  };
  h.table.Insert("P", "p1");
  h.table.Insert("P", "bad");
  h.table.Insert("P", "p3");
  for (int i = 0; i < 5; ++i) h.table.Insert("O" + std::to_string(i), "o");
  ASSERT_TRUE(h.StepUntil([&] { return h.table.dead_letters.size() == 1; }));
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.size() == 1; })) << "everything but the held p3 flows";
  EXPECT_EQ(h.table.rows.begin()->second.payload, "p3");
  EXPECT_EQ(h.Written("P"), (std::vector<std::string>{"p1"}));
}

TEST(RelayLoop, AnAckFailureKeepsTheEventsAndRetries) {
  Harness h;
  h.acks->fail_acks = true;
  h.table.Insert("A", "a1");
  h.Steps(50);
  EXPECT_EQ(h.table.rows.size(), 1u);
  h.acks->fail_acks = false;
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  EXPECT_EQ(h.Written("A").size(), 1u) << "confirmed once, acknowledged once the store works again";
}

TEST(RelayLoop, AFailingAcknowledgementBacksOffAndIsCounted) {
  Harness h;
  h.acks->fail_acks = true;
  h.table.Insert("A", "a1");
  h.Steps(1000);  // 10 s of the harness' clock; without backoff, one attempt a round
  uint64_t attempts = 0;
  for (const auto& [key, n] : h.relay->stats().retries.Snapshot()) {
    if (key.rfind("ack\t", 0) == 0) attempts += n;
  }
  EXPECT_GE(attempts, 4u);
  EXPECT_LE(attempts, 10u) << "100 ms, 200 ms, 400 ms, ... up to postgres.reconnect_backoff_max_ms";
  EXPECT_GT(h.relay->stats().ack_failing.Get().since_unix_ms, 0);
  h.acks->fail_acks = false;
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  EXPECT_EQ(h.relay->stats().ack_failing.Get().since_unix_ms, 0) << "cleared once acknowledging works";
}

TEST(RelayLoop, LatencyOfRowsWithAbsurdCreatedAtIsSkippedAndCounted) {
  Harness h;
  const double now_s = static_cast<double>(UnixMillis()) / 1000.0;
  h.table.rows[h.table.Insert("A", "normal")].created_epoch = now_s - 0.5;
  h.table.rows[h.table.Insert("B", "1900")].created_epoch = -2208988800.0;
  h.table.rows[h.table.Insert("C", "future")].created_epoch = now_s + 3600;
  h.table.rows[h.table.Insert("D", "skew")].created_epoch = now_s + 0.5;
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  const RelayStats& s = h.relay->stats();
  EXPECT_EQ(s.commit_to_ack_seconds.Count(), 2u) << "the normal row and the one within the clock skew";
  EXPECT_LT(s.commit_to_ack_seconds.Sum(), 60.0);
  const auto skipped = s.latency_skipped.Snapshot();
  EXPECT_EQ(skipped.at("too_old"), 1u);
  EXPECT_EQ(skipped.at("future"), 1u);
}

// A session that breaks right after each (re)connect, as when a server or a
// pooler terminates it, or max_connections is reached: reconnects back off
// instead of running once a round, and the backoff starts over only after
// the sessions stayed up.
TEST(Connector, ASessionThatBreaksRightAfterConnectingBacksOff) {
  Table table;
  Source source(table);
  AckStore store(table);
  RelayStats stats;
  Connector connector("outbox.outbox", std::chrono::milliseconds(10000), stats);
  Clock::time_point now{};
  int connects = 0;
  for (int round = 0; round < 2000; ++round, now += std::chrono::milliseconds(10)) {  // 20 s
    if (connector.Ensure(now, source, store) == Connector::Result::kConnected) {
      ++connects;
      store.Disconnect();  // broken again at once
    }
  }
  EXPECT_GE(connects, 5);
  EXPECT_LE(connects, 10) << "100 ms, 200 ms, ... 10 s between attempts, not one a round";

  // Up for longer than kStableAfter: a later break is retried at once.
  ASSERT_EQ(connector.Ensure(now + std::chrono::seconds(11), source, store), Connector::Result::kConnected);
  now += std::chrono::seconds(11);
  ASSERT_EQ(connector.Ensure(now, source, store), Connector::Result::kUp);
  now += Connector::kStableAfter;
  ASSERT_EQ(connector.Ensure(now, source, store), Connector::Result::kUp);
  store.Disconnect();
  now += std::chrono::milliseconds(10);
  EXPECT_EQ(connector.Ensure(now, source, store), Connector::Result::kConnected);
}

// Exactly once: nothing is read before the publisher recovered (transactions
// initialised, checkpoint read), and the rows the checkpoint covers are
// acknowledged without being published again.
TEST(RelayLoop, ExactlyOnceReadsNothingBeforeRecoveryAndSkipsWhatTheCheckpointCovers) {
  Harness h;
  for (int i = 1; i <= 5; ++i) h.table.Insert("A", "a" + std::to_string(i));
  h.publisher->needs_recovery = true;
  h.publisher->recover_fails = true;  // e.g. the broker is unreachable
  h.Steps(50);
  EXPECT_EQ(h.source->reads, 0) << "read before the checkpoint was known";
  EXPECT_TRUE(h.publisher->written.empty());
  h.publisher->recover_fails = false;
  h.publisher->recovered.rows = {RowRef{1, 0}, RowRef{2, 0}};  // published, not yet acknowledged
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  EXPECT_EQ(h.publisher->recoveries, 1);
  EXPECT_EQ(h.Written("A"), (std::vector<std::string>{"a3", "a4", "a5"})) << "a1 and a2 were published already";
  EXPECT_EQ(std::vector<int64_t>(h.table.acked.begin(), h.table.acked.begin() + 2), (std::vector<int64_t>{1, 2}))
      << "acknowledged before anything was read";
}

// The checkpoint a commit writes names every row handed over or delivered and
// not yet acknowledged: a crash after the commit loses no acknowledgement.
TEST(RelayLoop, ExactlyOnceTheCheckpointNamesWhatIsNotAcknowledgedYet) {
  Harness h;
  Warm(h, "A");
  Warm(h, "B");
  ASSERT_TRUE(h.publisher->checkpoint);
  const auto seqs = [&] {
    std::vector<int64_t> out;
    for (const RowRef& r : h.publisher->checkpoint().rows) out.push_back(r.seq);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_TRUE(seqs().empty()) << "everything acknowledged";
  h.publisher->auto_deliver = false;
  h.table.Insert("A", "a1");  // seq 3
  h.table.Insert("B", "b1");  // seq 4
  ASSERT_TRUE(h.StepUntil([&] { return h.publisher->outstanding.size() == 2; }));
  EXPECT_EQ(seqs(), (std::vector<int64_t>{3, 4})) << "handed over";
  h.acks->fail_acks = true;
  h.publisher->Deliver(1);
  h.Steps(20);
  EXPECT_EQ(seqs(), (std::vector<int64_t>{3, 4})) << "3 delivered but its acknowledgement failed: still named";
  h.acks->fail_acks = false;
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.count(3) == 0; }));
  EXPECT_EQ(seqs(), (std::vector<int64_t>{4})) << "3 acknowledged: no longer named";
}

// The publisher hears of a backlog while reads come back full (its
// transactions then stay open longer), and of none once the relay caught up.
TEST(RelayLoop, ThePublisherHearsOfABacklogOnlyWhileOneIsRead) {
  Config c = Harness::DefaultConfig();
  c.source.batch_size = 10;
  c.source.max_in_flight = 40;
  Harness h(c);
  h.Steps(5);
  EXPECT_FALSE(h.publisher->backlog_seen) << "nothing to read";
  h.publisher->auto_deliver = false;
  for (int i = 0; i < 100; ++i) h.table.Insert("K" + std::to_string(i % 7), "v" + std::to_string(i));
  ASSERT_TRUE(h.StepUntil([&] { return h.relay->window().size() > 0; }));
  h.Steps(2);
  EXPECT_TRUE(h.publisher->backlog) << "more rows wait than were handed over";
  h.publisher->auto_deliver = true;
  ASSERT_TRUE(h.StepUntil([&] { return h.table.rows.empty(); }));
  h.Steps(5);
  EXPECT_FALSE(h.publisher->backlog) << "caught up";
}

}  // namespace
}  // namespace outbox::relay::fake
