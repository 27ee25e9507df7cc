#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/delivery_token.hpp"

namespace outbox::relay {

/// One Kafka record as the relay produces it (schema/README.md has the contract).
struct KafkaRecord {
  std::string topic;
  std::string key;
  std::optional<std::string> value;  ///< nullopt: a null value (tombstone)
  std::vector<std::pair<std::string, std::string>> headers;
};

/// How a record fared. Retriable: publish it again later. Permanent: this record
/// can never be published as is (too large, invalid topic). Fatal: the producer
/// instance is unusable and must be rebuilt (librdkafka fatal error).
enum class DeliveryStatus { kOk, kRetriable, kPermanent, kFatal };

/// A delivery report (or a synchronous produce failure) for the record handed
/// over with `token`.
struct DeliveryReport {
  DeliveryToken token;
  DeliveryStatus status = DeliveryStatus::kOk;
  std::string error;       ///< librdkafka's error name and text, empty when kOk
  std::string error_name;  ///< librdkafka's error name alone (e.g. "MSG_SIZE_TOO_LARGE"), for metrics
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;  ///< broker timestamp (LogAppendTime topics) or create time
};

const char* ToString(DeliveryStatus status);

}  // namespace outbox::relay
