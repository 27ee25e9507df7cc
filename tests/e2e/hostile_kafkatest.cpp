// Hostile rows, topics and transactions (issue: keep the delivery promise
// under hostile input). Rows are written by plain SQL, as a service in another
// language would, and the relay runs as the real executable, so each test can
// also run against an older build (OUTBOX_BIN_DIR) to show the defect it
// guards against. Every test checks what reached Kafka against what committed.
#include <signal.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "relay_harness.hpp"

namespace outbox::test {
namespace {

using std::chrono::milliseconds;

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sdk::Migrate(conn_, schema_.name());
    config_.dead_letter.max_attempts = 2;
    config_.source.poll_interval = milliseconds(200);
  }
  std::string Table() const { return "\"" + schema_.name() + "\".outbox"; }
  /// Inserts one event with plain SQL; `payload`, `topic` and `headers` are SQL expressions.
  std::string Insert(const std::string& aggregate, const std::string& payload, const std::string& topic = "NULL",
                     const std::string& headers = "'{}'", const std::string& id = "gen_random_uuid()") {
    pqxx::work tx(conn_);
    const std::string got = tx.exec1("INSERT INTO " + Table() +
                                     " (id, aggregate_type, aggregate_id, event_type, payload, topic, headers) " +
                                     "VALUES (" + id + ", 'order', " + tx.quote(aggregate) + ", 'E', convert_to(" +
                                     payload + ", 'UTF8'), " + topic + ", " + headers + ") RETURNING id::text")[0]
                                .as<std::string>();
    tx.commit();
    return got;
  }
  int Count(const std::string& sql) {
    pqxx::nontransaction tx(conn_);
    return tx.exec1(sql)[0].as<int>();
  }
  int DeadLetters(const std::string& where = "true") {
    return Count("SELECT count(*) FROM \"" + schema_.name() + "\".dead_letter WHERE " + where);
  }
  int Rows(const std::string& where = "true") { return Count("SELECT count(*) FROM " + Table() + " WHERE " + where); }
  /// Values of the records of aggregate `key` on `topic`, in log order.
  std::vector<std::string> Values(const std::string& topic, const std::string& key, size_t at_least, int ms = 20000) {
    const auto records = ConsumeUntil(
        {topic},
        [&](const std::vector<ConsumedRecord>& got) {
          size_t n = 0;
          for (const auto& r : got) n += r.key == key;
          return n >= at_least;
        },
        ms);
    std::vector<std::string> out;
    for (const auto& r : records) {
      if (r.key == key) out.push_back(r.value);
    }
    return out;
  }

