#include "outbox/consumer_record.hpp"
#include "outbox/consumer_stats.hpp"

#include <limits>

namespace outbox::sdk {

std::optional<std::string> Record::Header(const std::string& name) const {
  // The first occurrence: the relay writes its reserved headers (event_id,
  // event_type, ...) before a row's own, so a row header reusing a reserved
  // name can never override them.
  for (const auto& [header, value] : headers) {
    if (header == name) return value;
  }
  return std::nullopt;
}

std::string Record::event_id() const { return Header("event_id").value_or(""); }

std::string Record::event_type() const { return Header("event_type").value_or(""); }

double Stats::DedupHitRate() const {
  const uint64_t seen = processed + duplicates;
  return seen == 0 ? 0.0 : static_cast<double>(duplicates) / static_cast<double>(seen);
}

double Stats::MeanBatchSize() const {
  return batches == 0 ? 0.0 : static_cast<double>(batch_records) / static_cast<double>(batches);
}

void LatencyHistogram::Observe(double ms) {
  size_t i = 0;
  while (i < kBoundsMs.size() && ms > kBoundsMs[i]) ++i;
  ++buckets[i];
  sum_ms += ms;
  ++count;
}

double LatencyHistogram::QuantileUpperBoundMs(double q) const {
  if (count == 0) return 0;
  const double target = q * static_cast<double>(count);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBoundsMs.size(); ++i) {
    seen += buckets[i];
    if (static_cast<double>(seen) >= target) return kBoundsMs[i];
  }
  return std::numeric_limits<double>::infinity();
}

std::chrono::nanoseconds Stats::MeanProcessingTime() const {
  return processing_count == 0 ? std::chrono::nanoseconds(0)
                               : processing_time_sum / static_cast<int64_t>(processing_count);
}

}  // namespace outbox::sdk
