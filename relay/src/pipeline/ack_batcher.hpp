#pragma once

#include <algorithm>
#include <vector>

#include "log/retry_log.hpp"
#include "pipeline/delivery_token.hpp"
#include "pipeline/in_flight_window.hpp"
#include "pipeline/stages.hpp"
#include "util/backoff.hpp"

namespace outbox::relay {

struct RelayStats;

/// Collects delivered events and records them in Postgres in batches
/// (source.ack_batch_size events, or source.ack_interval after the first),
/// then releases them from the window and tells the source. An event that
/// went through behind a failed event of its key is released unacknowledged:
/// its row stays and is read again after that one.
///
/// The acknowledgement says which rows it changed. A streamed row it did not
/// find is not visible yet (its commit waits for a synchronous standby): it
/// stays pending and is acknowledged again every second until it is, and
/// its transaction's LSN is not confirmed meanwhile. A polled row it did not
/// find was removed by someone else: counted, logged, released.
///
/// A failed acknowledgement (no privilege, a missing table, a statement
/// timeout) is retried with capped exponential backoff, even when forced,
/// and logged through a RetryLog ("ack" in outbox_relay_retries_total).
class AckBatcher {
 public:
  AckBatcher(size_t batch_size, std::chrono::milliseconds interval, std::chrono::milliseconds backoff_max,
             RelayStats& stats);

  void Add(DeliveryToken token, Clock::time_point now);
  bool empty() const { return pending_.empty(); }
  size_t size() const { return pending_.size(); }
  /// When the next flush is due (not before the backoff after a failure).
  Clock::time_point due() const { return std::max(first_ + interval_, retry_at_); }

  enum class Result {
    kDone,       ///< nothing pending (or not due yet)
    kStoreDown,  ///< the store failed or is disconnected: events wait
    kInvisible,  ///< some streamed rows are not visible yet: they wait
  };
  /// Flushes if a batch is due (or `force`).
  Result Flush(Clock::time_point now, bool force, InFlightWindow& window, AckStore& store, Source& source,
               RelayStats& stats);

  /// Gives up on the pending events without acknowledging them (a resync:
  /// rows not visible yet are streamed again, and acknowledged then).
  void Abandon(InFlightWindow& window);

 private:
  size_t batch_size_;
  std::chrono::milliseconds interval_;
  std::vector<DeliveryToken> pending_;
  std::vector<int64_t> done_;  // Flush's scratch: the seqs the store changed
  Clock::time_point first_{};
  Clock::time_point last_invisible_log_{};
  Clock::time_point retry_at_{};  // after a failure: no attempt before
  Backoff backoff_;
  RetryLog log_;
};

}  // namespace outbox::relay
