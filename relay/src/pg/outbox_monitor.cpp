#include "pg/outbox_monitor.hpp"

#include <algorithm>
#include <cstdlib>

#include <pqxx/nontransaction>

namespace outbox::relay {

int64_t OutboxMonitor::CountBacklog() {
  pqxx::nontransaction tx(conn_);
  return tx.exec1(sql_.backlog_count)[0].as<int64_t>();
}

std::optional<double> OutboxMonitor::OldestAgeSeconds() {
  pqxx::nontransaction tx(conn_);
  auto r = tx.exec(sql_.oldest_age);
  if (r.empty()) return std::nullopt;
  return r[0][0].is_null() ? 0.0 : std::max(0.0, std::strtod(r[0][0].c_str(), nullptr));
}

std::optional<int64_t> OutboxMonitor::DeadLetters() {
  pqxx::nontransaction tx(conn_);
  if (!tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", sql_.dead_letter)[0].as<bool>()) return std::nullopt;
  return tx.exec_params1("SELECT count(*) FROM " + sql_.dead_letter + " WHERE outbox_table = $1", sql_.table_name)[0]
      .as<int64_t>();
}

std::optional<int64_t> OutboxMonitor::SlotRetainedWal(pqxx::connection_base& conn, const std::string& slot) {
  pqxx::nontransaction tx(conn);
  const auto r = tx.exec_params(
      "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", slot);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

}  // namespace outbox::relay
