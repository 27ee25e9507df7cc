// Scenario 3: PostgreSQL restarted with fast and with immediate (crash)
// shutdown while the relay runs and writers write. The cluster is private
// (shared port + 300; + 301 for the tail-mode variant, which may run at the
// same time). Writers retry across the outage and resolve commits of
// unknown outcome through the ledger, so the committed set is exact; the relay
// reconnects and nothing is lost, acknowledged twice into a gap, or reordered.
// Runs in poll and in tail mode (the slot lives in the private cluster), and
// exactly once (+ 306), where duplicates must be 0 too.
#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

void FastAndImmediateRestarts(Variant variant) {
  const bool tail = variant == Variant::kTail, eos = variant == Variant::kExactlyOnce;
  const std::string scenario = tail ? "pg-restart-tail" : eos ? "eos-pg-restart" : "pg-restart";
  const int64_t restarts = EnvInt("OUTBOX_FAULT_PG_RESTARTS", 4);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  std::mt19937_64 rng(Seed(scenario));
  PrivatePostgres pg(tail ? 301 : eos ? 306 : 300);  // the variants may run at once (ctest -j)
  FaultSchema schema(pg.dsn(), "fpg", 30);
  const std::string prefix = UniqueName("fpg");
  auto config = RelayConfig(schema.name(), prefix);
  config.postgres.dsn = pg.dsn();
  config.postgres.reconnect_backoff_max = std::chrono::milliseconds(2000);
  if (tail) config = TailConfig(config);  // the slot goes with the private cluster
  if (eos) config = ExactlyOnce(config, prefix);
  RelayThread relay(config);

  FaultWriterOptions w;
  w.dsn = pg.dsn();
  w.schema = schema.name();
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  FaultWriters writers(w);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() > 50; }, 60000)) << "the relay never published";

  int64_t immediate = 0;
  for (int64_t r = 0; r < restarts; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(rng, 500, 3000)));
    const std::string mode = r % 2 == 0 ? "fast" : "immediate";
    immediate += mode == "immediate";
    const uint64_t reconnects = relay.stats().pg_reconnects.load();
    ASSERT_EQ(pg.Restart(mode), 0) << "restart #" << r << " (" << mode << "); see /tmp/outbox-fault-scripts.log";
    EXPECT_TRUE(WaitFor([&] { return relay.stats().pg_reconnects.load() > reconnects; }, 60000))
        << "the relay did not reconnect after restart #" << r << " (" << mode << ")";
    const uint64_t acked = relay.stats().acked.load();
    EXPECT_TRUE(WaitFor([&] { return relay.stats().acked.load() > acked + 20; }, 60000))
        << "publishing did not resume after restart #" << r << " (" << mode << ")";
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();

  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained";
  EXPECT_EQ(relay.Stop(), 0);
  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, writers.Committed(), ConsumeEvents({prefix + ".account"}, ledger, 180000));
  Report(scenario,
         "restarts=" + std::to_string(restarts) + " (fast=" + std::to_string(restarts - immediate) +
             " immediate=" + std::to_string(immediate) + ")",
         audit,
         " writer_retries=" + std::to_string(writers.retries()) + " unknown_commits=" +
             std::to_string(writers.unknown()) + " (committed=" + std::to_string(writers.unknown_committed()) +
             ") relay_reconnects=" + std::to_string(relay.stats().pg_reconnects.load()) +
             (eos ? " covered=" + std::to_string(relay.stats().checkpoint_covered.load()) : ""));
  if (eos) {
    EXPECT_EQ(audit.duplicates, 0u) << audit.first_problem;
  }
}

TEST(FaultPostgresRestart, FastAndImmediateRestartsWhileTheRelayRuns) { FastAndImmediateRestarts(Variant::kPoll); }

TEST(FaultPostgresRestart, TailModeFastAndImmediateRestartsWhileTheRelayRuns) {
  FastAndImmediateRestarts(Variant::kTail);
}

TEST(FaultPostgresRestart, ExactlyOnceFastAndImmediateRestartsWhileTheRelayRuns) {
  FastAndImmediateRestarts(Variant::kExactlyOnce);
}

}  // namespace
}  // namespace outbox::test::fault
