#pragma once

#include <string>

#include "kafka/record.hpp"
#include "pg/outbox_row.hpp"

namespace outbox::relay {

/// Turns outbox rows into Kafka records as schema/README.md specifies:
/// topic = row topic or the template with ${aggregate_type} substituted,
/// key = aggregate id, value = payload bytes, headers = event metadata + row headers.
class Router {
 public:
  explicit Router(std::string topic_template);

  /// Throws std::invalid_argument (a permanent, per-row error) when the row's
  /// headers column is not a JSON object.
  KafkaRecord Route(const OutboxRow& row) const;

  std::string TopicFor(const OutboxRow& row) const;

 private:
  std::string prefix_, suffix_;  // template around ${aggregate_type}
  bool has_placeholder_;
};

}  // namespace outbox::relay
