#include "http/metric_writer.hpp"

#include <cmath>

#include "http/prometheus.hpp"
#include "pipeline/stats.hpp"

namespace outbox::relay {

void MetricWriter::Family(const char* name, const char* help, const char* type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void MetricWriter::Sample(const std::string& name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += EscapeLabelValue(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatSampleValue(value);
  out_ += '\n';
}

void MetricWriter::Counter(const char* name, const char* help, double value) {
  Family(name, help, "counter");
  Sample(name, {}, value);
}

void MetricWriter::Gauge(const char* name, const char* help, double value) {
  Family(name, help, "gauge");
  Sample(name, {}, value);
}

void MetricWriter::GaugeIfKnown(const char* name, const char* help, int64_t raw, double value) {
  Family(name, help, "gauge");
  if (raw >= 0) Sample(name, {}, value);
}

void MetricWriter::LabeledCounters(const char* name, const char* help, const char* label,
                                   const std::map<std::string, uint64_t>& values) {
  Family(name, help, "counter");
  for (const auto& [label_value, n] : values) Sample(name, {{label, label_value}}, static_cast<double>(n));
}

void MetricWriter::HistogramFamily(const char* name, const char* help, const Histogram& h) {
  Family(name, help, "histogram");
  const auto counts = h.Counts();
  const auto& bounds = h.bounds();
  // _count is the +Inf bucket, summed from the same snapshot, so the two always agree.
  uint64_t cumulative = 0;
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const double le = i < bounds.size() ? bounds[i] : INFINITY;
    Sample(bucket, {{"le", FormatSampleValue(le)}}, static_cast<double>(cumulative));
  }
  Sample(std::string(name) + "_sum", {}, h.Sum());
  Sample(std::string(name) + "_count", {}, static_cast<double>(cumulative));
}

}  // namespace outbox::relay
