#include "outbox/inbox.hpp"

#include <pqxx/result>
#include <pqxx/transaction>

#include "outbox/migrations.hpp"
#include "sql_text.hpp"

namespace outbox::sdk {
namespace {

std::string InboxTable(const std::string& schema) { return QuoteIdentifier(schema, "consumer.schema") + ".inbox"; }

}  // namespace

bool ClaimInboxEvent(pqxx::transaction_base& tx, const std::string& schema, const std::string& consumer,
                     const std::string& event_id) {
  auto r = tx.exec_params(
      "INSERT INTO " + InboxTable(schema) + " (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", consumer,
      event_id);
  return r.affected_rows() == 1;
}

std::set<std::string> ClaimInboxEvents(pqxx::transaction_base& tx, const std::string& schema,
                                       const std::string& consumer, const std::vector<std::string>& event_ids) {
  std::set<std::string> fresh;
  if (event_ids.empty()) return fresh;
  // An id repeated in the array conflicts with its own first insert and is
  // returned once.
  const auto rows = tx.exec_params("INSERT INTO " + InboxTable(schema) +
                                       " (consumer, event_id) SELECT $1, unnest($2::text[])"
                                       " ON CONFLICT DO NOTHING RETURNING event_id",
                                   consumer, detail::TextArray(event_ids));
  for (const auto& row : rows) fresh.insert(row[0].as<std::string>());
  return fresh;
}

void UnclaimInboxEvents(pqxx::transaction_base& tx, const std::string& schema, const std::string& consumer,
                        const std::vector<std::string>& event_ids) {
  if (event_ids.empty()) return;
  tx.exec_params("DELETE FROM " + InboxTable(schema) + " WHERE consumer = $1 AND event_id = ANY($2::text[])", consumer,
                 detail::TextArray(event_ids));
}

size_t PurgeInboxBatch(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer,
                       std::chrono::milliseconds retention, int batch_size) {
  const std::string table = InboxTable(schema);
  // ctid batches: each transaction deletes at most batch_size rows, found via
  // the processed_at index, so locks and WAL bursts stay small.
  pqxx::work tx(conn);
  const auto deleted =
      tx.exec_params("DELETE FROM " + table + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + table +
                         " WHERE consumer = $1 AND processed_at < now() - $2 * interval '1 millisecond'"
                         " LIMIT $3))",
                     consumer, static_cast<long long>(retention.count()), batch_size);
  tx.commit();
  return deleted.affected_rows();
}

PurgeResult PurgeInbox(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer,
                       std::chrono::milliseconds retention, int batch_size) {
  PurgeResult result;
  for (;;) {
    const size_t rows = PurgeInboxBatch(conn, schema, consumer, retention, batch_size);
    ++result.batches;
    result.rows += rows;
    if (rows < static_cast<size_t>(batch_size)) break;
  }
  return result;
}

}  // namespace outbox::sdk
