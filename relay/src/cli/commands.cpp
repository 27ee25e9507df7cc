#include "cli/commands.hpp"

#include "cli/command_error.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include <spdlog/spdlog.h>
#include <pqxx/nontransaction>

#include "cli/cli.hpp"
#include "config/config.hpp"
#include "http/metrics_server.hpp"
#include "outbox/identifier.hpp"
#include "outbox/migrations.hpp"
#include "pg/pg_connect.hpp"
#include "pipeline/relay.hpp"

namespace outbox::relay {
namespace {

std::atomic<Relay*> g_relay{nullptr};
volatile std::sig_atomic_t g_stop_pending = 0;

extern "C" void OnStopSignal(int) {
  g_stop_pending = 1;
  if (Relay* r = g_relay.load()) r->RequestStop();
}

}  // namespace

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int RunCommand(const Config& config) {
  Relay relay(config);
  // Declared after the relay, so it stops (and stops reading its stats) before the relay is destroyed.
  std::unique_ptr<MetricsServer> http;
  if (!config.http.listen.empty()) {
    http = std::make_unique<MetricsServer>(config.http, relay.stats(),
                                           TableLabels{config.outbox.schema, config.outbox.table});
    http->Start();
  }
  g_relay = &relay;
  // A signal that came before the relay existed still stops it (cleanly, at once).
  if (g_stop_pending) relay.RequestStop();
  int rc = kExitRuntime;
  try {
    rc = relay.Run();
  } catch (...) {
    g_relay = nullptr;
    throw;
  }
  g_relay = nullptr;
  return rc;
}

int MigrateCommand(const Config& config) {
  const OutboxConfig& o = config.outbox;
  auto conn = PgConnect(config.postgres, "migrate", /*bounded=*/false);  // DDL may take long
  // The relay's own objects live in the relay schema; a mapped outbox table of
  // another schema (outbox.relay_schema set) is the application's to create.
  auto applied = sdk::Migrate(*conn, o.RelaySchema());
  for (const auto& m : applied) std::printf("migrate: applied %s\n", m.name.c_str());
  const int version = sdk::CurrentSchemaVersion(*conn, o.RelaySchema());
  std::printf("migrate: schema '%s' is at version %d (%zu applied now)\n", o.RelaySchema().c_str(), version,
              applied.size());
  pqxx::nontransaction tx(*conn);
  const std::string table =
      sdk::QuoteIdentifier(o.schema, "outbox.schema") + "." + sdk::QuoteIdentifier(o.table, "outbox.table");
  if (!tx.exec_params1("SELECT to_regclass($1) IS NULL", table)[0].as<bool>()) return kExitOk;
  if (o.schema == o.RelaySchema() && o.table == "outbox") {
    // Migrations ran (their versions are recorded) but the table is gone: it
    // was dropped afterwards, and migrations never run twice.
    throw CommandError(
        "schema '" + o.schema + "' is at version " + std::to_string(version) + ", but its table " + o.TableName() +
            " is missing (dropped after it was migrated); Hint: restore it from a backup, or, if "
            "nothing in schema '" +
            o.schema + "' is needed any more, DROP SCHEMA \"" + o.schema + "\" CASCADE and run migrate again",
        kExitRuntime);
  }
  throw CommandError("the outbox table " + o.TableName() +
                         " does not exist; Hint: create it (schema/README.md: Existing Debezium-style table), or fix "
                         "outbox.schema and outbox.table",
                     kExitRuntime);
}

}  // namespace outbox::relay
