#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "pg/outbox_row.hpp"
#include "pipeline/delivery_token.hpp"

namespace outbox::relay {

/// The events between the source and their acknowledgement, in read order,
/// each under its DeliveryToken. Bounded: room() says how many more events it
/// takes, so memory does not grow with the backlog.
///
/// An event is queued (read, not yet handed to the producer), sent (handed
/// over, no report yet) or delivered (the broker confirmed it; its ack is
/// pending), and leaves the window with Release(). Events are sent in token
/// order: the queued ones are always the newest.
/// Not thread-safe; the pipeline thread owns it.
class InFlightWindow {
 public:
  enum class State { kQueued, kSent, kDelivered, kReleased };
  struct Entry {
    DeliveryToken token;
    State state = State::kQueued;
    /// An earlier event of its key failed while this one was in flight: it
    /// must not be acknowledged (its row stays and is read again after it).
    bool behind_failure = false;
    uint64_t key_hash = 0;  ///< KeyFlights::KeyHash, set when sent
    OutboxRow row;          ///< payload, headers and topic are dropped once sent
  };

  /// `capacity`: at most this many events at once (source.max_in_flight).
  explicit InFlightWindow(size_t capacity);

  /// How many more events Add() may take now. Besides the capacity, the
  /// token span a slow event at the front keeps open is bounded (by four
  /// capacities), so an event whose report never comes bounds the memory too.
  size_t room() const;
  size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }
  size_t queued() const { return static_cast<size_t>(next_token_ - send_pos_); }
  size_t sent() const { return sent_; }
  size_t delivered() const { return delivered_; }

  /// Takes `row` as a queued event and returns its token. Precondition: room() > 0.
  DeliveryToken Add(OutboxRow row);

  /// The oldest queued event; nullptr when none.
  Entry* NextQueued();

  /// The event `token` names while it is in the window; nullptr otherwise
  /// (released, or never read by this window).
  Entry* Find(DeliveryToken token);

  /// The next queued event (NextQueued()) was handed to the producer.
  void MarkSent(Entry& entry);

  /// A sent event was confirmed by the broker.
  void MarkDelivered(Entry& entry);

  /// The event leaves the window (acknowledged, left in the table behind a
  /// held key, or failed and to be read again). A queued event may only be
  /// released as the next one to send.
  void Release(Entry& entry);

  /// Forgets every queued event (a resync reads them again). Their tokens
  /// were never handed to the producer, so reusing them is safe.
  size_t DropQueued();

  /// Calls `f(entry)` for each sent or delivered event after `after`, oldest first.
  template <typename F>
  void ForEachHandedOver(DeliveryToken after, F&& f) {
    const uint64_t from = after.value < base_ ? 0 : after.value - base_ + 1;
    for (uint64_t i = from; i < send_pos_ - base_; ++i) {
      Entry& e = entries_[static_cast<size_t>(i)];
      if (e.state == State::kSent || e.state == State::kDelivered) f(e);
    }
  }

 private:
  void PopReleased();

  size_t capacity_;
  std::deque<Entry> entries_;  // tokens [base_, next_token_), released ones kept until they reach the front
  uint64_t base_ = 1;
  uint64_t next_token_ = 1;
  uint64_t send_pos_ = 1;  // token of the oldest queued event (== next_token_ when none)
  size_t live_ = 0;
  size_t sent_ = 0;
  size_t delivered_ = 0;
};

}  // namespace outbox::relay
