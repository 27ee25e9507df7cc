#include "pg/dead_letter.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "config/config.hpp"
#include "outbox/migrations.hpp"

namespace outbox::relay {
namespace {

std::string Col(const std::string& name, const char* key) {
  return sdk::QuoteIdentifier(name, std::string("outbox.columns.") + key);
}

}  // namespace

DeadLetterStore::DeadLetterStore(const OutboxConfig& config, OutboxSql sql)
    : config_(config),
      sql_(std::move(sql)),
      table_(sdk::QuoteIdentifier(config.schema, "outbox.schema") + ".dead_letter"),
      channel_(config.notify_channel.empty() ? sdk::NotifyChannel(config.schema) : config.notify_channel) {}

std::string DeadLetterStore::HeldKey(const std::string& aggregate_type, const std::string& aggregate_id) {
  return aggregate_type + '\x1f' + aggregate_id;
}

bool DeadLetterStore::Move(pqxx::connection_base& conn, int64_t seq, const std::string& reason,
                           uint32_t attempts) const {
  const ColumnNames& c = config_.columns;
  auto text_or = [](const std::string& col, const char* key, const char* fallback) {
    return col.empty() ? std::string(fallback) : "coalesce(" + Col(col, key) + "::text, " + fallback + ")";
  };
  pqxx::work tx(conn, "outbox-dead-letter");
  auto moved = tx.exec_params(
      "INSERT INTO " + table_ +
          " (seq, id, aggregate_type, aggregate_id, event_type, payload, headers, topic, created_at, reason, attempts) "
          "SELECT " +
          sql_.seq + ", " + Col(c.id, "id") + "::text::uuid, " + Col(c.aggregate_type, "aggregate_type") + "::text, " +
          Col(c.aggregate_id, "aggregate_id") + "::text, " + text_or(c.event_type, "event_type", "''") + ", " +
          sql_.payload + ", " + (c.headers.empty() ? "'{}'::jsonb" : Col(c.headers, "headers") + "::jsonb") + ", " +
          (c.topic.empty() ? "NULL" : Col(c.topic, "topic") + "::text") + ", " +
          (c.created_at.empty() ? "now()" : Col(c.created_at, "created_at")) + ", $2, $3 FROM " + sql_.table +
          " WHERE " + sql_.seq + " = $1 ON CONFLICT DO NOTHING",
      seq, reason, static_cast<int>(attempts));
  tx.exec_params("DELETE FROM " + sql_.table + " WHERE " + sql_.seq + " = $1", seq);
  tx.commit();
  return moved.affected_rows() == 1;
}

std::unordered_set<std::string> DeadLetterStore::HeldKeys(pqxx::connection_base& conn) const {
  pqxx::nontransaction tx(conn);
  std::unordered_set<std::string> keys;
  for (const auto& r : tx.exec("SELECT DISTINCT aggregate_type, aggregate_id FROM " + table_)) {
    keys.insert(HeldKey(r[0].as<std::string>(), r[1].as<std::string>()));
  }
  return keys;
}

std::vector<DeadLetterStore::Entry> DeadLetterStore::List(pqxx::connection_base& conn, size_t limit) const {
  pqxx::nontransaction tx(conn);
  std::vector<Entry> out;
  auto rows = tx.exec_params(
      "SELECT seq, id::text, aggregate_type, aggregate_id, event_type, coalesce(topic, ''), reason, attempts, "
      "to_char(failed_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM " +
          table_ + " ORDER BY seq LIMIT $1",
      static_cast<int64_t>(limit));
  for (const auto& r : rows) {
    out.push_back(Entry{r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                        r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>(), r[8].as<std::string>(),
                        r[7].as<int>()});
  }
  return out;
}

bool DeadLetterStore::Requeue(pqxx::connection_base& conn, const std::string& id) const {
  const ColumnNames& c = config_.columns;
  std::string cols = sql_.seq + ", " + Col(c.id, "id") + ", " + Col(c.aggregate_type, "aggregate_type") + ", " +
                     Col(c.aggregate_id, "aggregate_id") + ", " + Col(c.payload, "payload");
  std::string vals = "d.seq, d.id, d.aggregate_type, d.aggregate_id, " +
                     (sql_.payload_type == "bytea" ? std::string("d.payload")
                                                   : "convert_from(d.payload, 'UTF8')::" + sql_.payload_type);
  auto add = [&](const std::string& col, const char* key, const std::string& value) {
    if (col.empty()) return;
    cols += ", " + Col(col, key);
    vals += ", " + value;
  };
  add(c.event_type, "event_type", "d.event_type");
  add(c.headers, "headers", "d.headers");
  add(c.topic, "topic", "d.topic");
  add(c.created_at, "created_at", "d.created_at");
  pqxx::work tx(conn, "outbox-dlq-requeue");
  // The original seq, not a new one: the event must go out before the events
  // of its key that were held behind it. The relay re-reads the table from its
  // start when told the dead-letter table changed, so the old seq is not missed.
  auto n = tx.exec_params(
      "INSERT INTO " + sql_.table + " (" + cols + ") SELECT " + vals + " FROM " + table_ + " d WHERE d.id::text = $1",
      id);
  if (n.affected_rows() == 0) return false;
  tx.exec_params("DELETE FROM " + table_ + " WHERE id::text = $1", id);
  tx.exec_params("SELECT pg_notify($1, $2)", channel_, std::string(kChangedPayload));
  tx.commit();
  return true;
}

bool DeadLetterStore::Skip(pqxx::connection_base& conn, const std::string& id) const {
  pqxx::work tx(conn, "outbox-dlq-skip");
  auto n = tx.exec_params("DELETE FROM " + table_ + " WHERE id::text = $1", id);
  if (n.affected_rows() == 0) return false;
  tx.exec_params("SELECT pg_notify($1, $2)", channel_, std::string(kChangedPayload));
  tx.commit();
  return true;
}

}  // namespace outbox::relay
