#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>

#include <pqxx/transaction>

#include "outbox/consumer_options.hpp"
#include "outbox/consumer_record.hpp"
#include "outbox/consumer_stats.hpp"

namespace outbox::sdk {

/// The user's side effect for one new event. It runs inside the transaction
/// that recorded the event in the inbox; throwing rolls both back.
using Handler = std::function<void(pqxx::work& tx, const Record& record)>;

/// A failure the consumer cannot recover from (Kafka fatal error, missing
/// inbox table, subscription refused). The consumer is unusable afterwards.
class ConsumerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Effectively-once processing of outbox records: at-least-once delivery from
/// Kafka plus deduplication on (consumer_name, event_id) in the same Postgres
/// transaction as the handler's side effect. For each record:
///   BEGIN; INSERT INTO inbox ... ON CONFLICT DO NOTHING;
///   new? handler(tx, record); COMMIT; then commit offset + 1 to Kafka.
/// The offset is committed only after the database commit (or after the
/// dead-letter producer confirmed delivery), never before.
///
/// Single-threaded: PollOnce()/Run() on one thread; Stop() and stats() from any.
class IdempotentConsumer {
 public:
  /// Validates `options`, connects to Postgres, creates the Kafka consumer and
  /// subscribes. Throws ConsumerConfigError, ConsumerError or pqxx errors.
  IdempotentConsumer(ConsumerOptions options, Handler handler, ConsumerHooks hooks = {});
  /// Commits what is processed and leaves the group. noexcept.
  ~IdempotentConsumer();
  IdempotentConsumer(const IdempotentConsumer&) = delete;
  IdempotentConsumer& operator=(const IdempotentConsumer&) = delete;

  /// Waits up to `timeout` for one record and handles it completely (dedup,
  /// handler with retries or dead letter, offset commit). Returns true when a
  /// record was handled. Also serves rebalances.
  bool PollOnce(std::chrono::milliseconds timeout);

  /// Polls until Stop() is called or `*stop` becomes true, purging the inbox
  /// every purge_interval.
  void Run(const std::atomic<bool>* stop = nullptr);

  /// Asks Run() to return after the record in hand; interrupts backoff sleeps.
  /// A record interrupted mid-retry is not committed and will be redelivered.
  void Stop() noexcept;

  /// Deletes this consumer's inbox rows older than inbox_retention, in
  /// transactions of purge_batch_size rows. Returns the rows deleted.
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