  ScopedSchema schema_{"hostile"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("hostile");
  relay::Config config_ = RelayConfig(schema_.name(), prefix_);
};

// A row for a topic that does not exist (and may not be created) is permanent
// for that row: dead-lettered after max_attempts, its key held, every other
// key flowing. It used to be retried as "queue full" forever, stopping all keys.
TEST_F(HostileTest, MissingTopicIsDeadLetteredItsKeyHeldOthersFlow) {
  config_.kafka.properties["allow.auto.create.topics"] = "false";
  config_.kafka.properties["topic.metadata.propagation.max.ms"] = "1000";
  CreateTopic(prefix_ + ".order", 3);
  Insert("A", "'a1'");
  const std::string missing = Insert("A", "'a2'", "'" + prefix_ + ".no-such-topic'");
  Insert("A", "'a3'");
  for (int i = 1; i <= 3; ++i) Insert("B", "'b" + std::to_string(i) + "'");
  RelayProcess relay(config_);
  EXPECT_TRUE(WaitFor([&] { return DeadLetters("id::text = '" + missing + "'") == 1; }, 60000)) << relay.Log();
  EXPECT_TRUE(WaitFor([&] { return Rows() == 1; }, 20000)) << "only a3, held behind a2, stays; " << relay.Log();
  EXPECT_EQ(Values(prefix_ + ".order", "B", 3), (std::vector<std::string>{"b1", "b2", "b3"}));
  EXPECT_EQ(Values(prefix_ + ".order", "A", 1), (std::vector<std::string>{"a1"}));
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
}

// Kafka checks max.message.bytes per record batch: one oversized record fails
// the whole batch. Only that record is dead-lettered; the others of its batch
// (other keys) are published.
TEST_F(HostileTest, OneOversizedRecordInABatchDeadLettersOnlyItself) {
  CreateTopic(prefix_ + ".order", 1, {{"max.message.bytes", "4000"}});
  std::vector<std::string> ids;
  {
    pqxx::work tx(conn_);  // one transaction: one poll, one batch
    for (int i = 0; i < 6; ++i) {
      const std::string payload = i == 3 ? "repeat('x', 6000)" : "'v" + std::to_string(i) + "'";
      ids.push_back(tx.exec1("INSERT INTO " + Table() +
                             " (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'K" +
                             std::to_string(i) + "', 'E', convert_to(" + payload + ", 'UTF8')) RETURNING id::text")[0]
                        .as<std::string>());
    }
    tx.commit();
  }
  RelayProcess relay(config_);
  EXPECT_TRUE(WaitFor([&] { return DeadLetters() >= 1 && Rows() == 0; }, 60000)) << relay.Log();
  EXPECT_EQ(DeadLetters(), 1) << "only the oversized record is dead-lettered; " << relay.Log();
  EXPECT_EQ(DeadLetters("id::text = '" + ids[3] + "'"), 1);
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  std::vector<WrittenEvent> flowed;
  for (int i : {0, 1, 2, 4, 5}) flowed.push_back({ids[i], "K" + std::to_string(i)});
  const auto audit = AuditDelivery(flowed, ConsumeEvents({prefix_ + ".order"}, flowed));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
}

// A key is held from its first permanent failure, and events already handed
// over behind the failed one do not overtake it: after the operator fixes and
// requeues the failed event, the key reads in commit order.
TEST_F(HostileTest, HeldKeyKeepsCommitOrderAcrossTheRetriesAndTheRequeue) {
  std::vector<WrittenEvent> q;
  q.push_back({Insert("Q", "'q1'"), "Q"});
  q.push_back({Insert("Q", "'q2'", "'orders bad'"), "Q"});  // an invalid topic name
  q.push_back({Insert("Q", "'q3'"), "Q"});
  q.push_back({Insert("Q", "'q4'"), "Q"});
  const std::string r1 = Insert("R", "'r1'");
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return DeadLetters() == 1; }, 60000)) << relay.Log();
  ASSERT_TRUE(WaitFor([&] { return Rows() == 2; }, 20000)) << "q3, q4 stay held; " << relay.Log();
  {
    pqxx::work tx(conn_);  // the operator fixes the topic
    tx.exec("UPDATE \"" + schema_.name() + "\".dead_letter SET topic = NULL");
    tx.commit();
  }
  const CommandResult requeue = RunRelay(config_, {"dlq", "requeue", q[1].id});
  ASSERT_EQ(requeue.exit_code, 0) << requeue.err;
  ASSERT_TRUE(WaitFor([&] { return Rows() == 0; }, 30000)) << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  q.push_back({r1, "R"});
  const auto audit = AuditDelivery(q, ConsumeEvents({prefix_ + ".order"}, q));
  EXPECT_EQ(audit.lost + audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(audit.inversions, 0u) << "q1, q2 (requeued), q3, q4: " << audit.first_problem;
}

