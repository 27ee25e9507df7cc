#include "cli/commands.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "config/config.hpp"
#include "http/metrics_server.hpp"
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
  auto conn = PgConnect(config.postgres, "migrate");
  auto applied = sdk::Migrate(*conn, config.outbox.schema);
  for (const auto& m : applied) std::printf("migrate: applied %s\n", m.name.c_str());
  std::printf("migrate: schema '%s' is at version %d (%zu applied now)\n", config.outbox.schema.c_str(),
              sdk::CurrentSchemaVersion(*conn, config.outbox.schema), applied.size());
  return kExitOk;
}

}  // namespace outbox::relay
