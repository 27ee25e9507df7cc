// A librdkafka fatal error (what the idempotence-desync bug of librdkafka
// 2.0.x raises after disconnects) makes the relay drop the producer, build a
// new one and resume from the last acknowledged row: nothing lost or reordered.
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

TEST(ProducerFatal, RebuildsTheProducerAndLosesNothing) {
  ScopedSchema schema("fatal");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  WriterOptions w;
  w.schema = schema.name();
  w.writers = 3;
  w.transactions_per_writer = 300;
  w.aggregates = 15;
  w.pause_between_us = 5000;
  CreateAggregates(schema.name(), w.aggregates);
  const std::string prefix = UniqueName("fatal");
  RelayThread relay(RelayConfig(schema.name(), prefix));

  std::vector<WrittenEvent> committed;
  std::thread writer([&] { committed = RunWriters(w); });
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() > 100; }, 30000));
  relay.relay().InjectFatalErrorForTest();
  ASSERT_TRUE(WaitFor([&] { return relay.stats().producer_rebuilds.load() == 1; }, 10000));
  writer.join();

  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 60000));
  EXPECT_EQ(relay.Stop(), 0);
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix + ".account"}, committed));
  std::printf("fatal: %zu committed, %zu delivered, lost=%zu phantom=%zu duplicates=%zu inversions=%zu\n",
              audit.committed, audit.delivered, audit.lost, audit.phantom, audit.duplicates, audit.inversions);
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
  EXPECT_EQ(audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(audit.inversions, 0u) << audit.first_problem;
  EXPECT_GE(relay.stats().resyncs.load(), 1u);
}

}  // namespace
}  // namespace outbox::test