// The relay owns the reserved header names: a row header named event_id must
// not give the record a second event_id (the consumer's dedup key).
TEST_F(HostileTest, RowHeadersCannotSpoofTheEventId) {
  const std::string id = Insert("S", "'s1'", "NULL", R"('{"event_id": "spoofed", "aggregate_id": "x", "trace": "t"}')");
  RelayProcess relay(config_);
  const auto records = ConsumeAll({prefix_ + ".order"}, 1, 20000);
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  ASSERT_EQ(records.size(), 1u);
  int event_ids = 0, aggregate_ids = 0;
  for (const auto& [name, value] : records[0].headers) {
    event_ids += name == "event_id";
    aggregate_ids += name == "aggregate_id";
  }
  EXPECT_EQ(event_ids, 1);
  EXPECT_EQ(aggregate_ids, 1);
  EXPECT_EQ(records[0].Header("event_id"), id);
  EXPECT_EQ(records[0].Header("aggregate_id"), "S");
  EXPECT_EQ(records[0].Header("trace"), "t") << "other row headers still pass";
}

// Rows that cannot become records (refused before they reach the producer)
// cost only their own key: a good row of another key behind four of them is
// published at once, not after a back-off that doubled per bad row.
TEST_F(HostileTest, BadRowsDoNotDelayOtherKeys) {
  {
    pqxx::work tx(conn_);
    tx.exec("ALTER TABLE " + Table() + " DROP CONSTRAINT outbox_headers_check");
    tx.commit();
  }
  config_.dead_letter.max_attempts = 4;
  for (int i = 0; i < 4; ++i) Insert("BAD" + std::to_string(i), "'x'", "NULL", R"('["not an object"]')");
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return DeadLetters() >= 1 || Rows() < 4; }, 30000)) << relay.Log();
  const auto start = std::chrono::steady_clock::now();
  const std::string good = Insert("GOOD", "'g'");
  ASSERT_TRUE(WaitFor([&] { return Rows("id::text = '" + good + "'") == 0; }, 30000)) << relay.Log();
  const auto waited = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 3000) << "a good row waited " << waited << " ms behind bad rows of other keys";
  EXPECT_TRUE(WaitFor([&] { return DeadLetters() == 4; }, 60000)) << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
}

// A dead-letter move is all or nothing: a poison row whose event id is
// already in the dead-letter table stays in the outbox (it used to be deleted
// after its insert was skipped: in neither table, nor in Kafka).
TEST_F(HostileTest, DeadLetterConflictLeavesTheRowWhereItIs) {
  const std::string id = Insert("D", "'d1'", "'bad topic 1'");
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return DeadLetters() == 1; }, 60000)) << relay.Log();
  // The same event id again (a retrying writer, a restored backup), poison too.
  Insert("E", "'e1'", "'bad topic 2'", "'{}'", "'" + id + "'::uuid");
  const std::string e2 = Insert("F", "'f1'");
  ASSERT_TRUE(WaitFor([&] { return Rows("id::text = '" + e2 + "'") == 0; }, 30000)) << "other keys flow";
  std::this_thread::sleep_for(std::chrono::seconds(3));  // several attempts at the move
  EXPECT_EQ(Rows("aggregate_id = 'E'") + DeadLetters("aggregate_id = 'E'"), 1)
      << "the second poison row vanished; " << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
}

// An old open transaction (here: one holding an xid, idle) keeps snapshot
// xmin low, so the gap below the first row at start cannot be proven empty.
// With rows of a held key at the front of the table and a small batch, the
// relay used to re-read the held rows forever and publish nothing new.
TEST_F(HostileTest, AnOldOpenTransactionAtStartDoesNotStallPublishing) {
  config_.source.batch_size = 10;
  {
    pqxx::work tx(conn_);
    tx.exec("SELECT setval('\"" + schema_.name() + "\".outbox_seq', 5000)");
    tx.exec("INSERT INTO \"" + schema_.name() +
            "\".dead_letter (seq, id, aggregate_type, aggregate_id, event_type, reason, attempts, created_at) "
            "VALUES (1, gen_random_uuid(), 'order', 'H', 'E', 'test', 1, now())");
    tx.commit();
  }
  for (int i = 0; i < 30; ++i) Insert("H", "'held'");
  pqxx::connection old_session(PgDsn());
  pqxx::work old_tx(old_session);
  old_tx.exec("SELECT pg_current_xact_id()");  // holds an xid until the end of the test
  RelayProcess relay(config_);
  std::vector<WrittenEvent> fresh;
  for (int i = 0; i < 20; ++i)
    fresh.push_back({Insert("N" + std::to_string(i % 4), "'n'"), "N" + std::to_string(i % 4)});
  EXPECT_TRUE(WaitFor([&] { return Rows("aggregate_id <> 'H'") == 0; }, 20000))
      << Rows("aggregate_id <> 'H'") << " new rows still waiting; " << relay.Log();
  EXPECT_EQ(Rows("aggregate_id = 'H'"), 30) << "the held rows stay";
  old_tx.abort();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto audit = AuditDelivery(fresh, ConsumeEvents({prefix_ + ".order"}, fresh));
  EXPECT_EQ(audit.lost + audit.inversions, 0u) << audit.first_problem;
}

