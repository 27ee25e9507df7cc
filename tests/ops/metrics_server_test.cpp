// MetricsServer on a loopback port with a RelayStats the test controls: routes,
// status codes, content types, an occupied port, stop.
#include <gtest/gtest.h>

#include <string>

#include "http/metrics_server.hpp"
#include "http/prometheus.hpp"
#include "ops_util.hpp"
#include "pipeline/stats.hpp"

namespace outbox::test {
namespace {

relay::HttpConfig AnyPort() {
  relay::HttpConfig http;
  http.listen = "127.0.0.1:0";
  return http;
}

TEST(MetricsServer, RoutesAnswerFromTheStats) {
  relay::RelayStats stats;
  relay::MetricsServer server(AnyPort(), stats, relay::TableLabels{"billing", "outbox"});
  server.Start();
  const int port = server.port();
  ASSERT_GT(port, 0);

  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port, "/healthz").body, "ok\n");
  HttpAnswer ready = HttpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "postgres: not connected\n");
  stats.pg_connected = true;
  stats.kafka_connected = true;
  ready = HttpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ok\n");

  stats.published_by_topic.Add("orders", 7);
  const HttpAnswer metrics = HttpGet(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, relay::kPrometheusContentType);
  // The relay's families first, then ready/active/build info and process_* (RenderMetricsPage).
  EXPECT_EQ(metrics.body.rfind(relay::RenderPrometheus(stats), 0), 0u);
  EXPECT_EQ(SampleValue(metrics.body, "outbox_relay_ready"), 1.0) << "as /readyz answers";
  EXPECT_EQ(SampleValue(metrics.body, "outbox_relay_active{schema=\"billing\",table=\"outbox\"}"), 1.0);
  EXPECT_GT(SampleValue(metrics.body, "process_open_fds").value_or(0), 0);
  EXPECT_EQ(SampleValue(metrics.body, "outbox_relay_events_published_total{topic=\"orders\"}"), 7.0);
  EXPECT_EQ(HttpGet(port, "/nope").status, 404);

  server.Stop();
  server.Stop();  // idempotent
  EXPECT_EQ(HttpGet(port, "/healthz").status, 0) << "nothing listens after Stop()";
}

TEST(MetricsServer, StopRightAfterStartReturns) {
  relay::RelayStats stats;
  for (int i = 0; i < 20; ++i) {
    relay::MetricsServer server(AnyPort(), stats);
    server.Start();
  }  // destructors stop; a hang here fails by the ctest timeout
}

TEST(MetricsServer, PortInUseIsOneClearError) {
  relay::RelayStats stats;
  relay::MetricsServer first(AnyPort(), stats);
  first.Start();
  relay::HttpConfig taken;
  taken.listen = "127.0.0.1:" + std::to_string(first.port());
  relay::MetricsServer second(taken, stats);
  try {
    second.Start();
    FAIL() << "a second server bound the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("http.listen: cannot listen on \"" + taken.listen + "\"", 0), 0u) << e.what();
  }
  EXPECT_EQ(HttpGet(first.port(), "/healthz").status, 200);
}

}  // namespace
}  // namespace outbox::test
