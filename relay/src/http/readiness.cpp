#include "http/readiness.hpp"

#include <algorithm>
#include <cstdio>

#include "pipeline/stats.hpp"

namespace outbox::relay {
namespace {

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

/// How long `f` has failed at `now`, or -1 when it does not.
int64_t FailingFor(const Failing::State& f, int64_t now) { return f.since_unix_ms == 0 ? -1 : now - f.since_unix_ms; }

}  // namespace

Readiness EvaluateReadiness(const RelayStats& stats, std::chrono::milliseconds max_lag, int64_t now_unix_ms,
                            int64_t started_unix_ms) {
  const int64_t lag = max_lag.count();
  const std::string limit = " (http.ready_max_lag_ms = " + std::to_string(lag) + ")";
  if (!stats.pg_connected.load()) {
    const Failing::State f = stats.connect_failing.Get();
    const int64_t for_ms = FailingFor(f, now_unix_ms);
    if (for_ms < 0) return {false, "postgres: not connected"};
    return {false, "postgres: not connected (" + f.reason + ", failing for " + Seconds(for_ms) + ")"};
  }
  if (!stats.kafka_connected.load()) return {false, "kafka: no broker reachable"};
  // A round of the pipeline that does not end: a query waits (a lock, with no statement_timeout).
  // At least 5 s: a round reading large batches under load may take a second or two.
  const int64_t round = stats.round_unix_ms.load();
  if (round > 0 && now_unix_ms - round > std::max<int64_t>(lag, 5000)) {
    return {false, "stuck: the pipeline has not finished a round for " + Seconds(now_unix_ms - round) +
                       ", a Postgres or Kafka call waits (a lock?)" + limit};
  }
  const Failing::State read = stats.read_failing.Get();
  if (FailingFor(read, now_unix_ms) > lag) {
    return {false, "postgres: cannot read the outbox for " + Seconds(FailingFor(read, now_unix_ms)) + " (" +
                       read.reason + ")" + limit};
  }
  const Failing::State ack = stats.ack_failing.Get();
  if (FailingFor(ack, now_unix_ms) > lag) {
    return {false, "postgres: cannot acknowledge published events for " + Seconds(FailingFor(ack, now_unix_ms)) + " (" +
                       ack.reason + ")" + limit};
  }
  const int64_t backlog = stats.backlog_rows.load();
  const int64_t oldest_ms = stats.oldest_age_ms.load();
  const int64_t last_ack = stats.last_ack_unix_ms.load();
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
  // The backlog cannot be measured, so a stall could not be seen: not ready
  // unless acknowledgements show the pipeline moving.
  const Failing::State gauge = stats.gauge_failing.Get();
  if (FailingFor(gauge, now_unix_ms) > lag && quiet_ms > lag) {
    return {false, "unknown: the backlog cannot be measured for " + Seconds(FailingFor(gauge, now_unix_ms)) + " (" +
                       gauge.reason + ") and nothing was acknowledged for " + Seconds(quiet_ms) + limit};
  }
  return {true, "ok"};
}

}  // namespace outbox::relay
