// /readyz follows the pipeline: 200 while events flow, 503 with a reason once
// a killed broker stalls it while writers keep writing, 200 again after the
// broker is back. Uses a private broker so killing it disturbs no other test.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "http/metrics_server.hpp"
#include "ops_util.hpp"
#include "outbox/migrations.hpp"
#include "private_servers.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

TEST(ReadyzProbe, FailsWhileTheBrokerIsDownAndRecoversAfter) {
  PrivateBroker broker(200);
  ScopedSchema schema("ready");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  CreateAggregates(schema.name(), 20);
  const std::string prefix = UniqueName("ready");
  relay::Config config = RelayConfig(schema.name(), prefix, broker.address());
  config.http.listen = "127.0.0.1:0";
  config.http.ready_max_lag = std::chrono::milliseconds(2000);
  RelayThread relay(config);
  relay::MetricsServer server(config.http, relay.stats());
  server.Start();
  const int port = server.port();
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 30000)) << HttpGet(port, "/readyz").body;

  // Writers keep writing through the outage: ~12 s of steady load.
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    WriterOptions w;
    w.schema = schema.name();
    w.writers = 3;
    w.transactions_per_writer = 800;
    w.pause_between_us = 15000;
    w.aggregates = 20;
    w.rollback_percent = 0;
    RunWriters(w);
    writing = false;
  });
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() > 50; }, 30000));
  EXPECT_EQ(HttpGet(port, "/readyz").status, 200) << "events flow";

  ASSERT_EQ(broker.Script("kill"), 0);
  HttpAnswer down;
  const bool went_down = WaitFor(
      [&] {
        down = HttpGet(port, "/readyz");
        return down.status == 503;
      },
      20000);
  EXPECT_TRUE(went_down) << "/readyz still " << down.status << " " << down.body;
  EXPECT_TRUE(down.body.rfind("kafka: no broker reachable", 0) == 0 || down.body.rfind("stalled: ", 0) == 0)
      << down.body;
  EXPECT_EQ(down.body.find('\n'), down.body.size() - 1) << "one line: " << down.body;
  std::printf("readyz while the broker is down: %s", down.body.c_str());
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200) << "the process itself is healthy";
  EXPECT_TRUE(writing.load()) << "the outage should happen while writers write; make them write longer";

  // Held down long enough for the stalled rule to hold too (rows older than 2 s, no ack for 2 s).
  std::this_thread::sleep_for(std::chrono::seconds(3));
  down = HttpGet(port, "/readyz");
  EXPECT_EQ(down.status, 503) << down.body;

  ASSERT_EQ(broker.Script("restart"), 0);
  HttpAnswer up;
  const bool came_back = WaitFor(
      [&] {
        up = HttpGet(port, "/readyz");
        return up.status == 200;
      },
      120000);
  EXPECT_TRUE(came_back) << "/readyz still " << up.status << " " << up.body;
  writer.join();

  EXPECT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 120000));
  EXPECT_EQ(HttpGet(port, "/readyz").status, 200);
  server.Stop();
  EXPECT_EQ(relay.Stop(), 0);
}

}  // namespace
}  // namespace outbox::test
