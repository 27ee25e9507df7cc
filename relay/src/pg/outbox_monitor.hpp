#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/connection_base>

#include "pg/outbox_sql.hpp"

namespace outbox::relay {

/// The read-only questions an operator asks about an outbox: how many rows
/// wait, how old the oldest is, what the slot retains. Used by the running
/// relay's gauges and by `outbox-relay status`.
class OutboxMonitor {
 public:
  OutboxMonitor(pqxx::connection_base& conn, OutboxSql sql) : conn_(conn), sql_(std::move(sql)) {}

  /// Unpublished rows, including those in flight. A full count: scans the
  /// table's unpublished index, so callers keep it infrequent.
  int64_t CountBacklog();

  /// Age of the oldest unpublished row (by seq); nullopt when there is none,
  /// 0 when the table has no created_at column. One index probe.
  std::optional<double> OldestAgeSeconds();

  /// Rows in the dead-letter table; nullopt when it does not exist.
  std::optional<int64_t> DeadLetters();

  /// Bytes of WAL replication slot `slot` retains (current WAL position -
  /// restart_lsn); nullopt if it does not exist.
  static std::optional<int64_t> SlotRetainedWal(pqxx::connection_base& conn, const std::string& slot);

 private:
  pqxx::connection_base& conn_;
  OutboxSql sql_;
};

}  // namespace outbox::relay
