#pragma once

#include <exception>
#include <string>

namespace outbox::relay {

/// A short, bounded class of a Postgres failure, for metric labels and
/// readiness reasons: "permission_denied", "undefined_table",
/// "statement_timeout", "too_many_connections", "connection_refused",
/// "connection_lost", "server_starting", "sqlstate_<class>" for other SQL
/// errors (two characters: at most a few dozen), "other" otherwise.
std::string PgFailureReason(const std::exception& e);

}  // namespace outbox::relay
