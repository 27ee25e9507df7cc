#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include <pqxx/connection_base>

#include "pg/outbox_row.hpp"
#include "pg/outbox_sql.hpp"

namespace outbox::relay {

struct OutboxConfig;

/// The dead-letter table <schema>.dead_letter (migrations/0002_dead_letter.sql):
/// events the broker rejected permanently, moved out of the outbox with their
/// reason. Used by the relay (move, held keys) and the `dlq` CLI.
class DeadLetterStore {
 public:
  DeadLetterStore(const OutboxConfig& config, OutboxSql sql);

  /// Moves outbox row `seq` to the dead-letter table in one transaction.
  /// Returns false when the row is no longer in the outbox.
  bool Move(pqxx::connection_base& conn, RowRef row, const std::string& reason, uint32_t attempts) const;

  /// KeyHolds::Key() of every dead-lettered event.
  std::unordered_set<std::string> HeldKeys(pqxx::connection_base& conn) const;

  struct Entry {
    int64_t seq;
    std::string id, aggregate_type, aggregate_id, event_type, topic, reason, failed_at;
    int attempts;
  };
  std::vector<Entry> List(pqxx::connection_base& conn, size_t limit = 1000) const;

  /// Moves the event back into the outbox with its original seq and id (so it
  /// is published before the events held behind it, and consumers still
  /// deduplicate it), then wakes the relay. False when no such event.
  bool Requeue(pqxx::connection_base& conn, const std::string& id) const;

  /// Drops the event for good, then wakes the relay. False when no such event.
  bool Skip(pqxx::connection_base& conn, const std::string& id) const;

  /// NOTIFY payload that tells a running relay the dead-letter table changed.
  static constexpr const char* kChangedPayload = "dead_letter_changed";

 private:
  OutboxSql sql_;
  std::string channel_;  // the relay's LISTEN channel
};

}  // namespace outbox::relay
