#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "pg/libpq_handle.hpp"
#include "pg/outbox_row.hpp"
#include "pg/pgoutput.hpp"
#include "pg/tail_row.hpp"

namespace outbox::relay {

struct Config;

/// The replication slot does not exist (dropped by an operator, or lost in a failover).
class SlotMissingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One message of the stream, decoded as far as the tail source needs it.
struct StreamMessage {
  enum class Kind { kNone, kBegin, kEvent, kCommit, kKeepalive };
  Kind kind = Kind::kNone;
  Lsn lsn = 0;       ///< Begin: the commit LSN; Commit: the end LSN; Keepalive: the server's WAL end
  uint32_t xid = 0;  ///< Begin: the transaction's id
  OutboxRow event;   ///< kEvent: an outbox row insert, or a transactional outbox WAL message (in_table = false)
};

/// A logical replication stream of the outbox slot: raw libpq in
/// replication=database mode, pgoutput protocol version 1 with messages.
/// Not thread-safe; one owner thread.
class ReplicationStream {
 public:
  explicit ReplicationStream(const Config& config);
  ~ReplicationStream() noexcept = default;

  struct Position {
    Lsn confirmed = 0;  ///< the slot's confirmed flush position: streaming starts there
    Lsn wal_end = 0;    ///< the server's WAL position when streaming started
  };
  /// Connects and starts streaming. Throws SlotMissingError, or
  /// pqxx::broken_connection when the server is unreachable.
  Position Start();
  bool open() const { return conn_ != nullptr; }
  /// Sends a last status update reporting `flushed` (best effort), then closes.
  void Close(Lsn flushed) noexcept;
  int Socket() const;

  /// The next message without blocking (kNone: nothing waiting). Throws
  /// pqxx::broken_connection when the stream ended, std::runtime_error for a
  /// message that cannot be decoded; the stream is closed then.
  StreamMessage Next();

  /// Standby status update: `flushed` is the slot's new confirmed position.
  /// Throws pqxx::broken_connection (the stream is closed then).
  void SendStatus(Lsn flushed);

  /// The server asked for a status update.
  bool reply_requested() const { return reply_requested_; }
  /// Highest WAL position seen on the stream.
  Lsn received() const { return received_; }

 private:
  [[noreturn]] void Fail(const std::string& what);
  bool Decode(const char* data, size_t size, StreamMessage& out);

  const Config& config_;
  TailRowMapper mapper_;
  std::string message_prefix_;
  PgOutputDecoder decoder_;
  PgConnPtr conn_;
  Lsn received_ = 0;
  bool reply_requested_ = false;
};

}  // namespace outbox::relay
