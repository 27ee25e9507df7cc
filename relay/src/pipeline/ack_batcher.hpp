#pragma once

#include <vector>

#include "pipeline/delivery_token.hpp"
#include "pipeline/in_flight_window.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct RelayStats;

/// Collects delivered events and records them in Postgres in batches
/// (source.ack_batch_size events, or source.ack_interval after the first),
/// then releases them from the window and tells the source. An event that
/// went through behind a failed event of its key is released unacknowledged:
/// its row stays and is read again after that one.
class AckBatcher {
 public:
  AckBatcher(size_t batch_size, std::chrono::milliseconds interval) : batch_size_(batch_size), interval_(interval) {}

  void Add(DeliveryToken token, Clock::time_point now);
  bool empty() const { return pending_.empty(); }
  size_t size() const { return pending_.size(); }
  /// When the next flush is due.
  Clock::time_point due() const { return first_ + interval_; }

  /// Flushes if a batch is due (or `force`). Returns false while events wait
  /// because the store failed or is disconnected.
  bool Flush(Clock::time_point now, bool force, InFlightWindow& window, AckStore& store, Source& source,
             RelayStats& stats);

 private:
  size_t batch_size_;
  std::chrono::milliseconds interval_;
  std::vector<DeliveryToken> pending_;
  Clock::time_point first_{};
};

}  // namespace outbox::relay
