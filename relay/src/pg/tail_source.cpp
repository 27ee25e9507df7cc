#include "pg/tail_source.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "config/config.hpp"
#include "log/logging.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "pg/libpq_handle.hpp"
#include "pg/pg_connect.hpp"
#include "pg/wal_message.hpp"

namespace outbox::relay {
namespace {

// Microseconds since 2000-01-01 UTC, the replication protocol's clock.
int64_t PgEpochMicros() {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return us - int64_t{946684800} * 1000000;
}

std::string Trim(const char* s) { return OneLine(s ? s : ""); }

}  // namespace

std::string TailPrerequisiteProblem(const std::string& wal_level, const std::string& role, bool can_replicate) {
  if (wal_level != "logical") {
    return "source.mode = \"tail\" needs wal_level = logical, but the server runs with wal_level = " + wal_level +
           "; Hint: set wal_level = logical in postgresql.conf and restart PostgreSQL, or use source.mode = \"poll\"";
  }
  if (!can_replicate) {
    return "source.mode = \"tail\" needs a role with the REPLICATION attribute, but role '" + role +
           "' lacks it; Hint: ALTER ROLE " + role + " REPLICATION (as a superuser), or use source.mode = \"poll\"";
  }
  return "";
}

TailSource::TailSource(const Config& config)
    : config_(config),
      mapper_(config.outbox),
      message_prefix_(sdk::WalMessagePrefix(config.outbox.schema)),
      conn_(nullptr, [](pg_conn* c) { PQfinish(c); }) {}

TailSource::~TailSource() noexcept { Stop(); }

void TailSource::Prepare() {
  auto conn = PgConnect(config_.postgres, "tail-setup");
  pqxx::nontransaction tx(*conn);
  const auto pre = tx.exec1(
      "SELECT current_setting('wal_level'), current_user::text, "
      "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)");
  const std::string problem =
      TailPrerequisiteProblem(pre[0].as<std::string>(), pre[1].as<std::string>(), pre[2].as<bool>(false));
  if (!problem.empty()) throw ConfigError(problem);
  const std::string& pub = config_.source.publication_name;
  const std::string& slot = config_.source.slot_name;
  const std::string table = sdk::QuoteIdentifier(config_.outbox.schema, "outbox.schema") + "." +
                            sdk::QuoteIdentifier(config_.outbox.table, "outbox.table");
  // The publication must exist before the slot: pgoutput reads it as of each
  // decoded change, and a change older than the publication fails to decode.
  if (tx.exec_params("SELECT 1 FROM pg_publication WHERE pubname = $1", pub).empty()) {
    try {
      tx.exec("CREATE PUBLICATION " + sdk::QuoteIdentifier(pub, "source.publication_name") + " FOR TABLE " + table +
              " WITH (publish = 'insert')");
      spdlog::info("tail: created publication {} for {} (inserts only)", pub, table);
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "42710") {  // duplicate_object: another relay was faster
        throw ConfigError("source.publication_name: cannot create publication '" + pub + "': " + Trim(e.what()) +
                          "; Hint: create it as the table's owner: CREATE PUBLICATION " + pub + " FOR TABLE " + table +
                          " WITH (publish = 'insert')");
      }
    }
  }
  if (tx.exec_params("SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
                     pub, config_.outbox.schema, config_.outbox.table)
          .empty()) {
    throw ConfigError("source.publication_name: publication '" + pub + "' does not publish " + table +
                      "; Hint: ALTER PUBLICATION " + pub + " ADD TABLE " + table + ", or choose another name");
  }
  const auto existing = tx.exec_params(
      "SELECT plugin::text, slot_type, database::text = current_database() FROM pg_replication_slots "
      "WHERE slot_name = $1",
      slot);
  slot_created_ = false;
  if (existing.empty()) {
    try {
      const auto created =
          tx.exec_params1("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", slot);
      slot_created_ = true;
      spdlog::warn(
          "tail: created replication slot {} at {}; rows already in the outbox are published by polling "
          "first",
          slot, created[0].as<std::string>());
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "42710") {
        throw ConfigError("source.slot_name: cannot create replication slot '" + slot + "': " + Trim(e.what()));
      }
    }
  } else if (existing[0][0].as<std::string>("") != "pgoutput" || !existing[0][2].as<bool>(false)) {
    throw ConfigError("source.slot_name: replication slot '" + slot +
                      "' exists but is not a pgoutput slot of this "
                      "database; Hint: choose another slot_name, or drop that slot if it is unused");
  }
  prepared_ = true;
}

