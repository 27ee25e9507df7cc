#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <pqxx/connection>

#include "pg/gap_tracker.hpp"
#include "pg/outbox_row.hpp"
#include "pg/outbox_sql.hpp"
#include "pg/read_session.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct Config;

/// The poll source: reads committed outbox rows in seq order, gap-free
/// (GapTracker), and wakes on the outbox trigger's NOTIFY. Its session holds
/// the table's relay lock; the rows are read on a second session
/// (ReadSession). With `read_ahead`, a read that filled its batch sends the
/// next one at once, and the next Read takes its rows: Postgres reads while the
/// relay produces. Tail mode uses it, without reading ahead, for the catch-up.
/// Not thread-safe; one owner thread.
class PollSource : public Source {
 public:
  explicit PollSource(const Config& config, bool read_ahead = false);
  ~PollSource() noexcept override;

  /// (Re)connects, takes the table's relay lock (StandbyError when another
  /// relay holds it) and LISTENs. Gap tracking state is kept.
  void Connect() override;
  bool connected() const override { return conn_ != nullptr; }
  void Disconnect() noexcept override;

  /// Reads up to `max` rows that must be published now, ascending seq.
  /// `outstanding` bounds the extra rows a filtered read returns.
  std::vector<OutboxRow> Read(size_t max, size_t outstanding) override;
  void Released(const std::vector<uint64_t>&) override {}
  /// Forgets the read position: the next Read starts from the table's first row.
  void Rewind() override {
    tracker_.Reset();
    ++generation_;  // a read sent ahead before this is not taken
  }
  std::vector<int> WaitFds(bool want_events) const override;
  SourceSignals TakeSignals(bool socket_ready) override;
  std::string ProgressNote() const override;

  /// Every postgres.lock_check_interval_ms, shows that this session still
  /// holds the table's relay lock. When it cannot (the session broke or timed
  /// out, or the lock is gone), disconnects, so the relay publishes nothing
  /// more until it has the lock again, and throws pqxx::broken_connection.
  void Tick(Clock::time_point now) override;

  /// True if the last Read returned every row its snapshot showed (not cut
  /// off by the batch limit): the table was read up to that moment.
  bool covered_all() const { return covered_all_; }
  /// True while a read sent ahead waits to be taken by the next Read.
  bool reading_ahead() const { return read_.pending(); }

  /// The seqs of those `rows` that are still unacknowledged (not deleted, not marked).
  std::unordered_set<int64_t> Unacknowledged(const std::vector<RowRef>& rows);

  /// Those of `xids` (32-bit transaction ids from the stream) whose
  /// transactions are still in progress: committed in the WAL, not visible yet.
  std::unordered_set<uint32_t> Running(const std::vector<uint32_t>& xids);

  /// Those of `ids` (WAL-message events) an earlier pass wrote into the table
  /// or dead-lettered from there.
  std::unordered_set<std::string> Materialized(const std::vector<std::string>& ids);

 private:
  class WakeReceiver;
  void BindGaps();
  PgResultPtr ReadRows(const GapTracker::Query& query, int64_t limit);
  void ReadAhead(int64_t limit) noexcept;

  const Config& config_;
  std::string channel_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<WakeReceiver> receiver_;
  ReadSession read_;
  const bool read_ahead_;
  uint64_t generation_ = 0;  // bumped whenever the tracker is reset or the sessions change
  struct Ahead {
    GapTracker::Query query;
    int64_t limit = 0;
    uint64_t generation = 0;
  };
  Ahead ahead_;  // what the pending read sent ahead asked for
  OutboxSql sql_;
  GapTracker tracker_;
  bool covered_all_ = false;
  int64_t table_oid_ = 0;  // the outbox table the tracker's positions belong to
  Clock::time_point next_lock_check_{};
};

}  // namespace outbox::relay
