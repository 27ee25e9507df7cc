// What both source modes promise, run in each (TEST_P over source.mode): the
// record schema/README.md describes, nothing rolled back, each aggregate's
// commit order under concurrent writers. Events are written once the relay is
// reading (in tail mode: streaming from its slot), so tail mode publishes
// them from the WAL, not by catch-up.
#include <regex>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

class DeliveryTest : public ::testing::TestWithParam<relay::SourceMode> {
 protected:
  void SetUp() override { sdk::Migrate(conn_, schema_.name()); }
  bool tail() const { return GetParam() == relay::SourceMode::kTail; }
  relay::Config Config() const {
    auto c = RelayConfig(schema_.name(), prefix_);
    return tail() ? TailConfig(c) : c;
  }
  /// Starts the relay and waits until it reads: in tail mode, from its slot.
  std::unique_ptr<RelayThread> StartRelay(const relay::Config& config) {
    auto relay = std::make_unique<RelayThread>(config);
    if (tail()) {
      EXPECT_TRUE(WaitFor([&] { return TailStreaming(config); }, 20000)) << "the relay streams from its slot";
    }
    return relay;
  }

  ScopedSchema schema_{"dlv"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("dlv");
  sdk::Outbox outbox_{sdk::OutboxOptions{schema_.name()}};
  TailSlotGuard slot_{Config()};
};

TEST_P(DeliveryTest, RecordCarriesTopicKeyValueAndHeaders) {
  auto relay = StartRelay(Config());
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
  const int64_t after_commit = CurrentWalLsn();
  auto records = ConsumeEvents({prefix_ + ".order", prefix_ + ".audit"},
                               {{order_id, "order-1"}, {audit_id, "order-1"}, {gone_id, "order-2"}});
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 10000)) << "acked rows are deleted";
  if (tail()) {
    EXPECT_TRUE(WaitFor([&] { return SlotConfirmedLsn(Config()) >= after_commit; }, 10000))
        << "every event was acknowledged: the slot is confirmed past their transaction";
  }
  EXPECT_EQ(relay->Stop(), 0);
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

TEST_P(DeliveryTest, RolledBackEventIsNeverPublished) {
  auto relay = StartRelay(Config());
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
  auto audit = AuditDelivery({{committed, "o-9"}}, ConsumeEvents({prefix_ + ".order"}, {{committed, "o-9"}}));
  EXPECT_EQ(audit.lost, 0u);
  EXPECT_EQ(audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(relay->Stop(), 0);
  EXPECT_EQ(relay->stats().published.load(), 1u);
}

TEST_P(DeliveryTest, EightConcurrentWritersKeepEachAggregatesOrder) {
  CreateAggregates(schema_.name(), 40);
  auto config = Config();
  config.source.batch_size = 50;  // many small reads: more chances to meet an open gap
  auto relay = StartRelay(config);
  std::vector<std::string> rolled_back;
  WriterOptions w;
  w.schema = schema_.name();
  w.writers = 8;
  w.transactions_per_writer = 150;
  auto committed = RunWriters(w, &rolled_back);
  w.events_per_transaction = 5;
  w.transactions_per_writer = 30;
  auto batches = RunWriters(w, &rolled_back);
  // RunWriters returns per-aggregate commit order within one run; the second
  // run commits after the first, so appending keeps the order.
  committed.insert(committed.end(), batches.begin(), batches.end());
  ASSERT_FALSE(rolled_back.empty());

  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 60000));
  auto audit = AuditDelivery(committed, ConsumeEvents({prefix_ + ".account"}, committed));
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
  EXPECT_EQ(audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(audit.inversions, 0u) << audit.first_problem;
  EXPECT_EQ(audit.duplicates, 0u) << "no fault was injected";
  EXPECT_EQ(relay->Stop(), 0);
  EXPECT_EQ(relay->stats().published.load(), committed.size());
}

INSTANTIATE_TEST_SUITE_P(SourceModes, DeliveryTest,
                         ::testing::Values(relay::SourceMode::kPoll, relay::SourceMode::kTail),
                         [](const auto& info) { return info.param == relay::SourceMode::kTail ? "Tail" : "Poll"; });

}  // namespace
}  // namespace outbox::test
