// The relay publishes each committed outbox row as the record schema/README.md
// describes: topic, key, value bytes, headers; and acknowledges it afterwards.
#include <regex>

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

TEST_F(PublishTest, RecordCarriesTopicKeyValueAndHeaders) {
  sdk::Event order{"order", "order-1", "OrderCreated", std::string("{\"total\":42}\0\xff", 15)};
  order.headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  sdk::Event audit{"order", "order-1", "OrderAudited", "audit"};
  audit.topic = prefix_ + ".audit";
  sdk::Event gone{"order", "order-2", "OrderDeleted", ""};
  gone.tombstone = true;
  std::string order_id, audit_id, gone_id;
  {
    pqxx::work tx(conn_);
    order_id = outbox_.Enqueue(tx, order);
    audit_id = outbox_.Enqueue(tx, audit);
    gone_id = outbox_.Enqueue(tx, gone);
    tx.commit();
  }

  RelayThread relay(RelayConfig(schema_.name(), prefix_));
  auto records = ConsumeEvents({prefix_ + ".order", prefix_ + ".audit"},
                               {{order_id, "order-1"}, {audit_id, "order-1"}, {gone_id, "order-2"}});
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 10000)) << "acked rows are deleted";
  EXPECT_EQ(relay.Stop(), 0);
  ASSERT_EQ(records.size(), 3u);

  std::map<std::string, ConsumedRecord> by_id;
  for (const auto& r : records) by_id[r.Header("event_id")] = r;
  const ConsumedRecord& o = by_id.at(order_id);
  EXPECT_EQ(o.topic, prefix_ + ".order");
  EXPECT_EQ(o.key, "order-1");
  EXPECT_EQ(o.value, std::string("{\"total\":42}\0\xff", 15)) << "payload bytes unchanged";
  EXPECT_EQ(o.Header("event_type"), "OrderCreated");
  EXPECT_EQ(o.Header("aggregate_type"), "order");
  EXPECT_EQ(o.Header("aggregate_id"), "order-1");
  EXPECT_EQ(o.Header("traceparent"), order.headers["traceparent"]);
  EXPECT_TRUE(std::regex_match(o.Header("created_at"), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
      << o.Header("created_at");

  const ConsumedRecord& a = by_id.at(audit_id);
  EXPECT_EQ(a.topic, prefix_ + ".audit") << "the row's topic overrides the template";
  EXPECT_EQ(a.value, "audit");
  EXPECT_EQ(a.partition, o.partition) << "same key, same partition";

  const ConsumedRecord& g = by_id.at(gone_id);
  EXPECT_EQ(g.value, "") << "a tombstone has a null value";
  EXPECT_EQ(g.Header("event_type"), "OrderDeleted");
}

TEST_F(PublishTest, RolledBackEventIsNeverPublished) {
  RelayThread relay(RelayConfig(schema_.name(), prefix_));
  std::string rolled_back, committed;
  {
    pqxx::work tx(conn_);
    rolled_back = outbox_.Enqueue(tx, sdk::Event{"order", "o-9", "OrderCreated", "{}"});
    tx.abort();
  }
  {
    pqxx::work tx(conn_);
    committed = outbox_.Enqueue(tx, sdk::Event{"order", "o-9", "OrderCreated", "{}"});
    tx.commit();
  }
  auto records = ConsumeEvents({prefix_ + ".order"}, {{committed, "o-9"}});
  auto audit = AuditDelivery({{committed, "o-9"}}, records);
  EXPECT_EQ(audit.lost, 0u);
  EXPECT_EQ(audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(relay.Stop(), 0);
}

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
