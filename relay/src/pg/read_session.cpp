#include "pg/read_session.hpp"

#include <poll.h>

#include <cerrno>
#include <stdexcept>

#include <pqxx/except>

#include "config/config.hpp"
#include "pg/outbox_sql.hpp"
#include "pg/pg_connect.hpp"
#include "util/text.hpp"

namespace outbox::relay {

namespace {

constexpr const char kStatement[] = "outbox_poll";

std::string ErrorOf(PGconn* conn) { return OneLine(PQerrorMessage(conn)); }

}  // namespace

void ReadSession::Connect(const PostgresConfig& config, const std::string& poll_sql) {
  Disconnect();
  const std::string conninfo = SessionConninfo(config, "read");
  PgConnPtr conn(PQconnectdb(conninfo.c_str()));
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    throw pqxx::broken_connection("read session: " + (conn ? ErrorOf(conn.get()) : std::string("out of memory")));
  }
  for (const std::string& statement : SessionSetup(config, /*bounded=*/true)) {
    PgResultPtr r(PQexec(conn.get(), statement.c_str()));
    const ExecStatusType status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw pqxx::broken_connection("read session: " + statement + ": " + ErrorOf(conn.get()));
    }
  }
  PgResultPtr prepared(PQprepare(conn.get(), kStatement, poll_sql.c_str(), 0, nullptr));
  if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
    throw pqxx::broken_connection("read session: preparing the poll statement: " + ErrorOf(conn.get()));
  }
  if (PQsetnonblocking(conn.get(), 1) != 0) throw pqxx::broken_connection("read session: " + ErrorOf(conn.get()));
  conn_ = std::move(conn);
}

void ReadSession::Disconnect() noexcept {
  conn_.reset();
  pending_ = false;
}

int ReadSession::sock() const { return conn_ ? PQsocket(conn_.get()) : -1; }

void ReadSession::Broken(const std::string& what) {
  const std::string reason = conn_ ? ErrorOf(conn_.get()) : std::string("not connected");
  Disconnect();
  throw pqxx::broken_connection("read session: " + what + ": " + reason);
}

void ReadSession::Send(const GapTracker::Query& query, int64_t limit) {
  if (!conn_) Broken("sending the poll statement");
  if (pending_) Discard();
  const std::string after = std::to_string(query.after), lows = BigintArray(query.lows),
                    highs = BigintArray(query.highs), max = std::to_string(limit);
  const char* values[] = {after.c_str(), lows.c_str(), highs.c_str(), max.c_str()};
  if (PQsendQueryPrepared(conn_.get(), kStatement, 4, values, nullptr, nullptr, 0) != 1) {
    Broken("sending the poll statement");
  }
  // Non-blocking: the statement may still sit in libpq's buffer.
  int flushed = PQflush(conn_.get());
  for (int i = 0; flushed == 1 && i < 1000; ++i) {
    pollfd fd{PQsocket(conn_.get()), POLLOUT, 0};
    ::poll(&fd, 1, 10);
    flushed = PQflush(conn_.get());
  }
  if (flushed != 0) Broken("sending the poll statement");
  pending_ = true;
}

void ReadSession::Consume() {
  if (!pending_) return;
  if (PQconsumeInput(conn_.get()) != 1) Broken("reading the poll statement's rows");
}

PgResultPtr ReadSession::Receive() {
  if (!pending_) throw std::logic_error("ReadSession::Receive: nothing was sent");
  pending_ = false;
  PgResultPtr rows;
  std::string failed;
  std::string sqlstate;
  // Every result up to the end (a null result): the session is then ready for the next statement.
  for (;;) {
    while (PQisBusy(conn_.get()) == 1) {
      pollfd fd{PQsocket(conn_.get()), POLLIN, 0};
      if (::poll(&fd, 1, -1) < 0 && errno != EINTR) Broken("waiting for the poll statement");
      if (PQconsumeInput(conn_.get()) != 1) Broken("reading the poll statement's rows");
    }
    PgResultPtr r(PQgetResult(conn_.get()));
    if (!r) break;
    if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
      rows = std::move(r);
    } else if (failed.empty()) {
      failed = OneLine(PQresultErrorMessage(r.get()));
      if (const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE)) sqlstate = state;
    }
  }
  if (PQstatus(conn_.get()) != CONNECTION_OK) Broken("reading the poll statement's rows");
  if (!failed.empty() || !rows) {
    throw pqxx::sql_error("read session: " + (failed.empty() ? std::string("no rows") : failed), kStatement,
                          sqlstate.empty() ? nullptr : sqlstate.c_str());
  }
  return rows;
}

void ReadSession::Discard() noexcept {
  if (!pending_) return;
  try {
    Receive();
  } catch (...) {  // a broken session is closed, a failed statement is forgotten
  }
}

}  // namespace outbox::relay
