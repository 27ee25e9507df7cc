#pragma once

namespace outbox::relay {

struct Config;

/// `outbox-relay status [--json]`: backlog rows, age of the oldest unpublished
/// event, dead-lettered events, schema version and slot lag, read from
/// Postgres. Prints to stdout; returns kExitOk, or kExitRuntime with one line
/// on stderr when Postgres is unreachable.
int StatusCommand(const Config& config, bool json);

}  // namespace outbox::relay
