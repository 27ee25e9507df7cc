// Enqueue and EnqueueBatch against a real PostgreSQL: what a transaction
// leaves in the outbox table, column by column.
#include <gtest/gtest.h>

#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

struct StoredRow {
  long long seq = 0;
  std::string id, aggregate_type, aggregate_id, event_type;
  std::optional<std::string> payload, topic;
  std::map<std::string, std::string> headers;
  std::string created_at;
  bool published = false;
  int attempts = -1;
};

const std::string kBinary("\0\x01{\"x\":\xff\x80\xfe}\\x00\0", 15);

class SdkOutbox : public ::testing::Test {
 protected:
  void SetUp() override { sdk::Migrate(conn_, schema_.name()); }

  std::string Table() const { return "\"" + schema_.name() + "\".outbox"; }

  std::vector<StoredRow> Rows() {
    pqxx::read_transaction tx(conn_);
    std::vector<StoredRow> rows;
    for (const auto& r : tx.exec("SELECT seq, id::text, aggregate_type, aggregate_id, event_type, payload, topic, "
                                 "created_at::text, published_at IS NOT NULL, attempts FROM " +
                                 Table() + " ORDER BY seq")) {
      StoredRow s;
      s.seq = r[0].as<long long>();
      s.id = r[1].as<std::string>();
      s.aggregate_type = r[2].as<std::string>();
      s.aggregate_id = r[3].as<std::string>();
      s.event_type = r[4].as<std::string>();
      if (!r[5].is_null()) s.payload = pqxx::binarystring(r[5]).str();
      if (!r[6].is_null()) s.topic = r[6].as<std::string>();
      s.created_at = r[7].as<std::string>();
      s.published = r[8].as<bool>();
      s.attempts = r[9].as<int>();
      rows.push_back(std::move(s));
    }
    std::map<std::string, StoredRow*> by_id;
    for (auto& row : rows) by_id[row.id] = &row;
    for (const auto& h :
         tx.exec("SELECT o.id::text, h.key, h.value FROM " + Table() + " o, jsonb_each_text(o.headers) h")) {
      by_id.at(h[0].as<std::string>())->headers[h[1].as<std::string>()] = h[2].as<std::string>();
    }
    return rows;
  }

  long long Count() {
    pqxx::read_transaction tx(conn_);
    return tx.exec1("SELECT count(*) FROM " + Table())[0].as<long long>();
  }

  static sdk::Event Full(const std::string& aggregate_id) {
    sdk::Event e;
    e.aggregate_type = "order";
    e.aggregate_id = aggregate_id;
    e.event_type = "OrderCreated";
    e.payload = kBinary;
    e.headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                 {"tricky \"key\"", "back\\slash, {brace}, \"quote\"\nnewline\ttab \x01 ünï €"}};
    e.topic = "orders.v1";
    return e;
  }

  static void ExpectSame(const StoredRow& row, const sdk::Event& e, const std::string& id) {
    EXPECT_EQ(row.id, id);
    EXPECT_EQ(row.aggregate_type, e.aggregate_type);
    EXPECT_EQ(row.aggregate_id, e.aggregate_id);
    EXPECT_EQ(row.event_type, e.event_type);
    EXPECT_EQ(row.payload, e.tombstone ? std::nullopt : std::optional<std::string>(e.payload));
    EXPECT_EQ(row.headers, e.headers);
    EXPECT_EQ(row.topic, e.topic);
    EXPECT_FALSE(row.published);
    EXPECT_EQ(row.attempts, 0);
  }

  ScopedSchema schema_{"sdk"};
  pqxx::connection conn_{PgDsn()};
  sdk::Outbox outbox_{sdk::OutboxOptions{schema_.name()}};
};

TEST_F(SdkOutbox, CommittedTransactionLeavesExactlyItsEvents) {
  sdk::Event full = Full("o-1");
  sdk::Event minimal;
  minimal.aggregate_type = "customer";
  minimal.aggregate_id = "c-9";
  minimal.event_type = "CustomerSeen";
  pqxx::work tx(conn_);
  const std::string now = tx.exec1("SELECT now()::text")[0].as<std::string>();
  const std::string id1 = outbox_.Enqueue(tx, full);
  const std::string id2 = outbox_.Enqueue(tx, minimal);
  tx.commit();

  auto rows = Rows();
  ASSERT_EQ(rows.size(), 2u);
  ExpectSame(rows[0], full, id1);
  ExpectSame(rows[1], minimal, id2);
  EXPECT_EQ(rows[1].payload, std::string());  // empty, not NULL
  EXPECT_LT(rows[0].seq, rows[1].seq);
  EXPECT_LT(id1, id2);  // UUIDv7: time-ordered
  for (const auto& r : rows) EXPECT_EQ(r.created_at, now);
}

