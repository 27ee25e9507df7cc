#include "pg/outbox_sql.hpp"

#include <cstdlib>
#include <cstring>

#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/row>

#include "config/config.hpp"
#include "outbox/migrations.hpp"
#include "pg/outbox_row.hpp"

namespace outbox::relay {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// A bytea field's bytes. The server sends bytea in hex format ("\x4142...",
/// the default since PostgreSQL 9.0): decoded here in one pass into the
/// result; anything else (bytea_output = escape) goes through libpq.
std::string ByteaField(const pqxx::field& f) {
  const char* text = f.c_str();
  const size_t len = f.size();
  if (len >= 2 && text[0] == '\\' && text[1] == 'x' && len % 2 == 0) {
    std::string out((len - 2) / 2, '\0');
    bool ok = true;
    for (size_t i = 2, o = 0; i < len; i += 2, ++o) {
      const int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
      ok &= hi >= 0 && lo >= 0;
      out[o] = static_cast<char>((hi << 4) | (lo & 0xf));
    }
    if (ok) return out;
  }
  return pqxx::binarystring(f).str();
}

std::string Column(const std::string& name, const std::string& key) {
  return sdk::QuoteIdentifier(name, "outbox.columns." + key);
}

}  // namespace

OutboxSql OutboxSql::Build(const OutboxConfig& config, pqxx::connection_base& conn) {
  const ColumnNames& c = config.columns;
  OutboxSql sql;
  sql.table =
      sdk::QuoteIdentifier(config.schema, "outbox.schema") + "." + sdk::QuoteIdentifier(config.table, "outbox.table");
  sql.seq = Column(c.seq, "seq");

  // A payload column of another type (text, json, jsonb in Debezium-style
  // tables) is sent as its UTF-8 text.
  pqxx::nontransaction tx(conn);
  auto type = tx.exec_params(
      "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
      "WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
      sql.table, c.payload);
  if (type.empty()) {
    throw std::runtime_error("outbox table " + sql.table + " has no column '" + c.payload +
                             "' (outbox.columns.payload); Hint: run `outbox-relay migrate` or fix the column mapping");
  }
  sql.payload_type = type[0][0].as<std::string>();
  sql.payload = sql.payload_type == "bytea" ? Column(c.payload, "payload")
                                            : "convert_to(" + Column(c.payload, "payload") + "::text, 'UTF8')";
  const std::string& payload = sql.payload;
  // An absent optional column (mapped to "") reads as NULL.
  auto optional = [](const std::string& name, const std::string& key) {
    return name.empty() ? std::string("NULL::text") : Column(name, key) + "::text";
  };
  // Sessions run with TimeZone=UTC (PgConnect), so this is RFC 3339 UTC.
  const std::string created_at =
      c.created_at.empty() ? std::string("NULL::text")
                           : "to_char(" + Column(c.created_at, "created_at") + ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
  sql.select_list = sql.seq + ", " + Column(c.id, "id") + "::text, " + Column(c.aggregate_type, "aggregate_type") +
                    "::text, " + Column(c.aggregate_id, "aggregate_id") + "::text, " +
                    optional(c.event_type, "event_type") + ", " + payload + ", " + optional(c.headers, "headers") +
                    ", " + optional(c.topic, "topic") + ", " + created_at + ", " +
                    (c.created_at.empty() ? std::string("NULL::float8")
                                          : "extract(epoch FROM " + Column(c.created_at, "created_at") + ")::float8");
  if (config.cleanup == Cleanup::kMark) {
    sql.unpublished = " AND " + Column(c.published_at, "published_at") + " IS NULL";
  }
  return sql;
}

OutboxRow ReadRow(const pqxx::row& row, int first) {
  OutboxRow r;
  r.seq = row[first].as<int64_t>();
  r.id = row[first + 1].as<std::string>();
  r.aggregate_type = row[first + 2].as<std::string>(std::string());
  r.aggregate_id = row[first + 3].as<std::string>(std::string());
  r.event_type = row[first + 4].as<std::string>(std::string());
  if (!row[first + 5].is_null()) r.payload = ByteaField(row[first + 5]);
  r.headers_json = row[first + 6].as<std::string>(std::string());
  if (!row[first + 7].is_null()) r.topic = row[first + 7].as<std::string>();
  r.created_at = row[first + 8].as<std::string>(std::string());
  // strtod, not as<double>(): pqxx 6.4 parses doubles through an iostream.
  r.created_epoch = row[first + 9].is_null() ? 0.0 : std::strtod(row[first + 9].c_str(), nullptr);
  return r;
}

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
