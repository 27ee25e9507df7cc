#pragma once

#include <memory>
#include <string>

#include <pqxx/connection>

namespace outbox::relay {

struct PostgresConfig;

/// Opens a connection for `role` (shown as application_name "outbox-relay/<role>")
/// with TimeZone=UTC. Throws pqxx::broken_connection when the server is unreachable.
std::unique_ptr<pqxx::connection> PgConnect(const PostgresConfig& config, const std::string& role);

}  // namespace outbox::relay
