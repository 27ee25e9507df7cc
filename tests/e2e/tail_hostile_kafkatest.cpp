// Tail mode under hostile events and transactions (issue: keep the delivery
// promise under hostile input, items 9 and 14). The relay runs as the real
// executable, so each test can also run against an older build
// (OUTBOX_BIN_DIR) to show the defect it guards against.
#include <signal.h>

#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "private_servers.hpp"
#include "relay_harness.hpp"

namespace outbox::test {
namespace {

using std::chrono::milliseconds;

int Count(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  return tx.exec1(sql)[0].as<int>();
}

std::vector<std::string> Values(const std::vector<ConsumedRecord>& records, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    if (r.key == key) out.push_back(r.value);
  }
  return out;
}

// A WAL-message event exists only in the WAL. One the broker rejects for good
// is dead-lettered with its body, and one held behind it is written into the
// outbox table, so the slot's confirmed position moves past both (it used to
// stall, pinning WAL, for as long as the key was held). After `dlq skip` of
// the rejected event, the held one is published from its row.
TEST(TailHostile, AWalMessageForAMissingTopicIsDeadLetteredAndTheSlotAdvances) {
  ScopedSchema schema("tailh");
  pqxx::connection conn(PgDsn());
  sdk::Migrate(conn, schema.name());
  const std::string prefix = UniqueName("tailh");
  relay::Config config = TailConfig(RelayConfig(schema.name(), prefix));
  config.dead_letter.max_attempts = 2;
  config.source.status_interval = milliseconds(500);
  config.kafka.properties["allow.auto.create.topics"] = "false";
  config.kafka.properties["topic.metadata.propagation.max.ms"] = "1000";
  CreateTopic(prefix + ".order", 1);
  sdk::OutboxOptions options{schema.name()};
  options.mode = sdk::WriteMode::kWalMessage;
  const sdk::Outbox wal(options);
  const auto write = [&](const std::string& key, const std::string& payload, bool poison = false) {
    sdk::Event e{"order", key, "E", payload};
    if (poison) e.topic = prefix + ".no-such-topic";
    pqxx::work tx(conn);
    const std::string id = wal.Enqueue(tx, e);
    tx.commit();
    return id;
  };
  const std::string table = "\"" + schema.name() + "\".outbox", dead = "\"" + schema.name() + "\".dead_letter";

  RelayProcess relay(config);
  ASSERT_TRUE(WaitFor([&] { return TailStreaming(config); }, 30000)) << relay.Log();
  write("K", "k1");
  const std::string k2 = write("K", "k2", /*poison=*/true);
  const std::string k3 = write("K", "k3");
  write("M", "m1");
  const int64_t written = CurrentWalLsn();

  EXPECT_TRUE(
      WaitFor([&] { return Count(conn, "SELECT count(*) FROM " + dead + " WHERE id::text = '" + k2 + "'"); }, 60000))
      << "the rejected WAL message was not dead-lettered; " << relay.Log();
  EXPECT_TRUE(
      WaitFor([&] { return Count(conn, "SELECT count(*) FROM " + table + " WHERE id::text = '" + k3 + "'"); }, 30000))
      << "the held WAL message was not written into the table; " << relay.Log();
  EXPECT_TRUE(WaitFor([&] { return SlotConfirmedLsn(config) >= written; }, 30000))
      << "the slot stays at " << SlotConfirmedLsn(config) << ", before " << written << "; " << relay.Log();

  const CommandResult skip = RunRelay(config, {"dlq", "skip", k2});
  ASSERT_EQ(skip.exit_code, 0) << skip.err;
  EXPECT_TRUE(WaitFor([&] { return Count(conn, "SELECT count(*) FROM " + table) == 0; }, 30000)) << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto records = ConsumeUntil(
      {prefix + ".order"}, [](const std::vector<ConsumedRecord>& got) { return got.size() >= 3; }, 20000);
  EXPECT_EQ(Values(records, "K"), (std::vector<std::string>{"k1", "k3"}));
  EXPECT_EQ(Values(records, "M"), (std::vector<std::string>{"m1"}));
  DropTailSlot(config);
}

// Kafka checks max.message.bytes per record batch. WAL-message events of
// several keys share a batch with one oversized record: only that one is
// dead-lettered (with its body), the others are published once, and the slot
// moves past all of them. It used to loop: each pass rebuilt the producer and
// wrote the suspected messages into the table again under new seqs.
TEST(TailHostile, AnOversizedWalMessageInABatchDeadLettersOnlyItself) {
  ScopedSchema schema("tailbig");
  pqxx::connection conn(PgDsn());
  sdk::Migrate(conn, schema.name());
  const std::string prefix = UniqueName("tailbig");
  relay::Config config = TailConfig(RelayConfig(schema.name(), prefix));
  config.dead_letter.max_attempts = 2;
  config.source.status_interval = milliseconds(500);
  CreateTopic(prefix + ".order", 1, {{"max.message.bytes", "4000"}});
  sdk::OutboxOptions options{schema.name()};
  options.mode = sdk::WriteMode::kWalMessage;
  const sdk::Outbox wal(options);
  const std::string table = "\"" + schema.name() + "\".outbox", dead = "\"" + schema.name() + "\".dead_letter";

  RelayProcess relay(config);
  ASSERT_TRUE(WaitFor([&] { return TailStreaming(config); }, 30000)) << relay.Log();
  std::vector<std::string> ids;
  {
    pqxx::work tx(conn);  // one transaction: its events reach the producer together
    for (int i = 0; i < 6; ++i) {
      ids.push_back(wal.Enqueue(tx, sdk::Event{"order", "K" + std::to_string(i), "E",
                                               i == 3 ? std::string(6000, 'x') : "v" + std::to_string(i)}));
    }
    tx.commit();
  }
  const int64_t written = CurrentWalLsn();
  EXPECT_TRUE(WaitFor(
      [&] { return Count(conn, "SELECT count(*) FROM " + dead + " WHERE id::text = '" + ids[3] + "'"); }, 60000))
      << "the oversized WAL message was not dead-lettered; " << relay.Log();
  EXPECT_TRUE(WaitFor([&] { return SlotConfirmedLsn(config) >= written; }, 30000))
      << "the slot stays at " << SlotConfirmedLsn(config) << ", before " << written << "; " << relay.Log();
  EXPECT_TRUE(WaitFor([&] { return Count(conn, "SELECT count(*) FROM " + table) == 0; }, 30000))
      << "rows left in the outbox; " << relay.Log();
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM " + dead), 1) << "only the oversized event; " << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto records = ConsumeUntil(
      {prefix + ".order"}, [](const std::vector<ConsumedRecord>& got) { return got.size() > 5; }, 5000);
  for (int i : {0, 1, 2, 4, 5}) {
    const std::string key = "K" + std::to_string(i);
    EXPECT_EQ(Values(records, key), (std::vector<std::string>{"v" + std::to_string(i)})) << key;
  }
  EXPECT_EQ(records.size(), 5u) << "each published once";
  DropTailSlot(config);
}

