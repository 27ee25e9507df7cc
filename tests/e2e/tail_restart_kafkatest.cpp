// Tail mode with the real outbox-relay executable: SIGKILLed while streaming
// (between Kafka acks, row deletes and LSN confirmations) and restarted, it
// resumes from its slot without losing or reordering anything.
#include <signal.h>

#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

TEST(TailRestart, KilledMidStreamResumesFromTheSlotWithoutLossOrInversion) {
  ScopedSchema schema("trst");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  CreateAggregates(schema.name(), 30);
  const std::string prefix = UniqueName("trst");
  auto config = TailConfig(RelayConfig(schema.name(), prefix));
  config.source.batch_size = 100;
  TailSlotGuard guard(config);
  std::vector<int64_t> confirmed;
  KillRestartAndAudit("tail restart", config, schema.name(), prefix, 6, 1500, 300, "tail: streaming from slot",
                      [&] { confirmed.push_back(SlotConfirmedLsn(config)); });
  for (size_t i = 1; i < confirmed.size(); ++i) {
    EXPECT_GE(confirmed[i], confirmed[i - 1]) << "the slot's confirmed position never moves back";
  }
  EXPECT_GT(confirmed.back(), confirmed.front()) << "the slot advanced across restarts";
}

// Deterministic: the relay is killed after Kafka acknowledged every event and
// their rows were deleted, but before it reported the LSN (a long status
// interval keeps the window open). The restart streams those transactions
// again, sees their rows gone and does not publish them twice; nothing is lost.
TEST(TailRestart, KilledBetweenBrokerAckAndLsnConfirmation) {
  ScopedSchema schema("tack");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  CreateAggregates(schema.name(), 10);
  const std::string prefix = UniqueName("tack");
  auto config = TailConfig(RelayConfig(schema.name(), prefix));
  config.source.status_interval = std::chrono::milliseconds(30000);
  TailSlotGuard guard(config);
  const std::string log = "/tmp/" + prefix + ".log";
  WriterOptions w;
  w.schema = schema.name();
  w.writers = 2;
  w.transactions_per_writer = 50;
  w.events_per_transaction = 2;
  w.aggregates = 10;

  std::vector<WrittenEvent> committed;
  int64_t written_to = 0;
  {
    RelayProcess relay(config, log);
    ASSERT_TRUE(relay.WaitForLog("tail: streaming from slot")) << "see " << log;
    const int64_t before = SlotConfirmedLsn(config);
    committed = RunWriters(w);
    written_to = CurrentWalLsn();
    ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 30000)) << "see " << log;
    // Acknowledged in Kafka and in Postgres, not yet confirmed to the slot.
    ASSERT_LT(SlotConfirmedLsn(config), written_to) << "the window closed before the kill; see " << log;
    relay.Signal(SIGKILL);
    EXPECT_EQ(relay.Wait(5000), 128 + SIGKILL);
    EXPECT_EQ(SlotConfirmedLsn(config), before) << "nothing was confirmed while the events were acknowledged";
  }
  auto more = RunWriters(w);
  {
    RelayProcess relay(config, log);
    ASSERT_TRUE(relay.WaitForLog("tail: streaming from slot")) << "see " << log;
    ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 30000)) << "see " << log;
    // One event written now comes after the replayed transactions in the
    // stream: once it is acknowledged, the relay has read past all of them.
    WriterOptions last = w;
    last.writers = 1;
    last.transactions_per_writer = 1;
    last.events_per_transaction = 1;
    auto tail = RunWriters(last);
    more.insert(more.end(), tail.begin(), tail.end());
    ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 30000)) << "see " << log;
    relay.Signal(SIGTERM);
    EXPECT_EQ(relay.Wait(15000), 0);
    EXPECT_GE(SlotConfirmedLsn(config), written_to) << "the restarted relay confirmed the replayed transactions";
  }
  committed.insert(committed.end(), more.begin(), more.end());
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix + ".account"}, committed));
  std::printf("tail ack/confirm kill: %zu events, lost=%zu phantom=%zu duplicates=%zu inversions=%zu\n",
              audit.committed, audit.lost, audit.phantom, audit.duplicates, audit.inversions);
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(audit.duplicates, 0u) << "replayed transactions whose rows were acknowledged are not published again";
}

TEST(TailRestart, SigtermConfirmsWhatWasAcknowledged) {
  ScopedSchema schema("tterm");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  CreateAggregates(schema.name(), 10);
  const std::string prefix = UniqueName("tterm");
  auto config = TailConfig(RelayConfig(schema.name(), prefix));
  TailSlotGuard guard(config);
  std::vector<WrittenEvent> committed;
  {
    RelayProcess relay(config);
    ASSERT_TRUE(relay.WaitForLog("tail: streaming from slot"));
    WriterOptions w;
    w.schema = schema.name();
    w.writers = 2;
    w.transactions_per_writer = 100;
    w.events_per_transaction = 5;
    w.rollback_percent = 0;
    w.aggregates = 10;
    committed = RunWriters(w);
    ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 30000));
    relay.Signal(SIGTERM);
    EXPECT_EQ(relay.Wait(15000), 0);
  }
  const int64_t wal_end = CurrentWalLsn();
  // A drained shutdown sends the last confirmation: a second relay re-sends nothing.
  RelayProcess second(config);
  ASSERT_TRUE(second.WaitForLog("tail: streaming from slot"));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  second.Signal(SIGTERM);
  EXPECT_EQ(second.Wait(15000), 0);
  EXPECT_GE(SlotConfirmedLsn(config), wal_end - 1024 * 1024) << "confirmed close to the WAL end";
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix + ".account"}, committed));
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(audit.duplicates, 0u) << "everything confirmed before the stop is not streamed again";
}

}  // namespace
}  // namespace outbox::test
