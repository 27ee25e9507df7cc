#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include <pqxx/transaction>

#include "outbox/consumer_options.hpp"
#include "outbox/consumer_record.hpp"
#include "outbox/consumer_stats.hpp"

namespace outbox::sdk {

/// The user's side effect for one new event. It runs inside the transaction
/// that recorded the event in the inbox, in a SAVEPOINT of its own: throwing
/// rolls back this record's work and its inbox row, nothing else. Let
/// libpqxx's exceptions propagate: a deadlock or serialization failure is
/// retried without counting an attempt. Do not commit or abort `tx`.
using Handler = std::function<void(pqxx::work& tx, const Record& record)>;

/// The new (not yet processed) records of one batch, in batch order.
using RecordRefs = std::vector<std::reference_wrapper<const Record>>;

/// The user's side effect for all new records of a batch at once (e.g. one
/// bulk upsert). It runs in one SAVEPOINT; if it throws, the consumer rolls
/// that back and calls it again once per record, each in its own SAVEPOINT,
/// so only the failing record is retried.
using BatchHandler = std::function<void(pqxx::work& tx, const RecordRefs& records)>;

/// A failure the consumer cannot recover from (Kafka fatal error, missing
/// inbox table, subscription refused). The consumer is unusable afterwards.
class ConsumerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Effectively-once processing of outbox records: at-least-once delivery from
/// Kafka plus deduplication on (consumer_name, event_id) in the same Postgres
/// transaction as the handler's side effect. For each batch (of
/// max_batch_size records; 1 by default):
///   BEGIN; INSERT INTO inbox ... SELECT unnest(event ids) ON CONFLICT DO NOTHING RETURNING event_id;
///   for each new record: SAVEPOINT; handler(tx, record); RELEASE (or ROLLBACK TO it and park the record);
///   COMMIT; then commit the offsets to Kafka.
/// The offsets are committed only after the database commit, never before. A
/// record whose handler fails is parked in <schema>.consumer_parked with later
/// records of its key, retried with backoff, and dead-lettered after
/// max_attempts; its key stays held until released (see sdk/CONSUMER.md).
///
/// Single-threaded: PollOnce()/PollBatch()/Run() on one thread; Stop() and
/// stats() from any.
class IdempotentConsumer {
 public:
  /// Validates `options`, connects to Postgres, creates the Kafka consumer and
  /// subscribes. Throws ConsumerConfigError, ConsumerError or pqxx errors.
  IdempotentConsumer(ConsumerOptions options, Handler handler, ConsumerHooks hooks = {});
  /// The same with a handler for whole batches.
  IdempotentConsumer(ConsumerOptions options, BatchHandler handler, ConsumerHooks hooks = {});
  /// Commits what is processed and leaves the group. noexcept.
  ~IdempotentConsumer();
  IdempotentConsumer(const IdempotentConsumer&) = delete;
  IdempotentConsumer& operator=(const IdempotentConsumer&) = delete;

  /// Waits up to `timeout` for records and handles one batch completely
  /// (dedup, handlers, parking, offsets), plus any parked record whose retry
  /// is due. Returns the number of records finished (processed, duplicate or
  /// dead-lettered). Also serves rebalances.
  size_t PollBatch(std::chrono::milliseconds timeout);

  /// PollBatch() for callers that count handled records one call at a time:
  /// true when at least one record finished.
  bool PollOnce(std::chrono::milliseconds timeout);

  /// Polls until Stop() is called or `*stop` becomes true. Every
  /// purge_interval it purges the inbox, one batch of rows between two
  /// batches of records, so a large purge never stalls processing.
  void Run(const std::atomic<bool>* stop = nullptr);

  /// Asks Run() to return after the batch in hand; interrupts backoff sleeps.
  /// A batch interrupted mid-retry is not committed and will be redelivered.
  void Stop() noexcept;

  /// Deletes this consumer's inbox rows older than inbox_retention, in
  /// transactions of purge_batch_size rows, until none is left. Returns the
  /// rows deleted.
  size_t PurgeInbox();

  /// Commits processed offsets and leaves the group (idempotent).
  void Close();

  Stats stats() const;
  const ConsumerOptions& options() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace outbox::sdk
