#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "pg/gap_tracker.hpp"
#include "pg/outbox_row.hpp"
#include "pg/outbox_sql.hpp"

namespace outbox::relay {

struct Config;

/// Another relay process already publishes this outbox table: this one stands
/// by and takes over when that one's session ends.
class StandbyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The poll source: reads committed outbox rows in seq order, gap-free
/// (GapTracker), and wakes on the outbox trigger's NOTIFY.
/// Not thread-safe; one owner thread.
class PollSource {
 public:
  explicit PollSource(const Config& config);
  ~PollSource() noexcept;

  /// (Re)connects, takes the table's relay lock and LISTENs. Throws
  /// pqxx::broken_connection and friends, or StandbyError.
  void Connect();
  bool connected() const { return conn_ != nullptr; }
  /// Drops the connection (after an error); gap tracking state is kept.
  void Disconnect() noexcept;

  /// The connection's socket, readable when a notification may be waiting; -1 when disconnected.
  int Socket() const;

  /// Consumes pending notifications; true if at least one arrived.
  bool TakeWakeups();

  /// True once after `outbox-relay dlq requeue|skip` changed the dead-letter
  /// table (it NOTIFYs the relay's channel); call after TakeWakeups().
  bool TakeDeadLetterChange();

  /// Reads up to `batch` rows that must be published now, ascending seq.
  /// `pending` is how many earlier rows may still be in the table unacknowledged
  /// (bounds the extra rows a filtered read returns).
  std::vector<OutboxRow> Poll(size_t batch, size_t pending);

  /// Forgets the read position: the next Poll starts from the table's first row.
  void Reset() { tracker_.Reset(); }

  /// True if the last Poll returned every row its snapshot showed (not cut
  /// off by the batch limit): the table was read up to that moment.
  bool covered_all() const { return covered_all_; }

  const GapTracker& tracker() const { return tracker_; }
  const OutboxSql& sql() const { return sql_; }

 private:
  class WakeReceiver;
  void BindGaps();
  const Config& config_;
  std::string channel_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<WakeReceiver> receiver_;
  OutboxSql sql_;
  GapTracker tracker_;
  bool covered_all_ = false;
};

}  // namespace outbox::relay
