#include "pg/outbox_sql.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include <pqxx/nontransaction>

#include "config/config.hpp"
#include "outbox/identifier.hpp"
#include "pg/bytea.hpp"
#include "pg/outbox_row.hpp"

namespace outbox::relay {

std::string QuoteColumn(const std::string& name, const std::string& key) {
  return sdk::QuoteIdentifier(name, "outbox.columns." + key);
}

namespace {

// The SQL type of `column` of `table`; "" when the table has no such column.
std::string ColumnType(pqxx::connection_base& conn, const std::string& table, const std::string& column) {
  pqxx::nontransaction tx(conn);
  auto type = tx.exec_params(
      "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
      "WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
      table, column);
  return type.empty() ? "" : type[0][0].as<std::string>();
}

void BuildReads(const OutboxConfig& config, const std::string& attempts, OutboxSql& sql) {
  const ColumnNames& c = config.columns;
  // An absent optional column (mapped to "") reads as NULL.
  auto optional = [](const std::string& name, const char* key) {
    return name.empty() ? std::string("NULL::text") : QuoteColumn(name, key) + "::text";
  };
  // Sessions run with TimeZone=UTC (PgConnect), so this is RFC 3339 UTC.
  const std::string created = c.created_at.empty() ? "" : QuoteColumn(c.created_at, "created_at");
  const std::string created_text =
      created.empty() ? "NULL::text" : "to_char(" + created + ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
  const std::string created_epoch = created.empty() ? "NULL::float8" : "date_part('epoch', " + created + ")";
  sql.select_list = sql.seq + ", " + QuoteColumn(c.id, "id") + "::text, " +
                    QuoteColumn(c.aggregate_type, "aggregate_type") + "::text, " +
                    QuoteColumn(c.aggregate_id, "aggregate_id") + "::text, " + optional(c.event_type, "event_type") +
                    ", " + sql.payload + ", " + optional(c.headers, "headers") + ", " + optional(c.topic, "topic") +
                    ", " + created_text + ", " + created_epoch + ", " +
                    (attempts.empty() ? std::string("0") : "coalesce(" + attempts + ", 0)::int") + ", tableoid::bigint";
  const std::string& s = sql.seq;
  // One statement, one snapshot: the rows and the xmin that proves gaps empty.
  // The two branches keep the index scan with LIMIT on a large backlog (an OR
  // would read every row above the high-water mark before sorting).
  // Gaps are read as ranges (an index range probe each, in a LATERAL so the
  // table's own column names win); the names lo/hi are the ranges' own.
  sql.poll = "SELECT x.xmin, x.oid, r.* FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text, to_regclass('" +
             sql.table +
             "')::oid::bigint) AS x(xmin, oid) "
             "LEFT JOIN LATERAL (SELECT * FROM ((SELECT o.* FROM unnest($2::bigint[], $3::bigint[]) AS g(lo, hi), "
             "LATERAL (SELECT " +
             sql.select_list + " FROM " + sql.table + " WHERE " + s + " BETWEEN g.lo AND g.hi" + sql.unpublished +
             ") AS o) UNION ALL (SELECT " + sql.select_list + " FROM " + sql.table + " WHERE " + s + " > $1" +
             sql.unpublished + " ORDER BY " + s + " LIMIT $4)) AS u ORDER BY 1 LIMIT $4) AS r ON true";
  sql.unacknowledged = "SELECT " + s + " FROM " + sql.table + " WHERE " + s + " = ANY($1::bigint[])" + sql.unpublished +
                       " AND tableoid = $2::oid";
  sql.backlog_count = "SELECT count(*) FROM " + sql.table + " WHERE true" + sql.unpublished;
  // Rows written by plain SQL may say 'infinity' ("cannot subtract infinite
  // timestamps"): such a row has no age (NULL), but still counts as a row.
  sql.oldest_age = "SELECT " +
                   (created.empty() ? std::string("NULL::float8")
                                    : "CASE WHEN isfinite(" + created + ") THEN extract(epoch FROM now() - " + created +
                                          ")::float8 END") +
                   " FROM " + sql.table + " WHERE true" + sql.unpublished + " ORDER BY " + s + " LIMIT 1";
}

void BuildWrites(const OutboxConfig& config, const std::string& attempts, OutboxSql& sql) {
  const ColumnNames& c = config.columns;
  const std::string& s = sql.seq;
  if (config.cleanup == Cleanup::kDelete) {
    sql.ack = "DELETE FROM " + sql.table + " WHERE " + s + " = ANY($1::bigint[]) AND tableoid = $2::oid RETURNING " + s;
    sql.ack_range =
        "DELETE FROM " + sql.table + " WHERE " + s + " BETWEEN $1 AND $2 AND tableoid = $3::oid RETURNING " + s;
  } else {
    const std::string pub = QuoteColumn(c.published_at, "published_at");
    sql.ack = "UPDATE " + sql.table + " SET " + pub + " = now() WHERE " + s + " = ANY($1::bigint[]) AND " + pub +
              " IS NULL AND tableoid = $2::oid RETURNING " + s;
    sql.ack_range = "UPDATE " + sql.table + " SET " + pub + " = now() WHERE " + s + " BETWEEN $1 AND $2 AND " + pub +
                    " IS NULL AND tableoid = $3::oid RETURNING " + s;
    sql.retention = "DELETE FROM " + sql.table + " WHERE " + s + " IN (SELECT " + s + " FROM " + sql.table + " WHERE " +
                    pub + " < now() - make_interval(secs => $1) LIMIT $2)";
  }
  sql.delete_row = "DELETE FROM " + sql.table + " WHERE " + s + " = $1 AND tableoid = $2::oid";
  if (!attempts.empty()) {
    sql.record_attempts =
        "UPDATE " + sql.table + " SET " + attempts + " = $2 WHERE " + s + " = $1 AND tableoid = $3::oid";
  }

  auto text_or = [](const std::string& col, const char* key, const char* fallback) {
    return col.empty() ? std::string(fallback) : "coalesce(" + QuoteColumn(col, key) + "::text, " + fallback + ")";
  };
  // No ON CONFLICT: an event id that is already dead-lettered for this table
  // fails the move, which rolls back and leaves the row where it is. Columns a
  // hostile row left NULL become '' (the row is kept whole).
  sql.dead_letter_insert =
      "INSERT INTO " + sql.dead_letter +
      " (outbox_table, seq, id, aggregate_type, aggregate_id, event_type, payload, headers, topic, created_at, "
      "reason, attempts) SELECT $4, " +
      s + ", " + QuoteColumn(c.id, "id") + "::text::uuid, coalesce(" + QuoteColumn(c.aggregate_type, "aggregate_type") +
      "::text, ''), coalesce(" + QuoteColumn(c.aggregate_id, "aggregate_id") + "::text, ''), " +
      text_or(c.event_type, "event_type", "''") + ", " + sql.payload + ", " +
      (c.headers.empty() ? "'{}'::jsonb" : "coalesce(" + QuoteColumn(c.headers, "headers") + "::jsonb, '{}')") + ", " +
      (c.topic.empty() ? "NULL" : QuoteColumn(c.topic, "topic") + "::text") + ", " +
      (c.created_at.empty() ? "now()" : "coalesce(" + QuoteColumn(c.created_at, "created_at") + ", now())") +
      ", $2, $3 FROM " + sql.table + " WHERE " + s + " = $1 AND tableoid = $5::oid";

  // The original seq, not a new one: the event must go out before the events
  // of its key that were held behind it. The relay reads the table from its
  // start when told the dead-letter table changed, so the old seq is not missed.
  std::string cols = s + ", " + QuoteColumn(c.id, "id") + ", " + QuoteColumn(c.aggregate_type, "aggregate_type") +
                     ", " + QuoteColumn(c.aggregate_id, "aggregate_id") + ", " + QuoteColumn(c.payload, "payload");
  std::string vals =
      "d.seq, d.id, d.aggregate_type, d.aggregate_id, " +
      (sql.payload_type == "bytea" ? std::string("d.payload") : "convert_from(d.payload, 'UTF8')::" + sql.payload_type);
  auto add = [&](const std::string& col, const char* key, const std::string& value) {
    if (col.empty()) return;
    cols += ", " + QuoteColumn(col, key);
    vals += ", " + value;
  };
  add(c.event_type, "event_type", "d.event_type");
  add(c.headers, "headers", "d.headers");
  add(c.topic, "topic", "d.topic");
  add(c.created_at, "created_at", "d.created_at");
  sql.requeue = "INSERT INTO " + sql.table + " (" + cols + ") SELECT " + vals + " FROM " + sql.dead_letter +
                " d WHERE d.id::text = $1 AND d.outbox_table = $2";

  // A WAL-message event written into the table as a row (a new seq): $1 id,
  // $2 aggregate type, $3 aggregate id, $4 event type, $5 payload as hex (NULL
  // for none), $6 headers (JSON text), $7 topic, $8 created_at (RFC 3339 or NULL).
  std::string mcols = QuoteColumn(c.id, "id") + ", " + QuoteColumn(c.aggregate_type, "aggregate_type") + ", " +
                      QuoteColumn(c.aggregate_id, "aggregate_id") + ", " + QuoteColumn(c.payload, "payload");
  std::string mvals = "$1::uuid, $2, $3, " + (sql.payload_type == "bytea"
                                                  ? std::string("decode($5, 'hex')")
                                                  : "convert_from(decode($5, 'hex'), 'UTF8')::" + sql.payload_type);
  auto madd = [&](const std::string& col, const char* key, const std::string& value) {
    if (col.empty()) return;
    mcols += ", " + QuoteColumn(col, key);
    mvals += ", " + value;
  };
  madd(c.event_type, "event_type", "$4");
  madd(c.headers, "headers", "coalesce($6::jsonb, '{}')");
  madd(c.topic, "topic", "$7");
  madd(c.created_at, "created_at", "coalesce($8::timestamptz, now())");
  sql.materialize =
      "INSERT INTO " + sql.table + " (" + mcols + ") VALUES (" + mvals + ") RETURNING " + s + ", tableoid::bigint";
  // Events of the stream that an earlier pass wrote into the table (or
  // dead-lettered from there): $1 ids (text[]), $2 table_name.
  sql.materialized = "SELECT " + QuoteColumn(c.id, "id") + "::text FROM " + sql.table + " WHERE " +
                     QuoteColumn(c.id, "id") + "::text = ANY($1::text[]) UNION SELECT id::text FROM " +
                     sql.dead_letter + " WHERE outbox_table = $2 AND id::text = ANY($1::text[])";
}

}  // namespace

OutboxSql OutboxSql::Build(const OutboxConfig& config, pqxx::connection_base& conn) {
  OutboxSql sql;
  sql.table =
      sdk::QuoteIdentifier(config.schema, "outbox.schema") + "." + sdk::QuoteIdentifier(config.table, "outbox.table");
  sql.table_name = config.TableName();
  sql.dead_letter = sdk::QuoteIdentifier(config.RelaySchema(), "outbox.relay_schema") + ".dead_letter";
  sql.seq = QuoteColumn(config.columns.seq, "seq");
  // A payload column of another type than bytea (text, json, jsonb in
  // Debezium-style tables) is sent as its UTF-8 text.
  sql.payload_type = ColumnType(conn, sql.table, config.columns.payload);
  if (sql.payload_type.empty()) {
    throw std::runtime_error("outbox table " + sql.table + " has no column '" + config.columns.payload +
                             "' (outbox.columns.payload); Hint: run `outbox-relay migrate` or fix the column mapping");
  }
  const std::string payload = QuoteColumn(config.columns.payload, "payload");
  sql.payload = sql.payload_type == "bytea" ? payload : "convert_to(" + payload + "::text, 'UTF8')";
  if (config.cleanup == Cleanup::kMark) {
    sql.unpublished = " AND " + QuoteColumn(config.columns.published_at, "published_at") + " IS NULL";
  }
  // The attempts column is optional: a table without it (Debezium-style)
  // keeps the attempts in the relay's memory only.
  std::string attempts;
  if (!config.columns.attempts.empty() && !ColumnType(conn, sql.table, config.columns.attempts).empty()) {
    attempts = QuoteColumn(config.columns.attempts, "attempts");
  }
  BuildReads(config, attempts, sql);
  BuildWrites(config, attempts, sql);
  return sql;
}

namespace {

// One result row's cells, from pqxx or straight from libpq.
struct PqxxCells {
  const pqxx::row& row;
  bool null(int i) const { return row[i].is_null(); }
  const char* text(int i) const { return row[i].c_str(); }
  size_t size(int i) const { return row[i].size(); }
};

struct LibpqCells {
  const PGresult* result;
  int row;
  bool null(int i) const { return PQgetisnull(result, row, i) != 0; }
  const char* text(int i) const { return PQgetvalue(result, row, i); }
  size_t size(int i) const { return static_cast<size_t>(PQgetlength(result, row, i)); }
};

template <class Cells>
std::string Text(const Cells& c, int i) {
  return c.null(i) ? std::string() : std::string(c.text(i), c.size(i));  // NULL: "", refused by the Router
}

// A bigint cell; `fallback` when NULL. Postgres sends its own decimal text.
template <class Cells>
int64_t Integer(const Cells& c, int i, int64_t fallback, const char* what) {
  if (c.null(i)) return fallback;
  int64_t v = 0;
  const char* end = c.text(i) + c.size(i);
  const auto [ptr, ec] = std::from_chars(c.text(i), end, v);
  if (ec != std::errc() || ptr != end) {
    throw std::runtime_error(std::string("outbox row: ") + what + " is not an integer: '" + c.text(i) + "'");
  }
  return v;
}

template <class Cells>
OutboxRow ReadCells(const Cells& c, int first) {
  OutboxRow r;
  if (c.null(first)) throw std::runtime_error("outbox row: seq is NULL");
  r.seq = Integer(c, first, 0, "seq");
  r.id = Text(c, first + 1);
  r.aggregate_type = Text(c, first + 2);
  r.aggregate_id = Text(c, first + 3);
  r.event_type = Text(c, first + 4);
  if (!c.null(first + 5)) r.payload = DecodeBytea(c.text(first + 5), c.size(first + 5));
  r.headers_json = Text(c, first + 6);
  if (!c.null(first + 7)) r.topic = Text(c, first + 7);
  r.created_at = Text(c, first + 8);
  // strtod, not pqxx's as<double>(): pqxx 6.4 parses doubles through an iostream.
  r.created_epoch = c.null(first + 9) ? 0.0 : std::strtod(c.text(first + 9), nullptr);
  r.attempts = static_cast<uint32_t>(std::max<int64_t>(0, Integer(c, first + 10, 0, "attempts")));
  r.table_oid = static_cast<uint32_t>(Integer(c, first + 11, 0, "tableoid"));
  return r;
}

}  // namespace

OutboxRow ReadRow(const pqxx::row& row, int first) { return ReadCells(PqxxCells{row}, first); }

OutboxRow ReadRow(const PGresult* result, int row, int first) { return ReadCells(LibpqCells{result, row}, first); }

std::string BigintArray(const std::vector<int64_t>& values) {
  std::string s = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(values[i]);
  }
  s += '}';
  return s;
}

}  // namespace outbox::relay
