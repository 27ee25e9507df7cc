#include "outbox/consumer_record.hpp"
#include "outbox/consumer_stats.hpp"

namespace outbox::sdk {

std::optional<std::string> Record::Header(const std::string& name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return std::nullopt;
}

std::string Record::event_id() const { return Header("event_id").value_or(""); }

std::string Record::event_type() const { return Header("event_type").value_or(""); }

double Stats::DedupHitRate() const {
  const uint64_t seen = processed + duplicates;
  return seen == 0 ? 0.0 : static_cast<double>(duplicates) / static_cast<double>(seen);
}

std::chrono::nanoseconds Stats::MeanProcessingTime() const {
  return processing_count == 0 ? std::chrono::nanoseconds(0)
                               : processing_time_sum / static_cast<int64_t>(processing_count);
}

}  // namespace outbox::sdk
