// The order-service example binary: its rows, its summary and its exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

ProcessResult OrderService(const std::string& args) {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  if (bin_dir == nullptr) throw std::runtime_error("OUTBOX_BIN_DIR is not set; run through ctest");
  const std::string cmd = std::string(bin_dir) + "/examples/order_service/order-service " + args + " 2>&1";
  ProcessResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(SdkOrderService, WritesEachOrderAndItsEventTogether) {
  ScopedSchema schema("orders");
  const ProcessResult r = OrderService("--dsn " + PgDsn() + " --schema " + schema.name() +
                                       " --orders 503 --connections 3 --events-per-tx 7");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("order-service: wrote 503 orders (503 OrderCreated events) in "), std::string::npos)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  pqxx::connection c(PgDsn());
  pqxx::read_transaction tx(c);
  const std::string s = "\"" + schema.name() + "\"";
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM " + s + ".orders")[0].as<int>(), 503);
  // Every order has exactly one OrderCreated event keyed by its id, whose JSON payload names it.
  auto row = tx.exec1(
      "SELECT count(*), count(DISTINCT e.aggregate_id), "
      "count(*) FILTER (WHERE convert_from(e.payload, 'UTF8')::jsonb ->> 'order_id' = o.id::text "
      "AND e.aggregate_type = 'order' AND e.event_type = 'OrderCreated') "
      "FROM " +
      s + ".orders o JOIN " + s + ".outbox e ON e.aggregate_id = o.id::text");
  EXPECT_EQ(row[0].as<int>(), 503);
  EXPECT_EQ(row[1].as<int>(), 503);
  EXPECT_EQ(row[2].as<int>(), 503);

  // A second run adds to the same tables.
  ASSERT_EQ(OrderService("--dsn " + PgDsn() + " --schema " + schema.name() + " --orders 10").exit_code, 0);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM " + s + ".outbox")[0].as<int>(), 513);
}

TEST(SdkOrderService, UpdatesPerOrderKeepEachOrdersEventsInVersionOrder) {
  ScopedSchema schema("orders");
  const std::string s = "\"" + schema.name() + "\"";
  {
    // An orders table left by an older version of the example, without version and status.
    pqxx::connection c(PgDsn());
    pqxx::work tx(c);
    tx.exec("CREATE SCHEMA " + s);
    tx.exec("CREATE TABLE " + s +
            ".orders (id uuid PRIMARY KEY, customer text NOT NULL, total_cents bigint NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())");
    tx.commit();
  }
  const ProcessResult r = OrderService("--dsn " + PgDsn() + " --schema " + schema.name() +
                                       " --orders 41 --connections 4 --events-per-tx 3 --updates-per-order 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("order-service: wrote 41 orders (41 OrderCreated events) in "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("; 246 events written (205 OrderUpdated): "), std::string::npos) << r.output;

  pqxx::connection c(PgDsn());
  pqxx::read_transaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM " + s + ".orders WHERE version = 5 AND status = 'paid'")[0].as<int>(), 41)
      << "five updates: paid, packed, shipped, delivered, paid";
  // Per order, in seq order: OrderCreated with version 0, then OrderUpdated with versions 1..5.
  const auto per_order = tx.exec1(
      "SELECT count(*), count(*) FILTER (WHERE versions = '{0,1,2,3,4,5}' AND types = "
      "'{OrderCreated,OrderUpdated,OrderUpdated,OrderUpdated,OrderUpdated,OrderUpdated}') FROM ("
      "SELECT array_agg((convert_from(payload, 'UTF8')::jsonb ->> 'version')::int ORDER BY seq) AS versions, "
      "array_agg(event_type ORDER BY seq) AS types FROM " +
      s + ".outbox GROUP BY aggregate_id) per_order");
  EXPECT_EQ(per_order[0].as<int>(), 41);
  EXPECT_EQ(per_order[1].as<int>(), 41);
  // Commits of different orders interleave: updates of one order are not all back to back.
  const auto interleaved =
      tx.exec1("SELECT count(*) FROM (SELECT aggregate_id, lag(aggregate_id) OVER (ORDER BY seq) AS previous FROM " +
               s + ".outbox WHERE event_type = 'OrderUpdated') u WHERE aggregate_id <> previous");
  EXPECT_GT(interleaved[0].as<int>(), 41 * 4);
}

TEST(SdkOrderService, BadArgumentsExitTwoWithOneLine) {
  const std::pair<std::string, std::string> cases[] = {
      {"--orders 0 --dsn x", "order-service: --orders: expected an integer from 1 to 100000000, got '0'; see --help\n"},
      {"--dsn x --connections many",
       "order-service: --connections: expected an integer from 1 to 256, got 'many'; "
       "see --help\n"},
      {"--dsn x --frobnicate 1", "order-service: unknown argument '--frobnicate'; see --help\n"},
      {"--dsn x --updates-per-order -1",
       "order-service: --updates-per-order: expected an integer from 0 to 10000, got '-1'; see --help\n"},
      {"--dsn", "order-service: --dsn: missing value; see --help\n"},
  };
  for (const auto& [args, message] : cases) {
    const ProcessResult r = OrderService(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(r.output, message) << args;
  }
}

TEST(SdkOrderService, UnreachableDatabaseExitsOneWithOneLine) {
  const ProcessResult r = OrderService("--dsn postgresql://outbox@127.0.0.1:1/outbox --orders 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output.rfind("order-service: ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

}  // namespace
}  // namespace outbox::test
