// Gap-free publishing with concurrent writers: a transaction that took a
// smaller seq but commits later is still published; rolled-back events never
// are; each aggregate's events arrive in commit order.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

class OrderingTest : public ::testing::Test {
 protected:
  void SetUp() override { sdk::Migrate(conn_, schema_.name()); }
  ScopedSchema schema_{"ord"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("ord");
  sdk::Outbox outbox_{sdk::OutboxOptions{schema_.name()}};
};

TEST_F(OrderingTest, SmallerSeqCommittedAfterALargerOneIsStillPublished) {
  RelayThread relay(RelayConfig(schema_.name(), prefix_));
  pqxx::connection late_conn(PgDsn());
  pqxx::work late(late_conn);
  const std::string late_id = outbox_.Enqueue(late, sdk::Event{"order", "late", "OrderCreated", "late"});
  const int64_t late_seq = late.exec1("SELECT max(seq) FROM \"" + schema_.name() + "\".outbox")[0].as<int64_t>();

  std::string early_id;
  int64_t early_seq = 0;
  {
    pqxx::work tx(conn_);
    early_id = outbox_.Enqueue(tx, sdk::Event{"order", "early", "OrderCreated", "early"});
    early_seq = tx.exec1("SELECT max(seq) FROM \"" + schema_.name() + "\".outbox")[0].as<int64_t>();
    tx.commit();
  }
  ASSERT_LT(late_seq, early_seq) << "the test needs the open transaction to hold the smaller seq";
  // The larger seq is published and acknowledged while the smaller one is still open.
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() == 1; }, 20000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // several polls pass the gap
  late.commit();

  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() == 2; }, 20000))
      << "the late-committing smaller seq was skipped";
  auto audit = AuditDelivery({{late_id, "late"}, {early_id, "early"}},
                             ConsumeEvents({prefix_ + ".order"}, {{late_id, "late"}, {early_id, "early"}}));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
  EXPECT_EQ(audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(relay.Stop(), 0);
}

TEST_F(OrderingTest, RolledBackGapIsForgottenAndLaterRowsFlow) {
  RelayThread relay(RelayConfig(schema_.name(), prefix_));
  {
    pqxx::work tx(conn_);
    outbox_.Enqueue(tx, sdk::Event{"order", "a", "OrderCreated", "x"});
    tx.abort();
  }
  std::vector<WrittenEvent> written;
  for (int i = 0; i < 3; ++i) {
    pqxx::work tx(conn_);
    written.push_back({outbox_.Enqueue(tx, sdk::Event{"order", "a", "OrderCreated", std::to_string(i)}), "a"});
    tx.commit();
  }
  auto audit = AuditDelivery(written, ConsumeEvents({prefix_ + ".order"}, written));
  EXPECT_EQ(audit.lost + audit.phantom + audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(relay.Stop(), 0);
}

}  // namespace
}  // namespace outbox::test
