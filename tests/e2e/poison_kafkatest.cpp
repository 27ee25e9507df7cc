// Poison events: a record the broker (or librdkafka) rejects for good goes to
// the dead-letter table after dead_letter.max_attempts, with its reason; later
// events of its key are held (by default) while other keys flow; the operator
// requeues or skips it with `outbox-relay dlq`.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "config/config_writer.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"

namespace outbox::test {
namespace {

class PoisonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sdk::Migrate(conn_, schema_.name());
    config_.dead_letter.max_attempts = 2;
  }

  std::string Enqueue(const std::string& aggregate, const std::string& payload) {
    pqxx::work tx(conn_);
    auto id = outbox_.Enqueue(tx, sdk::Event{"order", aggregate, "E", payload});
    tx.commit();
    written_.push_back({id, aggregate});
    return id;
  }
  // Written with plain SQL: the SDK would refuse these.
  std::string EnqueueRaw(const std::string& aggregate, const std::string& payload_sql, const std::string& topic_sql) {
    pqxx::work tx(conn_);
    auto id = tx.exec1("INSERT INTO \"" + schema_.name() +
                       "\".outbox (aggregate_type, aggregate_id, event_type, payload, topic) VALUES ('order', " +
                       tx.quote(aggregate) + ", 'E', " + payload_sql + ", " + topic_sql + ") RETURNING id::text")[0]
                  .as<std::string>();
    tx.commit();
    return id;
  }
  // Runs the real executable's `dlq` subcommand; returns its exit code and output.
  int Dlq(const std::string& args, std::string* output = nullptr) {
    const std::string cfg = "/tmp/" + UniqueName("dlq") + ".toml";
    std::ofstream(cfg) << relay::ConfigToToml(config_);
    const std::string cmd =
        std::string(std::getenv("OUTBOX_BIN_DIR")) + "/relay/outbox-relay -c " + cfg + " dlq " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    const int status = p ? pclose(p) : -1;
    std::remove(cfg.c_str());
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  int DeadLetterRows(const std::string& where = "true") {
    pqxx::nontransaction tx(conn_);
    return tx.exec1("SELECT count(*) FROM \"" + schema_.name() + "\".dead_letter WHERE " + where)[0].as<int>();
  }

  ScopedSchema schema_{"poison"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("poison");
  relay::Config config_ = RelayConfig(schema_.name(), prefix_);
  sdk::Outbox outbox_{sdk::OutboxOptions{schema_.name()}};
  std::vector<WrittenEvent> written_;
};

TEST_F(PoisonTest, TooLargeRecordIsDeadLetteredItsKeyHeldOthersFlowThenSkipped) {
  Enqueue("A", "a1");
  const std::string poison = EnqueueRaw("A", "convert_to(repeat('x', 2000000), 'UTF8')", "NULL");
  const std::string a3 = Enqueue("A", "a3");
  Enqueue("B", "b1");
  Enqueue("B", "b2");

  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().dead_lettered.load() == 1; }, 30000));
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() == 3; }, 10000)) << "a1, b1, b2 flow";
  EXPECT_EQ(DeadLetterRows("id::text = '" + poison + "' AND attempts = 2 AND reason LIKE '%MSG_SIZE_TOO_LARGE%'"), 1);
  EXPECT_EQ(OutboxRows(schema_.name()), 1) << "a3 is held in the outbox behind the dead-lettered event";
  EXPECT_TRUE(WaitFor([&] { return relay.stats().held.load() == 1; }, 5000));

  std::string listing;
  EXPECT_EQ(Dlq("list", &listing), 0);
  EXPECT_NE(listing.find(poison), std::string::npos) << listing;
  EXPECT_EQ(Dlq("skip " + poison), 0);
  EXPECT_EQ(Dlq("skip " + poison), 1) << "already gone";

  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 20000)) << "a3 flows after the skip";
  EXPECT_EQ(relay.Stop(), 0);
  auto audit = AuditDelivery(written_, ConsumeEvents({prefix_ + ".order"}, written_));
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(audit.delivered, 4u) << "the skipped event is never published";
}

