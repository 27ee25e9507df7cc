#pragma once

namespace outbox::relay {

struct Config;

/// `outbox-relay status [--json]`: backlog rows, age of the oldest unpublished
/// event, dead-lettered events, schema version and slot lag, read from
/// Postgres, and with kafka.delivery = "exactly_once" the relay's last
/// checkpoint, read from Kafka (a Kafka failure is shown, not thrown). Prints to stdout and returns kExitOk; throws
/// when Postgres is unreachable or refuses a query (RunCli prints the one line).
int StatusCommand(const Config& config, bool json);

}  // namespace outbox::relay
