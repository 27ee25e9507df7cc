// PgConnect against the real server: the relay's sessions get
// postgres.statement_timeout_ms unless the session has a statement_timeout
// already (the DSN's options win), and `migrate`'s unbounded sessions none.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "config/config.hpp"
#include "pg/pg_connect.hpp"
#include "test_env.hpp"

namespace outbox::relay {
namespace {

std::string Show(pqxx::connection& c, const std::string& setting) {
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT current_setting(" + tx.quote(setting) + ")")[0].as<std::string>();
}

PostgresConfig Pg(const std::string& dsn) {
  PostgresConfig c;
  c.dsn = dsn;
  c.statement_timeout = std::chrono::milliseconds(45000);
  c.tcp_user_timeout = std::chrono::milliseconds(6000);
  return c;
}

TEST(PgConnect, RelaySessionsAreBoundedByTheSettings) {
  auto conn = PgConnect(Pg(test::PgDsn()), "test");
  EXPECT_EQ(Show(*conn, "statement_timeout"), "45s");
  EXPECT_EQ(Show(*conn, "TimeZone"), "UTC");
  // The server's end notices a dead relay later than the relay notices it.
  EXPECT_EQ(Show(*conn, "tcp_user_timeout"), "12000");  // milliseconds, shown without a unit
  EXPECT_EQ(Show(*conn, "tcp_keepalives_count"), "3");
}

TEST(PgConnect, AStatementTimeoutFromTheDsnWins) {
  const std::string dsn = test::PgDsn();
  auto conn = PgConnect(
      Pg(dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + "options=-c%20statement_timeout%3D1500"), "test");
  EXPECT_EQ(Show(*conn, "statement_timeout"), "1500ms");
}

TEST(PgConnect, UnboundedSessionsHaveNoStatementTimeout) {
  auto conn = PgConnect(Pg(test::PgDsn()), "migrate", /*bounded=*/false);
  EXPECT_EQ(Show(*conn, "statement_timeout"), "0");
}

}  // namespace
}  // namespace outbox::relay
