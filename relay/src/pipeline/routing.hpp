#pragma once

#include <optional>
#include <string>

#include "kafka/record.hpp"
#include "pg/outbox_row.hpp"
#include "pipeline/cloudevents.hpp"

namespace outbox::relay {

struct Config;

/// Turns outbox rows into Kafka records as schema/README.md specifies:
/// topic = row topic or the template with ${aggregate_type} substituted,
/// key = aggregate id, value = payload bytes, headers = event metadata + row headers.
class Router {
 public:
  /// Native headers only.
  explicit Router(std::string topic_template);
  /// kafka.topic_template, plus the CloudEvents headers when kafka.headers_format = "cloudevents".
  explicit Router(const Config& config);

  /// Throws std::invalid_argument (a permanent, per-row error) when the row's
  /// headers column is not a JSON object, or the row cannot be a CloudEvent.
  KafkaRecord Route(const OutboxRow& row) const;

  std::string TopicFor(const OutboxRow& row) const;

 private:
  std::string prefix_, suffix_;  // template around ${aggregate_type}
  bool has_placeholder_;
  std::optional<CloudEventsHeaders> cloudevents_;
};

}  // namespace outbox::relay
