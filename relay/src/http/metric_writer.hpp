#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace outbox::relay {

class Histogram;

/// Appends metric families to one Prometheus text-format (0.0.4) body: a HELP
/// and a TYPE line per family, then its samples.
class MetricWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  /// HELP and TYPE lines; `help` is constant text (nothing to escape).
  void Family(const char* name, const char* help, const char* type);
  /// One sample line; label values are escaped.
  void Sample(const std::string& name, const Labels& labels, double value);

  void Counter(const char* name, const char* help, double value);
  void Gauge(const char* name, const char* help, double value);
  /// A gauge without a sample while its value is unknown (`raw` negative).
  void GaugeIfKnown(const char* name, const char* help, int64_t raw, double value);
  void LabeledCounters(const char* name, const char* help, const char* label,
                       const std::map<std::string, uint64_t>& values);
  /// Cumulative buckets up to le="+Inf", then _sum and _count.
  void HistogramFamily(const char* name, const char* help, const Histogram& h);

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace outbox::relay