TEST_F(PoisonTest, RequeuedEventAfterAFixIsPublishedBeforeTheEventsHeldBehindIt) {
  Enqueue("A", "a1");
  const std::string poison = EnqueueRaw("A", "convert_to(repeat('x', 2000000), 'UTF8')", "NULL");
  Enqueue("A", "a3");
  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().dead_lettered.load() == 1; }, 30000));

  {  // The operator fixes the payload, then requeues.
    pqxx::work tx(conn_);
    tx.exec("UPDATE \"" + schema_.name() + "\".dead_letter SET payload = 'a2'");
    tx.commit();
  }
  EXPECT_EQ(Dlq("requeue " + poison), 0);
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 20000));
  EXPECT_EQ(DeadLetterRows(), 0);
  EXPECT_EQ(relay.Stop(), 0);

  std::vector<WrittenEvent> expected = {written_[0], {poison, "A"}, written_[1]};
  auto records = ConsumeEvents({prefix_ + ".order"}, expected);
  auto audit = AuditDelivery(expected, records);
  EXPECT_EQ(audit.lost + audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(audit.inversions, 0u) << "a1, a2 (requeued), a3: " << audit.first_problem;
}

TEST_F(PoisonTest, InvalidTopicNameWithoutHoldingLetsLaterEventsOfTheKeyPass) {
  config_.dead_letter.hold_key = false;
  Enqueue("A", "a1");
  const std::string poison = EnqueueRaw("A", "'x'", "'not a valid topic!'");
  Enqueue("A", "a3");
  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().dead_lettered.load() == 1; }, 60000));
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 20000));
  EXPECT_EQ(DeadLetterRows("id::text = '" + poison + "'"), 1);
  EXPECT_EQ(relay.Stop(), 0);
  auto audit = AuditDelivery(written_, ConsumeEvents({prefix_ + ".order"}, written_));
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions, 0u) << audit.first_problem;
}

// A row that cannot become a record: its headers are not a JSON object. The
// shipped table's CHECK refuses that, but a user's own (Debezium-style) table
// may not have one; the test drops it to write such a row.
TEST_F(PoisonTest, RowThatCannotBecomeARecordIsDeadLetteredItsKeyHeldOthersFlow) {
  {
    pqxx::work tx(conn_);
    tx.exec("ALTER TABLE \"" + schema_.name() + "\".outbox DROP CONSTRAINT outbox_headers_check");
    tx.commit();
  }
  Enqueue("A", "a1");
  std::string poison;
  {
    pqxx::work tx(conn_);
    poison = tx.exec1("INSERT INTO \"" + schema_.name() +
                      "\".outbox (aggregate_type, aggregate_id, event_type, payload, headers) "
                      "VALUES ('order', 'A', 'E', 'a2', '[\"not\", \"an object\"]') RETURNING id::text")[0]
                 .as<std::string>();
    tx.commit();
  }
  Enqueue("A", "a3");
  Enqueue("B", "b1");

  RelayThread relay(config_);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().dead_lettered.load() == 1; }, 30000));
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() == 2; }, 10000)) << "a1 and b1 flow";
  EXPECT_EQ(DeadLetterRows("id::text = '" + poison +
                           "' AND attempts = 2 AND reason LIKE 'bad row: headers column is not a JSON object%'"),
            1);
  EXPECT_EQ(OutboxRows(schema_.name()), 1) << "a3 is held in the outbox behind the dead-lettered event";
  EXPECT_EQ(relay.Stop(), 0);
  std::vector<WrittenEvent> flowed = {written_[0], written_[2]};
  auto audit = AuditDelivery(flowed, ConsumeEvents({prefix_ + ".order"}, flowed));
  EXPECT_EQ(audit.lost + audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(audit.delivered, 2u) << "neither the bad row nor a3, held behind it, is published";
}

}  // namespace
}  // namespace outbox::test