// A NOTIFY that arrives while a query runs on the LISTEN session is read by
// libpq with the query's result: the socket never becomes readable for it,
// and the rows waited for the poll interval (30 s here).
TEST_F(HostileTest, NotificationsDuringAQueryAreNotMissed) {
  config_.source.poll_interval = milliseconds(30000);
  config_.source.batch_size = 5;  // many polls per burst: many queries to arrive during
  RelayProcess relay(config_);
  ASSERT_TRUE(relay.WaitForLog("relay starting"));
  std::this_thread::sleep_for(milliseconds(500));
  for (int burst = 0; burst < 12; ++burst) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 40; ++i) Insert("W" + std::to_string(i % 8), "'w'");
    const bool drained = WaitFor([&] { return Rows() == 0; }, 10000);
    const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(drained) << "burst " << burst << ": rows still waiting after " << took << " ms; " << relay.Log();
  }
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
}

// A row whose key is too large to index used to make its dead-letter move
// fail forever ("index row size exceeds btree maximum"), retried ~170 times
// a second while nothing else was published.
TEST_F(HostileTest, APoisonRowWithAHugeKeyIsDeadLetteredAndOthersFlow) {
  {
    pqxx::work tx(conn_);  // a table without the size check (e.g. an older or a user's own table)
    tx.exec("ALTER TABLE " + Table() + " DROP CONSTRAINT IF EXISTS outbox_key_size");
    tx.commit();
  }
  const std::string huge = Insert("X", "repeat('p', 600000)");
  {
    pqxx::work tx(conn_);
    tx.exec("UPDATE " + Table() + " SET aggregate_id = repeat('k', 600000) WHERE id::text = '" + huge + "'");
    tx.commit();
  }
  std::vector<WrittenEvent> others;
  for (int i = 0; i < 5; ++i) others.push_back({Insert("O" + std::to_string(i), "'o'"), "O" + std::to_string(i)});
  RelayProcess relay(config_);
  EXPECT_TRUE(WaitFor([&] { return Rows("aggregate_id LIKE 'O%'") == 0; }, 30000))
      << "other keys flow; " << relay.Log();
  EXPECT_TRUE(WaitFor([&] { return DeadLetters("id::text = '" + huge + "'") == 1; }, 30000)) << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto audit = AuditDelivery(others, ConsumeEvents({prefix_ + ".order"}, others));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
}

