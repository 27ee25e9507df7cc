// Scenario 1: the real outbox-relay executable SIGKILLed at random moments
// (seeded), restarted each time, while writers keep writing; a last relay
// drains and exits 0 on SIGTERM. Nothing lost, no phantom, no inversion.
// Runs in poll mode and in tail mode (kills then also land between broker
// acks and the slot's LSN confirmation).
#include <signal.h>

#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

void SigkillAtRandomMoments(bool tail) {
  const std::string scenario = tail ? "sigkill-tail" : "sigkill";
  const int64_t kills = EnvInt("OUTBOX_FAULT_KILLS", 50);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  std::mt19937_64 rng(Seed(scenario));
  FaultSchema schema(PgDsn(), "fkill", 40);
  const std::string prefix = UniqueName("fkill");
  auto config = RelayConfig(schema.name(), prefix);
  if (tail) config = TailConfig(config);
  TailSlotGuard slot(config);  // drops the slot (if any) at the end
  config.source.batch_size = 200;
  const std::string log = "/tmp/" + prefix + ".log";

  FaultWriterOptions w;
  w.dsn = PgDsn();
  w.schema = schema.name();
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.aggregates = 40;
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  FaultWriters writers(w);

  int64_t early = 0;  // kills during start-up (connecting, first poll)
  for (int64_t k = 0; k < kills; ++k) {
    RelayProcess relay(config, log);
    const bool during_startup = Uniform(rng, 0, 9) == 0;
    early += during_startup;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(during_startup ? Uniform(rng, 0, 150) : Uniform(rng, 150, 1500)));
    relay.Signal(SIGKILL);
    ASSERT_EQ(relay.Wait(10000), 128 + SIGKILL) << "kill #" << k << ": the relay was not running; see " << log;
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();

  RelayProcess last(config, log);
  ASSERT_TRUE(last.WaitForLog("relay starting")) << "see " << log;
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained; see " << log;
  last.Signal(SIGTERM);
  EXPECT_EQ(last.Wait(30000), 0) << "SIGTERM drains and exits 0; see " << log;

  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, writers.Committed(), ConsumeEvents({prefix + ".account"}, ledger, 180000));
  Report(scenario, "kills=" + std::to_string(kills) + " (" + std::to_string(early) + " during start-up)", audit);
}

TEST(FaultRelayKill, SigkillAtRandomMomentsLosesNothing) { SigkillAtRandomMoments(/*tail=*/false); }

TEST(FaultRelayKill, TailModeSigkillAtRandomMomentsLosesNothing) { SigkillAtRandomMoments(/*tail=*/true); }

}  // namespace
}  // namespace outbox::test::fault
