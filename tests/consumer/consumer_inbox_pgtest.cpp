// The inbox table: claims are unique per (consumer, event id), and retention
// deletes only old rows of one consumer, in bounded batches.
#include <map>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/inbox.hpp"
#include "outbox/migrations.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

void Insert(pqxx::work& tx, const std::string& schema, const std::string& consumer, int n, const std::string& age) {
  tx.exec_params("INSERT INTO \"" + schema +
                     "\".inbox (consumer, event_id, processed_at) "
                     "SELECT $1, $1 || '-' || $3 || '-' || g, now() - $2::interval FROM generate_series(1, $4) g",
                 consumer, age, age == "0 days" ? "new" : "old", n);
}

int Count(pqxx::connection& c, const std::string& schema, const std::string& where) {
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT count(*) FROM \"" + schema + "\".inbox WHERE " + where)[0].as<int>();
}

}  // namespace

TEST(ConsumerInbox, ClaimIsTrueOnceAndARolledBackClaimLeavesNoRow) {
  ScopedSchema schema("inbox");
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema.name());
  {
    pqxx::work tx(c);
    EXPECT_TRUE(sdk::ClaimInboxEvent(tx, schema.name(), "svc", "e1"));
    // The transaction aborts: as when a handler throws.
  }
  pqxx::work tx(c);
  EXPECT_TRUE(sdk::ClaimInboxEvent(tx, schema.name(), "svc", "e1"));
  EXPECT_FALSE(sdk::ClaimInboxEvent(tx, schema.name(), "svc", "e1"));
  EXPECT_TRUE(sdk::ClaimInboxEvent(tx, schema.name(), "other", "e1"));  // dedup is per consumer
  tx.commit();
  pqxx::work tx2(c);
  EXPECT_FALSE(sdk::ClaimInboxEvent(tx2, schema.name(), "svc", "e1"));
}

TEST(ConsumerInbox, PurgeDeletesOnlyOldRowsOfItsConsumerInBatches) {
  ScopedSchema schema("inbox");
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema.name());
  {
    pqxx::work tx(c);
    Insert(tx, schema.name(), "svc", 25, "10 days");
    Insert(tx, schema.name(), "svc", 5, "0 days");
    Insert(tx, schema.name(), "svc_recent", 4, "6 days");
    Insert(tx, schema.name(), "other", 7, "10 days");
    tx.commit();
  }
  const auto week = std::chrono::hours(24 * 7);
  const sdk::PurgeResult r = sdk::PurgeInbox(c, schema.name(), "svc", week, 10);
  EXPECT_EQ(r.rows, 25u);
  EXPECT_EQ(r.batches, 3u);  // 10 + 10 + 5
  EXPECT_EQ(Count(c, schema.name(), "consumer = 'svc'"), 5);
  EXPECT_EQ(Count(c, schema.name(), "consumer = 'svc' AND event_id LIKE '%-old-%'"), 0);
  EXPECT_EQ(Count(c, schema.name(), "consumer = 'other'"), 7);  // another consumer's window
  EXPECT_EQ(Count(c, schema.name(), "consumer = 'svc_recent'"), 4);

  const sdk::PurgeResult again = sdk::PurgeInbox(c, schema.name(), "svc", week, 10);
  EXPECT_EQ(again.rows, 0u);
  EXPECT_EQ(again.batches, 1u);
  EXPECT_EQ(sdk::PurgeInbox(c, schema.name(), "svc_recent", std::chrono::hours(24 * 5), 3).rows, 4u);
}

}  // namespace outbox::test

namespace outbox::test {

// Migration versions come from the file names: 0010_consumer_parked.sql is
// version 10 (an embedded C++ literal 0010 would be octal 8).
TEST(ConsumerInbox, ConsumerMigrationsAreRecordedUnderTheirFileNumbers) {
  ScopedSchema schema("inbox");
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema.name());
  pqxx::nontransaction tx(c);
  std::map<std::string, int> versions;
  for (const auto& row : tx.exec("SELECT name, version FROM \"" + schema.name() + "\".schema_migrations")) {
    versions[row[0].as<std::string>()] = row[1].as<int>();
  }
  EXPECT_EQ(versions["0010_consumer_parked.sql"], 10);
  EXPECT_EQ(versions["0011_consumer_offsets.sql"], 11);
  EXPECT_GE(sdk::LatestSchemaVersion(), 11);
  for (const char* table : {"consumer_parked", "consumer_offsets"}) {
    EXPECT_TRUE(
        tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", "\"" + schema.name() + "\"." + table)[0].as<bool>())
        << table;
  }
}

}  // namespace outbox::test
