// Tail mode (source.mode = "tail"): the relay streams the outbox table's inserts
// from a logical replication slot. Same records as poll mode, commit order per
// aggregate, nothing rolled back, and the slot is dropped by each test.
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

class TailTest : public ::testing::Test {
 protected:
  void SetUp() override { sdk::Migrate(conn_, schema_.name()); }
  void TearDown() override { DropTailSlot(config_); }
  bool Streaming() { return TailStreaming(config_); }
  int64_t SlotConfirmedLsn() { return test::SlotConfirmedLsn(config_); }
  ScopedSchema schema_{"tail"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("tail");
  relay::Config config_ = TailConfig(RelayConfig(schema_.name(), prefix_));
  sdk::Outbox outbox_{sdk::OutboxOptions{schema_.name()}};
};

TEST_F(TailTest, SameRecordAsPollMode) {
  // One event published by a poll relay and its twin by a tail relay: identical but for the event id.
  sdk::Event e{"order", "twin", "OrderCreated", std::string("p\0q", 3)};
  e.headers["traceparent"] = "00-1";
  e.headers["b"] = "2";
  std::string poll_id, tail_id;
  {
    pqxx::work tx(conn_);
    poll_id = outbox_.Enqueue(tx, e);
    tx.commit();
  }
  std::vector<ConsumedRecord> poll_records;
  {
    RelayThread poll(RelayConfig(schema_.name(), prefix_));
    poll_records = ConsumeEvents({prefix_ + ".order"}, {{poll_id, "twin"}});
    ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 10000));
    EXPECT_EQ(poll.Stop(), 0);
  }
  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return Streaming(); }, 20000));
  {
    pqxx::work tx(conn_);
    tail_id = outbox_.Enqueue(tx, e);
    tx.commit();
  }
  auto records = ConsumeEvents({prefix_ + ".order"}, {{poll_id, "twin"}, {tail_id, "twin"}});
  EXPECT_EQ(relay.Stop(), 0);
  ASSERT_EQ(poll_records.size(), 1u);
  const ConsumedRecord* p = nullptr;
  const ConsumedRecord* t = nullptr;
  for (const auto& r : records) (r.Header("event_id") == poll_id ? p : t) = &r;
  ASSERT_TRUE(p && t);
  EXPECT_EQ(t->key, p->key);
  EXPECT_EQ(t->value, p->value);
  ASSERT_EQ(t->headers.size(), p->headers.size());
  for (size_t i = 0; i < t->headers.size(); ++i) {
    EXPECT_EQ(t->headers[i].first, p->headers[i].first);
    if (t->headers[i].first == "event_id" || t->headers[i].first == "created_at") continue;
    EXPECT_EQ(t->headers[i].second, p->headers[i].second) << t->headers[i].first;
  }
}

