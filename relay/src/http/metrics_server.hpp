#pragma once

#include <chrono>
#include <cstddef>
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
/// Slow or idle clients cannot keep probes waiting: one request per connection,
/// the request must arrive within kRequestTimeout of connecting, at most
/// kMaxConnections are open (the oldest waiting one is closed), connections wait
/// newest first, and a waiting one takes the worker of the oldest connection
/// still sending its request when all kWorkers are busy (GuardedHttpServer;
/// docs/operations.md, "HTTP endpoint").
class MetricsServer {
 public:
  static constexpr size_t kWorkers = 8;
  static constexpr size_t kMaxConnections = 64;
  static constexpr std::chrono::milliseconds kRequestTimeout{2000};
  static constexpr std::chrono::milliseconds kConnectionTimeout{5000};

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
