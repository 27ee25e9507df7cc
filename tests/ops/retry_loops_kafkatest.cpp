// Postgres faults against the outbox-relay executable: each retry loop backs
// off and logs a repeating error once, then a summary (so a minute under the
// fault yields a handful of lines, not tens of thousands); /readyz answers 503
// with the reason once the relay could not read or acknowledge for
// http.ready_max_lag_ms; the gauges it cannot measure are absent, not 0; and
// the relay recovers when the fault ends.
//
// Figures are printed as "retry-loops <scenario>: ..." lines.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "config/config_writer.hpp"
#include "ops_util.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "private_servers.hpp"
#include "relay_harness.hpp"

namespace outbox::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// How long each fault is held while lines are counted. Within it each loop
// logs the first failure of each reason (a read, the resync it causes, the
// gauges: a few lines), and no summary yet (one a minute). Before issue 18 the
// same 20 s gave 64,385 lines (REVOKE), 16 (renamed table: one poll a second
// plus resync lines), 14 (lock) and 7 (max_connections: one per reconnect).
constexpr auto kFaultTime = seconds(20);

void Enqueue(const std::string& dsn, const std::string& schema, int n) {
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  sdk::Outbox outbox(sdk::OutboxOptions{schema});
  std::vector<sdk::Event> events;
  for (int i = 0; i < n; ++i) events.push_back(sdk::Event{"order", "o" + std::to_string(i % 5), "Created", "{}"});
  outbox.EnqueueBatch(tx, events);
  tx.commit();
}

void Exec(const std::string& dsn, const std::string& sql) {
  pqxx::connection c(dsn);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

int64_t Rows(const std::string& dsn, const std::string& schema) {
  pqxx::connection c(dsn);
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT count(*) FROM " + schema + ".outbox")[0].as<int64_t>();
}

size_t CountLines(const std::string& text) {
  size_t n = 0;
  for (char ch : text) n += ch == '\n';
  return n;
}

std::string Head(const std::string& log) { return log.substr(0, 4000); }

/// The relay executable on a fresh schema of `dsn`, serving HTTP, with a
/// short ready_max_lag so the fault shows in /readyz within the test.
struct FaultedRelay {
  explicit FaultedRelay(const std::string& name, const std::string& dsn_in = PgDsn(),
                        const std::string& dsn_options = "")
      : dsn(dsn_in), schema_name(UniqueName(name)) {
    {
      pqxx::connection c(dsn);
      {
        pqxx::nontransaction tx(c);
        tx.exec("DROP SCHEMA IF EXISTS " + schema_name + " CASCADE");
      }
      sdk::Migrate(c, schema_name);
    }
    port = FreeLoopbackPort();
    config = RelayConfig(schema_name, UniqueName(name));
    config.postgres.dsn = dsn + dsn_options;
    config.http.listen = "127.0.0.1:" + std::to_string(port);
    config.http.ready_max_lag = milliseconds(3000);
    config.log.progress_interval = seconds(0);
    log_path = "/tmp/" + UniqueName("retry_loops") + ".log";
    relay = std::make_unique<RelayProcess>(config, log_path);
  }
  ~FaultedRelay() {
    if (::testing::Test::HasFailure()) std::printf("relay log:\n%s\n", Head(relay->Log()).c_str());
    relay.reset();
    std::remove(log_path.c_str());
    try {
      Exec(dsn, "DROP SCHEMA IF EXISTS " + schema_name + " CASCADE");
    } catch (...) {
    }
  }
  bool WaitReady(int timeout_ms = 30000) const {
    return WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, timeout_ms);
  }
  std::string Metrics() const { return HttpGet(port, "/metrics").body; }

  /// Holds the fault for kFaultTime, probing /readyz every second; returns
  /// the log written meanwhile.
  std::string HoldFault(const std::string& scenario) {
    const std::string before = relay->Log();
    std::map<int, int> statuses;
    const auto end = std::chrono::steady_clock::now() + kFaultTime;
    while (std::chrono::steady_clock::now() < end) {
      last_probe = HttpGet(port, "/readyz");
      statuses[last_probe.status]++;
      std::this_thread::sleep_for(seconds(1));
    }
    std::string during = relay->Log().substr(before.size());
    std::ostringstream probes;
    for (const auto& [status, n] : statuses) probes << " " << n << "x" << status;
    std::printf("retry-loops %s: %zu log lines in %lld s (%.0f a minute); /readyz probes:%s; last: %s",
                scenario.c_str(), CountLines(during), static_cast<long long>(kFaultTime.count()),
                static_cast<double>(CountLines(during)) * 60.0 / static_cast<double>(kFaultTime.count()),
                probes.str().c_str(), last_probe.body.c_str());
    std::fflush(stdout);
    return during;
  }

  std::string dsn;
  std::string schema_name;
  int port = 0;
  relay::Config config;
  std::string log_path;
  std::unique_ptr<RelayProcess> relay;
  HttpAnswer last_probe;
};

