#pragma once

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace outbox::sdk {

/// Thrown when a ConsumerOptions value is missing or out of bounds. what() is one
/// line naming the option ("consumer.max_attempts: ...") and what to change.
class ConsumerConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Everything an IdempotentConsumer needs. Defaults are the safe ones; the
/// Kafka settings that carry the delivery guarantee are not overridable.
struct ConsumerOptions {
  std::string brokers;              ///< bootstrap.servers
  std::string group_id;             ///< Kafka consumer group
  std::vector<std::string> topics;  ///< subscribed topics, e.g. "outbox.event.order"
  /// Dedup namespace in the inbox table: two services reading the same topic
  /// must use different names; all instances of one service share one name.
  std::string consumer_name;
  std::string pg_dsn;             ///< libpq connection string of the service's database
  std::string schema = "outbox";  ///< schema holding the inbox table (sdk::Migrate)

  /// Handler attempts per record before it is dead-lettered (>= 1).
  int max_attempts = 5;
  /// Delay before retry n is backoff_initial * 2^(n-1), capped at backoff_max.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};

  /// One dead-letter topic for everything; empty means "<original topic>.dlq".
  std::string dead_letter_topic;

  /// Inbox rows older than this are purged. Must exceed the longest window in
  /// which a record can be redelivered or replayed (see sdk/CONSUMER.md).
  std::chrono::hours inbox_retention{24 * 7};
  int purge_batch_size = 1000;                          ///< rows deleted per purge transaction
  std::chrono::milliseconds purge_interval{60 * 1000};  ///< how often Run() purges; 0 = never

  /// Offsets are committed synchronously, and only for records whose side
  /// effect is durable. 1 = after every record (fewest redeliveries after a
  /// crash); N > 1 = once N records are done or the oldest uncommitted one is
  /// commit_interval old, and always on revoke and Close(). Batching trades
  /// up to N redelivered (and deduplicated) records after a crash for far
  /// fewer commit round trips (about 6 ms each on a Kafka 4 broker).
  int commit_every = 1;
  std::chrono::milliseconds commit_interval{1000};

  /// How long Run() waits in one poll for a record.
  std::chrono::milliseconds poll_timeout{200};

  /// Extra librdkafka settings for the consumer (e.g. security.protocol,
  /// session.timeout.ms). Must not contain the keys the consumer owns:
  /// bootstrap.servers, group.id, enable.auto.commit, enable.auto.offset.store,
  /// isolation.level.
  std::map<std::string, std::string> kafka_properties;
  /// Extra librdkafka settings for the dead-letter producer. Must not contain
  /// bootstrap.servers, enable.idempotence or acks.
  std::map<std::string, std::string> dead_letter_properties;
};

/// Throws ConsumerConfigError for the first invalid option.
void ValidateOptions(const ConsumerOptions& options);

/// The delay before retry `attempt` (1 = first retry): exponential, capped.
std::chrono::milliseconds RetryDelay(const ConsumerOptions& options, int attempt);

/// The topic a record of `topic` is dead-lettered to.
std::string DeadLetterTopicFor(const ConsumerOptions& options, const std::string& topic);

}  // namespace outbox::sdk
