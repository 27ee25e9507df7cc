#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "outbox/event.hpp"

namespace outbox::sdk {

/// Where Enqueue puts an event.
enum class WriteMode {
  kRow,         ///< a row in <schema>.outbox (poll and tail relays)
  kWalMessage,  ///< a transactional logical decoding message only (tail relays only; see schema/README.md)
};

struct OutboxOptions {
  std::string schema = "outbox";       ///< schema holding the outbox table (see Migrate)
  size_t max_payload_bytes = 1 << 20;  ///< larger payloads are refused (ValidationError)
  /// kWalMessage writes no table row at all: the event exists only in the WAL,
  /// commits or rolls back with the transaction, and only a relay in tail mode
  /// (source.mode = "tail") publishes it. Needs wal_level = logical.
  WriteMode mode = WriteMode::kRow;
};

/// Prefix of the WAL messages that carry the events of outbox `schema` ("outbox.v1.<schema>").
std::string WalMessagePrefix(const std::string& schema);

/// Writes events into the outbox table through the caller's transaction, so
/// they commit or roll back together with the business change.
///
/// Contract: call Enqueue *after* the business write that locks the aggregate
/// (the UPDATE or INSERT of the order row). The outbox row then takes its
/// `seq` while the transaction holds that row lock, so for one aggregate seq
/// order equals commit order, and the relay, which publishes in seq order,
/// keeps each aggregate's events in order.
///
/// An Outbox holds no connection and no mutable state: one instance may be
/// shared by any number of threads, each using its own connection. Statements
/// are prepared once per connection (named after the schema).
class Outbox {
 public:
  /// Throws InvalidIdentifier (outbox/migrations.hpp) for a bad schema name.
  explicit Outbox(OutboxOptions options = {});

  /// Validates `e` (ValidationError, before any SQL), inserts it in `tx` and
  /// returns its event id (`e.id`, lower-cased, or a new UUIDv7). Never opens,
  /// commits or aborts a transaction. SQL errors surface as pqxx exceptions,
  /// e.g. pqxx::unique_violation for an id already in the outbox.
  std::string Enqueue(pqxx::transaction_base& tx, const Event& e) const;

  /// Enqueue for many events in one round trip (one INSERT statement); all
  /// events are validated before any SQL. Their seq values increase in vector
  /// order. Returns the ids in input order; an empty batch touches nothing.
  std::vector<std::string> EnqueueBatch(pqxx::transaction_base& tx, const std::vector<Event>& events) const;

  const OutboxOptions& options() const { return options_; }

 private:
  OutboxOptions options_;
  std::string insert_name_, insert_sql_;    // one event
  std::string batch_name_, batch_sql_;      // many events, through unnest()
  std::string message_name_, message_sql_;  // WriteMode::kWalMessage
};

}  // namespace outbox::sdk
