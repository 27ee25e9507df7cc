// `outbox-relay status` against the real Postgres: text and JSON, an
// unmigrated schema, an unreachable server (exit 1, one line).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "ops_util.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

std::string StatusConfig(const std::string& dsn, const std::string& schema) {
  return WriteTempFile("status", "[postgres]\ndsn = \"" + dsn + "\"\nconnect_timeout_ms = 2000\n[outbox]\nschema = \"" +
                                     schema + "\"\n[kafka]\nbrokers = \"127.0.0.1:9\"\n");
}

/// The value printed after "<label>" on its line of the text output.
std::string Field(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return "<no " + label + ">";
  const size_t start = out.find_first_not_of(' ', at + label.size());
  return out.substr(start, out.find('\n', start) - start);
}

void Enqueue(const std::string& schema, int n) {
  pqxx::connection c(PgDsn());
  sdk::OutboxOptions options;
  options.schema = schema;
  const sdk::Outbox outbox(options);
  pqxx::work tx(c);
  for (int i = 0; i < n; ++i) outbox.Enqueue(tx, sdk::Event{"order", std::to_string(i), "OrderCreated", "{}"});
  tx.exec("UPDATE " + sdk::QuoteIdentifier(schema) + ".outbox SET created_at = now() - interval '90 seconds'");
  tx.commit();
}

TEST(StatusCommand, PrintsBacklogAgeDeadLettersAndSchemaVersion) {
  ScopedSchema schema("status");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  Enqueue(schema.name(), 5);
  const std::string config = StatusConfig(PgDsn(), schema.name());

  const CommandResult text = RunRelayCommand({"-c", config, "status"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(Field(text.out, "outbox table:"), schema.name() + ".outbox");
  EXPECT_EQ(Field(text.out, "backlog rows:"), "5");
  const std::string age = Field(text.out, "oldest unpublished age:");
  EXPECT_GE(std::stod(age), 90.0) << age;
  EXPECT_LT(std::stod(age), 200.0) << age;
  EXPECT_EQ(Field(text.out, "dead-lettered events:"), "0");
  EXPECT_EQ(Field(text.out, "schema version:"), std::to_string(sdk::LatestSchemaVersion()) + " (latest)");
  EXPECT_EQ(Field(text.out, "slot lag:"), "n/a (poll mode)");
  std::printf("%s", text.out.c_str());

  const CommandResult json = RunRelayCommand({"-c", config, "status", "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["backlog_rows"], 5);
  EXPECT_GE(j["oldest_unpublished_age_seconds"].get<double>(), 90.0);
  EXPECT_EQ(j["dead_lettered_events"], 0);
  EXPECT_EQ(j["schema_version"], sdk::LatestSchemaVersion());
  EXPECT_EQ(j["latest_schema_version"], sdk::LatestSchemaVersion());
  EXPECT_EQ(j["source_mode"], "poll");
  EXPECT_TRUE(j["slot_lag_bytes"].is_null());
  std::printf("%s", json.out.c_str());
}

TEST(StatusCommand, TailModeReportsTheSlotsRetainedWal) {
  ScopedSchema schema("status_tail");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  const std::string slot = "s_" + schema.name();
  const std::string config =
      WriteTempFile("status", "[postgres]\ndsn = \"" + PgDsn() + "\"\n[outbox]\nschema = \"" + schema.name() +
                                  "\"\n[source]\nmode = \"tail\"\nslot_name = \"" + slot +
                                  "\"\n[kafka]\nbrokers = \"127.0.0.1:9\"\n");
  EXPECT_EQ(Field(RunRelayCommand({"-c", config, "status"}).out, "slot lag:"),
            "n/a (no replication slot " + slot + " yet)");
  pqxx::connection c(PgDsn());
  {
    pqxx::nontransaction tx(c);
    tx.exec_params("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot);
    tx.exec("CREATE TABLE " + sdk::QuoteIdentifier(schema.name()) +
            ".filler AS SELECT g FROM generate_series(1, 20000) g");
  }
  const CommandResult text = RunRelayCommand({"-c", config, "status"});
  const CommandResult json = RunRelayCommand({"-c", config, "status", "--json"});
  {
    pqxx::nontransaction tx(c);
    tx.exec_params("SELECT pg_drop_replication_slot($1)", slot);
  }
  EXPECT_EQ(text.exit_code, 0) << text.err;
  const std::string lag = Field(text.out, "slot lag:");
  EXPECT_NE(lag.find(" bytes of WAL retained by slot " + slot), std::string::npos) << lag;
  EXPECT_GT(std::stoll(lag), 100000) << "the filler table's WAL is retained";
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["source_mode"], "tail");
  EXPECT_GT(j["slot_lag_bytes"].get<int64_t>(), 100000);
}

TEST(StatusCommand, UnmigratedSchemaIsReportedNotAnError) {
  ScopedSchema schema("status_empty");
  const std::string config = StatusConfig(PgDsn(), schema.name());
  const CommandResult text = RunRelayCommand({"-c", config, "status"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(Field(text.out, "backlog rows:"), "n/a (no such table; run `outbox-relay migrate`)");
  EXPECT_EQ(Field(text.out, "dead-lettered events:"), "n/a (no table " + schema.name() + ".dead_letter)");
  EXPECT_EQ(Field(text.out, "schema version:"),
            "0 (this build carries " + std::to_string(sdk::LatestSchemaVersion()) + "; run `outbox-relay migrate`)");
  const CommandResult json = RunRelayCommand({"-c", config, "status", "--json"});
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["outbox_table_exists"], false);
  EXPECT_TRUE(j["backlog_rows"].is_null());
  EXPECT_TRUE(j["dead_lettered_events"].is_null());
  EXPECT_EQ(j["schema_version"], 0);
}

TEST(StatusCommand, UnreachablePostgresIsExitOneWithOneLine) {
  const std::string config = StatusConfig("postgresql://outbox:secret@127.0.0.1:1/outbox", "outbox");
  for (const char* extra : {"", "--json"}) {
    std::vector<std::string> args = {"-c", config, "status"};
    if (*extra) args.push_back(extra);
    const CommandResult r = RunRelayCommand(args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(
        r.err.rfind("outbox-relay: status: cannot connect to Postgres (postgresql://outbox:***@127.0.0.1:1/outbox)"
                    ": ",
                    0),
        0u)
        << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    EXPECT_EQ(r.err.find("secret"), std::string::npos) << "no password in the message";
  }
}

}  // namespace
}  // namespace outbox::test
