#pragma once

#include <memory>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace outbox::relay {

struct PostgresConfig;

/// The DSN as a libpq key=value string with the relay's session defaults added
/// where the DSN leaves them out: keepalives and tcp_user_timeout derived from
/// postgres.tcp_user_timeout_ms, so a half-open socket fails in bounded time
/// instead of blocking a read forever, connect_timeout from
/// postgres.connect_timeout_ms, and application_name "outbox-relay/<role>"
/// when `role` is given. Throws std::invalid_argument when libpq cannot parse
/// the DSN.
std::string SessionConninfo(const PostgresConfig& config, const std::string& role = "");

/// Opens a connection for `role` (shown as application_name "outbox-relay/<role>")
/// with TimeZone=UTC, the SessionConninfo defaults and, when `bounded` is set,
/// postgres.statement_timeout_ms (unless the session has a statement_timeout
/// already, from the DSN's options or the role's or database's settings). Throws pqxx::broken_connection when the
/// server is unreachable.
std::unique_ptr<pqxx::connection> PgConnect(const PostgresConfig& config, const std::string& role, bool bounded = true);

/// The statements PgConnect runs on a new session (time zone, server-side
/// keepalives, statement_timeout when `bounded`), for sessions opened with libpq alone.
std::vector<std::string> SessionSetup(const PostgresConfig& config, bool bounded);

}  // namespace outbox::relay
