// Exactly-once (kafka.delivery = "exactly_once"): relay SIGKILLs at random
// moments and at deterministic points of the commit window (poll and tail mode), and two relays
// contending while the active one is SIGSTOPped (broker and Postgres restarts:
// the ExactlyOnce variants in broker_restart_ and pg_restart_kafkatest.cpp). Each audit
// reads with read_committed and passes only with lost = phantom = inversions
// = 0 and duplicates = 0 (by event id, across the whole topic).
#include <signal.h>
#include <stdlib.h>

#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

using Ms = std::chrono::milliseconds;

FaultWriterOptions Writers(const std::string& dsn, const std::string& schema) {
  FaultWriterOptions w;
  w.dsn = dsn;
  w.schema = schema;
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  return w;
}

/// How often `needle` occurs in `text`.
size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

void ExpectNoDuplicates(const Audit& a) { EXPECT_EQ(a.duplicates, 0u) << a.first_problem; }

void SigkillAtRandomMomentsAndInsideTheCommitWindow(bool tail) {
  const std::string scenario = tail ? "eos-sigkill-tail" : "eos-sigkill";
  const int64_t kills = EnvInt("OUTBOX_FAULT_EOS_KILLS", 100);
  const int64_t points = EnvInt("OUTBOX_FAULT_EOS_POINTS", 3);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  std::mt19937_64 rng(Seed(scenario));
  FaultSchema schema(PgDsn(), "feoskill", 30);
  const std::string prefix = UniqueName("feoskill");
  auto config = RelayConfig(schema.name(), prefix);
  if (tail) config = TailConfig(config);
  config = ExactlyOnce(config, prefix);
  TailSlotGuard slot(config);  // drops the slot (if any) at the end
  config.source.batch_size = 200;
  config.kafka.transaction_max_events = 100;  // several commits per second: kills land inside them too
  const std::string log = "/tmp/" + prefix + ".log";
  FaultWriters writers(Writers(PgDsn(), schema.name()));

  for (int64_t k = 0; k < kills; ++k) {
    RelayProcess relay(config, log);
    std::this_thread::sleep_for(Ms(Uniform(rng, 0, 1500)));
    relay.Signal(SIGKILL);
    ASSERT_EQ(relay.Wait(10000), 128 + SIGKILL) << "kill #" << k << ": the relay was not running; see " << log;
  }
  // Deterministic: killed right before the N-th commit (its transaction open,
  // records perhaps on the broker) and right after it (committed in Kafka,
  // not acknowledged in Postgres).
  for (int64_t n = 1; n <= points; ++n) {
    for (const char* point : {"before_commit", "after_commit"}) {
      setenv("OUTBOX_RELAY_CRASH_AT", (std::string(point) + ":" + std::to_string(n)).c_str(), 1);
      RelayProcess relay(config, log);
      unsetenv("OUTBOX_RELAY_CRASH_AT");
      ASSERT_EQ(relay.Wait(60000), 128 + SIGKILL) << point << ":" << n << " was not reached; see " << log;
    }
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();

  RelayProcess last(config, log);
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained; see " << log;
  last.Signal(SIGTERM);
  EXPECT_EQ(last.Wait(30000), 0) << "SIGTERM drains and exits 0; see " << log;

  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, writers.Committed(), ConsumeEvents({prefix + ".account"}, ledger, 180000));
  Report(scenario, "kills=" + std::to_string(kills) + " commit_window_points=" + std::to_string(points * 2), audit);
  ExpectNoDuplicates(audit);
}

TEST(FaultExactlyOnce, SigkillAtRandomMomentsAndInsideTheCommitWindow) {
  SigkillAtRandomMomentsAndInsideTheCommitWindow(/*tail=*/false);
}

TEST(FaultExactlyOnce, TailModeSigkillAtRandomMomentsAndInsideTheCommitWindow) {
  SigkillAtRandomMomentsAndInsideTheCommitWindow(/*tail=*/true);
}

// Two relays on one table; the active one is frozen. Its lock session idles
// past postgres.lock_lease_ms (2.5 s), the server ends it, and the standby takes over
// and fences the frozen producer. Thawed, the old relay's transaction fails
// fenced and it stands by.
TEST(FaultExactlyOnce, TwoRelaysTheActiveOneSigstopped) {
  const int64_t rounds = EnvInt("OUTBOX_FAULT_EOS_FAILOVERS", 2);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  FaultSchema schema(PgDsn(), "feosstop", 30);
  const std::string prefix = UniqueName("feosstop");
  auto config = ExactlyOnce(RelayConfig(schema.name(), prefix), prefix);
  const std::string log_a = "/tmp/" + prefix + ".a.log", log_b = "/tmp/" + prefix + ".b.log";
  FaultWriters writers(Writers(PgDsn(), schema.name()));
  auto a = std::make_unique<RelayProcess>(config, log_a);
  ASSERT_TRUE(a->WaitForLog("transactions ready", 30000)) << a->Log();
  auto b = std::make_unique<RelayProcess>(config, log_b);
  ASSERT_TRUE(b->WaitForLog("standing by", 30000)) << b->Log();

  int64_t slowest_ms = 0;
  for (int64_t r = 0; r < rounds; ++r) {
    ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() < 100; }, 60000)) << "the active relay does not publish";
    std::this_thread::sleep_for(Ms(1000));
    const size_t ready_before = Count(b->Log(), "transactions ready");
    const size_t standby_before = Count(a->Log(), "standing by");
    const auto stopped_at = std::chrono::steady_clock::now();
    a->Signal(SIGSTOP);
    // The standby's own log: it took the table and its producer is ready.
    const bool took_over = WaitFor([&] { return Count(b->Log(), "transactions ready") > ready_before; }, 30000);
    const auto failover_ms = std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - stopped_at).count();
    slowest_ms = std::max<int64_t>(slowest_ms, failover_ms);
    ASSERT_TRUE(took_over) << "the standby never took over; " << b->Log();
    EXPECT_LT(failover_ms, 10000) << "failover took " << failover_ms << " ms (lock_lease_ms = 2500)";
    const int64_t backlog = schema.OutboxRows();
    EXPECT_TRUE(WaitFor([&] { return schema.OutboxRows() < backlog / 2 + 100; }, 60000)) << "B does not publish";
    a->Signal(SIGCONT);
    EXPECT_TRUE(WaitFor([&] { return Count(a->Log(), "standing by") > standby_before; }, 30000))
        << "the thawed relay must stand by; " << a->Log();
    std::swap(a, b);  // the new active one is frozen next
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained";
  for (auto* r : {a.get(), b.get()}) {
    r->Signal(SIGTERM);
    EXPECT_EQ(r->Wait(30000), 0) << r->Log();
  }
  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, writers.Committed(), ConsumeEvents({prefix + ".account"}, ledger, 180000));
  Report("eos-sigstop-failover", "failovers=" + std::to_string(rounds), audit,
         " slowest_failover_ms=" + std::to_string(slowest_ms));
  ExpectNoDuplicates(audit);
}

}  // namespace
}  // namespace outbox::test::fault
