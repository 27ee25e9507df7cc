#pragma once

#include <cstdint>
#include <string>

#include "pg/gap_tracker.hpp"
#include "pg/libpq_handle.hpp"

namespace outbox::relay {

struct PostgresConfig;

/// The poll source's reads, on a session of their own (application_name
/// "outbox-relay/read") driven through libpq's asynchronous calls, so the
/// next batch can be read while the pipeline produces the current one. The
/// poll session keeps the relay lock, the LISTEN and every other statement.
/// One statement at a time; not thread-safe.
class ReadSession {
 public:
  ReadSession() = default;
  ~ReadSession() noexcept { Disconnect(); }
  ReadSession(const ReadSession&) = delete;
  ReadSession& operator=(const ReadSession&) = delete;

  /// Connects with the relay's session settings (SessionSetup) and prepares
  /// `poll_sql` (OutboxSql::poll). Throws pqxx::broken_connection.
  void Connect(const PostgresConfig& config, const std::string& poll_sql);
  void Disconnect() noexcept;
  bool connected() const { return conn_ != nullptr; }

  /// Sends the poll statement for `query` with `limit`. Throws
  /// pqxx::broken_connection (the session is then closed).
  void Send(const GapTracker::Query& query, int64_t limit);
  /// True between Send and Receive (or Discard).
  bool pending() const { return pending_; }
  /// Reads what has arrived without blocking, so the server finishes the
  /// statement and lets its snapshot go; throws pqxx::broken_connection.
  void Consume();
  /// The pending statement's rows, waiting for them. Throws
  /// pqxx::broken_connection (the session is then closed) or pqxx::sql_error
  /// (the statement failed, e.g. its timeout; the session stays usable).
  PgResultPtr Receive();
  /// Drops the pending statement's result (waiting for it to finish).
  void Discard() noexcept;

  /// The socket, for the relay's wait; -1 when not connected.
  int sock() const;

 private:
  [[noreturn]] void Broken(const std::string& what);

  PgConnPtr conn_;
  bool pending_ = false;
};

}  // namespace outbox::relay
