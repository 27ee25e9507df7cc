// Hostile scenario: long-running transactions across relay restarts. Some
// writer sessions take their seq values and then hold their transaction open
// for seconds, so they commit below seq values the relay has already
// published, while the relay is SIGKILLed and restarted (each start and each
// resync meets open transactions older than the rows it reads). Nothing may
// be lost and no key reordered. Poll mode and tail mode.
#include <signal.h>

#include <algorithm>
#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

void OpenTransactionsAcrossKills(bool tail) {
  const std::string scenario = tail ? "open-tx-tail" : "open-tx";
  const int64_t kills = EnvInt("OUTBOX_FAULT_OPEN_TX_KILLS", 6);
  const int64_t open_ms = EnvInt("OUTBOX_FAULT_OPEN_TX_MS", 5000);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  std::mt19937_64 rng(Seed(scenario));
  FaultSchema schema(PgDsn(), "fopen", 44);
  const std::string prefix = UniqueName("fopen");
  auto config = RelayConfig(schema.name(), prefix);
  if (tail) config = TailConfig(config);
  TailSlotGuard slot(config);
  config.source.batch_size = 200;
  const std::string log = "/tmp/" + prefix + ".log";

  FaultWriterOptions w;
  w.dsn = PgDsn();
  w.schema = schema.name();
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.aggregates = 40;
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  FaultWriters writers(w);
  // Sessions that hold each transaction open for open_ms / 2 .. open_ms after
  // taking their seq values, on keys of their own (acct-41..44): on the
  // writers' keys they would mostly make the writers wait for the lock.
  FaultWriterOptions l = w;
  l.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_OPEN_TX_WRITERS", 2));
  l.aggregates = 4;
  l.first_aggregate = 41;
  l.min_sleep_us = static_cast<int>(open_ms * 500);
  l.max_sleep_us = static_cast<int>(open_ms * 1000);
  l.pause_between_us = 100000;
  l.seed = 4242;
  FaultWriters long_writers(l);

  int64_t max_backlog = 0;
  for (int64_t k = 0; k < kills; ++k) {
    RelayProcess relay(config, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(rng, 500, 3000)));
    max_backlog = std::max(max_backlog, schema.OutboxRows());
    relay.Signal(SIGKILL);
    ASSERT_EQ(relay.Wait(10000), 128 + SIGKILL) << "kill #" << k << ": the relay was not running; see " << log;
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(rng, 0, 500)));
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  long_writers.Stop();
  writers.Stop();

  RelayProcess last(config, log);
  ASSERT_TRUE(last.WaitForLog("relay starting")) << "see " << log;
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained; see " << log;
  last.Signal(SIGTERM);
  EXPECT_EQ(last.Wait(30000), 0) << "SIGTERM drains and exits 0; see " << log;

  const auto ledger = schema.Ledger();
  auto view = writers.Committed();
  const auto long_view = long_writers.Committed();
  view.insert(view.end(), long_view.begin(), long_view.end());
  EXPECT_GT(long_view.size(), 0u) << "no long transaction committed: the scenario tested nothing";
  const auto audit = CheckDelivery(ledger, view, ConsumeEvents({prefix + ".account"}, ledger, 180000));
  Report(scenario,
         "kills=" + std::to_string(kills) + " open_tx_sessions=" + std::to_string(l.writers) +
             " open_ms=" + std::to_string(open_ms / 2) + ".." + std::to_string(open_ms),
         audit, " long_tx_events=" + std::to_string(long_view.size()) + " max_backlog=" + std::to_string(max_backlog));
}

TEST(FaultHostile, OpenTransactionsAcrossRelayKillsLoseNothing) { OpenTransactionsAcrossKills(/*tail=*/false); }

TEST(FaultHostile, TailModeOpenTransactionsAcrossRelayKillsLoseNothing) { OpenTransactionsAcrossKills(/*tail=*/true); }

}  // namespace
}  // namespace outbox::test::fault
