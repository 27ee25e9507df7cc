// The operator side of dead letters: list them, request a retry or a skip.
#include "outbox/consumer_dead_letters.hpp"

#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include "outbox/migrations.hpp"

namespace outbox::sdk {

std::vector<DeadLetterInfo> ListDeadLetters(pqxx::connection_base& conn, const std::string& schema,
                                            const std::string& consumer) {
  const std::string table = QuoteIdentifier(schema, "schema") + ".consumer_parked";
  pqxx::nontransaction tx(conn);
  const auto rows = tx.exec_params(
      "SELECT d.id, d.consumer, d.topic, d.kafka_partition, d.kafka_offset, d.record_key, d.event_id, d.attempts,"
      " coalesce(d.last_error, ''), d.dead_lettered_at::text, coalesce(d.release, ''),"
      " (SELECT count(*) FROM " +
          table +
          " h WHERE h.consumer = d.consumer AND h.topic = d.topic AND h.kafka_partition = d.kafka_partition"
          " AND h.key_group = d.key_group AND h.kafka_offset > d.kafka_offset)"
          " FROM " +
          table + " d WHERE d.dead_lettered_at IS NOT NULL AND ($1 = '' OR d.consumer = $1)" +
          " ORDER BY d.dead_lettered_at, d.id",
      consumer);
  std::vector<DeadLetterInfo> out;
  for (const auto& row : rows) {
    DeadLetterInfo d;
    d.id = row[0].as<int64_t>();
    d.consumer = row[1].as<std::string>();
    d.topic = row[2].as<std::string>();
    d.partition = row[3].as<int32_t>();
    d.offset = row[4].as<int64_t>();
    d.key_is_null = row[5].is_null();
    if (!d.key_is_null) d.key = pqxx::binarystring(row[5]).str();
    d.event_id = row[6].as<std::string>();
    d.attempts = row[7].as<int>();
    d.error = row[8].as<std::string>();
    d.dead_lettered_at = row[9].as<std::string>();
    d.release = row[10].as<std::string>();
    d.held_behind = row[11].as<int64_t>();
    out.push_back(std::move(d));
  }
  return out;
}

bool ReleaseDeadLetter(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer, int64_t id,
                       ReleaseAction action) {
  const std::string table = QuoteIdentifier(schema, "schema") + ".consumer_parked";
  pqxx::nontransaction tx(conn);
  const auto r = tx.exec_params(
      "UPDATE " + table + " SET release = $3 WHERE id = $1 AND consumer = $2 AND dead_lettered_at IS NOT NULL", id,
      consumer, action == ReleaseAction::kRetry ? "retry" : "skip");
  return r.affected_rows() == 1;
}

}  // namespace outbox::sdk
