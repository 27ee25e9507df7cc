// A broker stopped for a few seconds while writers keep writing delays
// delivery but loses nothing. Uses a private broker so that killing it does
// not disturb other tests.
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "private_servers.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

TEST(BrokerOutage, EventsWrittenDuringAnOutageArePublishedAfterIt) {
  PrivateBroker broker(100);
  ScopedSchema schema("outage");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  CreateAggregates(schema.name(), 20);
  const std::string prefix = UniqueName("outage");
  RelayThread relay(RelayConfig(schema.name(), prefix, broker.address()));

  std::vector<WrittenEvent> committed;
  std::thread writer([&] {
    WriterOptions w;
    w.schema = schema.name();
    w.writers = 3;
    w.transactions_per_writer = 400;
    w.pause_between_us = 15000;  // ~6 s of steady writes
    w.aggregates = 20;
    committed = RunWriters(w);
  });
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() > 50; }, 30000));
  ASSERT_EQ(broker.Script("kill"), 0);
  const uint64_t acked_at_kill = relay.stats().acked.load();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_LE(relay.stats().acked.load(), acked_at_kill + 20) << "nothing is acknowledged while the broker is down";
  ASSERT_EQ(broker.Script("restart"), 0);
  writer.join();

  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 120000));
  EXPECT_EQ(relay.Stop(), 0);
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix + ".account"}, committed, 60000, broker.address()));
  std::printf("outage: %zu committed, %zu delivered, lost=%zu phantom=%zu duplicates=%zu inversions=%zu\n",
              audit.committed, audit.delivered, audit.lost, audit.phantom, audit.duplicates, audit.inversions);
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
  EXPECT_EQ(audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(audit.inversions, 0u) << audit.first_problem;
}

}  // namespace
}  // namespace outbox::test
