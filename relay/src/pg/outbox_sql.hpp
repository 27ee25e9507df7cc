#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include <pqxx/connection_base>
#include <pqxx/row>

namespace outbox::relay {

struct OutboxConfig;
struct OutboxRow;

/// A mapped column's name (outbox.columns.<key>), validated and quoted.
std::string QuoteColumn(const std::string& name, const std::string& key);

/// Every SQL statement on the outbox table, built once from the configuration
/// (column mapping, cleanup mode) with each identifier validated and quoted,
/// never spliced raw. The one place that knows the table's shape.
struct OutboxSql {
  std::string table;         ///< "schema"."table"
  std::string table_name;    ///< schema.table, unquoted: the table's identity in the dead-letter table
  std::string dead_letter;   ///< "relay schema".dead_letter
  std::string select_list;   ///< the columns of an OutboxRow, in ReadRow() order
  std::string seq;           ///< quoted seq column
  std::string unpublished;   ///< " AND published_at IS NULL" in mark mode, else ""
  std::string payload;       ///< the payload as bytea (converted from text/json types)
  std::string payload_type;  ///< the payload column's SQL type, e.g. "bytea", "jsonb"

  /// $1 after (bigint), $2 gap lows and $3 gap highs (bigint[]), $4 limit:
  /// the snapshot's xmin, then up to $4 rows with seq > $1 or in a gap range,
  /// ascending; one row of NULLs after the xmin when none.
  std::string poll;
  /// $1 seqs (bigint[]), $2 table oid: delete them, or set published_at
  /// (cleanup = "mark"); returns the seq of each row it changed.
  std::string ack;
  /// The same for the seqs $1 to $2 (bigint), $3 table oid: one index range
  /// scan instead of a probe per row, used when a batch's seqs are contiguous.
  std::string ack_range;
  /// cleanup = "mark": $1 retention seconds, $2 limit. Empty in delete mode.
  std::string retention;
  /// $1 seqs (bigint[]): those still unacknowledged.
  std::string unacknowledged;
  /// Unpublished rows (a scan of the unpublished index).
  std::string backlog_count;
  /// Age in seconds of the oldest unpublished row (NULL without created_at); no row when none.
  std::string oldest_age;
  /// $1 seq, $2 reason, $3 attempts, $4 table_name: copies row $1 into the
  /// dead-letter table; fails on a conflicting event id (no row is lost).
  std::string dead_letter_insert;
  /// $1 seq, $2 attempts: records the attempts in the row; empty without an attempts column.
  std::string record_attempts;
  /// $1 seq: deletes row $1 from the outbox.
  std::string delete_row;
  /// $1 event id (text), $2 table_name: copies a dead-lettered event back into
  /// the outbox with its seq and id.
  std::string requeue;
  /// A WAL-message event as a row of the table (see outbox_sql.cpp); returns seq, tableoid.
  std::string materialize;
  /// $1 event ids (text[]), $2 table_name: those in the table or dead-lettered from it.
  std::string materialized;

  static OutboxSql Build(const OutboxConfig& config, pqxx::connection_base& conn);
};

/// Decodes one result row laid out by OutboxSql::select_list, starting at column `first`.
OutboxRow ReadRow(const pqxx::row& row, int first);
/// The same for row `row` of a libpq result (text format), as the read session receives it.
OutboxRow ReadRow(const PGresult* result, int row, int first);

/// "{1,2,3}": a Postgres array literal for a bigint[] parameter.
std::string BigintArray(const std::vector<int64_t>& values);

}  // namespace outbox::relay