void TailSource::Start() {
  Stop();
  const std::string timeout = std::to_string(std::max<long>(1, config_.postgres.connect_timeout.count() / 1000));
  const char* keys[] = {"dbname", "replication", "options", "application_name", "connect_timeout", nullptr};
  const char* values[] = {config_.postgres.dsn.c_str(), "database",      "-c TimeZone=UTC -c DateStyle=ISO",
                          "outbox-relay/tail",          timeout.c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    const std::string why = conn_ ? Trim(PQerrorMessage(conn_.get())) : "out of memory";
    conn_.reset();
    throw pqxx::broken_connection("replication connection failed: " + why);
  }
  const std::string& slot = config_.source.slot_name;
  {
    const std::string q =
        "SELECT confirmed_flush_lsn::text, pg_current_wal_lsn()::text FROM pg_replication_slots "
        "WHERE slot_name = '" +
        slot + "'";
    PgResultPtr res(PQexec(conn_.get(), q.c_str()));
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK)
      Fail("cannot read the slot: " + Trim(PQerrorMessage(conn_.get())));
    if (PQntuples(res.get()) == 0) {
      prepared_ = false;
      Fail("replication slot " + slot + " does not exist");
    }
    unsigned hi = 0, lo = 0;
    if (std::sscanf(PQgetvalue(res.get(), 0, 0), "%X/%X", &hi, &lo) == 2) {
      confirmed_ = reported_ = (Lsn{hi} << 32) | lo;
    }
    if (std::sscanf(PQgetvalue(res.get(), 0, 1), "%X/%X", &hi, &lo) == 2) replay_until_ = (Lsn{hi} << 32) | lo;
  }
  const std::string q = "START_REPLICATION SLOT " + sdk::QuoteIdentifier(slot, "source.slot_name") +
                        " LOGICAL 0/0 (proto_version '1', publication_names '" +
                        sdk::QuoteIdentifier(config_.source.publication_name, "source.publication_name") +
                        "', messages 'true')";
  PgResultPtr res(PQexec(conn_.get(), q.c_str()));
  if (PQresultStatus(res.get()) != PGRES_COPY_BOTH) {
    const std::string why = Trim(PQerrorMessage(conn_.get()));
    if (why.find("does not exist") != std::string::npos) prepared_ = false;
    Fail("cannot start streaming from slot " + slot + ": " + why);
  }
  next_status_ = std::chrono::steady_clock::now() + config_.source.status_interval;
  spdlog::info("tail: streaming from slot {} at {}", slot, FormatLsn(confirmed_));
}

void TailSource::Stop() noexcept {
  if (conn_) {
    try {
      if (confirmed_ > reported_) SendStatus(false);
    } catch (const std::exception&) {
    }
  }
  conn_.reset();
  in_txn_ = false;
  current_.clear();
  ready_.clear();
  txns_.clear();
  open_.clear();
  first_txn_ = 0;
  received_ = 0;
  reply_requested_ = false;
}

void TailSource::Fail(const std::string& what) {
  conn_.reset();
  Stop();
  throw pqxx::broken_connection(what);
}

int TailSource::Socket() const { return conn_ ? PQsocket(conn_.get()) : -1; }

std::vector<OutboxRow> TailSource::Read(size_t max) {
  std::vector<OutboxRow> out;
  if (!conn_) return out;
  Pump(max);
  while (!ready_.empty() && out.size() < max) {
    out.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  return out;
}

void TailSource::Pump(size_t want) {
  if (PQconsumeInput(conn_.get()) == 0) Fail("replication stream lost: " + Trim(PQerrorMessage(conn_.get())));
  // Stop reading once enough is ready: the rest waits in the socket (bounded memory).
  while (ready_.size() < want) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn_.get(), &buf, 1);
    if (n == 0) break;
    if (n < 0) {
      PgResultPtr res(PQgetResult(conn_.get()));
      Fail("replication stream ended: " + Trim(PQerrorMessage(conn_.get())));
    }
    std::unique_ptr<char, void (*)(void*)> guard(buf, PQfreemem);
    try {
      Handle(buf, static_cast<size_t>(n));
    } catch (const std::exception&) {
      // A message that cannot be decoded (a malformed WAL-message event, a
      // column mapping the table lacks): never skip it. Drop the stream; the
      // caller restarts it from the slot and meets the same message again.
      conn_.reset();
      Stop();
      throw;
    }
  }
}

