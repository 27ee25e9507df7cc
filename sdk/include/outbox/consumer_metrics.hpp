#pragma once
// Prometheus text exposition of a consumer's Stats, for a service's /metrics
// endpoint (examples/loyalty_service serves it with cpp-httplib).

#include <string>

#include "outbox/consumer_stats.hpp"

namespace outbox::sdk {

/// Content type of PrometheusText's output.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

/// Metrics named outbox_consumer_*, each labelled consumer="<consumer>":
/// records by outcome, retries, holds, batches, offset commits, DLQ depth,
/// parked records, records/s, dedup hit ratio, lag per partition, and
/// processing-time and end-to-end latency histograms (seconds).
std::string PrometheusText(const Stats& stats, const std::string& consumer);

}  // namespace outbox::sdk
