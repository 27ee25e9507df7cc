#include "check/check_rows.hpp"

#include <set>
#include <utility>

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "config/config.hpp"
#include "outbox/identifier.hpp"
#include "pg/outbox_row.hpp"

namespace outbox::relay {
namespace {

std::string Column(const std::string& name, const std::string& key) {
  return sdk::QuoteIdentifier(name, "outbox.columns." + key);
}

std::string Epoch(const std::string& column) { return "extract(epoch FROM " + column + ")::float8"; }

std::string SinceClause(const std::string& created_at, const std::optional<double>& since) {
  return since ? " WHERE " + created_at + " >= to_timestamp($1)" : std::string();
}

pqxx::result Exec(pqxx::transaction_base& tx, const std::string& sql, const std::optional<double>& since) {
  return since ? tx.exec_params(sql, *since) : tx.exec(sql);
}

std::optional<double> OptionalDouble(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<double>(f.as<double>());
}

}  // namespace

CheckRowReader::CheckRowReader(const Config& config, pqxx::connection_base& conn)
    : conn_(conn), sql_(OutboxSql::Build(config.outbox, conn)), router_(config.kafka.topic_template) {
  const ColumnNames& c = config.outbox.columns;
  if (!c.created_at.empty()) created_at_ = Column(c.created_at, "created_at");
  topic_columns_ = Column(c.aggregate_type, "aggregate_type") + "::text, " +
                   (c.topic.empty() ? std::string("NULL::text") : Column(c.topic, "topic") + "::text");
  rows_select_ = "SELECT " + sql_.seq + ", " + Column(c.id, "id") + "::text, " +
                 Column(c.aggregate_id, "aggregate_id") + "::text, " + topic_columns_ + ", " +
                 (created_at_.empty() ? std::string("NULL::float8") : Epoch(created_at_)) + ", " +
                 Epoch(Column(c.published_at, "published_at")) + " FROM " + sql_.table;
  // The dead-letter table has the contract's column names whatever the outbox mapping.
  const std::string dead_letter =
      sdk::QuoteIdentifier(config.outbox.RelaySchema(), "outbox.relay_schema") + ".dead_letter";
  pqxx::nontransaction tx(conn_);
  // Only this outbox table's dead letters (several tables may share the schema's dead_letter).
  if (!tx.exec_params1("SELECT to_regclass($1)::text", dead_letter)[0].is_null()) {
    dead_letter_ = "(SELECT * FROM " + dead_letter + " WHERE outbox_table = " + tx.quote(sql_.table_name) + ") AS dl";
  }
}

double CheckRowReader::Now() {
  pqxx::nontransaction tx(conn_);
  return tx.exec1("SELECT extract(epoch FROM clock_timestamp())::float8")[0].as<double>();
}

std::vector<std::string> CheckRowReader::Topics(std::optional<double> since) {
  pqxx::read_transaction tx(conn_);
  std::set<std::string> topics;
  auto add = [&](const pqxx::result& r) {
    for (const auto& row : r) {
      OutboxRow o;
      o.aggregate_type = row[0].as<std::string>(std::string());
      if (!row[1].is_null()) o.topic = row[1].as<std::string>();
      topics.insert(router_.TopicFor(o));
    }
  };
  add(Exec(tx, "SELECT DISTINCT " + topic_columns_ + " FROM " + sql_.table + SinceClause(created_at_, since), since));
  if (!dead_letter_.empty()) {
    add(Exec(tx, "SELECT DISTINCT aggregate_type, topic FROM " + dead_letter_ + SinceClause("created_at", since),
             since));
  }
  return {topics.begin(), topics.end()};
}

double CheckRowReader::Read(std::optional<double> since, std::vector<CheckRow>& rows,
                            std::vector<CheckRow>& dead_letters) {
  // One snapshot for both tables: an event moving between them (dead-lettered,
  // requeued) is seen exactly once.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn_);
  const double now = tx.exec1("SELECT extract(epoch FROM now())::float8")[0].as<double>();
  auto read = [&](const pqxx::row& r, int published_column) {
    CheckRow row;
    row.seq = r[0].as<int64_t>();
    row.id = r[1].as<std::string>();
    row.aggregate_id = r[2].as<std::string>(std::string());
    OutboxRow o;
    o.aggregate_type = row.aggregate_type = r[3].as<std::string>(std::string());
    if (!r[4].is_null()) o.topic = r[4].as<std::string>();
    row.topic = router_.TopicFor(o);
    row.created_at = OptionalDouble(r[5]);
    if (published_column > 0) row.published_at = OptionalDouble(r[published_column]);
    return row;
  };
  for (const auto& r : Exec(tx, rows_select_ + SinceClause(created_at_, since), since)) rows.push_back(read(r, 6));
  if (!dead_letter_.empty()) {
    const std::string sql = "SELECT seq, id::text, aggregate_id, aggregate_type, topic, " + Epoch("created_at") +
                            " FROM " + dead_letter_ + SinceClause("created_at", since);
    for (const auto& r : Exec(tx, sql, since)) dead_letters.push_back(read(r, 0));
  }
  tx.commit();
  return now;
}

}  // namespace outbox::relay
