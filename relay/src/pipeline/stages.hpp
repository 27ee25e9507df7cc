#pragma once
// The three stages the relay wires together. Each has one real implementation
// (pg/poll_source, pg/tail_source, kafka/publisher, pg/ack_store) and fakes in
// the unit tests; Relay only talks to these interfaces.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "kafka/record.hpp"
#include "pg/outbox_row.hpp"
#include "pipeline/delivery_token.hpp"

namespace outbox::relay {

struct RelayStats;
using Clock = std::chrono::steady_clock;

/// Another relay process already publishes this outbox table: this one stands
/// by and takes over when that one's session ends.
class StandbyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What the source's sockets brought.
struct SourceSignals {
  bool wake = false;                 ///< new events may be waiting
  bool dead_letter_changed = false;  ///< `outbox-relay dlq requeue|skip` ran
};

/// Yields committed events in commit order: the poll reader, or tail mode's
/// catch-up plus replication stream.
class Source {
 public:
  virtual ~Source() = default;

  /// (Re)connects. Throws StandbyError when another relay holds the table,
  /// pqxx::broken_connection when Postgres is unreachable (retried with
  /// backoff), anything else for what retrying cannot fix.
  virtual void Connect() = 0;
  virtual bool connected() const = 0;
  virtual void Disconnect() noexcept = 0;

  /// Up to `max` events to publish now, in order. `outstanding`: events
  /// read before and not yet released. Throws pqxx::broken_connection when a
  /// connection broke, std::exception when a read failed (what was read is
  /// read again after a resync).
  virtual std::vector<OutboxRow> Read(size_t max, size_t outstanding) = 0;

  /// True when Read() has something to do now even without a wake-up (tail
  /// mode: the catch-up drained and the stream is due to start).
  virtual bool WantsRead(size_t /*outstanding*/) const { return false; }

  /// These events left the pipeline: recorded as published, or left in the
  /// table behind a held key. Their OutboxRow::txn values, one per event.
  virtual void Released(const std::vector<uint64_t>& txns) = 0;

  /// Forgets what was read and not released: the next Read() starts again
  /// from the first unacknowledged event (a resync).
  virtual void Rewind() = 0;

  /// Postgres is failing: stop streaming now (tail mode; a walsender holding
  /// unconfirmed changes would delay a server shutdown). Rewind() follows.
  virtual void Pause() noexcept {}

  /// Periodic work (tail mode: standby status updates). Throws
  /// pqxx::broken_connection when the stream broke.
  virtual void Tick(Clock::time_point /*now*/) {}

  /// Sockets to wait on. `want_events`: the window has room, so sockets that
  /// only bring events count too.
  virtual std::vector<int> WaitFds(bool want_events) const = 0;

  /// What arrived since the last call. `socket_ready`: one of WaitFds()
  /// became readable (read it); false: report only what earlier reads on the
  /// source's sessions took in (a notification arriving during a query).
  virtual SourceSignals TakeSignals(bool socket_ready) = 0;

  /// Tail mode's confirmed LSN (0 in poll mode), for gauges.
  virtual uint64_t confirmed_lsn() const { return 0; }

  /// Words for the progress line, e.g. "gaps=3".
  virtual std::string ProgressNote() const { return ""; }

  /// Exactly once, tail mode: WAL-message events at or before `upto` were
  /// published by a committed transaction: skip them when they are streamed
  /// again (they have no row to acknowledge).
  virtual void SkipPublishedMessages(StreamPosition /*upto*/) {}
};

/// What a checkpoint covers: rows published and not yet acknowledged, and
/// (tail mode) the position of the last WAL-message event published.
struct CheckpointContent {
  std::vector<RowRef> rows;
  StreamPosition messages;
};

/// The Kafka producer: idempotent, acks=all. Rebuilds itself after a fatal
/// librdkafka error (Poll() says so).
class Publisher {
 public:
  virtual ~Publisher() = default;

  /// Hands `record` over. Status kOk: accepted, its report comes from Poll().
  /// kRetriable: the local queue is full, try again after Poll(). Otherwise
  /// the record was refused at once (kPermanent).
  virtual DeliveryReport Produce(const KafkaRecord& record, DeliveryToken token) = 0;

  /// Serves callbacks for up to `timeout_ms`, appending delivery reports to
  /// `out`. Returns true when the producer was rebuilt after a fatal error:
  /// every record handed over before and not reported in `out` is lost with
  /// the old instance (possibly written).
  virtual bool Poll(int timeout_ms, std::vector<DeliveryReport>& out) = 0;

