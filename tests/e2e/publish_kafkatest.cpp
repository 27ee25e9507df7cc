// Poll mode's cleanup: rows deleted after the broker confirmed them, or kept
// with published_at and purged after the retention window. (The record itself
// is checked in both modes by delivery_kafkatest.cpp.)
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"

namespace outbox::test {
namespace {

class PublishTest : public ::testing::Test {
 protected:
  void SetUp() override { sdk::Migrate(conn_, schema_.name()); }
  ScopedSchema schema_{"pub"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("pub");
  sdk::Outbox outbox_{sdk::OutboxOptions{schema_.name()}};
};

TEST_F(PublishTest, MarkModeKeepsRowsWithPublishedAt) {
  auto config = RelayConfig(schema_.name(), prefix_);
  config.outbox.cleanup = relay::Cleanup::kMark;
  std::vector<WrittenEvent> written;
  {
    pqxx::work tx(conn_);
    for (int i = 0; i < 50; ++i) {
      written.push_back({outbox_.Enqueue(tx, sdk::Event{"order", "k" + std::to_string(i % 5), "E", "x"}),
                         "k" + std::to_string(i % 5)});
    }
    tx.commit();
  }
  RelayThread relay(config);
  auto audit = AuditDelivery(written, ConsumeEvents({prefix_ + ".order"}, written));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
  EXPECT_EQ(audit.inversions, 0u) << audit.first_problem;
  auto published = [&] {
    pqxx::nontransaction tx(conn_);
    return tx.exec1("SELECT count(*) FROM \"" + schema_.name() + "\".outbox WHERE published_at IS NOT NULL")[0]
        .as<int>();
  };
  EXPECT_TRUE(WaitFor([&] { return published() == 50; }, 10000));
  EXPECT_EQ(OutboxRows(schema_.name()), 50);
  EXPECT_EQ(relay.Stop(), 0);
  EXPECT_EQ(relay.stats().published.load(), 50u) << "marked rows are not published again";
}

TEST_F(PublishTest, MarkModeRetentionDeletesOnlyOldPublishedRows) {
  auto config = RelayConfig(schema_.name(), prefix_);
  config.outbox.cleanup = relay::Cleanup::kMark;
  config.outbox.retention = std::chrono::hours(24);
  {
    pqxx::work tx(conn_);
    for (int i = 0; i < 3; ++i) outbox_.Enqueue(tx, sdk::Event{"order", "old", "E", "x"});
    tx.exec("UPDATE \"" + schema_.name() + "\".outbox SET published_at = now() - interval '2 days'");
    tx.commit();
  }
  std::vector<WrittenEvent> fresh;
  {
    pqxx::work tx(conn_);
    fresh.push_back({outbox_.Enqueue(tx, sdk::Event{"order", "new", "E", "y"}), "new"});
    tx.commit();
  }
  RelayThread relay(config);
  auto audit = AuditDelivery(fresh, ConsumeEvents({prefix_ + ".order"}, fresh));
  EXPECT_EQ(audit.lost, 0u);
  EXPECT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 1; }, 10000))
      << "the three rows published two days ago are deleted, the fresh one is kept";
  EXPECT_EQ(relay.Stop(), 0);
  EXPECT_EQ(relay.stats().published.load(), 1u);
}

}  // namespace
}  // namespace outbox::test
