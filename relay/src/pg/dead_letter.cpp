#include "pg/dead_letter.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "config/config.hpp"
#include "outbox/identifier.hpp"
#include "pipeline/key_holds.hpp"

namespace outbox::relay {

DeadLetterStore::DeadLetterStore(const OutboxConfig& config, OutboxSql sql)
    : sql_(std::move(sql)),
      channel_(config.notify_channel.empty() ? sdk::NotifyChannel(config.schema) : config.notify_channel) {}

bool DeadLetterStore::Move(pqxx::connection_base& conn, RowRef row, const std::string& reason,
                           uint32_t attempts) const {
  // All or nothing: the row leaves the outbox only together with its insert
  // (a conflicting event id raises, and nothing changes).
  pqxx::work tx(conn, "outbox-dead-letter");
  const auto oid = static_cast<int64_t>(row.table_oid);
  auto moved =
      tx.exec_params(sql_.dead_letter_insert, row.seq, reason, static_cast<int>(attempts), sql_.table_name, oid);
  if (moved.affected_rows() == 0) return false;  // the row is gone: nothing to move
  tx.exec_params(sql_.delete_row, row.seq, oid);
  tx.commit();
  return true;
}

std::unordered_set<std::string> DeadLetterStore::HeldKeys(pqxx::connection_base& conn) const {
  pqxx::nontransaction tx(conn);
  std::unordered_set<std::string> keys;
  for (const auto& r : tx.exec_params(
           "SELECT DISTINCT aggregate_type, aggregate_id FROM " + sql_.dead_letter + " WHERE outbox_table = $1",
           sql_.table_name)) {
    keys.insert(KeyHolds::Key(r[0].as<std::string>(), r[1].as<std::string>()));
  }
  return keys;
}

std::vector<DeadLetterStore::Entry> DeadLetterStore::List(pqxx::connection_base& conn, size_t limit) const {
  pqxx::nontransaction tx(conn);
  std::vector<Entry> out;
  auto rows = tx.exec_params(
      "SELECT seq, id::text, aggregate_type, aggregate_id, event_type, coalesce(topic, ''), reason, attempts, "
      "to_char(failed_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM " +
          sql_.dead_letter + " WHERE outbox_table = $2 ORDER BY seq LIMIT $1",
      static_cast<int64_t>(limit), sql_.table_name);
  for (const auto& r : rows) {
    out.push_back(Entry{r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                        r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>(), r[8].as<std::string>(),
                        r[7].as<int>()});
  }
  return out;
}

bool DeadLetterStore::Requeue(pqxx::connection_base& conn, const std::string& id) const {
  pqxx::work tx(conn, "outbox-dlq-requeue");
  auto n = tx.exec_params(sql_.requeue, id, sql_.table_name);
  if (n.affected_rows() == 0) return false;
  tx.exec_params("DELETE FROM " + sql_.dead_letter + " WHERE id::text = $1 AND outbox_table = $2", id, sql_.table_name);
  tx.exec_params("SELECT pg_notify($1, $2)", channel_, std::string(kChangedPayload));
  tx.commit();
  return true;
}

bool DeadLetterStore::Skip(pqxx::connection_base& conn, const std::string& id) const {
  pqxx::work tx(conn, "outbox-dlq-skip");
  auto n = tx.exec_params("DELETE FROM " + sql_.dead_letter + " WHERE id::text = $1 AND outbox_table = $2", id,
                          sql_.table_name);
  if (n.affected_rows() == 0) return false;
  tx.exec_params("SELECT pg_notify($1, $2)", channel_, std::string(kChangedPayload));
  tx.commit();
  return true;
}

}  // namespace outbox::relay
