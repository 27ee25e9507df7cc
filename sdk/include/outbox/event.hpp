#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace outbox::sdk {

/// One event, written as one outbox row and published as one Kafka record
/// (schema/README.md has the full mapping).
struct Event {
  std::string aggregate_type;                  ///< e.g. "order"; becomes the topic via the relay's template
  std::string aggregate_id;                    ///< Kafka key: one aggregate's events stay in order in one partition
  std::string event_type;                      ///< e.g. "OrderCreated"; the event_type header
  std::string payload;                         ///< Kafka value, bytes unchanged (JSON text, protobuf, may contain NUL)
  std::map<std::string, std::string> headers;  ///< extra Kafka headers, e.g. W3C traceparent
  std::optional<std::string> topic;            ///< overrides the relay's topic template for this event
  std::optional<std::string> id;               ///< caller-chosen event id (UUID); generated (UUIDv7) when absent
  bool tombstone = false;  ///< write a NULL payload: a Kafka null value (deletes the key in compacted topics)
};

/// An event the outbox refuses; thrown before the database is touched. what()
/// is one line naming the field, e.g. "event.aggregate_id: must not be empty".
class ValidationError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// True for the Kafka header names the relay sets itself (event_id,
/// event_type, aggregate_type, aggregate_id, created_at).
bool IsReservedHeader(const std::string& name);

/// Throws ValidationError when `e` cannot be enqueued as is. `where` prefixes
/// the field in the message ("event", "events[7]").
void ValidateEvent(const Event& e, size_t max_payload_bytes, const std::string& where = "event");

/// A new time-ordered event id (UUIDv7, RFC 9562) in canonical lower-case
/// form. Thread-safe and lock-free (per-thread generator); ids from one thread
/// are strictly increasing.
std::string NewEventId();

/// True for a canonical UUID: 8-4-4-4-12 hexadecimal digits, either case.
bool IsCanonicalUuid(const std::string& text);

}  // namespace outbox::sdk
