#pragma once

// Private to relay/src/config: value checks. Each returns "" when the value is
// fine, otherwise the reason, which the caller prefixes with origin and key.

#include <chrono>
#include <optional>
#include <string>

#include "config/config_reader.hpp"

namespace outbox::relay::config_internal {

/// Schema, table, column, slot, publication and channel names are spliced into SQL,
/// so they must match [a-z_][a-z0-9_]{0,47} (no quoting needed, no injection possible).
std::string IdentifierProblem(const std::string& value);

/// Only Kafka's topic characters [a-zA-Z0-9._-] plus the ${aggregate_type} placeholder.
std::string TopicTemplateProblem(const std::string& value);

/// A literal Kafka topic name: 1..249 of [a-zA-Z0-9._-], not "." or "..".
std::string TopicNameProblem(const std::string& value);

/// The database a libpq connection with `dsn` opens: its dbname, else
/// PGDATABASE, else its user (PGUSER, the OS user), as libpq picks it.
std::string DsnDatabase(const std::string& dsn);

/// "host:port" with port 1..65535 (IPv6 hosts in brackets), or "" for off.
std::string ListenProblem(const std::string& value);

/// A comma-separated broker list without empty entries; `normalized` gets it with blanks trimmed.
std::string BrokersProblem(const std::string& value, std::string& normalized);

/// postgres.dsn: what libpq would refuse (its parser, then the option values it
/// checks only when connecting: sslmode, target_session_attrs, ports, ...);
/// `replication` is refused too (the relay sets it itself). Never quotes a secret.
std::string DsnProblem(const std::string& dsn);

/// kafka.cloudevents_source: a URI-reference (CloudEvents "source"): not empty, at most
/// 1024 characters, printable ASCII without spaces, e.g. "/outbox-relay/outbox.outbox" or "urn:orders".
std::string CloudEventsSourceProblem(const std::string& value);

/// kafka.cloudevents_content_type: "" (no header) or a media type "type/subtype" with optional
/// parameters (RFC 2045), e.g. "application/json" or "application/avro; charset=binary".
std::string ContentTypeProblem(const std::string& value);

/// outbox.retention: a string "<n>d", "<n>h", "<n>m", "<n>s" or an integer number of seconds, 1s..3650d.
std::optional<std::chrono::seconds> ReadRetention(const TableReader& table, const char* key);

}  // namespace outbox::relay::config_internal
