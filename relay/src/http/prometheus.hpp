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

/// A label value escaped for the text format: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);

/// A sample value: integers without a fraction, others in the shortest form
/// that reads back exactly; "+Inf", "-Inf", "NaN".
std::string FormatSampleValue(double value);

}  // namespace outbox::relay
