// kafka.headers_format = "cloudevents" against the real broker: records routed
// by the relay's Router and sent by its Producer arrive with the CloudEvents
// binary-mode headers (and the native ones), key and value unchanged; a native
// record next to them has no ce_* header.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "config/config.hpp"
#include "kafka/producer.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "pipeline/routing.hpp"
#include "relay_harness.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

relay::OutboxRow Row(const std::string& id, const std::string& aggregate_id, const std::string& headers_json) {
  relay::OutboxRow r;
  r.id = id;
  r.aggregate_type = "order";
  r.aggregate_id = aggregate_id;
  r.event_type = "OrderCreated";
  r.payload = std::string(R"({"order_id":")") + aggregate_id + "\"}";
  r.created_at = "2026-11-23T09:15:02.123456Z";
  r.headers_json = headers_json;
  return r;
}

/// Produces `records` and waits until the broker confirmed every one.
void ProduceAndConfirm(relay::Producer& producer, const std::vector<relay::KafkaRecord>& records) {
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(producer.Produce(records[i], relay::DeliveryToken{i + 1}).status, relay::DeliveryStatus::kOk);
  }
  std::vector<relay::DeliveryReport> reports;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (reports.size() < records.size() && std::chrono::steady_clock::now() < deadline) producer.Poll(100, reports);
  ASSERT_EQ(reports.size(), records.size());
  for (const auto& r : reports) ASSERT_EQ(r.status, relay::DeliveryStatus::kOk) << r.error;
}

TEST(CloudEventsRecord, BinaryModeHeadersReachTheBroker) {
  const std::string prefix = UniqueName("ce");
  const std::string topic = prefix + ".order";
  CreateTopic(topic, 1);
  relay::Config config;
  config.kafka.brokers = KafkaBrokers();
  config.kafka.topic_template = prefix + ".${aggregate_type}";
  config.kafka.headers_format = relay::HeadersFormat::kCloudEvents;
  config.kafka.cloudevents_source = "/outbox-relay/shop.outbox";
  const relay::Router cloudevents(config);
  const relay::Router native(config.kafka.topic_template);

  relay::Producer producer(config.kafka);
  ProduceAndConfirm(
      producer,
      {cloudevents.Route(Row("0190c3a4-5f2b-7c3d-8e4f-000000000001", "o-1", R"({"traceparent":"00-ab-cd-01"})")),
       cloudevents.Route(Row("0190c3a4-5f2b-7c3d-8e4f-000000000002", "o-2", R"({"content-type":"text/plain"})")),
       native.Route(Row("0190c3a4-5f2b-7c3d-8e4f-000000000003", "o-3", ""))});

  const auto records = ConsumeAll({topic}, 3);
  ASSERT_EQ(records.size(), 3u);
  const ConsumedRecord& first = records[0];
  EXPECT_EQ(first.key, "o-1");
  EXPECT_EQ(first.value, R"({"order_id":"o-1"})");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"event_id", "0190c3a4-5f2b-7c3d-8e4f-000000000001"},
      {"event_type", "OrderCreated"},
      {"aggregate_type", "order"},
      {"aggregate_id", "o-1"},
      {"created_at", "2026-11-23T09:15:02.123456Z"},
      {"ce_specversion", "1.0"},
      {"ce_id", "0190c3a4-5f2b-7c3d-8e4f-000000000001"},
      {"ce_source", "/outbox-relay/shop.outbox"},
      {"ce_type", "OrderCreated"},
      {"ce_subject", "o-1"},
      {"ce_time", "2026-11-23T09:15:02.123456Z"},
      {"content-type", "application/json"},
      {"traceparent", "00-ab-cd-01"}};
  EXPECT_EQ(first.headers, expected);

  EXPECT_EQ(records[1].Header("content-type"), "text/plain") << "the row's own content type";
  size_t content_types = 0;
  for (const auto& [name, value] : records[1].headers) content_types += name == "content-type";
  EXPECT_EQ(content_types, 1u);
  EXPECT_EQ(records[1].Header("ce_id"), "0190c3a4-5f2b-7c3d-8e4f-000000000002");

  for (const auto& [name, value] : records[2].headers) EXPECT_NE(name.rfind("ce_", 0), 0u) << "native: " << name;
  EXPECT_EQ(records[2].Header("event_id"), "0190c3a4-5f2b-7c3d-8e4f-000000000003");
}

// The relay itself with kafka.headers_format = "cloudevents".
TEST(CloudEventsRecord, RelayPublishesCloudEventsHeaders) {
  ScopedSchema schema("ce_relay");
  {
    pqxx::connection c(PgDsn());
    sdk::Migrate(c, schema.name());
  }
  const std::string prefix = UniqueName("ce_relay");
  relay::Config config = RelayConfig(schema.name(), prefix);
  config.kafka.headers_format = relay::HeadersFormat::kCloudEvents;
  config.kafka.cloudevents_source = "/outbox-relay/" + schema.name() + ".outbox";
  RelayThread relay(config);
  std::string id;
  {
    pqxx::connection c(PgDsn());
    pqxx::work tx(c);
    sdk::OutboxOptions options;
    options.schema = schema.name();
    sdk::Outbox outbox(options);
    sdk::Event e;
    e.aggregate_type = "account";
    e.aggregate_id = "a-1";
    e.event_type = "AccountOpened";
    e.payload = R"({"a":1})";
    id = outbox.Enqueue(tx, e);
    tx.commit();
  }
  const auto records = ConsumeAll({prefix + ".account"}, 1, 30000);
  EXPECT_EQ(relay.Stop(), 0);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].Header("ce_specversion"), "1.0");
  EXPECT_EQ(records[0].Header("ce_id"), id);
  EXPECT_EQ(records[0].Header("ce_type"), "AccountOpened");
  EXPECT_EQ(records[0].Header("ce_subject"), "a-1");
  EXPECT_EQ(records[0].Header("ce_source"), config.kafka.cloudevents_source);
  EXPECT_EQ(records[0].Header("ce_time"), records[0].Header("created_at"));
  EXPECT_EQ(records[0].Header("content-type"), "application/json");
}

}  // namespace
}  // namespace outbox::test
