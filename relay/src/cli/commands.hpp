#pragma once

namespace outbox::relay {

struct Config;

/// Installs SIGTERM/SIGINT handlers that stop a running (or about to run) relay
/// cleanly, and ignores SIGPIPE. Called first thing, before the config is read.
void InstallStopHandlers();

/// `outbox-relay run`: the relay until SIGTERM/SIGINT. Returns an exit code.
int RunCommand(const Config& config);

/// `outbox-relay migrate`: applies the outbox migrations. Returns an exit code.
int MigrateCommand(const Config& config);

}  // namespace outbox::relay
