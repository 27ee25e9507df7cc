#include "batch_transaction.hpp"

#include <cstring>

#include <pqxx/except>
#include <pqxx/nontransaction>

namespace outbox::sdk::detail {
/// The pqxx::work handed to handlers. While a record runs (in_record), an
/// abort (libpqxx's reaction to a failed exec(), or the handler's own) only
/// rolls back to the record's savepoint, and a commit is refused; either way
/// the object is closed for libpqxx afterwards (`closed`).
class BatchWork : public pqxx::work {
 public:
  /// Sends BEGIN: it opens the batch's server transaction, or, for an object
  /// that replaces a closed one, is a no-op inside the transaction still open.
  explicit BatchWork(pqxx::connection& conn)
      : pqxx::internal::namedclass{"outbox batch transaction"}, pqxx::work(conn) {}
  // Ends the transaction while this is still a BatchWork, so an abort runs
  // this class's do_abort(), not the base's ROLLBACK of everything.
  ~BatchWork() noexcept override { End(); }

  void Direct(const char* sql) { direct_exec(sql); }

  bool in_record = false;
  bool closed = false;

 private:
  void do_abort() override {
    if (!in_record) {
      pqxx::dbtransaction::do_abort();
      return;
    }
    closed = true;
    direct_exec("ROLLBACK TO SAVEPOINT outbox_record");
  }
  void do_commit() override {
    if (in_record) {
      closed = true;
      throw pqxx::usage_error("the consumer commits the batch; a handler must not commit its transaction");
    }
    // As pqxx::transaction's own (private) do_commit: a lost connection makes
    // the outcome unknown.
    // "SELECT 1" first, in the same round trip: PostgreSQL answers COMMIT of an
    // aborted transaction with ROLLBACK, not an error, so a handler that went
    // on after an exec_params() error it caught would pass for committed.
    try {
      direct_exec("SELECT 1; COMMIT");
    } catch (const pqxx::statement_completion_unknown& e) {
      throw pqxx::in_doubt_error(std::string("batch commit: ") + e.what());
    } catch (const std::exception& e) {
      if (!conn().is_open()) throw pqxx::in_doubt_error(std::string("batch commit: ") + e.what());
      throw;
    }
  }
};

bool JoinWarningFilter::operator()(const char msg[]) noexcept {
  if (std::strstr(msg, "there is already a transaction in progress") != nullptr) {
    joined_ = true;
    return false;
  }
  return std::strstr(msg, "there is no transaction in progress") == nullptr;
}

std::unique_ptr<pqxx::connection> OpenConnection(const std::string& dsn) {
  auto conn = std::make_unique<pqxx::connection>(dsn);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // Deprecated in 6.x but still honoured; without it libpqxx may reconnect and
  // BEGIN afresh under a batch whose first part died with the old session.
  conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  return conn;
}

RecordScope::RecordScope(pqxx::connection& conn, JoinWarningFilter& filter) : conn_(conn), filter_(filter) {
  filter_.TakeJoined();
  work_ = std::make_unique<BatchWork>(conn_);
  if (filter_.TakeJoined()) {
    // Never join a stale transaction: its work is not this batch's.
    work_->abort();
    work_ = std::make_unique<BatchWork>(conn_);
    if (filter_.TakeJoined()) throw pqxx::usage_error("a transaction stays open on the consumer's connection");
  }
}

RecordScope::~RecordScope() noexcept {
  if (!done_) Rollback();
}

pqxx::work& RecordScope::work() { return *work_; }

void RecordScope::BeginRecord() {
  if (!savepoint_) work_->Direct("SAVEPOINT outbox_record");
  savepoint_ = true;
  work_->in_record = true;
}

// One round trip per record: release its savepoint and open the next one. A
// handler that caught an SQL error from exec_params() left the server
// transaction aborted, which makes the RELEASE fail: charged to this record.
RecordResult RecordScope::EndRecord(std::string* error) {
  work_->in_record = false;
  if (work_->closed) {
    return Fail(error,
                "commit: the handler went on after an SQL error (or aborted the transaction); "
                "its work was rolled back");
  }
  try {
    work_->Direct("RELEASE SAVEPOINT outbox_record; SAVEPOINT outbox_record");
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::sql_error& e) {
    return Fail(error, std::string("commit: ") + e.what());
  }
  return RecordResult::kApplied;
}

RecordResult RecordScope::Fail(std::string* error, std::string what) {
  work_->in_record = false;
  Recover();
  *error = std::move(what);
  return RecordResult::kFailed;
}

// Back to the state before the record: a fresh object joining the server
// transaction if libpqxx closed the old one, then ROLLBACK TO the savepoint
// (a second rollback to it is harmless).
void RecordScope::Recover() {
  if (work_->closed) {
    work_.reset();
    work_ = std::make_unique<BatchWork>(conn_);
    filter_.TakeJoined();  // joining is the point here
  }
  work_->Direct("ROLLBACK TO SAVEPOINT outbox_record");
}

void RecordScope::Commit() {
  try {
    work_->commit();
  } catch (...) {
    // A failed COMMIT (or its probe) leaves libpqxx's object aborted without
    // a ROLLBACK sent: the server transaction may still be open.
    commit_failed_ = true;
    throw;
  }
  done_ = true;
}

void RecordScope::Rollback() noexcept {
  done_ = true;
  try {
    work_->in_record = false;
    if (!work_->closed && !commit_failed_) {
      work_->abort();
      return;
    }
    work_.reset();
    pqxx::nontransaction raw(conn_);
    raw.exec("ROLLBACK");
  } catch (...) {
    // The connection is gone: the server rolls back on its own.
  }
}

std::string HandlerErrorText(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::in_doubt_error&) {
    throw;
  } catch (const pqxx::statement_completion_unknown&) {
    throw;  // a transaction_rollback subclass, but about the connection
  } catch (const pqxx::transaction_rollback& t) {
    throw TransientFailure(t.what());  // deadlock_detected, serialization_failure
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "handler threw a non-std exception";
  }
}

}  // namespace outbox::sdk::detail