TEST_F(SdkOutbox, RolledBackTransactionLeavesNothing) {
  {
    pqxx::work tx(conn_);
    outbox_.Enqueue(tx, Full("o-1"));
    outbox_.EnqueueBatch(tx, {Full("o-2"), Full("o-3")});
    tx.abort();
  }
  {
    pqxx::work tx(conn_);
    outbox_.Enqueue(tx, Full("o-4"));
  }  // destroyed without commit
  EXPECT_EQ(Count(), 0);
}

TEST_F(SdkOutbox, BatchOf10000IsOneStatementAndKeepsInputOrder) {
  // A statement-level trigger counts the INSERT statements the batch runs.
  const std::string s = "\"" + schema_.name() + "\"";
  pqxx::work setup(conn_);
  setup.exec("CREATE TABLE " + s + ".statements (n int)");
  setup.exec("CREATE FUNCTION " + s +
             ".count_statement() RETURNS trigger LANGUAGE plpgsql AS "
             "$$ BEGIN INSERT INTO " +
             s + ".statements VALUES (1); RETURN NULL; END $$");
  setup.exec("CREATE TRIGGER count_statement AFTER INSERT ON " + Table() + " FOR EACH STATEMENT EXECUTE FUNCTION " + s +
             ".count_statement()");
  setup.commit();

  std::vector<sdk::Event> events;
  for (int i = 0; i < 10000; ++i) {
    sdk::Event e = Full("o-" + std::to_string(i % 37));  // many events per aggregate
    e.payload = std::to_string(i) + kBinary;
    events.push_back(std::move(e));
  }
  pqxx::work tx(conn_);
  const auto ids = outbox_.EnqueueBatch(tx, events);
  tx.commit();

  ASSERT_EQ(ids.size(), events.size());
  auto rows = Rows();
  ASSERT_EQ(rows.size(), events.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    ExpectSame(rows[i], events[i], ids[i]);  // rows are read in seq order
    if (HasFailure()) FAIL() << "at index " << i;
  }
  pqxx::read_transaction rd(conn_);
  EXPECT_EQ(rd.exec1("SELECT count(*) FROM " + s + ".statements")[0].as<int>(), 1);
}

TEST_F(SdkOutbox, BatchWritesTheSameRowsAsSingleEnqueues) {
  std::vector<sdk::Event> events = {Full("NULL"), Full("{a,b}"), Full("\"q\"\\")};
  events[1].payload.clear();
  events[1].topic.reset();
  events[1].headers.clear();
  events[2].tombstone = true;
  events[2].payload.clear();
  events[2].id = "0190C3A4-5F2B-7C3D-8E4F-0123456789AB";
  pqxx::work tx(conn_);
  const auto ids = outbox_.EnqueueBatch(tx, events);
  tx.commit();
  EXPECT_EQ(ids[2], "0190c3a4-5f2b-7c3d-8e4f-0123456789ab");
  auto rows = Rows();
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 0; i < 3; ++i) ExpectSame(rows[i], events[i], ids[i]);
  EXPECT_EQ(rows[1].payload, std::string());
  EXPECT_EQ(rows[2].payload, std::nullopt);
}

TEST_F(SdkOutbox, ValidationErrorLeavesTheTransactionUntouched) {
  pqxx::work tx(conn_);
  tx.exec("CREATE TABLE \"" + schema_.name() + "\".business (id int)");
  tx.exec("INSERT INTO \"" + schema_.name() + "\".business VALUES (1)");
  sdk::Event bad = Full("o-1");
  bad.headers["event_id"] = "mine";
  EXPECT_THROW(outbox_.Enqueue(tx, bad), sdk::ValidationError);
  std::vector<sdk::Event> batch = {Full("o-1"), Full("o-2"), Full("")};
  try {
    outbox_.EnqueueBatch(tx, batch);
    FAIL() << "no ValidationError";
  } catch (const sdk::ValidationError& e) {
    EXPECT_STREQ(e.what(), "events[2].aggregate_id: must not be empty");
  }
  EXPECT_EQ(outbox_.EnqueueBatch(tx, {}).size(), 0u);
  // Still usable: nothing was sent that could abort it.
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM \"" + schema_.name() + "\".business")[0].as<int>(), 1);
  tx.commit();
  EXPECT_EQ(Count(), 0);
}

