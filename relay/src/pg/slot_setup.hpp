#pragma once

#include <string>

namespace outbox::relay {

struct Config;

/// Why this server or role cannot run tail mode, as one line naming what to
/// change; "" when wal_level is logical and the role may replicate.
std::string TailPrerequisiteProblem(const std::string& wal_level, const std::string& role, bool can_replicate);

/// Tail mode's objects in Postgres: checks wal_level and the REPLICATION
/// attribute, then creates the publication (inserts on the outbox table only)
/// and the pgoutput slot if missing. Returns true if it had to create the
/// slot. Throws ConfigError for what retrying cannot fix,
/// pqxx::broken_connection when the server is unreachable.
bool PrepareSlot(const Config& config);

}  // namespace outbox::relay
