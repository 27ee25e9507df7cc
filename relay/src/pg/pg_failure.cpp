#include "pg/pg_failure.hpp"

#include <string_view>

#include <pqxx/except>

namespace outbox::relay {
namespace {

bool Has(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

}  // namespace

std::string PgFailureReason(const std::exception& e) {
  const std::string_view what = e.what();
  // libpqxx 6.4 leaves sqlstate() empty in some of its typed exceptions
  // (insufficient_privilege, for one): the type first, then the SQLSTATE.
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) return "permission_denied";
  if (dynamic_cast<const pqxx::undefined_table*>(&e) != nullptr) return "undefined_table";
  if (dynamic_cast<const pqxx::too_many_connections*>(&e) != nullptr) return "too_many_connections";
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return "serialization_failure";
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    if (state == "42501") return "permission_denied";
    if (state == "42P01") return "undefined_table";
    if (state == "57014") return Has(what, "statement timeout") ? "statement_timeout" : "query_canceled";
    if (state == "55P03") return "lock_timeout";
    if (state == "53300") return "too_many_connections";
    if (state == "40001" || state == "40P01") return "serialization_failure";
    if (state == "57P01" || state == "57P02" || state == "57P03") return "server_shutting_down";
    if (state.size() == 5) return "sqlstate_" + state.substr(0, 2);
  }
  // Connection failures carry no SQLSTATE in libpqxx 6: classify libpq's text.
  if (Has(what, "too many clients") || Has(what, "remaining connection slots are reserved") ||
      Has(what, "too many connections")) {
    return "too_many_connections";
  }
  if (Has(what, "the database system is starting up") || Has(what, "the database system is in recovery")) {
    return "server_starting";
  }
  if (Has(what, "the database system is shutting down") || Has(what, "terminating connection")) {
    return "server_shutting_down";
  }
  if (Has(what, "Connection refused")) return "connection_refused";
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) return "connection_lost";
  return "other";
}

}  // namespace outbox::relay
