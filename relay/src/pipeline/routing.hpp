#pragma once

#include <optional>
#include <string>
#include <vector>

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

  /// Throws std::invalid_argument (a permanent, per-row error) when the row
  /// cannot become a record: its headers column is not a JSON object, its
  /// aggregate type or id is empty (NULL), its id is missing, or it cannot be
  /// a CloudEvent. A row header with one of the relay's own names (event_id,
  /// event_type, aggregate_type, aggregate_id, created_at) is left out; its
  /// name goes to `dropped` when given.
  KafkaRecord Route(const OutboxRow& row, std::vector<std::string>* dropped = nullptr) const;

  /// The header names the relay owns: a row cannot set them.
  static bool Reserved(const std::string& name);

  std::string TopicFor(const OutboxRow& row) const;

 private:
  std::string prefix_, suffix_;  // template around ${aggregate_type}
  bool has_placeholder_;
  std::optional<CloudEventsHeaders> cloudevents_;
};

}  // namespace outbox::relay
