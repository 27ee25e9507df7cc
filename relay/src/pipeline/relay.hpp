#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "kafka/record.hpp"
#include "log/retry_log.hpp"
#include "pipeline/ack_batcher.hpp"
#include "pipeline/connector.hpp"
#include "pipeline/dead_letters.hpp"
#include "pipeline/dispatcher.hpp"
#include "pipeline/housekeeping.hpp"
#include "pipeline/in_flight_window.hpp"
#include "pipeline/stages.hpp"
#include "pipeline/stats.hpp"
#include "util/backoff.hpp"

namespace outbox::relay {

/// Builds the stages for `config`; the real ones by default (MakeStages).
using StageFactory = std::function<Stages(const Config&)>;

/// The real stages: poll or tail source, the Kafka publisher, the Postgres ack store.
Stages MakeStages(const Config& config);

/// The relay pipeline: source -> bounded in-flight window -> publisher ->
/// ack store, on one thread (librdkafka does the network I/O on its own
/// threads). docs/architecture.md draws it. The rules it keeps:
///  - a row is acknowledged only after its delivery report succeeded;
///  - at most source.max_in_flight events are between the source and their
///    acknowledgement;
///  - any failed delivery stops reading, waits for the window to drain,
///    acknowledges what succeeded and reads again from the first
///    unacknowledged event ("resync"): the failed event is still in the
///    outbox (or, in tail mode, past the slot's confirmed position) and is
///    published again, before the later events of its key;
///  - a key whose event was rejected for good is held (KeyHolds): the events
///    of the key read after it stay in the outbox until it succeeds, or, once
///    dead-lettered, until the operator requeues or skips it;
///  - the source learns that an event left the pipeline only once it was
///    acknowledged or left in the table, so tail mode never confirms an LSN
///    past an event that was not (LsnTracker).
class Relay {
 public:
  explicit Relay(Config config, const StageFactory& factory = MakeStages);
  ~Relay() noexcept;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  /// Runs until RequestStop(): then stops reading, waits up to
  /// shutdown.drain_timeout for outstanding deliveries, acknowledges them and
  /// returns 0. Throws on a start-up error that retrying cannot fix (e.g. the
  /// outbox table does not exist).
  int Run();

  /// Asks Run() to drain and return. Async-signal-safe.
  void RequestStop() noexcept;

  const RelayStats& stats() const { return stats_; }

  /// Fault tests: makes the producer raise a fabricated fatal error on the
  /// pipeline thread's next round. Thread-safe.
  void InjectFatalErrorForTest() noexcept { inject_fatal_ = true; }

  // The steps of Run(), public for the unit tests, which drive them with fake
  // stages and their own clock. Start() connects (throws what cannot be
  // retried); Step() is one round of the loop; Drain() is the shutdown.
  void Start(Clock::time_point now);
  void Step(Clock::time_point now);
  void Drain();
  bool resyncing() const { return resync_; }
  bool standby() const { return connector_.standby(); }
  const InFlightWindow& window() const { return window_; }
  const KeyHolds& holds() const { return dead_letters_.holds(); }

 private:
  void EnsureConnected(Clock::time_point now, bool first);
  void Apply(const Dispatcher::Outcome& outcome);
  void ApplySignals(const SourceSignals& signals);
  void ReadSource(Clock::time_point now);
  bool FlushAcks(bool force);
  void EnterResync(const char* why);
  void ResetResyncBackoff(Clock::time_point now);
  void MaybeFinishResync(Clock::time_point now);
  bool EnsureRecovered(Clock::time_point now);
  CheckpointContent CheckpointRows();
  void Wait(Clock::time_point now);
  PipelineView View() const;

  Config config_;
  RelayStats stats_;
  Stages stages_;
  Source& source_;
  Publisher& publisher_;
  AckStore& acks_;
  Housekeeping housekeeping_;
  InFlightWindow window_;
  AckBatcher acks_pending_;  // delivered, not yet recorded in Postgres
  DeadLetters dead_letters_;
  Dispatcher dispatcher_;
  Connector connector_;
  std::chrono::milliseconds resync_backoff_max_;
  RetryLog read_log_;     // poll and catch-up reads
  RetryLog tail_log_;     // the replication stream
  RetryLog resync_log_;   // resyncs that repeat
  RetryLog recover_log_;  // exactly-once: starting transactions and reading the checkpoint
  Backoff recover_backoff_;
  Clock::time_point recover_at_{};
  std::vector<RowRef> covered_;  // rows the recovered checkpoint covers, until acknowledged

  Clock::time_point now_{};  // the current round's time (Step's clock)
  bool wake_ = true;
  bool read_full_ = false;  // the last read of the source returned a full batch
  bool resync_ = false;
  Clock::time_point resync_at_{};
  std::chrono::milliseconds resync_backoff_{100};
  Clock::time_point next_poll_at_{};
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> inject_fatal_{false};  // lock-free: set from signal handlers
};

}  // namespace outbox::relay
