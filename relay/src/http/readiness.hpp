#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace outbox::relay {

struct RelayStats;

/// The answer of /readyz.
struct Readiness {
  bool ready = false;
  std::string reason;  ///< one line: "ok", or why the relay is not ready
};

/// Ready when Postgres and Kafka are connected and the pipeline is moving. It
/// is stalled when unpublished rows exist, the oldest is older than `max_lag`,
/// and nothing was acknowledged within `max_lag` of `now_unix_ms` (counting
/// from `started_unix_ms` before the first acknowledgement, a grace period at
/// start-up). The backlog is measured every 2 s; while unknown it cannot stall.
Readiness EvaluateReadiness(const RelayStats& stats, std::chrono::milliseconds max_lag, int64_t now_unix_ms,
                            int64_t started_unix_ms);

}  // namespace outbox::relay
