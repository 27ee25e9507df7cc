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

  /// Handler attempts per record before it is dead-lettered (>= 1). A failed
  /// record is parked in Postgres and retried there, so other keys flow on.
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
  std::chrono::milliseconds purge_interval{60 * 1000};  ///< how often Run() starts a purge; 0 = never

  /// Records applied per Postgres transaction. 1 (the default) = one
  /// transaction per record. For throughput use 500 with async_commit: the
  /// inbox rows of a batch go in with one statement, each new record's handler
  /// runs in its own SAVEPOINT (a failing record rolls back alone) and the
  /// batch commits once. Records keep their per-partition order.
  int max_batch_size = 1;
  /// How the handlers of one batch are kept apart.
  enum class Savepoints {
    /// Each new record's handler runs in its own SAVEPOINT: a failing record
    /// rolls back alone. One extra round trip per record.
    kPerRecord,
    /// Handlers run without savepoints; when one fails, the batch is rolled
    /// back and run again with a SAVEPOINT per record (the handlers before the
    /// failing one run twice; their first effects were rolled back). Faster,
    /// and keeps large batches clear of PostgreSQL's 64-subtransaction cache
    /// (beyond it, every session's snapshots get slower while the batch runs).
    kOnFailure,
  };
  Savepoints savepoints = Savepoints::kPerRecord;
  /// How long a batch waits for more records once its first record is in
  /// hand: the latency a batch adds. Records already fetched are always taken
  /// (up to max_batch_size) without waiting.
  std::chrono::milliseconds max_batch_wait{10};

  /// Offsets are committed only for records whose side effect is durable
  /// (committed, or parked in Postgres). 1 = after every batch; N > 1 = once N
  /// records are done or the oldest uncommitted one is commit_interval old,
  /// and always (synchronously) on revoke and Close(). Batching commits trades
  /// up to N redelivered (and deduplicated) records after a crash for fewer
  /// commit round trips (about 6 ms each on a Kafka 4 broker).
  int commit_every = 1;
  std::chrono::milliseconds commit_interval{1000};
  /// false (default): each offset commit waits for the broker. true: commits
  /// are sent without waiting; a failed one is counted and superseded by the
  /// next. Either way a commit follows the database commit, never precedes it.
  bool async_commit = false;
  /// Also store the next offset of each partition in <schema>.consumer_offsets
  /// (per group_id, topic, partition) in the batch transaction, and start each
  /// assigned partition there. Kafka commits then only save redeliveries.
  bool store_offsets_in_postgres = false;

  /// When a record is dead-lettered, later records of its key in its partition
  /// wait (parked in <schema>.consumer_parked) until an operator releases it
  /// (ReleaseDeadLetter: retry or skip). false = they pass it.
  bool hold_key = true;
  /// Deadlocks and serialization failures (in the handler or the consumer's
  /// own statements) are retried with backoff without counting an attempt, up
  /// to this many times in a row per batch; a record that still hits one after
  /// that is charged one attempt, so contention cannot stall a partition forever.
  int transient_retries = 10;
  /// How often parked records, release requests and the dead-letter gauges
  /// are looked at (a retry that falls due earlier is run when it falls due).
  std::chrono::milliseconds release_check_interval{1000};

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