TEST_F(TailTest, RowsWrittenBeforeTheSlotExistedArePublishedByCatchUp) {
  std::vector<WrittenEvent> written;
  {
    pqxx::work tx(conn_);
    for (int i = 0; i < 20; ++i) written.push_back({outbox_.Enqueue(tx, sdk::Event{"order", "k", "E", "x"}), "k"});
    tx.commit();
  }
  RelayThread relay(config_);
  auto audit = AuditDelivery(written, ConsumeEvents({prefix_ + ".order"}, written));
  EXPECT_EQ(audit.lost + audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(relay.Stop(), 0);
}

TEST_F(TailTest, WalMessageEventGivesTheSameRecordAsARow) {
  sdk::OutboxOptions wal_options{schema_.name()};
  wal_options.mode = sdk::WriteMode::kWalMessage;
  sdk::Outbox wal_outbox(wal_options);
  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return Streaming(); }, 20000));
  sdk::Event e{"order", "twin", "OrderCreated", std::string("p\0q\xff", 4)};
  e.headers["traceparent"] = "00-1";
  e.headers["b"] = "2";
  // base64 over several lines; its own key, as its topic is another one
  sdk::Event routed{"order", "twin-r", "OrderRouted", std::string(3000, 'z')};
  routed.topic = prefix_ + ".routed";
  sdk::Event gone{"order", "twin", "OrderDeleted", ""};
  gone.tombstone = true;
  std::vector<std::string> row_ids, wal_ids;
  std::string rolled_back;
  {
    pqxx::work tx(conn_);
    row_ids = outbox_.EnqueueBatch(tx, {e, routed, gone});
    tx.commit();
  }
  {
    pqxx::work tx(conn_);
    rolled_back = wal_outbox.Enqueue(tx, e);
    tx.abort();
  }
  {
    pqxx::work tx(conn_);
    wal_ids = wal_outbox.EnqueueBatch(tx, {e, routed, gone});
    tx.commit();
  }
  {
    pqxx::nontransaction tx(conn_);
    EXPECT_EQ(tx.exec("SELECT 1 FROM \"" + schema_.name() + "\".outbox WHERE id = '" + wal_ids[0] + "'").size(), 0u)
        << "WAL-message events write no row";
  }
  std::vector<WrittenEvent> written;
  const char* keys[] = {"twin", "twin-r", "twin"};
  for (size_t i = 0; i < 3; ++i) written.push_back({row_ids[i], keys[i]});
  for (size_t i = 0; i < 3; ++i) written.push_back({wal_ids[i], keys[i]});
  auto records = ConsumeEvents({prefix_ + ".order", prefix_ + ".routed"}, written);
  auto audit = AuditDelivery(written, records);
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions + audit.duplicates, 0u) << audit.first_problem;
  EXPECT_TRUE(WaitFor([&] { return relay.stats().acked.load() == 6; }, 10000));
  EXPECT_TRUE(WaitFor([&] { return SlotConfirmedLsn() > 0; }, 10000));
  EXPECT_EQ(relay.Stop(), 0);
  EXPECT_EQ(relay.stats().published.load(), 6u) << "the rolled-back message is not published";

  std::map<std::string, const ConsumedRecord*> by_id;
  for (const auto& r : records) by_id[r.Header("event_id")] = &r;
  ASSERT_EQ(by_id.count(rolled_back), 0u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(by_id.count(row_ids[i]) && by_id.count(wal_ids[i]));
    const ConsumedRecord& row = *by_id[row_ids[i]];
    const ConsumedRecord& wal = *by_id[wal_ids[i]];
    EXPECT_EQ(wal.topic, row.topic);
    EXPECT_EQ(wal.partition, row.partition);
    EXPECT_EQ(wal.key, row.key);
    EXPECT_EQ(wal.value, row.value) << i;
    ASSERT_EQ(wal.headers.size(), row.headers.size()) << i;
    for (size_t h = 0; h < wal.headers.size(); ++h) {
      EXPECT_EQ(wal.headers[h].first, row.headers[h].first);
      if (wal.headers[h].first == "event_id" || wal.headers[h].first == "created_at") continue;
      EXPECT_EQ(wal.headers[h].second, row.headers[h].second) << wal.headers[h].first;
    }
    EXPECT_TRUE(std::regex_match(wal.Header("created_at"), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
        << wal.Header("created_at");
  }
}

TEST_F(TailTest, NeverConfirmsPastAnEventTheBrokerDidNotAcknowledge) {
  // A WAL-message event has no row a catch-up could find again: had the slot
  // been confirmed past it while it was unacknowledged, the next relay would
  // never see it. (Comparing LSNs instead is racy: other sessions' WAL moves
  // the keepalive positions between any two measurements.)
  sdk::OutboxOptions wal_options{schema_.name()};
  wal_options.mode = sdk::WriteMode::kWalMessage;
  sdk::Outbox wal_outbox(wal_options);
  relay::Config offline = config_;
  offline.kafka.brokers = "127.0.0.1:1";  // nothing listens: the event stays unacknowledged
  offline.source.status_interval = std::chrono::milliseconds(100);
  offline.shutdown.drain_timeout = std::chrono::milliseconds(500);
  std::string id;
  {
    RelayThread relay(offline);
    ASSERT_TRUE(WaitFor([&] { return Streaming(); }, 20000));
    {
      pqxx::work tx(conn_);
      id = wal_outbox.Enqueue(tx, sdk::Event{"order", "o-1", "OrderCreated", "{}"});
      tx.commit();
    }
    // Other tables keep the WAL moving, so keepalives come with later positions.
    {
      pqxx::nontransaction tx(conn_);
      tx.exec("CREATE TABLE \"" + schema_.name() + "\".busy AS SELECT g FROM generate_series(1, 100000) g");
    }
    ASSERT_TRUE(WaitFor([&] { return relay.stats().read.load() >= 1; }, 10000)) << "the event was streamed";
    std::this_thread::sleep_for(std::chrono::seconds(3));  // 30 status updates
    EXPECT_EQ(relay.Stop(), 0);
  }
  RelayThread relay(config_);
  const std::vector<WrittenEvent> committed = {{id, "o-1"}};
  const auto audit = AuditDelivery(committed, ConsumeEvents({prefix_ + ".order"}, committed, 30000));
  EXPECT_EQ(relay.Stop(), 0);
  EXPECT_EQ(audit.lost, 0u) << "the slot was confirmed past the unacknowledged event";
}

TEST_F(TailTest, DroppedSlotIsRecreatedAndTheTablesRowsArePublished) {
  CreateAggregates(schema_.name(), 10);
  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return Streaming(); }, 20000));
  std::vector<WrittenEvent> committed;
  std::thread writer([&] {
    WriterOptions w;
    w.schema = schema_.name();
    w.writers = 2;
    w.transactions_per_writer = 150;
    w.aggregates = 10;
    w.pause_between_us = 5000;
    committed = RunWriters(w);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // An operator drops the slot: end its walsender, then drop it before the relay is back.
  bool dropped = false;
  for (int i = 0; i < 200 && !dropped; ++i) {
    pqxx::nontransaction tx(conn_);
    tx.exec_params(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
        "WHERE slot_name = $1 AND active_pid IS NOT NULL",
        config_.source.slot_name);
    try {
      tx.exec_params("SELECT pg_drop_replication_slot($1)", config_.source.slot_name);
      dropped = true;
    } catch (const pqxx::sql_error&) {
    }
  }
  ASSERT_TRUE(dropped);
  writer.join();
  ASSERT_TRUE(WaitFor([&] { return Streaming(); }, 30000)) << "the relay recreated its slot";
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 30000));
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix_ + ".account"}, committed));
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(relay.Stop(), 0);
  EXPECT_GE(relay.stats().resyncs.load(), 1u);
}

