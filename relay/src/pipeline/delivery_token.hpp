#pragma once

#include <cstdint>

namespace outbox::relay {

/// Names one event from the moment the relay reads it until it leaves the
/// pipeline (acknowledged, held, or dropped by a resync before it was sent).
/// The InFlightWindow assigns tokens in read order. A token is what travels
/// through librdkafka as the record's opaque, so a delivery report always
/// finds its event: unlike a row's seq, which WAL-message events lack and
/// which a requeued row brings back.
struct DeliveryToken {
  uint64_t value = 0;

  friend bool operator==(DeliveryToken a, DeliveryToken b) { return a.value == b.value; }
  friend bool operator!=(DeliveryToken a, DeliveryToken b) { return a.value != b.value; }
  friend bool operator<(DeliveryToken a, DeliveryToken b) { return a.value < b.value; }
};

}  // namespace outbox::relay
