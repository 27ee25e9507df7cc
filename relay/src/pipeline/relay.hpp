#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.hpp"
#include "kafka/record.hpp"
#include "pg/outbox_row.hpp"
#include "pipeline/routing.hpp"
#include "pipeline/stats.hpp"

namespace outbox::relay {

class PollSource;
class TailSource;
class Acknowledger;
class Producer;

/// The relay pipeline: source -> bounded in-flight window -> idempotent
/// producer -> acknowledger, on one thread (librdkafka does the network I/O on
/// its own threads). Invariants:
///  - a row is acknowledged only after its delivery report succeeded;
///  - at most source.max_in_flight rows are between the source and their ack;
///  - any failed delivery stops reading, waits for the window to drain, acks
///    what succeeded and restarts reading from the table's first row
///    ("resync"): the failed row is still there and is published again.
/// In tail mode (source.mode = "tail") the poll source first publishes what is
/// already in the table ("catch-up", e.g. after the slot was created or lost),
/// then the tail source streams from the slot; a resync restarts that sequence,
/// and the tail source confirms a transaction's LSN only once all its events
/// are acknowledged.
class Relay {
 public:
  explicit Relay(Config config);
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

 private:
  using Clock = std::chrono::steady_clock;

  void EnsureConnected(Clock::time_point now, bool first);
  void CollectReports(int timeout_ms);
  void HandleReport(const DeliveryReport& report);
  void ProduceQueued();
  void PollSourceOnce();
  std::vector<OutboxRow> ReadSource(size_t batch);
  std::vector<OutboxRow> SkipAcknowledged(std::vector<OutboxRow> rows);
  void StartStreaming();
  void SourceDone(const std::vector<int64_t>& tokens);
  void FlushAcks(bool force);
  void EnterResync(const char* why);
  bool ProcessPermanentFailures();
  bool ReloadHeldKeys();
  void MaybeFinishResync(Clock::time_point now);
  void RebuildProducer();
  void LogProgress(Clock::time_point now);
  void UpdateGauges(Clock::time_point now);
  void RunRetention(Clock::time_point now);
  void Wait(Clock::time_point now);
  void Drain();
  size_t Room() const;

  Config config_;
  RelayStats stats_;
  Router router_;
  std::unique_ptr<PollSource> source_;
  std::unique_ptr<TailSource> tail_;  // tail mode only
  bool streaming_ = false;            // tail mode: catch-up done, reading the slot
  bool caught_up_read_ = false;       // tail mode: the catch-up read the whole table; drain, then stream
  // Tail mode: rows the catch-up published and acknowledged; the stream skips
  // them (they committed after the slot's position), bounded by kMaxCaughtUp.
  std::unordered_set<int64_t> caught_up_;
  Clock::time_point next_slot_check_{};
  std::unique_ptr<Acknowledger> acker_;
  std::unique_ptr<Producer> producer_;

  std::deque<OutboxRow> to_send_;      // read, not yet handed to librdkafka
  int64_t in_flight_ = 0;              // handed to librdkafka, no report yet
  std::vector<int64_t> pending_acks_;  // confirmed by the broker, not yet acked
  Clock::time_point first_pending_ack_{};
  std::vector<DeliveryReport> reports_;
  struct InFlightInfo {
    double created_epoch;  // for the commit-to-ack histogram
    std::string key;       // DeadLetterStore::HeldKey of the row
  };
  std::unordered_map<int64_t, InFlightInfo> in_flight_info_;
  struct PermanentFailure {
    int64_t seq;
    std::string reason;
    std::string key;
    uint32_t attempts;
  };
  std::vector<PermanentFailure> permanent_;         // rejected for good since the last resync
  std::vector<PermanentFailure> to_dead_letter_;    // out of attempts, not yet moved
  std::unordered_map<int64_t, uint32_t> attempts_;  // permanent rejections per seq (this process)
  std::unordered_set<std::string> held_keys_;       // keys with a dead-lettered (or failing) event
  std::unordered_set<int64_t> held_seqs_;           // rows skipped because their key is held
  Clock::time_point next_broker_check_{};
  Clock::time_point next_backlog_count_{};

  bool wake_ = true;
  bool standby_ = false;  // another relay holds the table's lock
  bool resync_ = false;
  Clock::time_point resync_at_{};
  std::chrono::milliseconds resync_backoff_{100};
  Clock::time_point next_poll_at_{};
  Clock::time_point reconnect_at_{};
  std::chrono::milliseconds reconnect_backoff_{100};
  Clock::time_point next_progress_at_{};
  Clock::time_point next_retention_at_{};
  uint64_t last_progress_published_ = 0;
  Clock::time_point last_progress_at_{};
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> inject_fatal_{false};  // lock-free: set from signal handlers
};

}  // namespace outbox::relay