// A dead-letter move that fails anyway (here a trigger refuses it) holds only
// that key: the row stays, one line names its seq, and every other key flows.
// It used to be retried without pause while nothing else was published.
TEST_F(HostileTest, AMoveThatKeepsFailingHoldsOnlyItsKey) {
  {
    pqxx::work tx(conn_);
    tx.exec("CREATE FUNCTION \"" + schema_.name() +
            "\".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by a trigger'; END $$");
    tx.exec("CREATE TRIGGER refuse BEFORE INSERT ON \"" + schema_.name() +
            "\".dead_letter FOR EACH ROW WHEN (NEW.aggregate_id = 'X') EXECUTE FUNCTION \"" + schema_.name() +
            "\".refuse()");
    tx.commit();
  }
  const std::string poison = Insert("X", "repeat('p', 2000000)");
  Insert("X", "'x2'");
  std::vector<WrittenEvent> others;
  for (int i = 0; i < 5; ++i) others.push_back({Insert("O" + std::to_string(i), "'o'"), "O" + std::to_string(i)});
  RelayProcess relay(config_);
  EXPECT_TRUE(WaitFor([&] { return Rows("aggregate_id LIKE 'O%'") == 0; }, 30000)) << relay.Log();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(Rows("aggregate_id = 'X'"), 2) << "the poison row and the one behind it stay";
  size_t lines = 0;
  const std::string log = relay.Log();
  for (size_t at = log.find("refused by a trigger"); at != std::string::npos;
       at = log.find("refused by a trigger", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << "one line, not one per retry; " << log;
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto audit = AuditDelivery(others, ConsumeEvents({prefix_ + ".order"}, others));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
}

// A mapped table whose columns allow NULLs: a NULL event id used to fail
// every poll ("Attempt to convert null to string"), a NULL aggregate type to
// go to the topic "outbox.event.". Such rows cost only their own key.
TEST_F(HostileTest, RowsWithNullColumnsInAMappedTableCostOnlyTheirKey) {
  {
    pqxx::work tx(conn_);
    tx.exec("CREATE TABLE \"" + schema_.name() +
            "\".events (id uuid, aggregatetype text, aggregateid text, type text, payload jsonb, "
            "seq bigint NOT NULL DEFAULT \"" +
            schema_.name() + "\".outbox_next_seq() PRIMARY KEY)");
    tx.commit();
  }
  config_.outbox.table = "events";
  config_.outbox.columns.aggregate_type = "aggregatetype";
  config_.outbox.columns.aggregate_id = "aggregateid";
  config_.outbox.columns.event_type = "type";
  config_.outbox.columns.headers = "";
  config_.outbox.columns.topic = "";
  config_.outbox.columns.created_at = "";
  auto insert = [&](const std::string& id, const std::string& type, const std::string& key) {
    pqxx::work tx(conn_);
    tx.exec("INSERT INTO \"" + schema_.name() + "\".events (id, aggregatetype, aggregateid, type, payload) VALUES (" +
            id + ", " + type + ", " + key + ", 'E', '{}')");
    tx.commit();
  };
  insert("NULL", "'order'", "'A'");
  insert("gen_random_uuid()", "NULL", "'B'");
  std::vector<WrittenEvent> good;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "00000000-0000-4000-8000-00000000000" + std::to_string(i);
    insert("'" + id + "'", "'order'", "'C" + std::to_string(i) + "'");
    good.push_back({id, "C" + std::to_string(i)});
  }
  RelayProcess relay(config_);
  const auto table_rows = [&](const std::string& where) {
    return Count("SELECT count(*) FROM \"" + schema_.name() + "\".events WHERE " + where);
  };
  EXPECT_TRUE(WaitFor([&] { return table_rows("aggregateid LIKE 'C%'") == 0; }, 30000)) << relay.Log();
  EXPECT_TRUE(relay.LogContains("outbox.columns.id is NULL")) << "the line names the column; " << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto audit = AuditDelivery(good, ConsumeEvents({prefix_ + ".order"}, good));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
  EXPECT_EQ(ConsumeAll({"outbox.event."}, 1, 2000).size(), 0u) << "nothing goes to a topic without a type";
}

// A dropped and re-created outbox table starts its seq values again: the
// relay notices the new table instead of waiting above its old high-water
// mark, and `migrate` says what to do about a table missing from a schema
// whose version says it exists.
TEST_F(HostileTest, ADroppedAndRecreatedOutboxTableIsReadAgain) {
  std::vector<WrittenEvent> before;
  for (int i = 0; i < 20; ++i) before.push_back({Insert("K", "'k'"), "K"});
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return Rows() == 0; }, 20000)) << relay.Log();
  {
    pqxx::work tx(conn_);
    tx.exec("DROP TABLE " + Table() + " CASCADE");
    tx.commit();
  }
  const CommandResult migrate = RunRelay(config_, {"migrate"});
  EXPECT_NE(migrate.exit_code, 0) << migrate.out << migrate.err;
  EXPECT_NE(migrate.err.find("missing"), std::string::npos) << migrate.err;
  {
    pqxx::work tx(conn_);
    tx.exec("DROP SCHEMA \"" + schema_.name() + "\" CASCADE");
    tx.commit();
  }
  sdk::Migrate(conn_, schema_.name());
  std::vector<WrittenEvent> after;
  for (int i = 0; i < 5; ++i) after.push_back({Insert("L", "'l'"), "L"});
  EXPECT_TRUE(WaitFor([&] { return Rows() == 0; }, 30000)) << "rows of the new table wait; " << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto audit = AuditDelivery(after, ConsumeEvents({prefix_ + ".order"}, after));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
}

