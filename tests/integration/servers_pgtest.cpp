// The throwaway PostgreSQL started by the test fixture is real and usable:
// tables, rows, logical replication and the role's privileges.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "test_env.hpp"

namespace outbox::test {

TEST(PostgresServer, CreatesTableWritesAndReadsRows) {
  ScopedSchema schema("srv");
  pqxx::connection c(PgDsn());
  pqxx::work tx(c);
  tx.exec("CREATE SCHEMA \"" + schema.name() + "\"");
  tx.exec("CREATE TABLE \"" + schema.name() + "\".items (id int PRIMARY KEY, name text NOT NULL)");
  for (int i = 1; i <= 100; ++i) {
    tx.exec_params("INSERT INTO \"" + schema.name() + "\".items VALUES ($1, $2)", i, "item-" + std::to_string(i));
  }
  tx.commit();

  pqxx::work rd(c);
  auto r = rd.exec("SELECT count(*), sum(id), max(name) FROM \"" + schema.name() + "\".items");
  EXPECT_EQ(r[0][0].as<int>(), 100);
  EXPECT_EQ(r[0][1].as<int>(), 5050);
  EXPECT_EQ(r[0][2].as<std::string>(), "item-99");
}

TEST(PostgresServer, IsConfiguredForLogicalReplication) {
  pqxx::connection c(PgDsn());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SHOW wal_level")[0].as<std::string>(), "logical");
  EXPECT_TRUE(tx.exec1("SELECT rolreplication FROM pg_roles WHERE rolname = current_user")[0].as<bool>());
}

TEST(PostgresServer, MigrationsApplyOnceAndAreANoOpTheSecondTime) {
  ScopedSchema schema("mig");
  pqxx::connection c(PgDsn());
  auto first = sdk::Migrate(c, schema.name());
  // Every file of migrations/ once, in version order (numbers may leave gaps).
  size_t files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(std::getenv("OUTBOX_ROOT")) + "/migrations")) {
    files += entry.path().extension() == ".sql";
  }
  ASSERT_EQ(first.size(), files);
  EXPECT_EQ(first.front().version, 1);
  EXPECT_EQ(first.back().version, sdk::LatestSchemaVersion());
  for (size_t i = 1; i < first.size(); ++i) EXPECT_LT(first[i - 1].version, first[i].version);
  EXPECT_TRUE(sdk::Migrate(c, schema.name()).empty());
  EXPECT_EQ(sdk::CurrentSchemaVersion(c, schema.name()), sdk::LatestSchemaVersion());

  pqxx::work tx(c);
  auto tables = tx.exec_params1(
      "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN ('outbox', 'dead_letter', 'inbox')",
      schema.name());
  EXPECT_EQ(tables[0].as<int>(), 3);
}

TEST(PostgresServer, RejectsUnsafeSchemaNames) {
  pqxx::connection c(PgDsn());
  EXPECT_THROW(sdk::Migrate(c, "x; DROP TABLE y"), sdk::InvalidIdentifier);
  EXPECT_THROW(sdk::Migrate(c, "Upper"), sdk::InvalidIdentifier);
  EXPECT_THROW(sdk::Migrate(c, ""), sdk::InvalidIdentifier);
}

}  // namespace outbox::test
