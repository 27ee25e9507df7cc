#include "http/metrics_server.hpp"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "http/guarded_http_server.hpp"
#include "http/prometheus.hpp"
#include "http/readiness.hpp"
#include "pipeline/stats.hpp"
#include "util/clock.hpp"

namespace outbox::relay {
namespace {

/// Splits a validated http.listen ("host:port", "[v6]:port") into host and port.
std::pair<std::string, int> SplitListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, std::stoi(listen.substr(colon + 1))};
}

}  // namespace

struct MetricsServer::Impl {
  HttpConfig config;
  const RelayStats& stats;
  TableLabels table;
  GuardedHttpServer server;  // limits: MetricsServer::kWorkers, kMaxConnections, kRequestTimeout
  std::thread thread;
  std::atomic<bool> thread_done{false};
  int port = 0;
  int64_t started_unix_ms = 0;

  Impl(HttpConfig c, const RelayStats& s, TableLabels t)
      : config(std::move(c)),
        stats(s),
        table(std::move(t)),
        server(HttpLimits{kWorkers, kMaxConnections, kRequestTimeout, kConnectionTimeout}) {}

  Readiness Ready() const { return EvaluateReadiness(stats, config.ready_max_lag, UnixMillis(), started_unix_ms); }
};

MetricsServer::MetricsServer(HttpConfig config, const RelayStats& stats, TableLabels table)
    : impl_(std::make_unique<Impl>(std::move(config), stats, std::move(table))) {}

MetricsServer::~MetricsServer() noexcept { Stop(); }

int MetricsServer::port() const { return impl_->port; }

void MetricsServer::Start() {
  Impl& d = *impl_;
  if (d.thread.joinable()) return;
  d.started_unix_ms = UnixMillis();
  auto& server = d.server;
  // Slow and idle clients: see GuardedHttpServer (one request per connection, deadlines, a connection limit).
  server.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(kConnectionTimeout).count(), 0);
  server.set_write_timeout(std::chrono::duration_cast<std::chrono::seconds>(kConnectionTimeout).count(), 0);
  server.set_payload_max_length(4096);
  // httplib's default also sets SO_REUSEPORT, which would let a second relay
  // bind the same port and silently take half of the scrapes: reuse only TIME_WAIT addresses.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  server.Get("/metrics", [&d](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetricsPage(d.stats, d.table, d.Ready().ready), kPrometheusContentType);
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server.Get("/readyz", [&d](const httplib::Request&, httplib::Response& res) {
    const Readiness r = d.Ready();
    res.status = r.ready ? 200 : 503;
    res.set_content(r.reason + "\n", "text/plain; charset=utf-8");
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("outbox-relay: /metrics /healthz /readyz\n", "text/plain; charset=utf-8");
  });

  const auto [host, port] = SplitListen(d.config.listen);
  // Port 0 (not allowed by the configuration, used by tests): any free port.
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    throw std::runtime_error("http.listen: cannot listen on \"" + d.config.listen +
                             "\"; Hint: is the port already in use, or the host not an address of this machine?");
  }
  d.port = bound;
  server.WidenListenBacklog();
  d.thread = std::thread([&d] {
    d.server.listen_after_bind();
    d.thread_done = true;
  });
  // httplib's stop() is a no-op until the accept loop runs: wait for it, so a
  // Stop() right after Start() cannot leave the thread blocked in accept.
  for (int i = 0; i < 5000 && !server.is_running() && !d.thread_done; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("http: serving /metrics, /healthz and /readyz on {} (at most {} connections, requests within {} ms)",
               d.config.listen, kMaxConnections, kRequestTimeout.count());
}

void MetricsServer::Stop() noexcept {
  Impl& d = *impl_;
  if (!d.thread.joinable()) return;
  try {
    d.server.stop();
    d.thread.join();
    spdlog::debug("http: stopped");
  } catch (const std::exception& e) {
    spdlog::error("http: cannot stop the server: {}", e.what());
  }
}

}  // namespace outbox::relay
