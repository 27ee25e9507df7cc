#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace outbox::sdk {

/// One consumed Kafka record, copied out of librdkafka so a handler may keep
/// it. Header values are UTF-8 strings in the outbox contract; a null header
/// value reads as "".
struct Record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  bool key_is_null = false;
  bool value_is_null = false;  ///< a tombstone
  int64_t timestamp_ms = -1;   ///< -1 when the broker gave none
  std::vector<std::pair<std::string, std::string>> headers;

  /// The first header named `name` (Kafka allows repeats), if any. The relay
  /// writes its reserved headers first, so they win over a row header reusing
  /// a reserved name.
  std::optional<std::string> Header(const std::string& name) const;
  /// The dedup key: the first event_id header, or "" when absent.
  std::string event_id() const;
  /// The event_type header, or "" when absent.
  std::string event_type() const;
};

}  // namespace outbox::sdk