void TailSource::Handle(const char* data, size_t size) {
  WireReader r(data, size);
  const uint8_t type = r.Byte();
  if (type == 'k') {  // primary keepalive: server WAL end, time, reply requested
    const Lsn end = static_cast<Lsn>(r.Int64());
    r.Int64();
    if (r.Byte() != 0) reply_requested_ = true;
    received_ = std::max(received_, end);
    // Nothing received is outstanding: every transaction that commits before
    // `end` has been sent already, so confirming it skips nothing and lets the
    // server recycle WAL that other tables wrote.
    if (txns_.empty() && !in_txn_) confirmed_ = std::max(confirmed_, end);
    return;
  }
  if (type != 'w') return;
  const Lsn start = static_cast<Lsn>(r.Int64());
  r.Int64();  // server WAL end
  r.Int64();  // send time
  received_ = std::max(received_, start);
  const size_t header = 1 + 8 * 3;
  PgOutputMessage m = decoder_.Decode(data + header, size - header);
  switch (m.kind) {
    case PgOutputMessage::Kind::kBegin:
      in_txn_ = true;
      current_.clear();
      break;
    case PgOutputMessage::Kind::kInsert: {
      const PgRelation* rel = decoder_.Relation(m.relid);
      if (rel != nullptr && mapper_.IsOutbox(*rel)) current_.push_back(mapper_.Map(*rel, m.values));
      break;
    }
    case PgOutputMessage::Kind::kMessage:
      // A non-transactional message is sent even when its transaction rolls
      // back: never an outbox event.
      if (m.prefix != message_prefix_) break;
      if (m.transactional) {
        current_.push_back(DecodeWalMessage(m.content));
        current_.back().seq = next_message_token_--;
      } else {
        spdlog::warn("tail: ignored a non-transactional {} message at {}", message_prefix_, FormatLsn(m.lsn));
      }
      break;
    case PgOutputMessage::Kind::kCommit: {
      in_txn_ = false;
      const uint64_t index = first_txn_ + txns_.size();
      txns_.push_back(Txn{m.lsn, current_.size()});
      for (auto& row : current_) {
        // Committed before this stream began: an earlier run may have acknowledged it.
        row.replayed = m.lsn <= replay_until_;
        open_[row.seq].push_back(index);
        ready_.push_back(std::move(row));
      }
      current_.clear();
      Done({});  // an empty transaction is confirmable at once
      break;
    }
    default:
      break;
  }
}

void TailSource::Done(const std::vector<int64_t>& tokens) {
  for (int64_t token : tokens) {
    auto it = open_.find(token);
    if (it == open_.end()) continue;
    const uint64_t index = it->second.front();
    it->second.pop_front();
    if (it->second.empty()) open_.erase(it);
    if (index >= first_txn_ && index - first_txn_ < txns_.size()) txns_[index - first_txn_].remaining--;
  }
  while (!txns_.empty() && txns_.front().remaining == 0) {
    confirmed_ = std::max(confirmed_, txns_.front().end_lsn);
    txns_.pop_front();
    ++first_txn_;
  }
}

void TailSource::Tick(std::chrono::steady_clock::time_point now) {
  if (!conn_) return;
  // Progress is reported at the status interval, not at once: one message per
  // interval however many transactions were confirmed in it.
  if (reply_requested_ || now >= next_status_) {
    SendStatus(reply_requested_);
    next_status_ = now + config_.source.status_interval;
  }
}

void TailSource::SendStatus(bool /*reply_requested*/) {
  std::string msg = "r";
  PutInt64(msg, static_cast<int64_t>(std::max(received_, confirmed_)));  // written
  PutInt64(msg, static_cast<int64_t>(confirmed_));                       // flushed: the slot's confirmed position
  PutInt64(msg, static_cast<int64_t>(confirmed_));                       // applied
  PutInt64(msg, PgEpochMicros());
  msg.push_back(0);  // no reply wanted
  if (PQputCopyData(conn_.get(), msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(conn_.get()) != 0) {
    Fail("cannot send a standby status update: " + Trim(PQerrorMessage(conn_.get())));
  }
  reported_ = confirmed_;
  reply_requested_ = false;
}

std::optional<int64_t> TailSource::RetainedWal(pqxx::connection_base& conn, const std::string& slot) {
  pqxx::nontransaction tx(conn);
  const auto r = tx.exec_params(
      "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", slot);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

}  // namespace outbox::relay
