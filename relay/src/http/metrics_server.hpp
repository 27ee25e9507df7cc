#pragma once

#include <memory>

#include "config/config.hpp"
#include "http/prometheus.hpp"

namespace outbox::relay {

struct RelayStats;

/// The relay's HTTP endpoint on http.listen, served from its own threads:
///   /metrics  Prometheus text format 0.0.4 (RenderMetricsPage; `table` labels outbox_relay_active)
///   /healthz  200 "ok" while the process runs
///   /readyz   200 "ok", or 503 with a one-line reason (EvaluateReadiness)
/// `stats` must outlive the server: stop it (or destroy it) before the relay.
class MetricsServer {
 public:
  MetricsServer(HttpConfig config, const RelayStats& stats, TableLabels table = {});
  ~MetricsServer() noexcept;
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// Binds http.listen and starts serving. Throws std::runtime_error naming
  /// http.listen when the address cannot be bound.
  void Start();

  /// Stops serving and joins the server's threads. Idempotent.
  void Stop() noexcept;

  /// The bound port (useful with tests), 0 before Start().
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outbox::relay
