// Bounded memory: during a broker outage of OUTBOX_FAULT_OUTAGE_S seconds with
// writers running (the outbox keeps growing), the relay executable's RSS,
// sampled every second, stays flat: the largest sample of the outage's second
// half is at most 1.2 x the largest of its first half + 5 MB. The in-flight
// window is small so it fills early in the first half; the records in it wait
// in librdkafka's queue for the whole outage (the relay never expires them).
// Afterwards everything is delivered.
#include <signal.h>

#include <algorithm>
#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

TEST(FaultMemory, RssStaysFlatDuringABrokerOutage) {
  const int64_t outage_s = std::max<int64_t>(4, EnvInt("OUTBOX_FAULT_OUTAGE_S", 20));
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  Seed("memory");  // nothing random here; printed for a uniform report
  PrivateBroker broker(302);
  FaultSchema schema(PgDsn(), "fmem", 30);
  const std::string prefix = UniqueName("fmem");
  const std::string log = "/tmp/" + prefix + ".log";
  auto config = RelayConfig(schema.name(), prefix, broker.address());
  config.source.batch_size = 500;
  config.source.max_in_flight = 2000;
  RelayProcess relay(config, log);
  ASSERT_TRUE(relay.WaitForLog("relay starting")) << "see " << log;

  FaultWriterOptions w;
  w.dsn = PgDsn();
  w.schema = schema.name();
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  FaultWriters writers(w);
  ASSERT_TRUE(writers.WaitForCommitted(500, 60000));
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() < 200; }, 60000)) << "the relay never published; see " << log;

  ASSERT_EQ(broker.Script("kill"), 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<int64_t> rss_kb;
  for (int64_t s = 1; s <= outage_s; ++s) {
    std::this_thread::sleep_until(start + std::chrono::seconds(s));
    rss_kb.push_back(RssKb(relay.pid()));
    ASSERT_GT(rss_kb.back(), 0) << "the relay is gone at second " << s << "; see " << log;
  }
  const int64_t backlog = schema.OutboxRows();
  ASSERT_EQ(broker.Script("restart"), 0) << "see /tmp/outbox-fault-scripts.log";

  const auto half = rss_kb.begin() + static_cast<std::ptrdiff_t>(rss_kb.size() / 2);
  const int64_t first_max = *std::max_element(rss_kb.begin(), half);
  const int64_t second_max = *std::max_element(half, rss_kb.end());
  EXPECT_GT(backlog, static_cast<int64_t>(config.source.max_in_flight))
      << "the outbox should outgrow the in-flight window during the outage, or memory was never at stake";
  EXPECT_LE(second_max, first_max * 12 / 10 + 5 * 1024)
      << "RSS grew during the outage: first half max " << first_max << " kB, second half max " << second_max << " kB";

  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 300000)) << "the outbox never drained; see " << log;
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(30000), 0) << "SIGTERM drains and exits 0; see " << log;

  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, writers.Committed(),
                                   ConsumeEvents({prefix + ".account"}, ledger, 180000, broker.address()));
  char rss[256];
  std::snprintf(rss, sizeof rss, " rss_first_half_max=%.1fMB rss_second_half_max=%.1fMB rss_last=%.1fMB backlog=%lld",
                first_max / 1024.0, second_max / 1024.0, rss_kb.back() / 1024.0, static_cast<long long>(backlog));
  Report("memory", "outage_s=" + std::to_string(outage_s), audit, rss);
}

}  // namespace
}  // namespace outbox::test::fault
