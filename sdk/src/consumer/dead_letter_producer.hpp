#pragma once

#include <string>

#include "kafka_handles.hpp"
#include "outbox/consumer_options.hpp"
#include "outbox/consumer_record.hpp"

namespace outbox::sdk::detail {

/// Copies poisoned records to a dead-letter topic with an idempotent acks=all
/// producer and waits for the broker's acknowledgement, so the caller commits
/// the record's offset only once the copy is durable.
class DeadLetterProducer {
 public:
  explicit DeadLetterProducer(const ConsumerOptions& options);
  ~DeadLetterProducer();
  DeadLetterProducer(const DeadLetterProducer&) = delete;
  DeadLetterProducer& operator=(const DeadLetterProducer&) = delete;

  /// Produces `record` (key, value, headers) to `topic`, adding dlq.error,
  /// dlq.attempts, dlq.consumer and dlq.original_{topic,partition,offset}, and
  /// blocks until its delivery report (at most message.timeout.ms, 30 s by
  /// default). Returns "" when the broker acknowledged, the error otherwise.
  std::string Send(const std::string& topic, const Record& record, const std::string& error, int attempts);

 private:
  KafkaPtr NewProducer() const;

  const ConsumerOptions& options_;
  KafkaPtr producer_;
};

}  // namespace outbox::sdk::detail
