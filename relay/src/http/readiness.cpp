#include "http/readiness.hpp"

#include <algorithm>
#include <cstdio>

#include "pipeline/stats.hpp"

namespace outbox::relay {

Readiness EvaluateReadiness(const RelayStats& stats, std::chrono::milliseconds max_lag, int64_t now_unix_ms,
                            int64_t started_unix_ms) {
  if (!stats.pg_connected.load()) return {false, "postgres: not connected"};
  if (!stats.kafka_connected.load()) return {false, "kafka: no broker reachable"};
  const int64_t backlog = stats.backlog_rows.load();
  const int64_t oldest_ms = stats.oldest_age_ms.load();
  const int64_t last_ack = stats.last_ack_unix_ms.load();
  const int64_t lag = max_lag.count();
  const int64_t quiet_ms = now_unix_ms - std::max(last_ack, started_unix_ms);
  if (backlog > 0 && oldest_ms > lag && quiet_ms > lag) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "stalled: %lld unpublished rows, the oldest %.1f s old, no acknowledgement for %.1f s "
                  "(http.ready_max_lag_ms = %lld)",
                  static_cast<long long>(backlog), static_cast<double>(oldest_ms) / 1000.0,
                  static_cast<double>(quiet_ms) / 1000.0, static_cast<long long>(lag));
    return {false, buf};
  }
  return {true, "ok"};
}

}  // namespace outbox::relay
