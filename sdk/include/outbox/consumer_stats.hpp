#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "outbox/consumer_record.hpp"

namespace outbox::sdk {

/// A cumulative latency histogram in milliseconds (Prometheus style: each
/// bucket counts observations <= its bound; the last one is +Inf).
struct LatencyHistogram {
  static constexpr std::array<double, 14> kBoundsMs = {1,   2,   5,    10,   20,   50,    100,
                                                       200, 500, 1000, 2000, 5000, 10000, 30000};
  std::array<uint64_t, kBoundsMs.size() + 1> buckets{};  ///< non-cumulative counts; [size] = above the last bound
  double sum_ms = 0;
  uint64_t count = 0;

  void Observe(double ms);
  /// The smallest bucket bound below which at least fraction `q` of the
  /// observations fall (an upper estimate); 0 when empty.
  double QuantileUpperBoundMs(double q) const;
};

/// Progress of one assigned partition, refreshed after each batch.
struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = -1;     ///< next offset this consumer will handle (-1 before its first record)
  int64_t high_watermark = -1;  ///< end of the partition as last fetched (-1 unknown)
  int64_t lag = -1;             ///< high_watermark - next_offset (-1 unknown)
};

/// Counters of one IdempotentConsumer since construction. A copy, read
/// thread-safely through IdempotentConsumer::stats().
struct Stats {
  uint64_t processed = 0;               ///< handler succeeded and its transaction committed
  uint64_t duplicates = 0;              ///< skipped: (consumer, event_id) already in the inbox
  uint64_t retries = 0;                 ///< handler attempts that failed and were retried
  uint64_t dead_lettered = 0;           ///< records sent to the dead-letter topic
  uint64_t infra_retries = 0;           ///< lost connection, commit in doubt, DLQ failures: retried, not attempts
  uint64_t transient_retries = 0;       ///< deadlocks / serialization failures retried, not attempts
  uint64_t held = 0;                    ///< records parked behind an earlier record of their key
  uint64_t released = 0;                ///< parked records applied later (retried or no longer held)
  uint64_t skipped = 0;                 ///< dead letters an operator skipped (ReleaseAction::kSkip)
  uint64_t offset_commits = 0;          ///< successful offset commits
  uint64_t offset_commit_failures = 0;  ///< the offset stays pending; redelivery is deduplicated
  uint64_t rebalances = 0;              ///< assign + revoke callbacks served
  uint64_t inbox_purged = 0;            ///< inbox rows deleted by retention
  uint64_t purge_batches = 0;           ///< purge transactions run
  uint64_t batches = 0;                 ///< batch transactions committed
  uint64_t batch_records = 0;           ///< records in those batches (mean batch size = batch_records / batches)
  uint64_t max_batch = 0;               ///< largest batch
  uint64_t last_batch = 0;              ///< size of the latest batch
  /// Gauges read from <schema>.consumer_parked every release_check_interval:
  /// dead letters waiting for an operator (the DLQ depth), and parked records
  /// in all (dead letters, records being retried, records held behind them).
  int64_t dead_letter_depth = 0;
  int64_t parked_records = 0;
  /// Records finished (processed, duplicate, dead-lettered) per second over
  /// the last ten seconds.
  double records_per_second = 0;
  std::vector<PartitionLag> lag;  ///< one entry per assigned partition

  /// Time from receiving a record to being done with it (offset committed, or
  /// queued when commits are batched), over every record that finished
  /// (processed, duplicate or dead-lettered; parked records from the moment
  /// they were parked).
  std::chrono::nanoseconds processing_time_sum{0};
  std::chrono::nanoseconds processing_time_max{0};
  uint64_t processing_count = 0;
  LatencyHistogram processing_time;  ///< the same observations, as a histogram
  /// Record timestamp (log append time on a LogAppendTime topic, else the
  /// producer's create time) to the commit of its side effect, for records
  /// processed in a batch.
  LatencyHistogram end_to_end_latency;

  /// duplicates / (processed + duplicates); 0 before the first record.
  double DedupHitRate() const;
  /// processing_time_sum / processing_count; 0 before the first record.
  std::chrono::nanoseconds MeanProcessingTime() const;
  /// batch_records / batches; 0 before the first batch.
  double MeanBatchSize() const;
};

/// Optional callbacks, run on the consuming thread. They must not throw,
/// except after_db_commit (see below).
struct ConsumerHooks {
  std::function<void(const Record&, std::chrono::nanoseconds)> on_processed;
  std::function<void(const Record&)> on_duplicate;
  /// `attempt` is the attempt that failed (1-based); a retry follows.
  std::function<void(const Record&, int attempt, const std::string& error)> on_retry;
  std::function<void(const Record&, const std::string& error, int attempts)> on_dead_letter;
  /// A record parked behind an earlier, not yet applied record of its key.
  std::function<void(const Record&)> on_held;
  /// A Postgres or dead-letter failure that is retried without counting as an attempt.
  std::function<void(const std::string& error)> on_infra_error;
  /// Each time the consumer opens its Postgres connection (at start and after
  /// a lost connection): e.g. to prepare the handler's statements.
  std::function<void(pqxx::connection&)> on_connect;
  /// librdkafka log lines; when unset librdkafka logs to stderr itself.
  std::function<void(int level, const std::string& facility, const std::string& message)> on_kafka_log;
  /// Fault injection for tests: runs after the database commit and before the
  /// offset commit, for each record the committed transaction applied. An
  /// exception thrown here escapes PollOnce()/Run() as a simulated crash: the
  /// offset is not committed and the consumer is unusable.
  std::function<void(const Record&)> after_db_commit;
};

}  // namespace outbox::sdk
