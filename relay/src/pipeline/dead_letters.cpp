#include "pipeline/dead_letters.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "pg/pg_failure.hpp"
#include "pipeline/stats.hpp"
#include "util/text.hpp"

namespace outbox::relay {
namespace {

using std::chrono::milliseconds;

milliseconds RetryDelay(uint32_t attempt) {
  const int shift = static_cast<int>(std::min<uint32_t>(attempt, 7)) - 1;
  return std::min(milliseconds(500) * (1 << std::max(shift, 0)), milliseconds(30000));
}

}  // namespace

DeadLetters::DeadLetters(const Config& config, RelayStats& stats)
    : config_(config),
      stats_(stats),
      holds_(config.dead_letter.max_attempts, config.dead_letter.hold_key),
      log_("dead_letter", &stats.retries) {}

bool DeadLetters::Admit(const OutboxRow& row) {
  if (holds_.quiet()) return true;
  return holds_.Admit(KeyHolds::Key(row.aggregate_type, row.aggregate_id), row.id);
}

bool DeadLetters::Delivered(const OutboxRow& row) {
  if (!suspects_.empty()) suspects_.erase(row.id);
  if (holds_.quiet()) return false;
  return holds_.Delivered(KeyHolds::Key(row.aggregate_type, row.aggregate_id), row.id);
}

void DeadLetters::Suspected(const OutboxRow& row) { suspects_.insert(row.id); }

void DeadLetters::Rejected(const OutboxRow& row, const std::string& reason, Clock::time_point now) {
  suspects_.erase(row.id);
  const std::string key = KeyHolds::Key(row.aggregate_type, row.aggregate_id);
  const KeyHolds::Rejection r = holds_.Rejected(key, row.id, row.attempts);
  if (row.in_table && row.seq != 0) attempts_.emplace_back(RowRef{row.seq, row.table_oid}, r.attempts);
  if (r.dead_letter) {
    for (const Move& m : moves_) {
      if (m.event_id == row.id) return;  // already waiting to be moved
    }
    moves_.push_back(Move{RowRef{row.seq, row.table_oid}, row.id, key, reason, r.attempts, now});
    return;
  }
  const Clock::time_point at = now + RetryDelay(r.attempts);
  retry_ = retry_ ? std::min(*retry_, at) : at;
  spdlog::warn("kafka: event {} rejected ({}), attempt {} of {}; retried in {} ms", row.Label(), reason, r.attempts,
               config_.dead_letter.max_attempts, RetryDelay(r.attempts).count());
}

std::optional<Clock::time_point> DeadLetters::due() const {
  std::optional<Clock::time_point> at = retry_;
  for (const Move& m : moves_) at = at ? std::min(*at, m.not_before) : m.not_before;
  return at;
}

void DeadLetters::NewPass() {
  holds_.NewPass();
  retry_.reset();
}

bool DeadLetters::Sync(AckStore& store, Clock::time_point now) {
  if (!attempts_.empty() && store.connected()) {
    try {
      store.RecordAttempts(attempts_);
    } catch (const std::exception& e) {
      if (!store.connected()) return false;
      log_.Failure(
          now, spdlog::level::warn, PgFailureReason(e),
          "postgres: cannot record attempts in the outbox (" + OneLine(e.what()) + "); they are kept in memory");
    }
    attempts_.clear();
  }
  return MovePending(store, now) && Reload(store, now);
}

bool DeadLetters::MovePending(AckStore& store, Clock::time_point now) {
  if (moves_.empty()) return true;
  if (!store.connected()) return false;
  for (auto it = moves_.begin(); it != moves_.end();) {
    if (now < it->not_before) {
      ++it;
      continue;
    }
    try {
      if (store.MoveToDeadLetter(it->row, it->reason, it->attempts)) {
        holds_.DeadLettered(it->key, it->event_id);
        stats_.dead_lettered++;
        spdlog::error("dead-letter: event seq={} moved to the dead-letter table after {} attempts: {}{}", it->row.seq,
                      it->attempts, it->reason,
                      config_.dead_letter.hold_key ? "; later events of its key are held" : "");
      } else {
        holds_.Forget(it->key, it->event_id);  // its row is gone (removed by an operator)
      }
      it = moves_.erase(it);
    } catch (const std::exception& e) {
      // The row stays in the outbox and its key stays held; only this key
      // waits. Postgres down: the whole resync waits for the reconnect.
      if (!store.connected()) return false;
      stats_.dead_letter_failures++;
      log_.Failure(now, spdlog::level::err, PgFailureReason(e),
                   "dead-letter: cannot move event seq=" + std::to_string(it->row.seq) + " (" + OneLine(e.what()) +
                       "); it stays in the outbox, its key held; retrying every 30 s");
      it->not_before = now + std::chrono::seconds(30);
      ++it;
    }
  }
  return true;
}

bool DeadLetters::Reload(AckStore& store, Clock::time_point now) {
  if (!config_.dead_letter.hold_key) return true;
  try {
    holds_.SetDeadLettered(store.DeadLetteredKeys());
    log_.Success(now);
    return true;
  } catch (const std::exception& e) {
    log_.Failure(now, spdlog::level::warn, PgFailureReason(e),
                 "postgres: cannot read the dead-letter table (" + OneLine(e.what()) + "); retrying");
    return false;
  }
}

}  // namespace outbox::relay
