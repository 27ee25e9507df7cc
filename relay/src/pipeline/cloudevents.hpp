#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "kafka/record.hpp"
#include "pg/outbox_row.hpp"

namespace outbox::relay {

/// kafka.headers_format = "cloudevents": the CloudEvents 1.0 Kafka protocol
/// binding in binary content mode. The record keeps its key, value and native
/// headers; the event's context attributes are added as headers:
///   ce_specversion "1.0", ce_id = event id, ce_type = event type,
///   ce_source = kafka.cloudevents_source, ce_subject = aggregate id,
///   ce_time = created_at (RFC 3339; left out when the row has none),
///   content-type = kafka.cloudevents_content_type (left out when "").
/// A row's own header of the same name sets ce_type, ce_source, ce_subject,
/// ce_time or content-type for that event (e.g. a per-event content type);
/// ce_id and ce_specversion belong to the relay (schema/README.md).
class CloudEventsHeaders {
 public:
  CloudEventsHeaders(std::string source, std::string content_type);

  /// Adds the attributes to `record`, right after the native headers; the
  /// row's own headers start at `first_row_header`. Throws
  /// std::invalid_argument (a bad row: dead-lettered with the reason) when the
  /// row's headers set ce_id or ce_specversion to another value, or when the
  /// row has no event type or id (both are required attributes), or its own
  /// header gives an attribute an empty value or ce_time a value that is not RFC 3339.
  void Apply(const OutboxRow& row, size_t first_row_header, KafkaRecord& record) const;

 private:
  std::string source_;
  std::string content_type_;
};

/// True for an RFC 3339 date-time such as the sources' "2026-11-23T09:15:02.123456Z"
/// (optional fraction, "Z" or a "+HH:MM" offset); false for "infinity" and the like.
bool IsRfc3339(std::string_view text);

}  // namespace outbox::relay
