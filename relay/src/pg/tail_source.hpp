#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <pqxx/connection_base>

#include "pg/outbox_row.hpp"
#include "pg/pgoutput.hpp"
#include "pg/tail_row.hpp"

struct pg_conn;

namespace outbox::relay {

struct Config;

/// Why this server or role cannot run tail mode, as one line naming what to
/// change; "" when wal_level is logical and the role may replicate.
std::string TailPrerequisiteProblem(const std::string& wal_level, const std::string& role, bool can_replicate);

/// The tail source: streams the outbox table's inserts (and transactional
/// outbox WAL messages) from a logical replication slot with pgoutput, one
/// committed transaction at a time, in commit order.
///
/// Progress rule: the flush LSN sent to the server only ever reaches the end
/// LSN of a transaction whose events were all reported Done() (delivered and,
/// for rows, acknowledged in Postgres), and every earlier transaction too. With
/// nothing outstanding it confirms the server's WAL end from keepalives, so a
/// slot whose table is idle does not pin WAL.
/// Not thread-safe; one owner thread.
class TailSource {
 public:
  explicit TailSource(const Config& config);
  ~TailSource() noexcept;
  TailSource(const TailSource&) = delete;
  TailSource& operator=(const TailSource&) = delete;

  /// Checks wal_level and the REPLICATION attribute, then creates the
  /// publication and the slot if missing. Throws ConfigError for what retrying
  /// cannot fix, pqxx::broken_connection when the server is unreachable.
  void Prepare();
  bool prepared() const { return prepared_; }
  /// True if Prepare() had to create the slot (it was missing or dropped).
  bool slot_created() const { return slot_created_; }

  /// Opens the replication connection and starts streaming from the slot's
  /// confirmed position. Throws pqxx::broken_connection (retry later); when
  /// the slot is gone, prepared() turns false first.
  void Start();
  bool streaming() const { return conn_ != nullptr; }
  /// Sends a last status update (best effort) and closes the stream; forgets
  /// everything not confirmed (a later Start() receives it again).
  void Stop() noexcept;

  /// The replication socket; -1 when not streaming.
  int Socket() const;

  /// Reads what the server sent, without blocking, and returns up to `max`
  /// events of committed transactions in commit order. Each event's token
  /// (OutboxRow::seq) is passed back to Done(). Throws
  /// pqxx::broken_connection when the stream ends.
  std::vector<OutboxRow> Read(size_t max);

  /// These events are delivered and recorded: their transactions may be confirmed.
  void Done(const std::vector<int64_t>& tokens);

  /// Sends a standby status update if one is due (progress, the server asked,
  /// or the status interval passed). Throws pqxx::broken_connection.
  void Tick(std::chrono::steady_clock::time_point now);

  Lsn confirmed() const { return confirmed_; }
  /// Events read from the stream whose transactions are not yet confirmable.
  size_t outstanding() const { return open_.size(); }

  /// Bytes of WAL the slot retains (pg_current_wal_lsn() - restart_lsn), nullopt if it does not exist.
  static std::optional<int64_t> RetainedWal(pqxx::connection_base& conn, const std::string& slot);

 private:
  struct Txn {
    Lsn end_lsn;
    size_t remaining;  // events not yet Done()
  };
  void Pump(size_t want);
  void Handle(const char* data, size_t size);
  void SendStatus(bool reply_requested);
  [[noreturn]] void Fail(const std::string& what);

  const Config& config_;
  TailRowMapper mapper_;
  std::string message_prefix_;
  PgOutputDecoder decoder_;
  std::unique_ptr<pg_conn, void (*)(pg_conn*)> conn_;
  bool prepared_ = false;
  bool slot_created_ = false;

  bool in_txn_ = false;
  std::vector<OutboxRow> current_;                          // events of the transaction being received
  std::deque<OutboxRow> ready_;                             // committed, not yet returned by Read()
  std::deque<Txn> txns_;                                    // committed transactions not yet confirmable, commit order
  uint64_t first_txn_ = 0;                                  // absolute index of txns_.front()
  std::unordered_map<int64_t, std::deque<uint64_t>> open_;  // token -> its transaction(s)
  int64_t next_message_token_ = -1;                         // WAL message events have no row seq: negative tokens

  Lsn replay_until_ = 0;  // the server's WAL end when streaming started
  Lsn received_ = 0;      // highest WAL position seen on the stream
  Lsn confirmed_ = 0;     // flush LSN we may report
  Lsn reported_ = 0;      // flush LSN last sent
  bool reply_requested_ = false;
  std::chrono::steady_clock::time_point next_status_{};
};

}  // namespace outbox::relay
