// One error format for every subcommand: a failure is exactly one line on
// stderr, "outbox-relay: <command>: <reason>", with the exit code the README
// documents (1 runtime, 2 usage or configuration), never raw library or
// Postgres messages. Run with Postgres down, with Kafka down (a closed
// loopback port), and against the real Postgres for what it can reject.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "ops_util.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

const std::string kSomeId = "6f1c2c0e-0000-4000-8000-000000000001";

std::string Config(const std::string& dsn, const std::string& schema, const std::string& brokers,
                   const std::string& extra = "") {
  return WriteTempFile("cli_errors", "[postgres]\ndsn = \"" + dsn +
                                         "\"\nconnect_timeout_ms = 2000\n[outbox]\nschema = \"" + schema +
                                         "\"\ncleanup = \"mark\"\n[kafka]\nbrokers = \"" + brokers + "\"\n" + extra);
}

std::string ClosedPortAddress() { return "127.0.0.1:" + std::to_string(FreeLoopbackPort()); }

struct Case {
  std::vector<std::string> args;  ///< after -c FILE
  std::string name;               ///< <command> in "outbox-relay: <command>: "
};

const std::vector<Case>& PostgresCommands() {
  static const std::vector<Case> kCases = {
      {{"migrate"}, "migrate"},
      {{"dlq", "list"}, "dlq list"},
      {{"dlq", "requeue", kSomeId}, "dlq requeue"},
      {{"dlq", "skip", kSomeId}, "dlq skip"},
      {{"status"}, "status"},
      {{"status", "--json"}, "status"},
      {{"check"}, "check"},
  };
  return kCases;
}

CommandResult RunWith(const std::string& config, const std::vector<std::string>& args, int timeout_s = 60) {
  std::vector<std::string> all = {"-c", config};
  all.insert(all.end(), args.begin(), args.end());
  return RunRelayCommand(all, timeout_s);
}

/// Exactly one line on stderr starting with `prefix`, nothing on stdout.
void ExpectOneLine(const CommandResult& r, const std::string& prefix, const std::string& what) {
  const auto lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << what << ": stderr:\n" << r.err;
  EXPECT_EQ(r.err.back(), '\n') << what;
  EXPECT_EQ(lines[0].rfind(prefix, 0), 0u) << what << ": " << lines[0] << "\nexpected to start with: " << prefix;
  EXPECT_EQ(r.out, "") << what;
}