  /// Readable when Poll() has something to serve.
  virtual int EventFd() const = 0;
  /// Records queued or in flight inside the producer.
  virtual size_t OutQueueLength() const = 0;
  /// True while every broker seems down.
  virtual bool BrokersDown() = 0;
  /// Fault tests: raise a fabricated fatal error.
  virtual void InjectFatalError(const std::string& reason) = 0;

  // Exactly-once (kafka.delivery = "exactly_once"): reports succeed only once
  // their transaction committed. The at-least-once publisher keeps the defaults.

  /// True until Recover() succeeded: nothing may be read before.
  virtual bool NeedsRecovery() const { return false; }
  /// Starts the transactional producer (which fences an earlier one with the
  /// same transactional.id and aborts its open transaction) and returns the
  /// rows the last committed checkpoint covers: published, maybe not yet
  /// acknowledged. Throws what failed (retried).
  virtual CheckpointContent Recover() { return {}; }
  /// The relay's counters, and where the next checkpoint's rows come from:
  /// events handed over or delivered and not yet acknowledged in Postgres
  /// (called as a transaction commits).
  virtual void AttachTransactions(RelayStats& /*stats*/, std::function<CheckpointContent()> /*checkpoint*/) {}
  /// The last WAL-message position a committed checkpoint covers (empty: none).
  virtual StreamPosition PublishedMessages() const { return {}; }
  /// True once after another producer with the same transactional.id fenced this one.
  virtual bool TakeFenced() { return false; }
  /// When Poll() has work due without a wake-up (an open transaction's commit).
  virtual Clock::time_point NextDue() const { return Clock::time_point::max(); }
  /// The relay has a backlog: its last read of the source was a full batch. A
  /// transaction then stays open longer, so a backlog drains in fewer, larger
  /// transactions.
  virtual void SetBacklog(bool /*backlog*/) {}
};

/// Unpublished rows, as the gauges see them.
struct BacklogReading {
  int64_t rows = 0;           ///< unpublished rows (in flight included); -1 when not counted this time
  double oldest_age_s = 0.0;  ///< age of the oldest one; 0 without a created_at column
};

/// Records progress in Postgres ("the second session"): acknowledgements,
/// dead-letter moves, retention, and the gauges' queries.
class AckStore {
 public:
  virtual ~AckStore() = default;

  virtual void Connect() = 0;
  virtual bool connected() const = 0;
  virtual void Disconnect() noexcept = 0;

  /// Records these rows as published (deletes or marks them), one statement
  /// per table. Returns the rows it changed: a row it did not find was
  /// removed by someone else, or (tail mode) is not visible yet.
  virtual std::vector<RowRef> Ack(const std::vector<RowRef>& rows) = 0;

  /// Moves `row` to the dead-letter table with `reason`, all or nothing.
  /// Returns false when the row is no longer in the outbox.
  virtual bool MoveToDeadLetter(RowRef row, const std::string& reason, uint32_t attempts) = 0;

  /// Records in the rows how many permanent rejections each event has had
  /// (seq, attempts), so a relay that takes over does not start counting
  /// again. A no-op for a table without an attempts column.
  virtual void RecordAttempts(const std::vector<std::pair<RowRef, uint32_t>>& attempts) = 0;

  /// Writes an event without a row (a WAL message, tail mode) into the outbox
  /// table as a row, so it can wait behind a held key, or be dead-lettered,
  /// while the slot moves past it. Returns the new row.
  virtual RowRef Materialize(const OutboxRow& event) = 0;

  /// KeyHolds::Key of every dead-lettered event.
  virtual std::unordered_set<std::string> DeadLetteredKeys() = 0;

  /// cleanup = "mark": deletes up to `limit` published rows past the
  /// retention window; returns how many (0 in delete mode).
  virtual size_t PurgeRetention(size_t limit) = 0;

  /// nullopt when no row is unpublished. `count`: also count them (a scan).
  virtual std::optional<BacklogReading> ReadBacklog(bool count) = 0;

  /// Tail mode: WAL the slot retains, in bytes; nullopt in poll mode or without a slot.
  virtual std::optional<int64_t> SlotRetainedWal() = 0;
};

/// The stages of one relay.
struct Stages {
  std::unique_ptr<Source> source;
  std::unique_ptr<Publisher> publisher;
  std::unique_ptr<AckStore> ack_store;
  /// A second store (its own session) that acknowledges on a thread of its
  /// own, overlapping the pipeline's work; nullptr: ack_store acknowledges on
  /// the pipeline thread (the unit tests' fakes).
  std::unique_ptr<AckStore> ack_session;
};

}  // namespace outbox::relay
