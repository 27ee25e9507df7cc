#pragma once
// One Postgres transaction per batch, with a SAVEPOINT per record, handed to
// handlers that take a plain pqxx::work&.
//
// libpqxx 6.4 aborts a transaction object (it sends ROLLBACK) when a query
// run through exec() fails, and a pqxx::subtransaction cannot be handed to a
// Handler, which takes pqxx::work&. So the batch transaction is a pqxx::work
// whose abort, while a record's handler runs, rolls back to the record's
// savepoint instead of ending the server transaction. libpqxx then considers
// that object closed; the batch goes on in a new object that joins the server
// transaction still open (its BEGIN is a no-op there; the server's "already
// in progress" warning is filtered).
#include <memory>
#include <string>

#include <pqxx/connection>
#include <pqxx/errorhandler>
#include <pqxx/transaction>

namespace outbox::sdk::detail {

/// What a record's handler did, as RecordScope::Run reports it.
enum class RecordResult { kApplied, kFailed };

/// Thrown by RecordScope::Run when the handler raised a deadlock or
/// serialization failure: the caller rolls the whole batch back and retries it.
struct TransientFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Drops the warnings a joining BatchWork's BEGIN and a defensive ROLLBACK
/// cause; everything else passes.
class JoinWarningFilter : public pqxx::errorhandler {
 public:
  using pqxx::errorhandler::errorhandler;
  bool operator()(const char msg[]) noexcept override;
  /// Whether a BEGIN found a transaction open since the last call.
  bool TakeJoined() noexcept {
    const bool joined = joined_;
    joined_ = false;
    return joined;
  }

 private:
  bool joined_ = false;
};

/// Opens a connection for the consumer: reactivation inhibited (a silent
/// reconnect mid-batch would commit the rest of a batch without its start).
std::unique_ptr<pqxx::connection> OpenConnection(const std::string& dsn);

class BatchWork;

/// The batch transaction. Statements of the consumer go through work();
/// handlers run through Run().
class RecordScope {
 public:
  /// Opens the batch's transaction. A transaction left open on `conn` by an
  /// earlier failure (which `filter` reveals) is rolled back first.
  RecordScope(pqxx::connection& conn, JoinWarningFilter& filter);
  ~RecordScope() noexcept;
  RecordScope(const RecordScope&) = delete;
  RecordScope& operator=(const RecordScope&) = delete;

  /// The live transaction object (it changes after a record's SQL error).
  pqxx::work& work();

  /// Runs `body` in a savepoint. kApplied: its work stays. kFailed: its work
  /// is rolled back, `*error` says why (handler exception, or "commit: ..."
  /// when it left the transaction unusable). Rethrows pqxx::broken_connection
  /// and in-doubt errors; throws TransientFailure for deadlocks and
  /// serialization failures (the batch must be rolled back).
  template <typename F>
  RecordResult Run(F&& body, std::string* error);

  /// Runs `body` without a savepoint. Rethrows what Run() rethrows, and
  /// anything else as is (the transaction is lost then: roll back).
  template <typename F>
  void RunBare(F&& body);

  void Commit();
  /// Rolls the whole server transaction back. noexcept: a failure here means
  /// the connection is gone, which ends the transaction too.
  void Rollback() noexcept;

 private:
  void BeginRecord();
  RecordResult EndRecord(std::string* error);
  RecordResult Fail(std::string* error, std::string what);
  void Recover();

  pqxx::connection& conn_;
  JoinWarningFilter& filter_;
  std::unique_ptr<BatchWork> work_;
  bool savepoint_ = false;
  bool done_ = false;
  bool commit_failed_ = false;
};

/// Classifies an exception escaping a handler: rethrows what is not the
/// record's fault (connection, in doubt, transient), else returns its text.
std::string HandlerErrorText(std::exception_ptr e);

template <typename F>
RecordResult RecordScope::Run(F&& body, std::string* error) {
  BeginRecord();
  try {
    body(work());
  } catch (...) {
    std::string what = HandlerErrorText(std::current_exception());  // rethrows infra / transient
    return Fail(error, std::move(what));
  }
  return EndRecord(error);
}

template <typename F>
void RecordScope::RunBare(F&& body) {
  try {
    body(work());
  } catch (...) {
    HandlerErrorText(std::current_exception());  // rethrows infra / transient
    throw;
  }
}

}  // namespace outbox::sdk::detail