TEST(RetryLoops, RevokedDeleteAcknowledgementsBackOffAndReadinessSaysWhy) {
  FaultedRelay r("rl_revoke");
  ASSERT_TRUE(r.WaitReady()) << r.relay->Log();
  Exec(r.dsn, "REVOKE DELETE ON " + r.schema_name + ".outbox FROM CURRENT_USER");
  Enqueue(r.dsn, r.schema_name, 50);
  ASSERT_TRUE(r.relay->WaitForLog("permission denied", 20000)) << r.relay->Log();

  const std::string during = r.HoldFault("REVOKE DELETE");
  EXPECT_LE(CountLines(during), 4u) << Head(during);
  EXPECT_EQ(r.last_probe.status, 503) << r.last_probe.body;
  EXPECT_NE(r.last_probe.body.find("cannot acknowledge"), std::string::npos) << r.last_probe.body;
  EXPECT_NE(r.last_probe.body.find("permission_denied"), std::string::npos) << r.last_probe.body;
  const std::string metrics = r.Metrics();
  const auto retries =
      SampleValue(metrics, R"(outbox_relay_retries_total{loop="ack",reason="permission_denied"})").value_or(0);
  EXPECT_GE(retries, 3) << "backed-off attempts are still made and counted";
  EXPECT_LE(retries, 40) << "with backoff, 20 s hold few attempts";
  EXPECT_EQ(Rows(r.dsn, r.schema_name), 50);

  Exec(r.dsn, "GRANT DELETE ON " + r.schema_name + ".outbox TO CURRENT_USER");
  EXPECT_TRUE(WaitFor([&] { return Rows(r.dsn, r.schema_name) == 0; }, 20000)) << "acknowledged once granted";
  EXPECT_TRUE(r.WaitReady(15000)) << HttpGet(r.port, "/readyz").body;
  EXPECT_TRUE(r.relay->LogContains("ack: recovered after")) << r.relay->Log();
  r.relay->Signal(SIGTERM);
  EXPECT_EQ(r.relay->Wait(30000), 0);
}

TEST(RetryLoops, RenamedTablePollsBackOffTheGaugesAreUnknownAndReadinessSaysWhy) {
  FaultedRelay r("rl_rename");
  ASSERT_TRUE(r.WaitReady()) << r.relay->Log();
  Enqueue(r.dsn, r.schema_name, 10);
  ASSERT_TRUE(WaitFor([&] { return Rows(r.dsn, r.schema_name) == 0; }, 20000));
  ASSERT_TRUE(WaitFor([&] { return SampleValue(r.Metrics(), "outbox_relay_backlog_rows").has_value(); }, 10000));
  Exec(r.dsn, "ALTER TABLE " + r.schema_name + ".outbox RENAME TO outbox_moved");

  const std::string during = r.HoldFault("renamed table");
  EXPECT_LE(CountLines(during), 6u) << Head(during);
  EXPECT_NE(during.find("does not exist"), std::string::npos) << "the cause is logged once: " << Head(during);
  EXPECT_EQ(r.last_probe.status, 503) << r.last_probe.body;
  EXPECT_NE(r.last_probe.body.find("cannot read the outbox"), std::string::npos) << r.last_probe.body;
  EXPECT_NE(r.last_probe.body.find("undefined_table"), std::string::npos) << r.last_probe.body;
  const std::string metrics = r.Metrics();
  EXPECT_FALSE(SampleValue(metrics, "outbox_relay_backlog_rows").has_value()) << "unknown, not 0:\n" << metrics;
  EXPECT_FALSE(SampleValue(metrics, "outbox_relay_oldest_unpublished_age_seconds").has_value()) << metrics;
  EXPECT_GE(SampleValue(metrics, R"(outbox_relay_gauge_errors_total{reason="undefined_table"})").value_or(0), 1)
      << metrics;
  const auto retries =
      SampleValue(metrics, R"(outbox_relay_retries_total{loop="read",reason="undefined_table"})").value_or(0);
  EXPECT_GE(retries, 3) << metrics;
  EXPECT_LE(retries, 40) << metrics;

  Exec(r.dsn, "ALTER TABLE " + r.schema_name + ".outbox_moved RENAME TO outbox");
  EXPECT_TRUE(r.WaitReady(20000)) << HttpGet(r.port, "/readyz").body;
  Enqueue(r.dsn, r.schema_name, 10);
  EXPECT_TRUE(WaitFor([&] { return Rows(r.dsn, r.schema_name) == 0; }, 20000)) << "publishes again";
  EXPECT_TRUE(WaitFor([&] { return SampleValue(r.Metrics(), "outbox_relay_backlog_rows") == 0.0; }, 10000));
  r.relay->Signal(SIGTERM);
  EXPECT_EQ(r.relay->Wait(30000), 0);
}