// With synchronous replication waiting for a standby that is not there, a
// transaction's changes reach the slot while its COMMIT still waits and its
// rows are not visible yet. The relay publishes the event (documented: its
// transaction may still be lost with the primary), but must not forget the
// acknowledgement: once the COMMIT completes the row is deleted, and a
// restart does not publish it again. It used to log acked=1 while its DELETE
// matched nothing, leaving the row to be published again by the next start.
TEST(TailHostile, ARowPublishedBeforeItIsVisibleIsAcknowledgedOnceVisible) {
  PrivatePostgres pg(305);
  const std::string super_dsn = "postgresql://postgres@127.0.0.1:" + pg.dsn().substr(pg.dsn().rfind(':') + 1);
  pqxx::connection conn(pg.dsn());
  const std::string schema = "tailvis";
  sdk::Migrate(conn, schema);
  const std::string prefix = UniqueName("tailvis");
  relay::Config config = TailConfig(RelayConfig(schema, prefix));
  config.postgres.dsn = pg.dsn();
  const auto set_standby = [&](const std::string& names) {
    pqxx::connection su(super_dsn);
    pqxx::nontransaction tx(su);
    tx.exec("ALTER SYSTEM SET synchronous_standby_names = " + tx.quote(names));
    tx.exec("SELECT pg_reload_conf()");
  };
  const auto rows = [&] { return Count(conn, "SELECT count(*) FROM " + schema + ".outbox"); };

  std::vector<WrittenEvent> written;
  {
    RelayProcess relay(config);
    ASSERT_TRUE(WaitFor(
        [&] {
          pqxx::nontransaction tx(conn);
          return tx.exec1("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = " +
                          tx.quote(config.source.slot_name))[0]
                     .as<int>() == 1;
        },
        30000))
        << relay.Log();
    set_standby("nobody_here");
    const sdk::Outbox outbox(sdk::OutboxOptions{schema});
    std::promise<std::string> id;
    std::thread writer([&] {
      pqxx::connection w(pg.dsn());
      pqxx::work tx(w);
      id.set_value(outbox.Enqueue(tx, sdk::Event{"order", "V", "E", "v1"}));
      tx.commit();  // waits for the standby
    });
    const std::string v1 = id.get_future().get();
    written.push_back({v1, "V"});
    // The event reaches Kafka while its COMMIT still waits.
    const auto early = ConsumeUntil(
        {prefix + ".order"}, [](const std::vector<ConsumedRecord>& got) { return !got.empty(); }, 30000);
    EXPECT_EQ(early.size(), 1u) << relay.Log();
    EXPECT_EQ(rows(), 0) << "not visible yet";
    set_standby("");
    writer.join();
    EXPECT_EQ(rows(), 1) << "the COMMIT completed";
    EXPECT_TRUE(WaitFor([&] { return rows() == 0; }, 15000))
        << "the row was not acknowledged once visible; " << relay.Log();
    relay.Signal(SIGTERM);
    EXPECT_EQ(relay.Wait(20000), 0);
  }
  {
    RelayProcess again(config);  // a restart must not publish it again
    ASSERT_TRUE(again.WaitForLog("tail: streaming from slot", 30000)) << again.Log();
    std::this_thread::sleep_for(milliseconds(2000));
    again.Signal(SIGTERM);
    EXPECT_EQ(again.Wait(20000), 0);
  }
  const auto records = ConsumeUntil(
      {prefix + ".order"}, [](const std::vector<ConsumedRecord>& got) { return got.size() > 1; }, 5000);
  EXPECT_EQ(records.size(), 1u) << "published once";
}

}  // namespace
}  // namespace outbox::test