TEST(CliErrors, PostgresDown) {
  const std::string port = std::to_string(FreeLoopbackPort());
  const std::string config =
      Config("postgresql://outbox:secret@127.0.0.1:" + port + "/outbox", "outbox", ClosedPortAddress());
  for (const auto& c : PostgresCommands()) {
    const CommandResult r = RunWith(config, c.args);
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.err;
    ExpectOneLine(r,
                  "outbox-relay: " + c.name + ": cannot connect to Postgres (postgresql://outbox:***@127.0.0.1:" +
                      port + "/outbox): connection to server at \"127.0.0.1\", port " + port + " failed:",
                  c.name);
    EXPECT_EQ(r.err.find("secret"), std::string::npos) << c.name << ": the password leaked: " << r.err;
  }
  // check-config does not connect.
  const CommandResult r = RunWith(config, {"check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, config + ": ok\n");
}

TEST(CliErrors, KafkaDown) {
  ScopedSchema schema("cli_kafka_down");
  const std::string brokers = ClosedPortAddress();
  const std::string config = Config(PgDsn(), schema.name(), brokers);
  for (const auto& c : std::vector<Case>{{{"migrate"}, "migrate"},
                                         {{"status"}, "status"},
                                         {{"dlq", "list"}, "dlq list"},
                                         {{"check-config"}, "check-config"}}) {
    const CommandResult r = RunWith(config, c.args);
    EXPECT_EQ(r.exit_code, 0) << c.name << " needs no Kafka: " << r.err;
    EXPECT_EQ(r.err, "") << c.name << " prints its result on stdout, nothing on stderr";
    EXPECT_NE(r.out, "") << c.name;
  }
  const CommandResult r = RunWith(config, {"check"}, 90);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ExpectOneLine(r,
                "outbox-relay: check: Kafka (" + brokers + "): cannot read topic metadata from the brokers: ", "check");
}

// Requeueing an event whose id (or seq) is back in the outbox printed Postgres' raw error.
TEST(CliErrors, RequeueOfAnEventAlreadyInTheOutbox) {
  ScopedSchema schema("cli_requeue");
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema.name());
  const std::string s = sdk::QuoteIdentifier(schema.name());
  std::string id;
  {
    sdk::OutboxOptions options;
    options.schema = schema.name();
    const sdk::Outbox outbox(options);
    pqxx::work tx(c);
    outbox.Enqueue(tx, sdk::Event{"order", "1", "OrderCreated", "{}"});
    // A dead-lettered copy while the row itself is still in the outbox.
    id = tx.exec1("INSERT INTO " + s + ".dead_letter (seq, id, aggregate_type, aggregate_id, event_type, payload, " +
                  "headers, topic, created_at, reason, attempts) SELECT seq, id, aggregate_type, aggregate_id, " +
                  "event_type, payload, headers, topic, created_at, 'test', 3 FROM " + s +
                  ".outbox RETURNING id::text")[0]
             .as<std::string>();
    tx.commit();
  }
  const std::string config = Config(PgDsn(), schema.name(), ClosedPortAddress());
  const CommandResult r = RunWith(config, {"dlq", "requeue", id});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ExpectOneLine(
      r, "outbox-relay: dlq requeue: event " + id + " is already in the outbox table " + schema.name() + ".outbox",
      "requeue");
  EXPECT_EQ(r.err.find("duplicate key"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("ERROR"), std::string::npos) << r.err;
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM " + s + ".dead_letter")[0].as<int>(), 1) << "nothing lost";
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM " + s + ".outbox")[0].as<int>(), 1);
}

TEST(CliErrors, UnmigratedSchema) {
  ScopedSchema schema("cli_unmigrated");
  const std::string config = Config(PgDsn(), schema.name(), ClosedPortAddress());
  for (const auto& c : std::vector<Case>{{{"dlq", "list"}, "dlq list"},
                                         {{"dlq", "requeue", kSomeId}, "dlq requeue"},
                                         {{"dlq", "skip", kSomeId}, "dlq skip"}}) {
    const CommandResult r = RunWith(config, c.args);
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.err;
    ExpectOneLine(r, "outbox-relay: " + c.name + ": ", c.name);
    EXPECT_NE(r.err.find("run `outbox-relay migrate`"), std::string::npos) << r.err;
  }
}

// A created_at of 'infinity' broke the age query; status exited 1 with the raw error.
TEST(CliErrors, StatusSurvivesHostileTimestamps) {
  ScopedSchema schema("cli_infinity");
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema.name());
  {
    sdk::OutboxOptions options;
    options.schema = schema.name();
    const sdk::Outbox outbox(options);
    pqxx::work tx(c);
    for (int i = 0; i < 3; ++i) outbox.Enqueue(tx, sdk::Event{"order", std::to_string(i), "OrderCreated", "{}"});
    const std::string s = sdk::QuoteIdentifier(schema.name());
    tx.exec("UPDATE " + s + ".outbox SET created_at = 'infinity' WHERE aggregate_id = '0'");
    tx.exec("UPDATE " + s + ".outbox SET created_at = '-infinity' WHERE aggregate_id = '1'");
    tx.exec("UPDATE " + s + ".outbox SET created_at = now() - interval '30 seconds' WHERE aggregate_id = '2'");
    tx.commit();
  }
  const std::string config = Config(PgDsn(), schema.name(), ClosedPortAddress());
  const CommandResult r = RunWith(config, {"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("backlog rows:            3"), std::string::npos) << r.out;
  const CommandResult j = RunWith(config, {"status", "--json"});
  EXPECT_EQ(j.exit_code, 0) << j.err;
  EXPECT_NE(j.out.find("\"backlog_rows\":3"), std::string::npos) << j.out;
}

TEST(CliErrors, ConfigurationErrorsExitTwoForEveryCommand) {
  const std::string config = Config("host=127.0.0.1", "outbox", "127.0.0.1:9", "[source]\nbatch_size = 0\n");
  std::vector<Case> cases = PostgresCommands();
  cases.push_back({{"check-config"}, "check-config"});
  cases.push_back({{"run"}, "run"});
  for (const auto& c : cases) {
    const CommandResult r = RunWith(config, c.args);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.err;
    ExpectOneLine(
        r, "outbox-relay: " + c.name + ": " + config + ": source.batch_size: must be between 1 and 100000, got 0",
        c.name);
  }
}

TEST(CliErrors, UsageErrorsAreOneLine) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"status", "--no-such-flag"}, {"no-such-command"}, {"dlq", "purge"}, {"dlq", "requeue"}, {}}) {
    const CommandResult r = RunRelayCommand(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << ": " << r.err;
    ExpectOneLine(r, "outbox-relay: ", ::testing::PrintToString(args));
    EXPECT_TRUE(r.err.find("--help") != std::string::npos || r.err.find("dlq list") != std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace outbox::test
