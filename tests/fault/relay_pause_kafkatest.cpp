// Scenario 5: the relay process frozen with SIGSTOP for longer than its
// socket/request timeouts, then SIGCONT. A long linger keeps records queued
// inside librdkafka when the pause begins; on resume every in-flight request
// has timed out and librdkafka retries them. Writers keep writing throughout.
// Everything is still delivered: nothing lost, phantom or inverted.
#include <signal.h>

#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

TEST(FaultRelayPause, SigstopLongerThanTheTimeoutsThenSigcont) {
  const int64_t pauses = EnvInt("OUTBOX_FAULT_PAUSES", 1);
  const int64_t pause_s = EnvInt("OUTBOX_FAULT_PAUSE_S", 15);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  std::mt19937_64 rng(Seed("sigstop"));
  FaultSchema schema(PgDsn(), "fstop", 30);
  const std::string prefix = UniqueName("fstop");
  const std::string log = "/tmp/" + prefix + ".log";
  auto config = RelayConfig(schema.name(), prefix);
  config.kafka.properties = {{"linger.ms", "1000"},
                             {"socket.timeout.ms", "3000"},
                             {"request.timeout.ms", "3000"},
                             {"socket.connection.setup.timeout.ms", "3000"}};
  RelayProcess relay(config, log);
  ASSERT_TRUE(relay.WaitForLog("relay starting")) << "see " << log;

  FaultWriterOptions w;
  w.dsn = PgDsn();
  w.schema = schema.name();
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  FaultWriters writers(w);
  ASSERT_TRUE(writers.WaitForCommitted(200, 60000));
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() < 200; }, 60000)) << "the relay never published; see " << log;

  for (int64_t p = 0; p < pauses; ++p) {
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(rng, 500, 2500)));
    relay.Signal(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::seconds(pause_s));
    const int64_t backlog = schema.OutboxRows();
    relay.Signal(SIGCONT);
    EXPECT_GT(backlog, 0) << "writers kept writing during pause #" << p;
    EXPECT_TRUE(WaitFor([&] { return schema.OutboxRows() < backlog / 2 + 100; }, 120000))
        << "the relay did not catch up after pause #" << p << "; see " << log;
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();

  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained; see " << log;
  const bool resynced = relay.LogContains("re-reading the outbox");
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(30000), 0) << "SIGTERM drains and exits 0; see " << log;

  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, writers.Committed(), ConsumeEvents({prefix + ".account"}, ledger, 180000));
  Report("sigstop", "pauses=" + std::to_string(pauses) + "x" + std::to_string(pause_s) + "s", audit,
         std::string(" resync=") + (resynced ? "yes" : "no"));
}

}  // namespace
}  // namespace outbox::test::fault
