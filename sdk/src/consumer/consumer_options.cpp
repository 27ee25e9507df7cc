#include <algorithm>

#include "outbox/consumer_options.hpp"
#include "outbox/migrations.hpp"

namespace outbox::sdk {
namespace {

[[noreturn]] void Fail(const std::string& option, const std::string& problem) {
  throw ConsumerConfigError("consumer." + option + ": " + problem);
}

}  // namespace

void ValidateOptions(const ConsumerOptions& o) {
  if (o.brokers.empty()) Fail("brokers", "is empty; Hint: set the Kafka bootstrap servers, e.g. 127.0.0.1:9092");
  if (o.group_id.empty()) Fail("group_id", "is empty; Hint: set the Kafka consumer group of this service");
  if (o.topics.empty()) Fail("topics", "is empty; Hint: list the outbox topics to consume, e.g. outbox.event.order");
  for (const auto& t : o.topics) {
    if (t.empty()) Fail("topics", "contains an empty topic name");
  }
  if (o.consumer_name.empty()) {
    Fail("consumer_name", "is empty; Hint: name the service, it scopes deduplication in the inbox table");
  }
  if (o.pg_dsn.empty()) Fail("pg_dsn", "is empty; Hint: set the libpq connection string of the service database");
  try {
    QuoteIdentifier(o.schema, "consumer.schema");
  } catch (const InvalidIdentifier& e) {
    throw ConsumerConfigError(e.what());
  }
  if (o.max_attempts < 1 || o.max_attempts > 100) Fail("max_attempts", "must be between 1 and 100");
  if (o.backoff_initial.count() < 0) Fail("backoff_initial", "must not be negative");
  if (o.backoff_max < o.backoff_initial) Fail("backoff_max", "must be >= backoff_initial");
  // Retries run inside one poll: their total must stay well below librdkafka's
  // max.poll.interval.ms (default 300 s) or the group evicts this consumer.
  if (o.backoff_max > std::chrono::minutes(1)) Fail("backoff_max", "must be at most 60000 ms");
  if (o.inbox_retention < std::chrono::hours(1)) {
    Fail("inbox_retention",
         "must be at least 1 hour; Hint: it must exceed the longest redelivery or replay window of the topics");
  }
  if (o.purge_batch_size < 1 || o.purge_batch_size > 1000000) Fail("purge_batch_size", "must be between 1 and 1000000");
  if (o.purge_interval.count() < 0) Fail("purge_interval", "must not be negative (0 disables purging in Run)");
  if (o.commit_every < 1 || o.commit_every > 100000) Fail("commit_every", "must be between 1 and 100000");
  if (o.commit_interval.count() < 1 || o.commit_interval > std::chrono::minutes(1)) {
    Fail("commit_interval", "must be between 1 and 60000 ms");
  }
  if (o.max_batch_size < 1 || o.max_batch_size > 10000) Fail("max_batch_size", "must be between 1 and 10000");
  if (o.max_batch_wait.count() < 0 || o.max_batch_wait > std::chrono::seconds(10)) {
    Fail("max_batch_wait", "must be between 0 and 10000 ms; Hint: it bounds the latency a batch adds");
  }
  if (o.transient_retries < 0 || o.transient_retries > 1000) Fail("transient_retries", "must be between 0 and 1000");
  if (o.release_check_interval.count() < 10 || o.release_check_interval > std::chrono::minutes(10)) {
    Fail("release_check_interval", "must be between 10 ms and 600000 ms");
  }
  if (o.poll_timeout.count() < 1 || o.poll_timeout > std::chrono::seconds(60)) {
    Fail("poll_timeout", "must be between 1 and 60000 ms");
  }
  static const char* const kConsumerOwned[] = {"bootstrap.servers", "group.id", "enable.auto.commit",
                                               "enable.auto.offset.store", "isolation.level"};
  static const char* const kProducerOwned[] = {"bootstrap.servers", "enable.idempotence", "acks"};
  for (const char* key : kConsumerOwned) {
    if (o.kafka_properties.count(key) != 0) {
      Fail(std::string("kafka_properties.") + key, "is set by the consumer and cannot be overridden; Hint: remove it");
    }
  }
  for (const char* key : kProducerOwned) {
    if (o.dead_letter_properties.count(key) != 0) {
      Fail(std::string("dead_letter_properties.") + key,
           "is set by the dead-letter producer (idempotent, acks=all) and cannot be overridden; Hint: remove it");
    }
  }
  for (const auto& t : o.topics) {
    if (DeadLetterTopicFor(o, t) == t) Fail("dead_letter_topic", "must differ from the consumed topic " + t);
  }
}

std::chrono::milliseconds RetryDelay(const ConsumerOptions& o, int attempt) {
  auto delay = o.backoff_initial;
  for (int i = 1; i < attempt && delay < o.backoff_max; ++i) delay *= 2;
  return std::min(delay, o.backoff_max);
}

std::string DeadLetterTopicFor(const ConsumerOptions& o, const std::string& topic) {
  return o.dead_letter_topic.empty() ? topic + ".dlq" : o.dead_letter_topic;
}

}  // namespace outbox::sdk
