#include "pg/pg_connect.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <map>
#include <stdexcept>

#include <pqxx/nontransaction>

#include "config/config.hpp"

namespace outbox::relay {

namespace {

std::string Quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::string SessionConninfo(const PostgresConfig& config, const std::string& role) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> parsed(PQconninfoParse(config.dsn.c_str(), &error),
                                                                        PQconninfoFree);
  if (!parsed) {
    const std::string why = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    throw std::invalid_argument("postgres.dsn: " + why);
  }
  std::map<std::string, std::string> options;
  for (const PQconninfoOption* o = parsed.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr) options[o->keyword] = o->val;
  }
  // Defaults the DSN may set itself (then it wins). Not through the
  // environment: the acknowledging thread connects while the pipeline may.
  options.emplace("connect_timeout", std::to_string(std::max<long>(1, config.connect_timeout.count() / 1000)));
  if (!role.empty()) options.emplace("application_name", "outbox-relay/" + role);
  const long ms = config.tcp_user_timeout.count();
  if (ms > 0) {
    // A dead peer is noticed by the keepalives when the session is idle, and by
    // tcp_user_timeout when data waits unacknowledged: both within about `ms`.
    const long idle_s = std::max(1L, ms / 3000), interval_s = std::max(1L, ms / 9000);
    options.emplace("keepalives", "1");
    options.emplace("keepalives_idle", std::to_string(idle_s));
    options.emplace("keepalives_interval", std::to_string(interval_s));
    options.emplace("keepalives_count", "3");
    options.emplace("tcp_user_timeout", std::to_string(ms));
  }
  std::string out;
  for (const auto& [key, value] : options) out += (out.empty() ? "" : " ") + key + "=" + Quote(value);
  return out;
}

std::vector<std::string> SessionSetup(const PostgresConfig& config, bool bounded) {
  std::vector<std::string> out{"SET TIME ZONE 'UTC'"};
  if (const long ms = config.tcp_user_timeout.count(); ms > 0) {
    // The server's end of this session notices a dead relay too, and ends
    // the session (releasing the relay lock) later than the relay stops: about
    // 1.7 x tcp_user_timeout against the relay's lock check interval + 1 x.
    // Ignored on Unix-domain sockets.
    out.push_back("SET tcp_keepalives_idle = " + std::to_string(std::max(1L, 2 * ms / 3000)) +
                  "; SET tcp_keepalives_interval = " + std::to_string(std::max(1L, ms / 3000)) +
                  "; SET tcp_keepalives_count = 3; SET tcp_user_timeout = " + std::to_string(2 * ms));
  }
  if (bounded && config.statement_timeout.count() > 0) {
    // Unless the session has one already (the DSN's options, the role's or the
    // database's settings): what the operator set wins. Digits only: no quoting needed.
    out.push_back("SELECT set_config('statement_timeout', '" + std::to_string(config.statement_timeout.count()) +
                  "', false) WHERE current_setting('statement_timeout') = '0'");
  }
  return out;
}

std::unique_ptr<pqxx::connection> PgConnect(const PostgresConfig& config, const std::string& role, bool bounded) {
  auto conn = std::make_unique<pqxx::connection>(SessionConninfo(config, role));
  pqxx::nontransaction tx(*conn);
  for (const std::string& statement : SessionSetup(config, bounded)) tx.exec(statement);
  return conn;
}

}  // namespace outbox::relay
