#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "outbox/consumer_record.hpp"

namespace outbox::sdk {

/// Counters of one IdempotentConsumer since construction. A copy, read
/// thread-safely through IdempotentConsumer::stats().
struct Stats {
  uint64_t processed = 0;               ///< handler succeeded and its transaction committed
  uint64_t duplicates = 0;              ///< skipped: (consumer, event_id) already in the inbox
  uint64_t retries = 0;                 ///< handler attempts that failed and were retried
  uint64_t dead_lettered = 0;           ///< records sent to the dead-letter topic
  uint64_t infra_retries = 0;           ///< Postgres/DLQ failures retried (not counted as attempts)
  uint64_t offset_commits = 0;          ///< successful synchronous offset commits
  uint64_t offset_commit_failures = 0;  ///< the record stays uncommitted; redelivery is deduplicated
  uint64_t rebalances = 0;              ///< assign + revoke callbacks served
  uint64_t inbox_purged = 0;            ///< inbox rows deleted by retention
  uint64_t purge_batches = 0;           ///< purge transactions run
  /// Time from receiving a record to being done with it (offset committed, or
  /// queued when commits are batched), over every record that finished
  /// (processed, duplicate or dead-lettered).
  std::chrono::nanoseconds processing_time_sum{0};
  std::chrono::nanoseconds processing_time_max{0};
  uint64_t processing_count = 0;

  /// duplicates / (processed + duplicates); 0 before the first record.
  double DedupHitRate() const;
  /// processing_time_sum / processing_count; 0 before the first record.
  std::chrono::nanoseconds MeanProcessingTime() const;
};

/// Optional callbacks, run on the consuming thread. They must not throw,
/// except after_db_commit (see below).
struct ConsumerHooks {
  std::function<void(const Record&, std::chrono::nanoseconds)> on_processed;
  std::function<void(const Record&)> on_duplicate;
  /// `attempt` is the attempt that failed (1-based); a retry follows.
  std::function<void(const Record&, int attempt, const std::string& error)> on_retry;
  std::function<void(const Record&, const std::string& error, int attempts)> on_dead_letter;
  /// A Postgres or dead-letter failure that is retried without counting as an attempt.
  std::function<void(const std::string& error)> on_infra_error;
  /// librdkafka log lines; when unset librdkafka logs to stderr itself.
  std::function<void(int level, const std::string& facility, const std::string& message)> on_kafka_log;
  /// Fault injection for tests: runs after the database commit and before the
  /// offset commit. An exception thrown here escapes PollOnce()/Run() as a
  /// simulated crash: the offset is not committed and the consumer is unusable.
  std::function<void(const Record&)> after_db_commit;
};

}  // namespace outbox::sdk