TEST_F(SdkOutbox, CallerChosenIdIsKeptAndADuplicateIsAUniqueViolation) {
  sdk::Event e = Full("o-1");
  e.id = "0190c3a4-5f2b-7c3d-8e4f-0123456789ab";
  {
    pqxx::work tx(conn_);
    EXPECT_EQ(outbox_.Enqueue(tx, e), *e.id);
    tx.commit();
  }
  ASSERT_EQ(Rows().size(), 1u);
  EXPECT_EQ(Rows()[0].id, *e.id);
  {
    pqxx::work tx(conn_);
    EXPECT_THROW(outbox_.Enqueue(tx, e), pqxx::unique_violation);
  }
  {
    pqxx::work tx(conn_);
    EXPECT_THROW(outbox_.EnqueueBatch(tx, {Full("o-2"), e}), pqxx::unique_violation);
  }
  EXPECT_EQ(Count(), 1);
}

TEST_F(SdkOutbox, ReusesPreparedStatementsAcrossInstancesAndSchemas) {
  ScopedSchema other_schema("sdk2");
  sdk::Migrate(conn_, other_schema.name());
  sdk::Outbox same(sdk::OutboxOptions{schema_.name()});
  sdk::Outbox other(sdk::OutboxOptions{other_schema.name()});
  for (int i = 0; i < 3; ++i) {
    pqxx::work tx(conn_);
    outbox_.Enqueue(tx, Full("a"));
    same.Enqueue(tx, Full("b"));
    other.Enqueue(tx, Full("c"));
    same.EnqueueBatch(tx, {Full("d")});
    other.EnqueueBatch(tx, {Full("e"), Full("f")});
    tx.commit();
  }
  EXPECT_EQ(Count(), 9);
  pqxx::read_transaction rd(conn_);
  EXPECT_EQ(rd.exec1("SELECT count(*) FROM \"" + other_schema.name() + "\".outbox")[0].as<int>(), 9);
}

TEST_F(SdkOutbox, TwoThreadsOnTwoConnectionsDoNotInterfere) {
  constexpr int kTransactions = 100;
  std::vector<std::string> ids[2];
  auto writer = [&](int t) {
    pqxx::connection c(PgDsn());
    for (int i = 0; i < kTransactions; ++i) {
      pqxx::work tx(c);
      sdk::Event e = Full("t" + std::to_string(t) + "-" + std::to_string(i));
      e.aggregate_type = "thread" + std::to_string(t);
      ids[t].push_back(outbox_.Enqueue(tx, e));  // one shared Outbox
      for (auto& id : outbox_.EnqueueBatch(tx, std::vector<sdk::Event>(4, e))) ids[t].push_back(id);
      tx.commit();
    }
  };
  std::thread a(writer, 0), b(writer, 1);
  a.join();
  b.join();

  std::vector<std::string> seen[2];
  for (const auto& r : Rows()) seen[r.aggregate_type == "thread1"].push_back(r.id);
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(seen[t].size(), size_t{5 * kTransactions});
    EXPECT_EQ(seen[t], ids[t]) << "thread " << t << ": rows in seq order = ids in enqueue order";
  }
}

TEST_F(SdkOutbox, CommitWakesAListenerThroughTheTrigger) {
  struct Counter : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    void operator()(const std::string&, int) override { ++count; }
    int count = 0;
  };
  pqxx::connection listen_conn(PgDsn());
  Counter counter(listen_conn, sdk::NotifyChannel(schema_.name()));
  pqxx::work tx(conn_);
  outbox_.EnqueueBatch(tx, {Full("o-1"), Full("o-2")});
  listen_conn.await_notification(0, 200000);
  EXPECT_EQ(counter.count, 0);  // nothing before commit
  tx.commit();
  for (int i = 0; i < 50 && counter.count == 0; ++i) listen_conn.await_notification(0, 100000);
  EXPECT_EQ(counter.count, 1);
}

}  // namespace
}  // namespace outbox::test
