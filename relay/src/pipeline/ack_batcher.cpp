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

void AckBatcher::UseWorker(std::unique_ptr<AckWorker> worker) { worker_ = std::move(worker); }

Clock::time_point AckBatcher::due() const {
  // A batch under way ends with its outcome (EventFd), not at a time.
  if (!in_flight_.empty()) return Clock::time_point::max();
  return std::max(first_ + interval_, retry_at_);
}

int AckBatcher::EventFd() const { return worker_ && worker_->busy() ? worker_->EventFd() : -1; }

std::vector<RowRef> AckBatcher::Rows(const std::vector<DeliveryToken>& tokens, InFlightWindow& window) {
  std::vector<RowRef> rows;  // WAL-message events (tail mode) have no row
  rows.reserve(tokens.size());
  for (DeliveryToken t : tokens) {
    const InFlightWindow::Entry* e = window.Find(t);
    if (e != nullptr && e->row.in_table && !e->behind_failure) rows.push_back(RowRef{e->row.seq, e->row.table_oid});
  }
  return rows;
}

AckBatcher::Result AckBatcher::Flush(Clock::time_point now, bool force, InFlightWindow& window, AckStore& store,
                                     Source& source, RelayStats& stats) {
  if (worker_ == nullptr) {
    if (pending_.empty()) return Result::kDone;
    if (!store.connected() || now < retry_at_) return Result::kStoreDown;
    if (!force && pending_.size() < batch_size_ && now < due()) return Result::kDone;
    const std::vector<RowRef> rows = Rows(pending_, window);
    AckWorker::Outcome out;
    try {
      if (!rows.empty()) out.changed = store.Ack(rows);
    } catch (const pqxx::broken_connection& e) {
      out = AckWorker::Outcome{AckWorker::Outcome::Status::kBroken, {}, OneLine(e.what()), PgFailureReason(e)};
      store.Disconnect();  // the Connector reconnects (with its own backoff)
    } catch (const std::exception& e) {
      out = AckWorker::Outcome{AckWorker::Outcome::Status::kFailed, {}, OneLine(e.what()), PgFailureReason(e)};
    }
    in_flight_.swap(pending_);
    return Complete(now, out, window, source, stats);
  }
  // Off the pipeline thread: one batch under way at a time; forced, wait for it.
  if (worker_->busy()) {
    std::optional<AckWorker::Outcome> out = force ? worker_->Take() : worker_->TryTake();
    if (!out) return Result::kDone;  // still under way
    const Result r = Complete(now, *out, window, source, stats);
    if (r == Result::kStoreDown) return r;
  }
  if (pending_.empty()) return Result::kDone;
  if (now < retry_at_) return Result::kStoreDown;
  if (!force && pending_.size() < batch_size_ && now < due()) return Result::kDone;
  in_flight_.swap(pending_);
  pending_.clear();
  worker_->Submit(Rows(in_flight_, window));
  if (!force) return Result::kDone;
  return Complete(now, worker_->Take(), window, source, stats);
}

AckBatcher::Result AckBatcher::Complete(Clock::time_point now, const AckWorker::Outcome& out, InFlightWindow& window,
                                        Source& source, RelayStats& stats) {
  if (out.status != AckWorker::Outcome::Status::kOk) {
    // The batch waits, ahead of what was added since, for the next attempt.
    in_flight_.insert(in_flight_.end(), pending_.begin(), pending_.end());
    pending_.swap(in_flight_);
    in_flight_.clear();
    if (out.status == AckWorker::Outcome::Status::kBroken) {
      if (worker_ != nullptr) retry_at_ = now + backoff_.Next();  // its session connects again with the next batch
      log_.Failure(now, spdlog::level::warn, out.reason,
                   "postgres: ack connection lost (" + out.error + "); " + std::to_string(pending_.size()) +
                       " confirmed events wait to be acknowledged");
      return Result::kStoreDown;
    }
    const std::chrono::milliseconds delay = backoff_.Next();
    retry_at_ = now + delay;
    log_.Failure(now, spdlog::level::err, out.reason,
                 "postgres: acknowledging " + std::to_string(pending_.size()) + " events failed: " + out.error +
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
  for (const RowRef& r : out.changed) done_.push_back(r.seq);
  std::sort(done_.begin(), done_.end());
  std::vector<uint64_t> txns;
  txns.reserve(in_flight_.size());
  std::vector<DeliveryToken> invisible;
  std::vector<int64_t> missing;
  for (DeliveryToken t : in_flight_) {
    InFlightWindow::Entry* e = window.Find(t);
    if (e == nullptr) continue;
    const bool recorded =
        !e->row.in_table || e->behind_failure || std::binary_search(done_.begin(), done_.end(), e->row.seq);
    if (!recorded && e->row.txn != 0 && !e->row.replayed) {
      invisible.push_back(t);  // streamed before its commit became visible
      continue;
    }
    if (!recorded) missing.push_back(e->row.seq);
    if (!e->behind_failure) txns.push_back(e->row.txn);
    window.Release(*e);
  }
  in_flight_.clear();
  if (!missing.empty()) {
    // One line per batch: after a takeover (the new relay acknowledged what its
    // checkpoint covered) a whole transaction's rows can be gone.
    stats.ack_missing_rows += missing.size();
    std::string seqs;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) seqs += (i ? "," : "") + std::to_string(missing[i]);
    if (missing.size() > 5) seqs += ",... (" + std::to_string(missing.size() - 5) + " more)";
    spdlog::warn(
        "postgres: {} published event(s) had no row left to acknowledge (removed by someone else, or acknowledged by "
        "a relay that took over): seq={}",
        missing.size(), seqs);
  }
  source.Released(txns);
  stats.acked += txns.size();
  if (!txns.empty()) stats.last_ack_unix_ms = UnixMillis();
  if (invisible.empty()) return Result::kDone;
  pending_.insert(pending_.begin(), invisible.begin(), invisible.end());
  first_ = now + std::chrono::milliseconds(1000) - interval_;  // try again in a second
  if (now - last_invisible_log_ >= std::chrono::seconds(60)) {
    last_invisible_log_ = now;
    spdlog::warn(
        "postgres: {} published events are not visible in the outbox yet (their commit waits, e.g. for a "
        "synchronous standby); acknowledging them again every second, their LSN unconfirmed",
        invisible.size());
  }
  return Result::kInvisible;
}

void AckBatcher::Abandon(InFlightWindow& window) {
  if (worker_ != nullptr && worker_->busy()) worker_->Take();  // its rows are read again and acknowledged then
  for (DeliveryToken t : in_flight_) {
    if (InFlightWindow::Entry* e = window.Find(t)) window.Release(*e);
  }
  in_flight_.clear();
  for (DeliveryToken t : pending_) {
    if (InFlightWindow::Entry* e = window.Find(t)) window.Release(*e);
  }
  pending_.clear();
}

}  // namespace outbox::relay
