#include "pg/poll_source.hpp"

#include <cstdlib>
#include <map>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/notification>
#include <pqxx/result>

#include "config/config.hpp"
#include "outbox/identifier.hpp"
#include "pg/dead_letter.hpp"
#include "pg/pg_connect.hpp"

namespace outbox::relay {

class PollSource::WakeReceiver : public pqxx::notification_receiver {
 public:
  WakeReceiver(pqxx::connection_base& c, const std::string& channel) : pqxx::notification_receiver(c, channel) {}
  void operator()(const std::string& payload, int) override {
    woke = true;
    if (payload == DeadLetterStore::kChangedPayload) dead_letter_changed = true;
  }
  bool woke = false;
  bool dead_letter_changed = false;
};

PollSource::PollSource(const Config& config, bool read_ahead)
    : config_(config),
      channel_(config.outbox.notify_channel.empty() ? sdk::NotifyChannel(config.outbox.schema)
                                                    : config.outbox.notify_channel),
      read_ahead_(read_ahead) {}

PollSource::~PollSource() noexcept { Disconnect(); }

void PollSource::Connect() {
  Disconnect();
  auto conn = PgConnect(config_.postgres, "poll");
  sql_ = OutboxSql::Build(config_.outbox, *conn);
  // One active relay per outbox table: two would publish the same rows twice
  // and could interleave one key's events. The lock belongs to this session, so
  // it is released when the process dies or its connection breaks, and a
  // standby relay takes over.
  {
    pqxx::nontransaction tx(*conn);
    if (!tx.exec_params1("SELECT pg_try_advisory_lock(hashtext($1))", "outbox-relay:" + sql_.table)[0].as<bool>()) {
      throw StandbyError("another outbox-relay is publishing " + sql_.table + "; standing by until it stops");
    }
  }
  // The lock as pg_locks shows it: a bigint key, split into classid (high
  // half) and objid (low half).
  conn->prepare("outbox_lock_held",
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
                "AND objsubid = 1 AND (classid::bigint << 32 | objid::bigint) = hashtext($1)::bigint");
  conn->prepare("outbox_unacked", sql_.unacknowledged);
  conn->prepare("outbox_materialized", sql_.materialized);
  conn->prepare("outbox_xid", "SELECT pg_current_xact_id()::text");
  // A 32-bit xid from the stream, made 64-bit with the epoch that puts it
  // closest to the snapshot's xmax (a running xid is near it, above or below:
  // xmax is the latest completed xid + 1, and a running one can be above it).
  conn->prepare("outbox_running",
                "SELECT x FROM unnest($1::bigint[]) AS x, "
                "(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS n) AS s, "
                "LATERAL (SELECT ((s.n >> 32) << 32) | x AS c) AS c0, "
                "LATERAL (SELECT CASE WHEN c0.c > s.n + 2147483648 THEN c0.c - 4294967296 "
                "WHEN c0.c < s.n - 2147483648 THEN c0.c + 4294967296 ELSE c0.c END AS xid) AS f "
                "WHERE f.xid >= 0 AND pg_xact_status(f.xid::text::xid8) = 'in progress'");
  // The rows are read on a session of their own (a failure here lets the lock
  // go with `conn`: the relay retries the whole connect).
  read_.Connect(config_.postgres, sql_.poll);
  receiver_ = std::make_unique<WakeReceiver>(*conn, channel_);
  conn_ = std::move(conn);
  if (const auto lease = config_.postgres.lock_lease; lease.count() > 0) {
    // The server ends this session (and frees the lock) once it idles for the
    // lease: Tick() queries it more often than that while the relay runs.
    pqxx::nontransaction(*conn_).exec("SET idle_session_timeout = " + std::to_string(lease.count()));
  }
  next_lock_check_ = Clock::now() + config_.postgres.LockCheckInterval();
  conn_->get_notifs();  // runs the LISTEN now
}

void PollSource::Disconnect() noexcept {
  try {
    receiver_.reset();
  } catch (...) {  // UNLISTEN on a broken connection
  }
  conn_.reset();
  read_.Disconnect();
  ++generation_;
}

void PollSource::Tick(Clock::time_point now) {
  if (!conn_ || now < next_lock_check_) return;
  next_lock_check_ = now + config_.postgres.LockCheckInterval();
  std::string lost;
  try {
    pqxx::nontransaction tx(*conn_);
    if (tx.exec_prepared1("outbox_lock_held", "outbox-relay:" + sql_.table)[0].as<int64_t>() != 1) {
      lost = "the session no longer holds the lock on " + sql_.table;
    }
  } catch (const pqxx::broken_connection& e) {
    lost = e.what();
  } catch (const pqxx::sql_error& e) {  // e.g. statement_timeout
    lost = e.what();
  }
  if (lost.empty()) return;
  Disconnect();
  throw pqxx::broken_connection("cannot show that this relay still holds its lock (" + lost +
                                "); publishing stops until it has it again");
}

std::vector<int> PollSource::WaitFds(bool) const {
  // A read sent ahead: its rows are taken in as they come (TakeSignals).
  return {conn_ ? conn_->sock() : -1, read_.pending() ? read_.sock() : -1};
}

SourceSignals PollSource::TakeSignals(bool socket_ready) {
  SourceSignals s;
  if (!conn_) return s;
  try {
    read_.Consume();  // the server finishes the read sent ahead, and lets its snapshot go
  } catch (const pqxx::broken_connection&) {
    // The next Read reconnects through the relay (Read throws broken_connection).
  }
  if (socket_ready) {
    try {
      conn_->get_notifs();
    } catch (const pqxx::broken_connection&) {
      Disconnect();
      return s;
    }
  }
  s.wake = receiver_->woke;
  s.dead_letter_changed = receiver_->dead_letter_changed;
  receiver_->woke = receiver_->dead_letter_changed = false;
  return s;
}

std::string PollSource::ProgressNote() const { return "gaps=" + std::to_string(tracker_.gap_points()); }

std::vector<OutboxRow> PollSource::Read(size_t max, size_t /*outstanding*/) {
  if (!conn_) throw pqxx::broken_connection("the poll session is not connected");
  try {
    BindGaps();
    const GapTracker::Query q = tracker_.NextQuery();
    const size_t limit = max;
    const PgResultPtr res = ReadRows(q, static_cast<int64_t>(limit));
    const PGresult* r = res.get();
    if (PQntuples(r) < 1 || PQnfields(r) < 3) throw std::runtime_error("the poll statement returned no snapshot row");
    const uint64_t xmin = std::strtoull(PQgetvalue(r, 0, 0), nullptr, 10);
    const int64_t oid = PQgetisnull(r, 0, 1) ? 0 : std::strtoll(PQgetvalue(r, 0, 1), nullptr, 10);
    if (oid != table_oid_) {
      if (table_oid_ != 0) {
        // Dropped and created again: its seq values started over below the
        // high-water mark. Read it from its start (rows of the old table
        // still in flight are acknowledged by oid, so never in this one).
        spdlog::warn("postgres: the outbox table {} was re-created; reading it from its start", sql_.table);
        tracker_.Reset();
        ++generation_;
        table_oid_ = oid;
        covered_all_ = false;
        return {};
      }
      table_oid_ = oid;
    }
    std::vector<OutboxRow> rows;
    std::vector<int64_t> seqs;
    if (!PQgetisnull(r, 0, 2)) {
      const int n = PQntuples(r);
      rows.reserve(static_cast<size_t>(n));
      seqs.reserve(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        rows.push_back(ReadRow(r, i, 2));
        seqs.push_back(rows.back().seq);
      }
    }
    covered_all_ = rows.size() < limit;
    const int64_t covered = covered_all_ ? GapTracker::kCoveredAll : seqs.back();
    std::vector<size_t> publish = tracker_.Apply(seqs, covered, xmin);
    std::vector<OutboxRow> out;
    out.reserve(publish.size());
    for (size_t i : publish) out.push_back(std::move(rows[i]));
    // The rows are taken now; a failure to bind must not lose them. Unbound gaps
    // are bound at the start of the next poll instead (they are only never dropped
    // in the meantime, which is safe).
    try {
      BindGaps();
    } catch (const std::exception&) {
    }
    // A full batch: more rows wait. Postgres reads the next batch while these are produced.
    if (read_ahead_ && !covered_all_ && !tracker_.HasUnboundGaps()) ReadAhead(static_cast<int64_t>(limit));
    // A NOTIFY that came during these queries was read by libpq with their
    // results; the socket will not say so. Deliver it now (TakeSignals).
    conn_->get_notifs();
    return out;
  } catch (const pqxx::broken_connection&) {
    Disconnect();  // reconnecting resyncs
    throw;
  }
}

std::unordered_set<int64_t> PollSource::Unacknowledged(const std::vector<RowRef>& rows) {
  std::unordered_set<int64_t> out;
  if (rows.empty()) return out;
  if (!conn_) throw pqxx::broken_connection("the poll session is not connected");
  std::map<uint32_t, std::vector<int64_t>> by_table;
  for (const RowRef& r : rows) by_table[r.table_oid].push_back(r.seq);
  try {
    pqxx::nontransaction tx(*conn_);
    for (const auto& [oid, seqs] : by_table) {
      for (const auto& r : tx.exec_prepared("outbox_unacked", BigintArray(seqs), static_cast<int64_t>(oid))) {
        out.insert(r[0].as<int64_t>());
      }
    }
  } catch (const pqxx::broken_connection&) {
    Disconnect();
    throw;
  }
  return out;
}

std::unordered_set<uint32_t> PollSource::Running(const std::vector<uint32_t>& xids) {
  std::unordered_set<uint32_t> out;
  if (xids.empty()) return out;
  if (!conn_) throw pqxx::broken_connection("the poll session is not connected");
  std::string array = "{";
  for (uint32_t x : xids) array += (array.size() > 1 ? "," : "") + std::to_string(x);
  array += "}";
  try {
    pqxx::nontransaction tx(*conn_);
    for (const auto& r : tx.exec_prepared("outbox_running", array)) out.insert(r[0].as<uint32_t>());
  } catch (const pqxx::broken_connection&) {
    Disconnect();
    throw;
  }
  return out;
}

std::unordered_set<std::string> PollSource::Materialized(const std::vector<std::string>& ids) {
  std::unordered_set<std::string> out;
  if (ids.empty()) return out;
  if (!conn_) throw pqxx::broken_connection("the poll session is not connected");
  std::string array = "{";
  for (const auto& id : ids) array += (array.size() > 1 ? "," : "") + ("\"" + id + "\"");  // UUID text: no quoting
  array += "}";
  try {
    pqxx::nontransaction tx(*conn_);
    for (const auto& r : tx.exec_prepared("outbox_materialized", array, sql_.table_name)) {
      out.insert(r[0].as<std::string>());
    }
  } catch (const pqxx::broken_connection&) {
    Disconnect();
    throw;
  }
  return out;
}

PgResultPtr PollSource::ReadRows(const GapTracker::Query& query, int64_t limit) {
  if (read_.pending()) {
    // Taken only when nothing changed since it was sent: the same query (the
    // tracker moved nowhere), no rewind, no reconnect. Its snapshot is older
    // than this call, which is what a slower read would have seen.
    const bool same = ahead_.generation == generation_ && ahead_.limit == limit && ahead_.query.after == query.after &&
                      ahead_.query.lows == query.lows && ahead_.query.highs == query.highs;
    if (same) return read_.Receive();
    read_.Discard();
  }
  read_.Send(query, limit);
  return read_.Receive();
}

void PollSource::ReadAhead(int64_t limit) noexcept {
  try {
    ahead_ = Ahead{tracker_.NextQuery(), limit, generation_};
    read_.Send(ahead_.query, limit);
  } catch (const std::exception&) {
    // The session is closed: the next Read reports it (and the relay reconnects).
  }
}

void PollSource::BindGaps() {
  if (!tracker_.HasUnboundGaps()) return;
  // An xid assigned after the snapshot that found the gaps: larger than the xid
  // of any writer that had taken one of their seq values (see GapTracker).
  pqxx::nontransaction tx(*conn_);
  tracker_.BindGaps(tx.exec_prepared1("outbox_xid")[0].as<uint64_t>());
}

}  // namespace outbox::relay
