// Scenario: the network to PostgreSQL goes silent (every packet to and from a
// private cluster's port dropped with nftables: a half-open connection, not a
// refused one) while the relay holds its lock. The relay must notice within
// its bounds (postgres.tcp_user_timeout_ms, lock_check_interval_ms) instead of
// blocking on a socket that never answers, stop publishing, and, once the
// network is back, reconnect, take its lock again and deliver everything:
// lost = phantom = inversions = 0. Runs in poll and in tail mode (in tail mode
// the lock session is otherwise idle: only the lock check finds the fault).
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

/// Drops every TCP packet to and from `port` on this host while it lives.
class Blackhole {
 public:
  explicit Blackhole(int port) : table_("outbox_blackhole_" + std::to_string(port)) {
    const std::string p = std::to_string(port);
    Nft("add table inet " + table_);
    Nft("add chain inet " + table_ + " out '{ type filter hook output priority 0 ; }'");
    Nft("add rule inet " + table_ + " out tcp dport " + p + " drop");
    Nft("add rule inet " + table_ + " out tcp sport " + p + " drop");
  }
  ~Blackhole() { std::system(("nft delete table inet " + table_ + " 2>/dev/null").c_str()); }
  Blackhole(const Blackhole&) = delete;
  Blackhole& operator=(const Blackhole&) = delete;

 private:
  static void Nft(const std::string& args) {
    if (std::system(("nft " + args).c_str()) != 0) throw std::runtime_error("nft " + args + " failed (needs root)");
  }
  std::string table_;
};

int PortOf(const std::string& dsn) {
  const auto colon = dsn.rfind(':'), slash = dsn.find('/', colon);
  return std::stoi(dsn.substr(colon + 1, slash - colon - 1));
}

constexpr int kAggregates = 20;

std::vector<WrittenEvent> WriteSome(const FaultSchema& schema, size_t events) {
  FaultWriterOptions w;
  w.aggregates = kAggregates;
  w.dsn = schema.dsn();
  w.schema = schema.name();
  w.writers = 2;
  w.pause_between_us = 5000;
  FaultWriters writers(w);
  EXPECT_TRUE(writers.WaitForCommitted(events, 120000));
  writers.Stop();
  return writers.Committed();
}

void SilentNetwork(bool tail) {
  const std::string scenario = tail ? "pg-blackhole-tail" : "pg-blackhole";
  PrivatePostgres pg(tail ? 303 : 302);  // the two variants may run at once (ctest -j)
  FaultSchema schema(pg.dsn(), "fbh", kAggregates);
  const std::string prefix = UniqueName("fbh");
  auto config = RelayConfig(schema.name(), prefix);
  config.postgres.dsn = pg.dsn();
  config.postgres.tcp_user_timeout = std::chrono::milliseconds(2000);
  config.postgres.lock_check_interval = std::chrono::milliseconds(500);
  config.postgres.connect_timeout = std::chrono::milliseconds(2000);
  config.postgres.reconnect_backoff_max = std::chrono::milliseconds(1000);
  if (tail) config = TailConfig(config);
  RelayThread relay(config);

  std::vector<WrittenEvent> committed = WriteSome(schema, 300);
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 60000)) << "the relay never drained the first part";
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the relay idles: waiting on its sessions

  const uint64_t reconnects = relay.stats().pg_reconnects.load();
  const auto cut = std::chrono::steady_clock::now();
  double noticed_s = -1;
  {
    Blackhole silence(PortOf(pg.dsn()));
    // Bounds: lock check 0.5 s + tcp_user_timeout 2 s, with room for a slow machine.
    const bool noticed = WaitFor([&] { return !relay.stats().pg_connected.load(); }, 20000);
    noticed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut).count();
    ASSERT_TRUE(noticed) << "the relay still believed in its Postgres sessions 20 s after the network went silent";
    // Long enough for the server to end the dead sessions too (about 1.7 x
    // tcp_user_timeout after their last packet), which releases the lock.
    std::this_thread::sleep_for(std::chrono::seconds(5));
  }
  ASSERT_TRUE(WaitFor([&] { return relay.stats().pg_reconnects.load() > reconnects; }, 60000))
      << "the relay did not reconnect (and take its lock again) after the network came back";

  const auto more = WriteSome(schema, 300);
  committed.insert(committed.end(), more.begin(), more.end());
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 120000)) << "the outbox never drained";
  EXPECT_EQ(relay.Stop(), 0);
  const auto ledger = schema.Ledger();
  const auto audit = CheckDelivery(ledger, committed, ConsumeEvents({prefix + ".account"}, ledger, 120000));
  char noticed[32];
  std::snprintf(noticed, sizeof noticed, "%.1f", noticed_s);
  Report(scenario, std::string("noticed_after_s=") + noticed, audit,
         " relay_reconnects=" + std::to_string(relay.stats().pg_reconnects.load()));
}

TEST(FaultPostgresBlackhole, SilentNetworkIsNoticedAndTheRelayResumes) { SilentNetwork(/*tail=*/false); }

TEST(FaultPostgresBlackhole, TailModeSilentNetworkIsNoticedAndTheRelayResumes) { SilentNetwork(/*tail=*/true); }

}  // namespace
}  // namespace outbox::test::fault
