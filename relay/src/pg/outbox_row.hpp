#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace outbox::relay {

/// Tail mode: where an event is in the stream: its transaction's final
/// (commit) LSN, then its place in the transaction (from 1). Streams deliver
/// transactions in commit order, so positions order events as published.
struct StreamPosition {
  uint64_t lsn = 0;
  uint32_t index = 0;

  bool empty() const { return lsn == 0; }
  bool operator<(const StreamPosition& o) const { return lsn < o.lsn || (lsn == o.lsn && index < o.index); }
  bool operator<=(const StreamPosition& o) const { return !(o < *this); }
};

/// One outbox event as read by a source, columns already mapped to the contract.
struct OutboxRow {
  int64_t seq = 0;  ///< the row's seq; 0 for an event without a row (in_table = false)
  /// The oid of the table the row was read from: with seq, the row's identity.
  /// A re-created outbox table starts its seq values again; statements on
  /// rows match the oid too, so they never touch a row of another table.
  uint32_t table_oid = 0;
  std::string id;  ///< event id: the consumers' dedup key
  std::string aggregate_type;
  std::string aggregate_id;
  std::string event_type;
  std::optional<std::string> payload;  ///< bytes; nullopt for SQL NULL
  std::string headers_json;            ///< JSON object text, "" when absent
  std::optional<std::string> topic;
  std::string created_at;    ///< RFC 3339 UTC, "" when absent
  double created_epoch = 0;  ///< created_at as Unix seconds, 0 when absent
  /// Permanent rejections earlier relays recorded in the row (0 when the table has no attempts column).
  uint32_t attempts = 0;
  /// False for a WAL-message event (tail mode): no row to acknowledge.
  bool in_table = true;
  /// Tail mode: the stream transaction it came in (LsnTracker); 0 when polled.
  uint64_t txn = 0;
  /// Tail mode: committed before this stream started, so possibly acknowledged by an earlier run.
  bool replayed = false;
  /// Tail mode: the writing transaction's id (32 bits, as pgoutput gives it); 0 when polled.
  uint32_t xid = 0;
  /// Tail mode: where the event came in the stream; empty when polled.
  StreamPosition position;

  /// How log lines name the event: its seq, or its id for a WAL-message event (no row yet).
  std::string Label() const { return in_table ? "seq=" + std::to_string(seq) : "id=" + id + " (WAL message)"; }
};

/// A row of an outbox table: its seq, and the oid of the table (see OutboxRow).
struct RowRef {
  int64_t seq = 0;
  uint32_t table_oid = 0;
};

}  // namespace outbox::relay
