#pragma once
// The baseline of consumer-bench: the same handler in transactions of a
// batch of records, without the inbox, savepoints or parking: what a service
// would write with no dedup at all.
#include <functional>
#include <string>

#include <pqxx/connection>
#include <pqxx/transaction>

#include "outbox/consumer_record.hpp"

namespace outbox::bench {

struct Throughput {
  long records = 0;
  double seconds = 0;  ///< from the end of the first batch to the last record
  double per_second = 0;
};

/// Measures from the end of the first batch (group join and fetch start-up
/// excluded) until `count` records are done.
class ThroughputClock {
 public:
  explicit ThroughputClock(long count) : count_(count) {}
  /// Records `n` more done records; true once all are.
  bool Done(long n);
  Throughput Result() const;

 private:
  long count_;
  long done_ = 0;
  long first_batch_ = 0;
  double first_ = 0, last_ = 0;
};

using RecordHandler = std::function<void(pqxx::work&, const sdk::Record&)>;

/// Consumes `count` records of `topic` as group `group`: batches of up to
/// `batch` records (waiting up to `wait_ms` for more), one transaction each,
/// `handler` per record, then an asynchronous offset commit.
Throughput RunBaseline(pqxx::connection& conn, const std::string& brokers, const std::string& topic,
                       const std::string& group, long count, int batch, int wait_ms, const RecordHandler& handler);

}  // namespace outbox::bench
