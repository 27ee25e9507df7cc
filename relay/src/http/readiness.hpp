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

/// Ready when Postgres and Kafka are connected and the pipeline can work. Not
/// ready, with the first reason that holds:
///  - Postgres not connected (with the reason and duration of failed reconnects);
///  - no Kafka broker reachable;
///  - the pipeline thread has not finished a round for `max_lag` (a query waits);
///  - reading the outbox, or acknowledging, has failed for longer than `max_lag`;
///  - stalled: unpublished rows exist, the oldest is older than `max_lag`, and
///    nothing was acknowledged within `max_lag` of `now_unix_ms` (counting
///    from `started_unix_ms` before the first acknowledgement, a grace period
///    at start-up);
///  - the backlog query has failed for longer than `max_lag` and nothing was
///    acknowledged for as long (a stall could not be seen).
/// A backlog not measured yet (no failure) cannot stall.
Readiness EvaluateReadiness(const RelayStats& stats, std::chrono::milliseconds max_lag, int64_t now_unix_ms,
                            int64_t started_unix_ms);

}  // namespace outbox::relay
