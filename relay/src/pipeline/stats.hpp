#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace outbox::relay {

/// A fixed-bucket histogram (Prometheus style: cumulative on export), safe to
/// observe from one thread while others read.
class Histogram {
 public:
  /// `bounds`: ascending upper bounds of the buckets (an overflow bucket is added).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  /// counts[i]: observations <= bounds()[i] and > the previous bound (not
  /// cumulative); the last element counts those above every bound.
  std::vector<uint64_t> Counts() const;
  double Sum() const { return sum_.load(); }
  uint64_t Count() const { return count_.load(); }

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

/// A counter per label value (topic, error reason), for the metrics endpoint.
class LabeledCounter {
 public:
  void Add(const std::string& label, uint64_t n = 1);
  std::map<std::string, uint64_t> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> values_;
};

/// Since when one of the relay's jobs (connecting, reading, acknowledging,
/// measuring) has been failing, and why; for /readyz. Thread-safe.
class Failing {
 public:
  struct State {
    int64_t since_unix_ms = 0;  ///< 0: not failing
    std::string reason;         ///< a short class, e.g. "permission_denied"
  };
  /// Failing now: keeps the start of a run of failures, updates the reason.
  void Fail(int64_t now_unix_ms, const std::string& reason);
  void Clear();
  State Get() const;

 private:
  mutable std::mutex mu_;
  State state_;
};

/// Counters of one relay process, updated by the pipeline thread and readable
/// from any thread (progress log, metrics endpoint).
struct RelayStats {
  std::atomic<uint64_t> read{0};                  ///< rows read from the source
  std::atomic<uint64_t> published{0};             ///< delivery reports that succeeded
  std::atomic<uint64_t> acked{0};                 ///< rows acknowledged in Postgres
  std::atomic<uint64_t> failed_retriable{0};      ///< deliveries that failed and will be retried
  std::atomic<uint64_t> failed_permanent{0};      ///< deliveries the broker rejected for good
  std::atomic<uint64_t> dead_lettered{0};         ///< events moved to the dead-letter table
  std::atomic<uint64_t> dead_letter_failures{0};  ///< moves to the dead-letter table that failed (row kept, key held)
  std::atomic<uint64_t> reserved_headers_dropped{0};  ///< row headers dropped for using a name the relay owns
  std::atomic<uint64_t> ack_missing_rows{0};          ///< published events whose row was already gone when acknowledged
  std::atomic<int64_t> held_keys{0};                  ///< keys held (retrying or dead-lettered)
  std::atomic<int64_t> held{0};                       ///< events held behind a dead-lettered event of their key
  std::atomic<uint64_t> resyncs{0};                   ///< times the source restarted from the table's start
  std::atomic<uint64_t> producer_rebuilds{0};         ///< producers rebuilt after a fatal error
  std::atomic<uint64_t> pg_reconnects{0};
  std::atomic<uint64_t> polls{0};
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> producer_queue{0};  ///< records inside librdkafka (rd_kafka_outq_len)
  std::atomic<int64_t> backlog_rows{-1};   ///< last measured; -1 unknown
  std::atomic<int64_t> oldest_age_ms{-1};  ///< last measured; -1 unknown
  std::atomic<int64_t> last_ack_unix_ms{0};
  std::atomic<int64_t> slot_retained_bytes{-1};  ///< tail mode: WAL the slot retains; -1 unknown or poll mode
  std::atomic<int64_t> slot_confirmed_lsn{0};    ///< tail mode: flush LSN this relay confirmed last
  std::atomic<bool> pg_connected{false};
  std::atomic<bool> kafka_connected{false};  ///< at least one broker up (librdkafka's view)
  LabeledCounter published_by_topic;
  LabeledCounter errors_by_reason;        ///< librdkafka error name, or "bad_row"
  LabeledCounter retries;                 ///< failed attempts of the retry loops, keyed "<loop>\t<reason>" (RetryLog)
  LabeledCounter gauge_errors;            ///< backlog/age measurements that failed, by reason
  LabeledCounter latency_skipped;         ///< commit_to_ack samples left out: "future", "too_old" created_at
  Failing connect_failing;                ///< Postgres sessions cannot be (re)opened
  Failing read_failing;                   ///< reading the outbox (poll, catch-up, stream) fails
  Failing ack_failing;                    ///< acknowledging published events fails
  Failing gauge_failing;                  ///< the backlog and age cannot be measured
  std::atomic<int64_t> round_unix_ms{0};  ///< when the pipeline thread last finished a round; 0 before
  /// created_at (the writing transaction's start) to the broker's confirmation.
  Histogram commit_to_ack_seconds{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120}};
  /// Rows per non-empty poll.
  Histogram batch_rows{{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000}};

  // kafka.delivery = "exactly_once"
  std::atomic<uint64_t> transactions_committed{0};
  std::atomic<uint64_t> transactions_aborted{0};
  std::atomic<uint64_t> checkpoint_covered{0};  ///< rows acknowledged at recovery because a checkpoint covered them
  std::atomic<int64_t> checkpoint_unix_ms{0};   ///< commit time of the last checkpoint written or recovered; 0 none
  Histogram transaction_events{
      {1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000}};  ///< events per committed transaction
  /// commit_transaction() calls that succeeded (includes the flush of the transaction's records).
  Histogram transaction_commit_seconds{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
};

}  // namespace outbox::relay