// The attempts a poison event used are kept in its row: a relay that takes
// over continues the count instead of granting max_attempts more tries.
TEST_F(HostileTest, AttemptsSurviveATakeover) {
  config_.dead_letter.max_attempts = 5;
  const std::string poison = Insert("P", "repeat('x', 2000000)");  // over the producer's message.max.bytes
  int recorded = 0;
  {
    RelayProcess first(config_);
    EXPECT_TRUE(WaitFor(
        [&] { return Count("SELECT coalesce(max(attempts), 0) FROM " + Table() + " WHERE aggregate_id = 'P'") >= 2; },
        20000))
        << first.Log();
    first.Signal(SIGKILL);
    first.Wait(5000);
  }
  recorded = Count("SELECT coalesce(max(attempts), 0) FROM " + Table() + " WHERE aggregate_id = 'P'");
  ASSERT_GE(recorded, 2);
  ASSERT_LT(recorded, 5);
  RelayProcess second(config_);
  ASSERT_TRUE(WaitFor([&] { return DeadLetters("id::text = '" + poison + "'") == 1; }, 30000)) << second.Log();
  EXPECT_EQ(DeadLetters("id::text = '" + poison + "' AND attempts = 5"), 1);
  size_t refusals = 0;
  const std::string log = second.Log();
  for (size_t at = log.find("refused"); at != std::string::npos; at = log.find("refused", at + 1)) ++refusals;
  EXPECT_EQ(refusals, static_cast<size_t>(5 - recorded)) << log;
  second.Signal(SIGTERM);
  EXPECT_EQ(second.Wait(20000), 0);
}

// Found by the fault suite's poison scenario: the operator creates a missing
// topic and requeues the event written for it; the relay must publish it, not
// refuse it again from a stale "unknown topic" in the producer's metadata.
TEST_F(HostileTest, RequeueAfterCreatingTheMissingTopicPublishes) {
  config_.kafka.properties["allow.auto.create.topics"] = "false";
  config_.kafka.properties["topic.metadata.propagation.max.ms"] = "1000";
  CreateTopic(prefix_ + ".order", 3);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    const std::string key = "A" + std::to_string(i);
    ids.push_back(Insert(key, "'a1'", "'" + prefix_ + ".later" + std::to_string(i) + "'"));
    Insert(key, "'a2'");
  }
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return DeadLetters() == 4; }, 60000)) << relay.Log();
  for (int i = 0; i < 4; ++i) {
    // Another event for a topic that is still missing keeps the producer asking about missing topics.
    Insert("B" + std::to_string(i), "'b'", "'" + prefix_ + ".never'");
    CreateTopic(prefix_ + ".later" + std::to_string(i), 3);
    const CommandResult requeue = RunRelay(config_, {"dlq", "requeue", ids[i]});
    ASSERT_EQ(requeue.exit_code, 0) << requeue.err;
    EXPECT_TRUE(WaitFor([&] { return Rows("aggregate_id = 'A" + std::to_string(i) + "'") == 0; }, 20000))
        << "event " << ids[i] << " for the topic created before its requeue: dead-lettered again? dead letters: "
        << DeadLetters("id::text = '" + ids[i] + "'") << "; " << relay.Log();
  }
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
}

