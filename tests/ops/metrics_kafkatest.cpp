// The HTTP endpoint against the real servers: /metrics counters and the
// commit-to-ack histogram move with traffic; /healthz and /readyz answer; the
// outbox-relay executable serves it when http.listen is set.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "config/config_writer.hpp"
#include "http/metrics_server.hpp"
#include "http/prometheus.hpp"
#include "ops_util.hpp"
#include "outbox/migrations.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

double Sample(int port, const std::string& series) {
  const HttpAnswer a = HttpGet(port, "/metrics");
  if (a.status != 200) return -1;
  return SampleValue(a.body, series).value_or(0);
}

void Migrate(const std::string& schema) {
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema);
}

TEST(MetricsEndpoint, CountersAndHistogramMoveWithTraffic) {
  ScopedSchema schema("metrics");
  Migrate(schema.name());
  CreateAggregates(schema.name(), 10);
  const std::string prefix = UniqueName("metrics");
  const std::string topic = prefix + ".account";
  RelayThread relay(RelayConfig(schema.name(), prefix));
  // Beside the relay, as RunCommand does it; port 0 = any free loopback port.
  relay::HttpConfig http;
  http.listen = "127.0.0.1:0";
  relay::MetricsServer server(http, relay.stats());
  server.Start();
  const int port = server.port();
  ASSERT_GT(port, 0);

  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port, "/healthz").body, "ok\n");
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 30000))
      << "/readyz: " << HttpGet(port, "/readyz").body;
  EXPECT_EQ(HttpGet(port, "/readyz").body, "ok\n");
  EXPECT_EQ(HttpGet(port, "/no-such-path").status, 404);

  const HttpAnswer before = HttpGet(port, "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.content_type, relay::kPrometheusContentType);
  const std::string published = "outbox_relay_events_published_total{topic=\"" + topic + "\"}";
  EXPECT_FALSE(SampleValue(before.body, published)) << "no sample before the topic had traffic";
  const double count_before = SampleValue(before.body, "outbox_relay_commit_to_ack_seconds_count").value_or(-1);
  EXPECT_EQ(SampleValue(before.body, "outbox_relay_postgres_up"), 1.0);

  WriterOptions w;
  w.schema = schema.name();
  w.writers = 2;
  w.transactions_per_writer = 100;
  w.aggregates = 10;
  w.rollback_percent = 0;
  const auto committed = RunWriters(w);
  ASSERT_EQ(committed.size(), 200u);

  ASSERT_TRUE(WaitFor([&] { return Sample(port, published) >= 200; }, 60000))
      << "published for " << topic << ": " << Sample(port, published);
  ASSERT_TRUE(WaitFor([&] { return Sample(port, "outbox_relay_events_acked_total") >= 200; }, 30000));
  const std::string after = HttpGet(port, "/metrics").body;
  EXPECT_EQ(SampleValue(after, published), 200.0) << "no duplicates without faults";
  EXPECT_GE(SampleValue(after, "outbox_relay_commit_to_ack_seconds_count").value_or(0), count_before + 200);
  EXPECT_EQ(SampleValue(after, "outbox_relay_commit_to_ack_seconds_bucket{le=\"+Inf\"}"),
            SampleValue(after, "outbox_relay_commit_to_ack_seconds_count"));
  EXPECT_GT(SampleValue(after, "outbox_relay_commit_to_ack_seconds_sum").value_or(0), 0);
  EXPECT_GE(SampleValue(after, "outbox_relay_poll_batch_rows_count").value_or(0), 1);
  EXPECT_GE(SampleValue(after, "outbox_relay_events_read_total").value_or(0), 200);
  EXPECT_GT(SampleValue(after, "outbox_relay_last_ack_timestamp_seconds").value_or(0), 1.6e9);
  EXPECT_EQ(SampleValue(after, "outbox_relay_kafka_up"), 1.0);
  // The backlog gauges are refreshed every 2 s: they come back to 0 once all is acknowledged.
  EXPECT_TRUE(WaitFor([&] { return Sample(port, "outbox_relay_backlog_rows") == 0; }, 15000));
  EXPECT_EQ(Sample(port, "outbox_relay_oldest_unpublished_age_seconds"), 0);

  server.Stop();
  EXPECT_EQ(HttpGet(port, "/healthz").status, 0) << "stopped: nothing listens any more";
  EXPECT_EQ(relay.Stop(), 0);
}

TEST(MetricsEndpoint, ServedByOutboxRelayRunWhenHttpListenIsSet) {
  ScopedSchema schema("metrics_exe");
  Migrate(schema.name());
  const std::string prefix = UniqueName("metrics_exe");
  const int port = FreeLoopbackPort();
  relay::Config c = RelayConfig(schema.name(), prefix);
  c.http.listen = "127.0.0.1:" + std::to_string(port);
  c.http.ready_max_lag = std::chrono::milliseconds(5000);
  const std::string config = WriteTempFile("relay_http", relay::ConfigToToml(c));
  const std::string log = config + ".log";
  const std::string binary = RelayBinary();
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(log.c_str(), "w", stderr)) _exit(126);
    execl(binary.c_str(), binary.c_str(), "-c", config.c_str(), "run", static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  const bool ready = WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 30000);
  const std::string metrics = HttpGet(port, "/metrics").body;
  kill(pid, SIGTERM);
  int status = -1;
  pid_t done = 0;
  for (int i = 0; i < 3000 && (done = waitpid(pid, &status, WNOHANG)) == 0; ++i) usleep(10000);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::ifstream in(log);
  const std::string relay_log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(ready) << relay_log;
  EXPECT_NE(metrics.find("# TYPE outbox_relay_commit_to_ack_seconds histogram\n"), std::string::npos) << metrics;
  EXPECT_NE(relay_log.find("http: serving /metrics"), std::string::npos) << relay_log;
  EXPECT_TRUE(done != 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM: drain, exit 0\n" << relay_log;
  std::remove(config.c_str());
  std::remove(log.c_str());
}

}  // namespace
}  // namespace outbox::test
