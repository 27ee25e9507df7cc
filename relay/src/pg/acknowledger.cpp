#include "pg/acknowledger.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "config/config.hpp"
#include "outbox/migrations.hpp"
#include "pg/pg_connect.hpp"
#include "pg/tail_source.hpp"

namespace outbox::relay {

Acknowledger::Acknowledger(const Config& config) : config_(config) {}

Acknowledger::~Acknowledger() noexcept = default;

void Acknowledger::Connect() {
  conn_.reset();
  auto conn = PgConnect(config_.postgres, "ack");
  sql_ = OutboxSql::Build(config_.outbox, *conn);
  const std::string& s = sql_.seq;
  if (config_.outbox.cleanup == Cleanup::kDelete) {
    conn->prepare("outbox_ack", "DELETE FROM " + sql_.table + " WHERE " + s + " = ANY($1::bigint[])");
  } else {
    const std::string pub = sdk::QuoteIdentifier(config_.outbox.columns.published_at, "outbox.columns.published_at");
    conn->prepare("outbox_ack", "UPDATE " + sql_.table + " SET " + pub + " = now() WHERE " + s +
                                    " = ANY($1::bigint[]) AND " + pub + " IS NULL");
    conn->prepare("outbox_retention", "DELETE FROM " + sql_.table + " WHERE " + s + " IN (SELECT " + s + " FROM " +
                                          sql_.table + " WHERE " + pub + " < now() - make_interval(secs => $1) " +
                                          "LIMIT $2)");
  }
  const std::string created =
      config_.outbox.columns.created_at.empty()
          ? std::string("NULL::double precision")
          : "extract(epoch FROM now() - " +
                sdk::QuoteIdentifier(config_.outbox.columns.created_at, "outbox.columns.created_at") + ")::float8";
  conn->prepare("outbox_unacked",
                "SELECT " + s + " FROM " + sql_.table + " WHERE " + s + " = ANY($1::bigint[])" + sql_.unpublished);
  conn->prepare("outbox_backlog_count", "SELECT count(*) FROM " + sql_.table + " WHERE true" + sql_.unpublished);
  conn->prepare("outbox_oldest", "SELECT " + created + " FROM " + sql_.table + " WHERE true" + sql_.unpublished +
                                     " ORDER BY " + s + " LIMIT 1");
  conn_ = std::move(conn);
  dead_letter_ = std::make_unique<DeadLetterStore>(config_.outbox, sql_);
}

bool Acknowledger::DeadLetter(int64_t seq, const std::string& reason, uint32_t attempts) {
  return dead_letter_->Move(*conn_, seq, reason, attempts);
}

std::unordered_set<std::string> Acknowledger::HeldKeys() { return dead_letter_->HeldKeys(*conn_); }

void Acknowledger::Ack(const std::vector<int64_t>& seqs) {
  if (seqs.empty()) return;
  pqxx::nontransaction tx(*conn_);  // one statement: atomic on its own
  tx.exec_prepared("outbox_ack", BigintArray(seqs));
}

size_t Acknowledger::PurgeRetention(size_t limit) {
  if (config_.outbox.cleanup != Cleanup::kMark) return 0;
  pqxx::nontransaction tx(*conn_);
  auto r = tx.exec_prepared("outbox_retention", static_cast<double>(config_.outbox.retention.count()),
                            static_cast<int64_t>(limit));
  return r.affected_rows();
}

int64_t Acknowledger::CountBacklog() {
  pqxx::nontransaction tx(*conn_);
  return tx.exec_prepared1("outbox_backlog_count")[0].as<int64_t>();
}

std::optional<double> Acknowledger::OldestAgeSeconds() {
  pqxx::nontransaction tx(*conn_);
  auto r = tx.exec_prepared("outbox_oldest");
  if (r.empty()) return std::nullopt;
  return r[0][0].is_null() ? 0.0 : std::max(0.0, r[0][0].as<double>());
}

std::unordered_set<int64_t> Acknowledger::Unacknowledged(const std::vector<int64_t>& seqs) {
  std::unordered_set<int64_t> out;
  if (seqs.empty()) return out;
  pqxx::nontransaction tx(*conn_);
  for (const auto& r : tx.exec_prepared("outbox_unacked", BigintArray(seqs))) out.insert(r[0].as<int64_t>());
  return out;
}

std::optional<int64_t> Acknowledger::SlotRetainedWal(const std::string& slot) {
  return TailSource::RetainedWal(*conn_, slot);
}

}  // namespace outbox::relay
