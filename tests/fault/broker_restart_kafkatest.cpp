// Scenario 2: the Kafka broker SIGKILLed and restarted (on its kept data)
// several times while writers keep writing. The broker is private (shared
// port + 300; + 304 for the tail-mode variant, which may run at the same
// time) so the shared one other tests use stays up. Records wait in
// librdkafka's queue while the broker is away (the relay never expires them),
// so each key keeps its order across restarts. Runs in poll and in tail mode,
// and exactly once (+ 306), where duplicates must be 0 too.
#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

void BrokerKilledAndRestarted(Variant variant) {
  const bool tail = variant == Variant::kTail, eos = variant == Variant::kExactlyOnce;
  const std::string scenario = tail ? "broker-restart-tail" : eos ? "eos-broker-restart" : "broker-restart";
  const int64_t restarts = EnvInt("OUTBOX_FAULT_BROKER_RESTARTS", 3);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  std::mt19937_64 rng(Seed(scenario));
  PrivateBroker broker(tail ? 304 : eos ? 306 : 300);  // the variants may run at once (ctest -j)
  FaultSchema schema(PgDsn(), "fbrk", 30);
  const std::string prefix = UniqueName("fbrk");
  auto config = RelayConfig(schema.name(), prefix, broker.address());
  if (tail) config = TailConfig(config);
  if (eos) config = ExactlyOnce(config, prefix);
  TailSlotGuard slot(config);
  RelayThread relay(config);

  FaultWriterOptions w;
  w.dsn = PgDsn();
  w.schema = schema.name();
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  FaultWriters writers(w);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() > 50; }, 60000)) << "the relay never published";

  int64_t down_ms_total = 0;
  for (int64_t r = 0; r < restarts; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(rng, 1000, 4000)));
    ASSERT_EQ(broker.Script("kill"), 0) << "kill #" << r;
    const auto down_at = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(rng, 1000, 6000)));
    ASSERT_EQ(broker.Script("restart"), 0) << "restart #" << r << "; see /tmp/outbox-fault-scripts.log";
    down_ms_total +=
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - down_at).count();
    const uint64_t acked = relay.stats().acked.load();
    EXPECT_TRUE(WaitFor([&] { return relay.stats().acked.load() > acked + 20; }, 120000))
        << "publishing did not resume after restart #" << r;
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();

  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained";
  EXPECT_EQ(relay.Stop(), 0);
  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, writers.Committed(),
                                   ConsumeEvents({prefix + ".account"}, ledger, 180000, broker.address()));
  Report(scenario, "restarts=" + std::to_string(restarts), audit,
         " down_s=" + std::to_string(down_ms_total / 1000) +
             " resyncs=" + std::to_string(relay.stats().resyncs.load()) + " producer_rebuilds=" +
             std::to_string(relay.stats().producer_rebuilds.load()) + " errors=" + ErrorsByReason(relay.stats()) +
             (eos ? " committed_tx=" + std::to_string(relay.stats().transactions_committed.load()) +
                        " aborted_tx=" + std::to_string(relay.stats().transactions_aborted.load())
                  : ""));
  if (eos) {
    EXPECT_EQ(audit.duplicates, 0u) << audit.first_problem;
  }
}

TEST(FaultBrokerRestart, BrokerKilledAndRestartedWhileWritersWrite) { BrokerKilledAndRestarted(Variant::kPoll); }

TEST(FaultBrokerRestart, TailModeBrokerKilledAndRestartedWhileWritersWrite) {
  BrokerKilledAndRestarted(Variant::kTail);
}

TEST(FaultBrokerRestart, ExactlyOnceBrokerKilledAndRestartedWhileWritersWrite) {
  BrokerKilledAndRestarted(Variant::kExactlyOnce);
}

}  // namespace
}  // namespace outbox::test::fault