// Found by the fault suite's open-tx-tail scenario: a relay killed while it
// created its slot leaves a server process that finishes the creation once the
// transactions open at its start end. A relay started meanwhile found the slot
// "existing", caught up with the table, then streamed from the slot's start
// position, set later: rows committed in between were in neither, and waited
// in the table for the next restart (published out of order then).
TEST_F(HostileTest, TailCatchUpWaitsForASlotStillBeingCreated) {
  config_ = TailConfig(config_);
  TailSlotGuard guard(config_);
  {
    pqxx::work tx(conn_);
    tx.exec("CREATE PUBLICATION " + config_.source.publication_name + " FOR TABLE " + Table() +
            " WITH (publish = 'insert')");
    tx.commit();
  }
  pqxx::connection old_session(PgDsn());
  pqxx::work old_tx(old_session);
  old_tx.exec("SELECT pg_current_xact_id()");  // the slot's creation waits for this transaction
  std::thread creator([&] {
    try {
      pqxx::connection c(PgDsn());
      pqxx::nontransaction tx(c);
      tx.exec_params("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", config_.source.slot_name);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "creating the slot: " << e.what();
    }
  });
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + config_.source.slot_name +
                     "'") == 1;
      },
      10000));
  RelayProcess relay(config_);
  std::this_thread::sleep_for(milliseconds(1500));  // the relay has started (and, before the fix, caught up)
  std::vector<WrittenEvent> written;
  for (int i = 0; i < 5; ++i) written.push_back({Insert("T", "'t" + std::to_string(i) + "'"), "T"});
  old_tx.abort();  // the slot gets its start position, after the rows above
  creator.join();
  written.push_back({Insert("T", "'t5'"), "T"});
  EXPECT_TRUE(WaitFor([&] { return Rows() == 0; }, 20000))
      << Rows() << " rows committed while the slot was being created wait in the table; " << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  const auto audit = AuditDelivery(written, ConsumeEvents({prefix_ + ".order"}, written, 20000));
  EXPECT_EQ(audit.lost + audit.inversions, 0u) << audit.first_problem;
}

// Found by the fault suite's dlq-load scenario: an oversized record in the
// first batch a new producer (id) sends to a partition is rejected, and a
// later batch of the same partition, already in flight, was written, because
// the broker accepts any first sequence number from a producer id it has no
// state for; enable.gapless.guarantee stops the producer only after that.
// Events of the key behind the rejected record reached Kafka before it. Every
// rebuild makes a new producer id, so the first batch of each partition after
// a restart, a requeue or another poison's rebuild was exposed. Now a key has
// one event in flight until the current producer delivered one (KeyFlights).
TEST_F(HostileTest, NothingOfAKeyOvertakesAnOversizedRecordInAFreshProducersFirstBatch) {
  CreateTopic(prefix_ + ".order", 1, {{"max.message.bytes", "262144"}});
  config_.kafka.properties["batch.size"] = "65536";  // the oversized record goes alone, the rest in batches behind it
  Insert("K", "repeat('x', 300000)");
  for (int i = 2; i <= 200; ++i) Insert("K", "'k" + std::to_string(i) + "'");
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return DeadLetters() == 1; }, 60000)) << relay.Log();
  const auto records = ConsumeAll({prefix_ + ".order"}, 199, 5000);
  EXPECT_EQ(records.size(), 0u) << "events of K behind its dead-lettered first event reached Kafka; " << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
}

}  // namespace
}  // namespace outbox::test