TEST(RetryLoops, ALockedTableWithStatementTimeoutFailsReadiness) {
  FaultedRelay r("rl_lock", PgDsn(), "?options=-c%20statement_timeout%3D1000");
  ASSERT_TRUE(r.WaitReady()) << r.relay->Log();
  pqxx::connection locker(r.dsn);
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE " + r.schema_name + ".outbox IN ACCESS EXCLUSIVE MODE");

  const std::string during = r.HoldFault("table locked, statement_timeout 1 s");
  EXPECT_LE(CountLines(during), 6u) << Head(during);
  EXPECT_EQ(r.last_probe.status, 503) << r.last_probe.body;
  EXPECT_NE(r.last_probe.body.find("statement_timeout"), std::string::npos) << r.last_probe.body;
  lock.abort();
  EXPECT_TRUE(r.WaitReady(20000)) << HttpGet(r.port, "/readyz").body;
  r.relay->Signal(SIGTERM);
  EXPECT_EQ(r.relay->Wait(30000), 0);
}

// max_connections reached on a private cluster (max_connections = 12, 3 of
// them reserved for superusers): the relay's ack session is terminated and its
// slot taken, so it cannot reconnect until a slot frees up.
TEST(RetryLoops, MaxConnectionsReachedReconnectsBackOffAndReadinessSaysWhy) {
  PrivatePostgres pg(37);
  const std::string super_dsn =
      pg.dsn().substr(0, pg.dsn().find("://") + 3) + "postgres@" + pg.dsn().substr(pg.dsn().find('@') + 1);
  Exec(super_dsn, "ALTER SYSTEM SET max_connections = 12");
  ASSERT_EQ(pg.Restart("fast"), 0);
  FaultedRelay r("rl_maxconn", pg.dsn());
  ASSERT_TRUE(r.WaitReady()) << r.relay->Log();

  // Fill every slot a non-superuser may take.
  std::vector<std::unique_ptr<pqxx::connection>> fillers;
  auto fill = [&] {
    for (int i = 0; i < 20; ++i) {
      try {
        fillers.push_back(std::make_unique<pqxx::connection>(pg.dsn()));
      } catch (const pqxx::broken_connection&) {
        return;
      }
    }
  };
  fill();
  pqxx::connection admin(super_dsn);
  {
    pqxx::nontransaction tx(admin);
    tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-relay/ack'");
  }
  // Take the freed slot before the relay does (it reconnects after 100 ms at the earliest).
  ASSERT_TRUE(WaitFor(
      [&] {
        const size_t before = fillers.size();
        fill();
        return fillers.size() > before;
      },
      5000));
  {
    pqxx::work tx(admin);
    sdk::Outbox outbox(sdk::OutboxOptions{r.schema_name});
    for (int i = 0; i < 20; ++i) outbox.Enqueue(tx, sdk::Event{"order", "o1", "Created", "{}"});
    tx.commit();
  }

  const std::string during = r.HoldFault("max_connections reached");
  EXPECT_LE(CountLines(during), 3u) << Head(during);
  EXPECT_EQ(r.last_probe.status, 503) << r.last_probe.body;
  EXPECT_NE(r.last_probe.body.find("too_many_connections"), std::string::npos) << r.last_probe.body;
  const std::string metrics = r.Metrics();
  const auto retries =
      SampleValue(metrics, R"(outbox_relay_retries_total{loop="connect",reason="too_many_connections"})").value_or(0);
  EXPECT_GE(retries, 3) << metrics;
  EXPECT_LE(retries, 40) << metrics;
  EXPECT_FALSE(SampleValue(metrics, "outbox_relay_backlog_rows").has_value()) << "unknown, not 0:\n" << metrics;

  fillers.clear();
  EXPECT_TRUE(r.WaitReady(20000)) << HttpGet(r.port, "/readyz").body;
  EXPECT_TRUE(WaitFor([&] { return Rows(r.dsn, r.schema_name) == 0; }, 20000)) << "published and acknowledged";
  r.relay->Signal(SIGTERM);
  EXPECT_EQ(r.relay->Wait(30000), 0);
}

}  // namespace
}  // namespace outbox::test
