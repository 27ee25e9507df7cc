#include "pipeline/ack_batcher.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <pqxx/except>

#include "pg/pg_failure.hpp"
#include "pipeline/stats.hpp"
#include "util/clock.hpp"
#include "util/text.hpp"

namespace outbox::relay {

AckBatcher::AckBatcher(size_t batch_size, std::chrono::milliseconds interval, std::chrono::milliseconds backoff_max,
                       RelayStats& stats)
    : batch_size_(batch_size),
      interval_(interval),
      backoff_(std::chrono::milliseconds(100), backoff_max),
      log_("ack", &stats.retries, &stats.ack_failing) {}

void AckBatcher::Add(DeliveryToken token, Clock::time_point now) {
  if (pending_.empty()) first_ = now;
  pending_.push_back(token);
}

AckBatcher::Result AckBatcher::Flush(Clock::time_point now, bool force, InFlightWindow& window, AckStore& store,
                                     Source& source, RelayStats& stats) {
  if (pending_.empty()) return Result::kDone;
  if (!store.connected() || now < retry_at_) return Result::kStoreDown;
  if (!force && pending_.size() < batch_size_ && now < due()) return Result::kDone;
  std::vector<RowRef> rows;  // WAL-message events (tail mode) have no row
  rows.reserve(pending_.size());
  for (DeliveryToken t : pending_) {
    const InFlightWindow::Entry* e = window.Find(t);
    if (e != nullptr && e->row.in_table && !e->behind_failure) rows.push_back(RowRef{e->row.seq, e->row.table_oid});
  }
  std::vector<RowRef> changed;
  try {
    if (!rows.empty()) changed = store.Ack(rows);
  } catch (const pqxx::broken_connection& e) {
    // The Connector reconnects (with its own backoff).
    log_.Failure(now, spdlog::level::warn, PgFailureReason(e),
                 "postgres: ack connection lost (" + OneLine(e.what()) + "); " + std::to_string(pending_.size()) +
                     " confirmed events wait to be acknowledged");
    store.Disconnect();
    return Result::kStoreDown;
  } catch (const std::exception& e) {
    const std::chrono::milliseconds delay = backoff_.Next();
    retry_at_ = now + delay;
    log_.Failure(now, spdlog::level::err, PgFailureReason(e),
                 "postgres: acknowledging " + std::to_string(pending_.size()) + " events failed: " + OneLine(e.what()) +
                     "; retrying with backoff (next in " + std::to_string(delay.count()) +
                     " ms, at most postgres.reconnect_backoff_max_ms)");
    return Result::kStoreDown;
  }
  retry_at_ = {};
  backoff_.Reset();
  log_.Success(now);
  // The seqs the store changed, sorted: looked up once per event without a
  // hash set's allocation per row.
  done_.clear();
  for (const RowRef& r : changed) done_.push_back(r.seq);
  std::sort(done_.begin(), done_.end());
  std::vector<uint64_t> txns;
  txns.reserve(pending_.size());
  size_t invisible = 0;  // kept at the front of pending_, which keeps its capacity
  for (DeliveryToken t : pending_) {
    InFlightWindow::Entry* e = window.Find(t);
    if (e == nullptr) continue;
    const bool recorded =
        !e->row.in_table || e->behind_failure || std::binary_search(done_.begin(), done_.end(), e->row.seq);
    if (!recorded && e->row.txn != 0 && !e->row.replayed) {
      pending_[invisible++] = t;  // streamed before its commit became visible
      continue;
    }
    if (!recorded) {
      stats.ack_missing_rows++;
      spdlog::warn("postgres: event seq={} was published but its row was already gone (removed by someone else)",
                   e->row.seq);
    }
    if (!e->behind_failure) txns.push_back(e->row.txn);
    window.Release(*e);
  }
  source.Released(txns);
  stats.acked += txns.size();
  if (!txns.empty()) stats.last_ack_unix_ms = UnixMillis();
  pending_.resize(invisible);
  if (!pending_.empty()) {
    first_ = now + std::chrono::milliseconds(1000) - interval_;  // try again in a second
    if (now - last_invisible_log_ >= std::chrono::seconds(60)) {
      last_invisible_log_ = now;
      spdlog::warn(
          "postgres: {} published events are not visible in the outbox yet (their commit waits, e.g. for a "
          "synchronous standby); acknowledging them again every second, their LSN unconfirmed",
          pending_.size());
    }
    return Result::kInvisible;
  }
  return Result::kDone;
}

void AckBatcher::Abandon(InFlightWindow& window) {
  for (DeliveryToken t : pending_) {
    if (InFlightWindow::Entry* e = window.Find(t)) window.Release(*e);
  }
  pending_.clear();
}

}  // namespace outbox::relay
