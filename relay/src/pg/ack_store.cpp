#include "pg/ack_store.hpp"

#include <algorithm>
#include <map>

#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include "config/config.hpp"
#include "pg/pg_connect.hpp"

namespace outbox::relay {

PgAckStore::PgAckStore(const Config& config, std::string role) : config_(config), role_(std::move(role)) {}

PgAckStore::~PgAckStore() noexcept { Disconnect(); }

void PgAckStore::Connect() {
  Disconnect();
  auto conn = PgConnect(config_.postgres, role_);
  sql_ = OutboxSql::Build(config_.outbox, *conn);
  conn->prepare("outbox_ack", sql_.ack);
  conn->prepare("outbox_ack_range", sql_.ack_range);
  if (!sql_.retention.empty()) conn->prepare("outbox_retention", sql_.retention);
  conn_ = std::move(conn);
  dead_letter_ = std::make_unique<DeadLetterStore>(config_.outbox, sql_);
  monitor_ = std::make_unique<OutboxMonitor>(*conn_, sql_);
}

void PgAckStore::Disconnect() noexcept {
  monitor_.reset();
  dead_letter_.reset();
  conn_.reset();
}

// A broken connection is dropped here, so connected() tells the relay to reconnect.
template <typename F>
auto PgAckStore::Guard(F&& f) -> decltype(f()) {
  if (!conn_) throw pqxx::broken_connection("the ack session is not connected");
  try {
    return f();
  } catch (const pqxx::broken_connection&) {
    Disconnect();
    throw;
  }
}

std::vector<RowRef> PgAckStore::Ack(const std::vector<RowRef>& rows) {
  std::vector<RowRef> changed;
  if (rows.empty()) return changed;
  return Guard([&] {
    // One statement per table (a single one unless the table was re-created
    // while rows of the old one were in flight): atomic on its own.
    std::map<uint32_t, std::vector<int64_t>> by_table;
    for (const RowRef& r : rows) by_table[r.table_oid].push_back(r.seq);
    pqxx::nontransaction tx(*conn_);
    for (auto& [oid, seqs] : by_table) {
      // Contiguous seqs (the usual batch: rows read in seq order from a
      // sequence without holes) are exactly the range's rows.
      std::sort(seqs.begin(), seqs.end());
      seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
      const bool contiguous = seqs.back() - seqs.front() + 1 == static_cast<int64_t>(seqs.size());
      const pqxx::result result =
          contiguous ? tx.exec_prepared("outbox_ack_range", seqs.front(), seqs.back(), static_cast<int64_t>(oid))
                     : tx.exec_prepared("outbox_ack", BigintArray(seqs), static_cast<int64_t>(oid));
      for (const auto& r : result) changed.push_back(RowRef{r[0].as<int64_t>(), oid});
    }
    return changed;
  });
}

bool PgAckStore::MoveToDeadLetter(RowRef row, const std::string& reason, uint32_t attempts) {
  return Guard([&] { return dead_letter_->Move(*conn_, row, reason, attempts); });
}

void PgAckStore::RecordAttempts(const std::vector<std::pair<RowRef, uint32_t>>& attempts) {
  if (sql_.record_attempts.empty() || attempts.empty()) return;
  Guard([&] {
    pqxx::nontransaction tx(*conn_);
    for (const auto& [row, n] : attempts) {
      tx.exec_params(sql_.record_attempts, row.seq, static_cast<int>(n), static_cast<int64_t>(row.table_oid));
    }
    return 0;
  });
}

RowRef PgAckStore::Materialize(const OutboxRow& e) {
  return Guard([&] {
    static const char kHex[] = "0123456789abcdef";
    std::optional<std::string> hex;
    if (e.payload) {
      hex.emplace();
      hex->reserve(e.payload->size() * 2);
      for (unsigned char ch : *e.payload) {
        hex->push_back(kHex[ch >> 4]);
        hex->push_back(kHex[ch & 15]);
      }
    }
    auto opt = [](const std::string& v) { return v.empty() ? std::optional<std::string>() : std::optional(v); };
    pqxx::nontransaction tx(*conn_);
    const auto r = tx.exec_params1(sql_.materialize, e.id, e.aggregate_type, e.aggregate_id, opt(e.event_type), hex,
                                   opt(e.headers_json), e.topic, opt(e.created_at));
    return RowRef{r[0].as<int64_t>(), static_cast<uint32_t>(r[1].as<int64_t>())};
  });
}

std::unordered_set<std::string> PgAckStore::DeadLetteredKeys() {
  return Guard([&] { return dead_letter_->HeldKeys(*conn_); });
}

size_t PgAckStore::PurgeRetention(size_t limit) {
  if (sql_.retention.empty()) return 0;
  return Guard([&] {
    pqxx::nontransaction tx(*conn_);
    auto r = tx.exec_prepared("outbox_retention", static_cast<double>(config_.outbox.retention.count()),
                              static_cast<int64_t>(limit));
    return static_cast<size_t>(r.affected_rows());
  });
}

std::optional<BacklogReading> PgAckStore::ReadBacklog(bool count) {
  return Guard([&]() -> std::optional<BacklogReading> {
    const std::optional<double> oldest = monitor_->OldestAgeSeconds();
    if (!oldest) return std::nullopt;
    BacklogReading r;
    r.oldest_age_s = *oldest;
    r.rows = count ? monitor_->CountBacklog() : -1;
    return r;
  });
}

std::optional<int64_t> PgAckStore::SlotRetainedWal() {
  if (config_.source.mode != SourceMode::kTail) return std::nullopt;
  return Guard([&] { return OutboxMonitor::SlotRetainedWal(*conn_, config_.source.slot_name); });
}

}  // namespace outbox::relay
