#include "outbox/inbox.hpp"

#include <pqxx/transaction>

#include "outbox/migrations.hpp"

namespace outbox::sdk {

bool ClaimInboxEvent(pqxx::transaction_base& tx, const std::string& schema, const std::string& consumer,
                     const std::string& event_id) {
  const std::string table = QuoteIdentifier(schema, "consumer.schema") + ".inbox";
  auto r = tx.exec_params("INSERT INTO " + table + " (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                          consumer, event_id);
  return r.affected_rows() == 1;
}

PurgeResult PurgeInbox(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer,
                       std::chrono::milliseconds retention, int batch_size) {
  const std::string table = QuoteIdentifier(schema, "consumer.schema") + ".inbox";
  // ctid batches: each transaction deletes at most batch_size rows, found via
  // the processed_at index, so locks and WAL bursts stay small.
  const std::string sql = "DELETE FROM " + table + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + table +
                          " WHERE consumer = $1 AND processed_at < now() - $2 * interval '1 millisecond'"
                          " LIMIT $3))";
  PurgeResult result;
  for (;;) {
    pqxx::work tx(conn);
    const auto deleted = tx.exec_params(sql, consumer, static_cast<long long>(retention.count()), batch_size);
    tx.commit();
    ++result.batches;
    result.rows += deleted.affected_rows();
    if (deleted.affected_rows() < static_cast<size_t>(batch_size)) break;
  }
  return result;
}

}  // namespace outbox::sdk