TEST_F(TailTest, IdleOutboxSlotDoesNotPinWalWhileOtherTablesAreBusy) {
  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return Streaming(); }, 20000));
  auto retained = [&] {
    pqxx::nontransaction tx(conn_);
    return tx
        .exec_params1(
            "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots "
            "WHERE slot_name = $1",
            config_.source.slot_name)[0]
        .as<int64_t>();
  };
  const std::string busy = "\"" + schema_.name() + "\".busy";
  {
    pqxx::nontransaction tx(conn_);
    tx.exec("CREATE TABLE " + busy + " (id bigint, filler text)");
  }
  // Heavy writes elsewhere, nothing in the outbox.
  const int64_t start = CurrentWalLsn();
  int64_t peak = 0;
  for (int round = 0; round < 8; ++round) {
    {
      pqxx::nontransaction tx(conn_);
      tx.exec("INSERT INTO " + busy + " SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g");
      tx.exec("DELETE FROM " + busy);
    }
    peak = std::max(peak, retained());
  }
  const int64_t written = CurrentWalLsn() - start;
  ASSERT_GT(written, 64LL << 20) << "the test needs a lot of WAL";
  // The slot's restart position follows the confirmed one at the next
  // running-transactions record (every 15 s on a busy server).
  constexpr int64_t kBound = 16LL << 20;
  const bool bounded = WaitFor([&] { return retained() < kBound; }, 45000);
  std::printf("idle slot: %lld MB of WAL written elsewhere, peak retained %lld MB, now %lld KB\n",
              static_cast<long long>(written >> 20), static_cast<long long>(peak >> 20),
              static_cast<long long>(retained() >> 10));
  EXPECT_TRUE(bounded) << "retained " << retained() << " bytes after " << written << " bytes of WAL elsewhere";
  EXPECT_TRUE(WaitFor(
      [&] {
        return relay.stats().slot_retained_bytes.load() >= 0 && relay.stats().slot_retained_bytes.load() < kBound;
      },
      10000))
      << "the relay reports the slot's retained WAL";
  EXPECT_EQ(relay.Stop(), 0);
  EXPECT_EQ(relay.stats().published.load(), 0u);
}

}  // namespace
}  // namespace outbox::test
