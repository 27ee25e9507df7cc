#pragma once

#include <string>
#include <string_view>

namespace outbox::relay {

struct RelayStats;

/// Content-Type of RenderPrometheus()'s output.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

/// `stats` in the Prometheus text exposition format 0.0.4: every metric with
/// HELP and TYPE lines, histograms with cumulative buckets up to le="+Inf".
/// Gauges that are still unknown (backlog not measured yet) have no sample.
std::string RenderPrometheus(const RelayStats& stats);

/// The outbox table a relay publishes: the labels of outbox_relay_active.
struct TableLabels {
  std::string schema;
  std::string table;
};

/// outbox_relay_ready (`ready`: what /readyz answers), outbox_relay_active{schema,table}
/// and outbox_relay_build_info{version,commit}.
std::string RenderServingState(const RelayStats& stats, const TableLabels& table, bool ready);

/// The whole /metrics page: RenderPrometheus, RenderServingState, then the
/// process_* families (omitted when /proc/self cannot be read).
std::string RenderMetricsPage(const RelayStats& stats, const TableLabels& table, bool ready);

/// A label value escaped for the text format: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);

/// A sample value: integers without a fraction, others in the shortest form
/// that reads back exactly; "+Inf", "-Inf", "NaN".
std::string FormatSampleValue(double value);

}  // namespace outbox::relay
