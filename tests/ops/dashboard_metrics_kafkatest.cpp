// Every metric name (and label) that deploy/grafana/relay.json and
// deploy/prometheus/outbox-alerts.yml query is exported by a real relay: the
// outbox-relay executable in tail mode (so the slot gauge exists) publishes
// events, dead-letters an oversized one and holds its key, and this test
// scrapes its /metrics. A histogram counts through its _bucket/_sum/_count.
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "deploy_files.hpp"
#include "ops_util.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"

namespace outbox::test {
namespace {

void Enqueue(const std::string& schema, const std::string& aggregate_id, int n) {
  pqxx::connection c(PgDsn());
  sdk::OutboxOptions options;
  options.schema = schema;
  const sdk::Outbox outbox(options);
  for (int i = 0; i < n; ++i) {
    pqxx::work tx(c);
    sdk::Event e;
    e.aggregate_type = "account";
    e.aggregate_id = aggregate_id;
    e.event_type = "Deposited";
    e.payload = R"({"cents":100})";
    outbox.Enqueue(tx, e);
    tx.commit();
  }
}

double Sample(int port, const std::string& series) {
  return SampleValue(HttpGet(port, "/metrics").body, series).value_or(-1);
}

TEST(DashboardMetrics, EveryQueriedNameIsExportedByARunningRelay) {
  ScopedSchema schema("dash");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  const std::string prefix = UniqueName("dash");
  relay::Config config = TailConfig(RelayConfig(schema.name(), prefix));
  TailSlotGuard slot(config);
  const int port = FreeLoopbackPort();
  config.dead_letter.max_attempts = 1;
  config.http.listen = "127.0.0.1:" + std::to_string(port);
  RelayProcess relay(config);
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 60000)) << relay.Log();

  // Traffic, a poison event (larger than the broker accepts) and one held behind it.
  Enqueue(schema.name(), "a-1", 20);
  {
    pqxx::connection c(PgDsn());
    pqxx::work tx(c);
    tx.exec0("INSERT INTO \"" + schema.name() +
             "\".outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('account', 'poison', 'Big', "
             "convert_to(repeat('x', 2000000), 'UTF8'))");
    tx.commit();
  }
  ASSERT_TRUE(WaitFor([&] { return Sample(port, "outbox_relay_dead_lettered_total") >= 1; }, 60000)) << relay.Log();
  Enqueue(schema.name(), "poison", 1);
  const std::string published = "outbox_relay_events_published_total{topic=\"" + prefix + ".account\"}";
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string m = HttpGet(port, "/metrics").body;
        return SampleValue(m, published).value_or(0) >= 20 && SampleValue(m, "outbox_relay_held_events") >= 1 &&
               SampleValue(m, "outbox_relay_slot_retained_wal_bytes").has_value() &&
               SampleValue(m, "outbox_relay_backlog_rows").has_value();
      },
      60000))
      << HttpGet(port, "/metrics").body << relay.Log();

  const std::string metrics = HttpGet(port, "/metrics").body;
  const Exposition exported = ParseExposition(metrics);
  // What the dashboard's stat panels and the alerts rely on, with this relay's values.
  EXPECT_EQ(SampleValue(metrics, "outbox_relay_ready"), 1.0);
  EXPECT_EQ(SampleValue(metrics, "outbox_relay_active{schema=\"" + schema.name() + "\",table=\"outbox\"}"), 1.0);
  EXPECT_GT(SampleValue(metrics, "process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_TRUE(exported.series_with_samples.count("outbox_relay_build_info"));

  std::vector<Query> queries = DashboardQueries(LoadJsonFile(RepoPath("deploy/grafana/relay.json")));
  const auto rules = RuleQueries(ParseYaml(ReadTextFile(RepoPath("deploy/prometheus/outbox-alerts.yml")), "rules"));
  queries.insert(queries.end(), rules.begin(), rules.end());
  ASSERT_GE(queries.size(), 40u);
  for (const auto& problem : CheckQueries(queries, exported)) ADD_FAILURE() << problem;

  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(30000), 0) << relay.Log();
}

}  // namespace
}  // namespace outbox::test
