#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "log/retry_log.hpp"
#include "pg/poll_source.hpp"
#include "pg/replication_stream.hpp"
#include "pipeline/lsn_tracker.hpp"
#include "pipeline/stages.hpp"
#include "pipeline/tail_catch_up.hpp"

namespace outbox::relay {

struct Config;

/// The tail source: publishes what the outbox table holds with the poll
/// reader ("catch-up", TailCatchUp), then streams the table's inserts and the
/// transactional outbox WAL messages from a logical replication slot, in
/// commit order. The flush LSN it reports never passes an event that has not
/// left the pipeline (LsnTracker). Its poll reader's session holds the
/// table's relay lock and answers the replay check.
/// Not thread-safe; one owner thread.
class TailSource : public Source {
 public:
  explicit TailSource(const Config& config);
  ~TailSource() noexcept override;
  TailSource(const TailSource&) = delete;
  TailSource& operator=(const TailSource&) = delete;

  /// Connects the poll reader (lock, LISTEN), and at the first connect
  /// checks the server and creates the publication and slot if missing
  /// (ConfigError for what retrying cannot fix).
  void Connect() override;
  bool connected() const override { return poll_.connected(); }
  void Disconnect() noexcept override { poll_.Disconnect(); }

  std::vector<OutboxRow> Read(size_t max, size_t outstanding) override;
  bool WantsRead(size_t outstanding) const override;
  void Released(const std::vector<uint64_t>& txns) override;
  void Rewind() override;
  void Pause() noexcept override { StopStream(); }
  void Tick(Clock::time_point now) override;
  std::vector<int> WaitFds(bool want_events) const override;
  SourceSignals TakeSignals(bool socket_ready) override;
  uint64_t confirmed_lsn() const override { return lsn_.confirmed(); }
  std::string ProgressNote() const override;
  void SkipPublishedMessages(StreamPosition upto) override { published_upto_ = upto; }

 private:
  void StartStreaming(Clock::time_point now);
  void StopStream() noexcept;
  std::vector<OutboxRow> ReadStream(size_t max);
  std::vector<OutboxRow> SkipAcknowledged(std::vector<OutboxRow> rows);

  const Config& config_;
  PollSource poll_;
  ReplicationStream stream_;
  LsnTracker lsn_;
  TailCatchUp phase_;
  bool prepared_ = false;  // publication and slot exist (as far as this process knows)
  uint64_t txn_ = 0;       // index of the transaction being received
  bool txn_replayed_ = false;
  uint32_t txn_xid_ = 0;
  StreamPosition txn_position_;    // the transaction being received, and its last event's place
  StreamPosition published_upto_;  // exactly once: WAL messages up to here were published (checkpoint)
  Lsn replay_until_ = 0;           // the server's WAL end when streaming started
  Clock::time_point next_status_{};
  Clock::time_point next_start_{};
  std::chrono::milliseconds start_backoff_{100};
  RetryLog start_log_{"tail", nullptr};  // stream (re)starts that fail: logged once, then summarised
};

}  // namespace outbox::relay
