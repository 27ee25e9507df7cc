#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "log/retry_log.hpp"
#include "pipeline/ack_worker.hpp"
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

  /// Acknowledges on `worker`'s session and thread from now on: Flush submits
  /// a batch and a later Flush completes it (EventFd() wakes the pipeline).
  void UseWorker(std::unique_ptr<AckWorker> worker);

  void Add(DeliveryToken token, Clock::time_point now);
  bool empty() const { return pending_.empty() && in_flight_.empty(); }
  size_t size() const { return pending_.size() + in_flight_.size(); }
  /// When the next flush is due (not before the backoff after a failure);
  /// the far future while a batch is under way.
  Clock::time_point due() const;
  /// Readable when a batch under way has its outcome; -1 when none is.
  int EventFd() const;

  enum class Result {
    kDone,       ///< nothing pending (or not due yet)
    kStoreDown,  ///< the store failed or is disconnected: events wait
    kInvisible,  ///< some streamed rows are not visible yet: they wait
  };
  /// Flushes if a batch is due (or `force`). With a worker, completes the
  /// batch under way first (`force`: waits for it, and for the one it submits).
  Result Flush(Clock::time_point now, bool force, InFlightWindow& window, AckStore& store, Source& source,
               RelayStats& stats);

  /// Gives up on the pending events without acknowledging them (a resync:
  /// rows not visible yet are streamed again, and acknowledged then).
  void Abandon(InFlightWindow& window);

 private:
  static std::vector<RowRef> Rows(const std::vector<DeliveryToken>& tokens, InFlightWindow& window);
  /// Applies the outcome of acknowledging in_flight_.
  Result Complete(Clock::time_point now, const AckWorker::Outcome& out, InFlightWindow& window, Source& source,
                  RelayStats& stats);

  size_t batch_size_;
  std::chrono::milliseconds interval_;
  std::vector<DeliveryToken> pending_;
  std::vector<DeliveryToken> in_flight_;  // the batch under way (or being completed)
  std::unique_ptr<AckWorker> worker_;     // nullptr: acknowledged on the pipeline thread
  std::vector<int64_t> done_;             // Flush's scratch: the seqs the store changed
  Clock::time_point first_{};
  Clock::time_point last_invisible_log_{};
  Clock::time_point retry_at_{};  // after a failure: no attempt before
  Backoff backoff_;
  RetryLog log_;
};

}  // namespace outbox::relay
