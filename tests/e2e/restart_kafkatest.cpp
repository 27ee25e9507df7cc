// The real outbox-relay executable, SIGKILLed mid-stream and restarted,
// resumes without losing or reordering anything; SIGTERM drains and exits 0.
#include <signal.h>

#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

TEST(RelayRestart, KilledMidStreamResumesWithoutLossOrInversion) {
  ScopedSchema schema("rst");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  CreateAggregates(schema.name(), 30);
  const std::string prefix = UniqueName("rst");
  auto config = RelayConfig(schema.name(), prefix);
  config.source.batch_size = 100;
  KillRestartAndAudit("restart", config, schema.name(), prefix, 6, 600, 150, "relay starting");
}

// The executable runs on the allocator it was built for (jemalloc by default):
// linked in, its malloc must come before glibc's, or the per-event costs in
// docs/benchmarks.md do not hold.
TEST(RelayBinary, RunsOnTheAllocatorItWasBuiltWith) {
  ScopedSchema schema("malloc");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  RelayProcess relay(RelayConfig(schema.name(), UniqueName("malloc")));
  ASSERT_TRUE(relay.WaitForLog("relay starting"));
  EXPECT_TRUE(relay.WaitForLog(OUTBOX_RELAY_MALLOC_EXPECTED, 1000))
      << "the start line should name " << OUTBOX_RELAY_MALLOC_EXPECTED;
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(15000), 0);
}

TEST(RelayRestart, SigtermWhilePublishingAcknowledgesWhatWasConfirmed) {
  ScopedSchema schema("term");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  CreateAggregates(schema.name(), 10);
  const std::string prefix = UniqueName("term");
  auto config = RelayConfig(schema.name(), prefix);
  WriterOptions w;
  w.schema = schema.name();
  w.writers = 2;
  w.transactions_per_writer = 100;
  w.events_per_transaction = 20;
  w.rollback_percent = 0;
  w.aggregates = 10;
  w.max_sleep_us = 0;
  auto committed = RunWriters(w);
  const int64_t before = OutboxRows(schema.name());

  RelayProcess relay(config);
  ASSERT_TRUE(relay.WaitForLog("relay starting"));
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) < before; }, 20000));
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(15000), 0);
  // Whatever is left was not confirmed; a second relay finishes the job.
  RelayProcess second(config);
  ASSERT_TRUE(second.WaitForLog("relay starting"));
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 30000));
  second.Signal(SIGTERM);
  EXPECT_EQ(second.Wait(15000), 0);
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix + ".account"}, committed));
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(audit.duplicates, 0u) << "a drained shutdown acknowledges everything the broker confirmed";
}

TEST(RelayRestart, ASecondRelayStandsByAndTakesOverWhenTheFirstStops) {
  ScopedSchema schema("standby");
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema.name());
  CreateAggregates(schema.name(), 10);
  const std::string prefix = UniqueName("standby");
  WriterOptions w;
  w.schema = schema.name();
  w.writers = 2;
  w.transactions_per_writer = 50;
  w.aggregates = 10;
  w.rollback_percent = 0;
  auto committed = RunWriters(w);

  auto active = std::make_unique<RelayThread>(RelayConfig(schema.name(), prefix));
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 20000));
  RelayThread standby(RelayConfig(schema.name(), prefix));
  auto more = RunWriters(w);
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 20000));
  EXPECT_EQ(standby.stats().published.load(), 0u) << "only one relay publishes a table at a time";

  EXPECT_EQ(active->Stop(), 0);
  active.reset();
  auto last = RunWriters(w);
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema.name()) == 0; }, 20000)) << "the standby took over";
  EXPECT_EQ(standby.stats().published.load(), last.size());
  EXPECT_EQ(standby.Stop(), 0);
  // Each RunWriters returns per-aggregate commit order; the three ran one after another.
  committed.insert(committed.end(), more.begin(), more.end());
  committed.insert(committed.end(), last.begin(), last.end());
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix + ".account"}, committed));
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions + audit.duplicates, 0u) << audit.first_problem;
}

}  // namespace
}  // namespace outbox::test
