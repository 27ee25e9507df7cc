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

bool DeadLetterStore::Move(pqxx::connection_base& conn, int64_t seq, const std::string& reason,
                           uint32_t attempts) const {
  pqxx::work tx(conn, "outbox-dead-letter");
  auto moved = tx.exec_params(sql_.dead_letter_insert, seq, reason, static_cast<int>(attempts));
  tx.exec_params(sql_.delete_row, seq);
  tx.commit();
  return moved.affected_rows() == 1;
}

std::unordered_set<std::string> DeadLetterStore::HeldKeys(pqxx::connection_base& conn) const {
  pqxx::nontransaction tx(conn);
  std::unordered_set<std::string> keys;
  for (const auto& r : tx.exec("SELECT DISTINCT aggregate_type, aggregate_id FROM " + sql_.dead_letter)) {
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
          sql_.dead_letter + " ORDER BY seq LIMIT $1",
      static_cast<int64_t>(limit));
  for (const auto& r : rows) {
    out.push_back(Entry{r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                        r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>(), r[8].as<std::string>(),
                        r[7].as<int>()});
  }
  return out;
}

bool DeadLetterStore::Requeue(pqxx::connection_base& conn, const std::string& id) const {
  pqxx::work tx(conn, "outbox-dlq-requeue");
  auto n = tx.exec_params(sql_.requeue, id);
  if (n.affected_rows() == 0) return false;
  tx.exec_params("DELETE FROM " + sql_.dead_letter + " WHERE id::text = $1", id);
  tx.exec_params("SELECT pg_notify($1, $2)", channel_, std::string(kChangedPayload));
  tx.commit();
  return true;
}

bool DeadLetterStore::Skip(pqxx::connection_base& conn, const std::string& id) const {
  pqxx::work tx(conn, "outbox-dlq-skip");
  auto n = tx.exec_params("DELETE FROM " + sql_.dead_letter + " WHERE id::text = $1", id);
  if (n.affected_rows() == 0) return false;
  tx.exec_params("SELECT pg_notify($1, $2)", channel_, std::string(kChangedPayload));
  tx.commit();
  return true;
}

}  // namespace outbox::relay
