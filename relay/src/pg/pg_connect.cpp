#include "pg/pg_connect.hpp"

#include <cstdlib>

#include <pqxx/nontransaction>

#include "config/config.hpp"

namespace outbox::relay {

std::unique_ptr<pqxx::connection> PgConnect(const PostgresConfig& config, const std::string& role) {
  // libpq takes defaults for parameters the DSN leaves out from these variables;
  // the DSN (URI or key=value) may set them itself, and then it wins.
  setenv("PGCONNECT_TIMEOUT", std::to_string(std::max<long>(1, config.connect_timeout.count() / 1000)).c_str(), 0);
  setenv("PGAPPNAME", ("outbox-relay/" + role).c_str(), 1);
  auto conn = std::make_unique<pqxx::connection>(config.dsn);
  pqxx::nontransaction tx(*conn);
  tx.exec("SET TIME ZONE 'UTC'");
  return conn;
}

}  // namespace outbox::relay
