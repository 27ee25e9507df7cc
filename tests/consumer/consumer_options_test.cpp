// Pure checks of the consumer's options, backoff, dead-letter naming, record
// headers and derived statistics.
#include <gtest/gtest.h>

#include "outbox/consumer.hpp"

namespace outbox::sdk {
namespace {

ConsumerOptions Valid() {
  ConsumerOptions o;
  o.brokers = "127.0.0.1:9092";
  o.group_id = "loyalty";
  o.topics = {"outbox.event.order"};
  o.consumer_name = "loyalty";
  o.pg_dsn = "postgresql://localhost/app";
  return o;
}

std::string ErrorOf(const ConsumerOptions& o) {
  try {
    ValidateOptions(o);
  } catch (const ConsumerConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ConsumerOptions, DefaultsAreSafeAndValid) {
  const ConsumerOptions o = Valid();
  EXPECT_EQ(ErrorOf(o), "");
  EXPECT_EQ(o.schema, "outbox");
  EXPECT_EQ(o.max_attempts, 5);
  EXPECT_EQ(o.commit_every, 1);    // one synchronous offset commit per record unless batching is chosen
  EXPECT_EQ(o.max_batch_size, 1);  // one transaction per record unless batches are chosen
  EXPECT_FALSE(o.async_commit);
  EXPECT_TRUE(o.hold_key);
  EXPECT_EQ(o.savepoints, ConsumerOptions::Savepoints::kPerRecord);
  EXPECT_FALSE(o.store_offsets_in_postgres);
  EXPECT_EQ(o.inbox_retention, std::chrono::hours(24 * 7));
}

TEST(ConsumerOptions, EachInvalidOptionIsNamedInOneLine) {
  const std::vector<std::pair<std::function<void(ConsumerOptions&)>, std::string>> cases = {
      {[](ConsumerOptions& o) { o.brokers.clear(); }, "consumer.brokers: is empty"},
      {[](ConsumerOptions& o) { o.group_id.clear(); }, "consumer.group_id: is empty"},
      {[](ConsumerOptions& o) { o.topics.clear(); }, "consumer.topics: is empty"},
      {[](ConsumerOptions& o) { o.topics = {""}; }, "consumer.topics: contains an empty topic name"},
      {[](ConsumerOptions& o) { o.consumer_name.clear(); }, "consumer.consumer_name: is empty"},
      {[](ConsumerOptions& o) { o.pg_dsn.clear(); }, "consumer.pg_dsn: is empty"},
      {[](ConsumerOptions& o) { o.schema = "Bad-Name"; }, "consumer.schema 'Bad-Name'"},
      {[](ConsumerOptions& o) { o.max_attempts = 0; }, "consumer.max_attempts: must be between 1 and 100"},
      {[](ConsumerOptions& o) { o.backoff_max = std::chrono::milliseconds(10); }, "consumer.backoff_max: must be >="},
      {[](ConsumerOptions& o) { o.inbox_retention = std::chrono::hours(0); }, "consumer.inbox_retention"},
      {[](ConsumerOptions& o) { o.purge_batch_size = 0; }, "consumer.purge_batch_size"},
      {[](ConsumerOptions& o) { o.dead_letter_topic = "outbox.event.order"; },
       "consumer.dead_letter_topic: must differ"},
      {[](ConsumerOptions& o) { o.commit_every = 0; }, "consumer.commit_every: must be between 1 and 100000"},
      {[](ConsumerOptions& o) { o.commit_interval = std::chrono::milliseconds(0); }, "consumer.commit_interval"},
      {[](ConsumerOptions& o) { o.max_batch_size = 0; }, "consumer.max_batch_size: must be between 1 and 10000"},
      {[](ConsumerOptions& o) { o.max_batch_wait = std::chrono::milliseconds(-1); }, "consumer.max_batch_wait"},
      {[](ConsumerOptions& o) { o.transient_retries = -1; }, "consumer.transient_retries"},
      {[](ConsumerOptions& o) { o.release_check_interval = std::chrono::milliseconds(0); },
       "consumer.release_check_interval"},
      {[](ConsumerOptions& o) { o.kafka_properties["enable.auto.commit"] = "true"; },
       "consumer.kafka_properties.enable.auto.commit: is set by the consumer"},
      {[](ConsumerOptions& o) { o.kafka_properties["isolation.level"] = "read_uncommitted"; },
       "consumer.kafka_properties.isolation.level"},
      {[](ConsumerOptions& o) { o.dead_letter_properties["acks"] = "1"; }, "consumer.dead_letter_properties.acks"},
  };
  for (const auto& [mutate, expected] : cases) {
    ConsumerOptions o = Valid();
    mutate(o);
    const std::string error = ErrorOf(o);
    EXPECT_EQ(error.rfind(expected, 0), 0u) << "got: " << error << "\nwant prefix: " << expected;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(ConsumerOptions, UserPropertiesThatDoNotCarryTheGuaranteeAreAllowed) {
  ConsumerOptions o = Valid();
  o.kafka_properties = {{"auto.offset.reset", "latest"}, {"session.timeout.ms", "10000"}};
  o.dead_letter_properties = {{"linger.ms", "0"}};
  EXPECT_EQ(ErrorOf(o), "");
}

TEST(ConsumerOptions, RetryDelayDoublesUpToTheCap) {
  ConsumerOptions o = Valid();
  o.backoff_initial = std::chrono::milliseconds(100);
  o.backoff_max = std::chrono::milliseconds(1000);
  EXPECT_EQ(RetryDelay(o, 1).count(), 100);
  EXPECT_EQ(RetryDelay(o, 2).count(), 200);
  EXPECT_EQ(RetryDelay(o, 4).count(), 800);
  EXPECT_EQ(RetryDelay(o, 5).count(), 1000);
  EXPECT_EQ(RetryDelay(o, 90).count(), 1000);
}

TEST(ConsumerOptions, DeadLetterTopicIsPerTopicUnlessConfigured) {
  ConsumerOptions o = Valid();
  EXPECT_EQ(DeadLetterTopicFor(o, "outbox.event.order"), "outbox.event.order.dlq");
  o.dead_letter_topic = "loyalty.dlq";
  EXPECT_EQ(DeadLetterTopicFor(o, "outbox.event.order"), "loyalty.dlq");
}

TEST(ConsumerRecord, HeadersAndEventId) {
  Record r;
  EXPECT_EQ(r.event_id(), "");
  EXPECT_FALSE(r.Header("event_id").has_value());
  r.headers = {{"event_id", "a"}, {"event_type", "OrderCreated"}, {"event_id", "b"}, {"empty", ""}};
  EXPECT_EQ(r.event_id(), "a");  // the first of repeated headers wins: the relay writes its own first
  EXPECT_EQ(r.event_type(), "OrderCreated");
  EXPECT_EQ(r.Header("empty"), std::optional<std::string>(""));
}

TEST(ConsumerStats, DedupHitRateAndMeanTime) {
  Stats s;
  EXPECT_EQ(s.DedupHitRate(), 0.0);
  EXPECT_EQ(s.MeanProcessingTime().count(), 0);
  s.processed = 3;
  s.duplicates = 1;
  s.processing_time_sum = std::chrono::milliseconds(8);
  s.processing_count = 4;
  EXPECT_DOUBLE_EQ(s.DedupHitRate(), 0.25);
  EXPECT_EQ(s.MeanProcessingTime(), std::chrono::milliseconds(2));
}

}  // namespace outbox::sdk
